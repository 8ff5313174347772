//! Mailgun: the signature is in the body, over `timestamp + token` only.

use std::time::Duration;

use hookwarden::Receiver;
use hookwarden::clock::FixedClock;
use hookwarden::event::Event;
use hookwarden::router::EventRouter;
use hookwarden::scheme::Mailgun;
use hookwarden::testing;
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use super::layers::send;
use super::*;

// mailgun/mailgun-php `tests/Api/WebhookTest.php`
// (commit 03357e252afef437fff1d5b6966b7e609f18e613), `testVerifyWebhookGood`.
const KEY: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
const TS: u64 = 1_403_645_220;
const TOKEN: &str = "5egbgr1vjgqxtrnp65xfznchgdccwh5d6i09vijqi3whgowmn6";
const SIGNATURE: &str = "9cfc5c41582e51246e73c88d34db3af0a3a2692a76fbab81492842f000256d33";
// Same file, `testVerifyWebhookBad`: another token under the same signature.
const BAD_TOKEN: &str = "owyldpe6nxhmrn78epljl6bj0orrki1u3d2v5e6cnlmmuox8jr";

/// A "delivered" event as in Mailgun's docs
/// (https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads),
/// abridged. The PHP vector signs no body, so any event data goes with it.
const EVENT_DATA: &str = r#"{"event":"delivered","id":"CCXMjJ7nQi2N3BPigGOdgQ","timestamp":1403645219.908181,"log-level":"info","recipient":"recipient@sample.mailgun.com","message":{"headers":{"message-id":"20260203192638.000be97f99f8cea1@sample.mailgun.com","subject":"Sample webhook payload"}}}"#;

fn scheme() -> Mailgun {
    Mailgun::new([KEY]).unwrap()
}

/// A body with this signature object (fields as given) and the event data.
fn body_with(timestamp: &str, token: &str, signature: &str) -> Vec<u8> {
    format!(
        r#"{{"signature":{{"timestamp":"{timestamp}","token":"{token}","signature":"{signature}"}},"event-data":{EVENT_DATA}}}"#
    )
    .into_bytes()
}

fn vector() -> Vec<u8> {
    body_with("1403645220", TOKEN, SIGNATURE)
}

fn check(body: &[u8]) -> Result<(), VerifyError> {
    outcome(&scheme(), &HeaderMap::new(), body, TS)
}

#[test]
fn published_vector_verifies() {
    let verified = verify(&scheme(), &HeaderMap::new(), &vector(), TS);
    assert_eq!(verified.scheme(), "mailgun");
    assert_eq!(verified.timestamp(), Some(TS));
    assert_eq!(verified.signed_id(), Some(TOKEN), "the token is signed: the replay key");
}

#[test]
fn published_negative_vectors() {
    // `testVerifyWebhookBad`: another token.
    assert_eq!(
        check(&body_with("1403645220", BAD_TOKEN, SIGNATURE)),
        Err(VerifyError::InvalidSignature)
    );
    // `testVerifyWebhookEmptyRequest`: nothing to check.
    assert_eq!(check(&body_with("0", "", "")), Err(VerifyError::MalformedSignature));
}

#[test]
fn signer_reproduces_the_published_signature() {
    let body = testing::mailgun(KEY, TS, TOKEN, EVENT_DATA.as_bytes());
    let parsed: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        parsed["signature"],
        json!({ "timestamp": "1403645220", "token": TOKEN, "signature": SIGNATURE })
    );
    let event_data: Value = serde_json::from_str(EVENT_DATA).unwrap();
    assert_eq!(parsed["event-data"], event_data);
    assert_eq!(check(&body), Ok(()));
}

#[test]
fn event_data_is_not_signed() {
    // What the docs say plainly: the signature holds for any event data.
    // Only the tolerance and the token dedupe (below) limit its reuse.
    let forged = String::from_utf8(vector())
        .unwrap()
        .replace(r#""event":"delivered""#, r#""event":"failed""#);
    assert_eq!(check(forged.as_bytes()), Ok(()));
    let rewritten = reserialised(&vector());
    assert_ne!(rewritten, vector());
    assert_eq!(check(&rewritten), Ok(()), "re-serialised: still verifies, nothing of it is signed");
}

#[test]
fn tampered_signed_fields_are_invalid() {
    let other_ts = body_with("1403645221", TOKEN, SIGNATURE);
    assert_eq!(check(&other_ts), Err(VerifyError::InvalidSignature));
    let mut token = TOKEN.to_owned();
    token.replace_range(..1, "6");
    assert_eq!(
        check(&body_with("1403645220", &token, SIGNATURE)),
        Err(VerifyError::InvalidSignature)
    );
    let flipped = SIGNATURE.replace("9cfc", "9cfd");
    assert_eq!(
        check(&body_with("1403645220", TOKEN, &flipped)),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn escaped_fields_verify_as_their_text() {
    // JSON escapes are decoded before the HMAC, as Mailgun's SDKs do.
    let escaped = body_with("\\u0031403645220", &format!("\\u0035{}", &TOKEN[1..]), SIGNATURE);
    assert_eq!(check(&escaped), Ok(()));
}

#[test]
fn wrong_key_is_invalid() {
    let wrong = Mailgun::new(["key-00000000000000000000000000000000"]).unwrap();
    assert_eq!(
        outcome(&wrong, &HeaderMap::new(), &vector(), TS),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn rotation() {
    let rotated = Mailgun::new(["key-00000000000000000000000000000000", KEY]).unwrap();
    assert_eq!(outcome(&rotated, &HeaderMap::new(), &vector(), TS), Ok(()));
    let neither = Mailgun::new(["key-00000000000000000000000000000000", "other"]).unwrap();
    assert_eq!(
        outcome(&neither, &HeaderMap::new(), &vector(), TS),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn missing_signature() {
    let event_only = format!(r#"{{"event-data":{EVENT_DATA}}}"#);
    assert_eq!(check(event_only.as_bytes()), Err(VerifyError::MissingSignature));
    let null = format!(r#"{{"signature":null,"event-data":{EVENT_DATA}}}"#);
    assert_eq!(check(null.as_bytes()), Err(VerifyError::MissingSignature));
    assert_eq!(check(b"{}"), Err(VerifyError::MissingSignature));
}

#[test]
fn malformed_bodies_and_fields() {
    let good = String::from_utf8(vector()).unwrap();
    let signature_object =
        format!(r#"{{"timestamp":"1403645220","token":"{TOKEN}","signature":"{SIGNATURE}"}}"#);
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        // Legacy form-encoded webhook: not supported.
        format!("timestamp=1403645220&token={TOKEN}&signature={SIGNATURE}").into_bytes(),
        // An array holding the object, not the object.
        format!("[{good}]").into_bytes(),
        format!(r#"[{signature_object}]"#).into_bytes(),
        // Truncated JSON.
        good.as_bytes()[..good.len() - 1].to_vec(),
        // A field missing, or of the wrong kind.
        format!(r#"{{"signature":{{"timestamp":"1403645220","signature":"{SIGNATURE}"}}}}"#)
            .into_bytes(),
        format!(r#"{{"signature":{{"timestamp":1403645220,"token":"{TOKEN}","signature":"{SIGNATURE}"}}}}"#)
            .into_bytes(),
        format!(r#"{{"signature":"{SIGNATURE}"}}"#).into_bytes(),
        // The signature object, or a field of it, given twice.
        format!(r#"{{"signature":{signature_object},"signature":{signature_object}}}"#)
            .into_bytes(),
        format!(
            r#"{{"signature":{{"timestamp":"1403645220","token":"{TOKEN}","token":"{BAD_TOKEN}","signature":"{SIGNATURE}"}}}}"#
        )
        .into_bytes(),
        // Signature of the wrong length or alphabet.
        body_with("1403645220", TOKEN, ""),
        body_with("1403645220", TOKEN, &SIGNATURE[..63]),
        body_with("1403645220", TOKEN, &format!("{SIGNATURE}00")),
        body_with("1403645220", TOKEN, &SIGNATURE.replace('c', "g")),
        // An empty or absurdly long token.
        body_with("1403645220", "", SIGNATURE),
        body_with("1403645220", &"t".repeat(257), SIGNATURE),
    ];
    for body in cases {
        assert_eq!(
            check(&body),
            Err(VerifyError::MalformedSignature),
            "{}",
            String::from_utf8_lossy(&body)
        );
    }
    // Deeply nested event data is skipped unread (no recursion, no stack
    // overflow); the signature beside it still verifies.
    let deep = format!(
        r#"{{"signature":{signature_object},"event-data":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    assert_eq!(check(deep.as_bytes()), Ok(()));
}

#[test]
fn tolerance_window() {
    assert_tolerance_window(&scheme(), &HeaderMap::new(), &vector(), TS);
}

#[test]
fn hostile_timestamps_are_malformed() {
    for ts in HOSTILE_TIMESTAMPS {
        assert_eq!(
            check(&body_with(ts, TOKEN, SIGNATURE)),
            Err(VerifyError::MalformedSignature),
            "{ts:?}"
        );
    }
}

#[test]
fn debug_hides_the_key() {
    assert_debug_hides_secret(&scheme(), KEY);
    assert_debug_hides_secret(&Mailgun::new(["other", KEY]).unwrap(), KEY);
}

#[test]
fn bad_keys_are_config_errors() {
    assert!(Mailgun::new([""]).is_err());
    assert!(Mailgun::new(Vec::<String>::new()).is_err());
}

#[tokio::test]
async fn envelope_keys_on_the_signed_token() {
    let answer = send(scheme(), HeaderMap::new(), &vector(), TS).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(
        answer.json(),
        json!({
            "scheme": "mailgun",
            "id": TOKEN,
            "id_signed": true,
            "type": "delivered",
            "version": "1",
            "timestamp": TS,
            "key": format!("mailgun:id:{TOKEN}"),
        })
    );
    // No handshake: an unsigned body is refused, never answered.
    let unsigned = format!(r#"{{"event-data":{EVENT_DATA}}}"#);
    let answer = send(scheme(), HeaderMap::new(), unsigned.as_bytes(), TS).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "missing_signature");
}

/// The token is the replay key: a delivery whose event data was changed
/// after the genuine one arrived is a duplicate, never handled.
#[tokio::test]
async fn a_forged_variant_of_a_kept_delivery_is_a_duplicate() {
    let router = EventRouter::new().catch_all(|_: Event<Value>| async { Ok::<_, String>(()) });
    let receiver =
        Receiver::builder(scheme()).clock(FixedClock::new(TS)).router(router).build().unwrap();
    let post = |body: Vec<u8>| {
        let service = receiver.service();
        async move {
            let response = service
                .oneshot(testing::request("/webhooks", HeaderMap::new(), body))
                .await
                .unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    let (status, answer) = post(vector()).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer, json!({ "status": "accepted", "id": TOKEN }));
    let forged = String::from_utf8(vector())
        .unwrap()
        .replace(r#""event":"delivered""#, r#""event":"unsubscribed""#);
    let (status, answer) = post(forged.into_bytes()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "duplicate");
    let handle = receiver.handle();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while handle.stats().handled < 1 {
        assert!(std::time::Instant::now() < deadline, "the genuine delivery is handled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.duplicates, stats.handled), (1, 1, 1));
}

#[tokio::test]
async fn deeply_nested_event_data_is_refused_by_the_envelope_layer() {
    let signature_object =
        format!(r#"{{"timestamp":"1403645220","token":"{TOKEN}","signature":"{SIGNATURE}"}}"#);
    let deep = format!(
        r#"{{"signature":{signature_object},"event-data":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let answer = send(scheme(), HeaderMap::new(), deep.as_bytes(), TS).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["error"], "malformed_event");
}
