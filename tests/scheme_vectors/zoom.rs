use hookwarden::scheme::Zoom;
use hookwarden::testing;
use http::StatusCode;
use serde_json::json;

use super::layers::{digest_key, send};
use super::*;

// Zoom publishes no signed example. Made by `tests/vectors/zoom.js` with
// Node's crypto, following Zoom's sample app (zoom/webhook-sample,
// `index.js` at 1d3936462478f392f249bf2da2047b8759caa870): the
// `meeting.started` body is the sample's README example with its
// placeholders filled in; the `endpoint.url_validation` body and
// `plainToken` are the example of Zoom's docs ("Validate your webhook
// endpoint", https://developers.zoom.us/docs/api/webhooks/). The secret
// token is ours.
const SECRET: &str = "hookwarden-zoom-secret-token";
const TS: u64 = 1_635_885_799;
const TS_STR: &str = "1635885799";
const BODY: &[u8] = br#"{"event":"meeting.started","payload":{"account_id":"AAAAAABBBB","object":{"duration":0,"start_time":"2021-11-02T20:43:19Z","timezone":"America/Denver","topic":"My Meeting","id":"1234567890","type":4,"uuid":"czLF6FFGSW6dHnCJtLn0Cg==","host_id":"x1yCzABCDEfg23HiJKl4mN"}},"event_ts":1635885799302}"#;
const SIGNATURE: &str = "v0=350f55c391dc43de802102fc175a0ea6473a27e7618415f4de970f3074e18a56";
const VALIDATION: &[u8] = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
const VALIDATION_SIGNATURE: &str =
    "v0=7887958f35c8440c545932d88ac4a7126d9d2f4c894a52c14b267c2df3a7e1fe";
const ENCRYPTED_TOKEN: &str = "1ff730556224a39c0a8ef255098fe49696119f29e95b7aee05cfd856ded043a5";

fn scheme() -> Zoom {
    Zoom::new([SECRET]).unwrap()
}

fn vector() -> HeaderMap {
    headers(&[("x-zm-request-timestamp", TS_STR), ("x-zm-signature", SIGNATURE)])
}

fn check(signature: &str) -> Result<(), VerifyError> {
    outcome(&scheme(), &with(&vector(), "x-zm-signature", signature), BODY, TS)
}

#[test]
fn vector_verifies() {
    let verified = verify(&scheme(), &vector(), BODY, TS);
    assert_eq!(verified.scheme(), "zoom");
    assert_eq!(verified.timestamp(), Some(TS));
    assert_eq!(verified.signed_id(), None);
    let validation = with(&vector(), "x-zm-signature", VALIDATION_SIGNATURE);
    assert_eq!(outcome(&scheme(), &validation, VALIDATION, TS), Ok(()));
}

#[test]
fn signer_reproduces_the_vector() {
    assert_eq!(testing::zoom(SECRET, TS, BODY), vector());
}

#[test]
fn tampered_body_timestamp_or_wrong_secret_is_invalid() {
    let tampered = String::from_utf8(BODY.to_vec()).unwrap().replace("My Meeting", "My Meetinh");
    assert_eq!(
        outcome(&scheme(), &vector(), tampered.as_bytes(), TS),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(
        outcome(&scheme(), &vector(), &reserialised(BODY), TS),
        Err(VerifyError::InvalidSignature)
    );
    let other_ts = with(&vector(), "x-zm-request-timestamp", "1635885800");
    assert_eq!(outcome(&scheme(), &other_ts, BODY, TS), Err(VerifyError::InvalidSignature));
    let wrong = Zoom::new(["hookwarden-zoom-secret-tokem"]).unwrap();
    assert_eq!(outcome(&wrong, &vector(), BODY, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn tolerance_window() {
    assert_tolerance_window(&scheme(), &vector(), BODY, TS);
}

#[test]
fn hostile_timestamps_are_malformed() {
    for ts in HOSTILE_TIMESTAMPS {
        let hostile = with(&vector(), "x-zm-request-timestamp", ts);
        assert_eq!(
            outcome(&scheme(), &hostile, BODY, TS),
            Err(VerifyError::MalformedSignature),
            "{ts:?}"
        );
    }
    // Milliseconds (as in the body's `event_ts`) are far in the future.
    let millis = with(&vector(), "x-zm-request-timestamp", "1635885799302");
    assert_eq!(outcome(&scheme(), &millis, BODY, TS), Err(VerifyError::TimestampOutOfTolerance));
}

#[test]
fn missing_and_malformed_headers() {
    assert_eq!(
        outcome(&scheme(), &without(&vector(), "x-zm-signature"), BODY, TS),
        Err(VerifyError::MissingSignature)
    );
    assert_eq!(
        outcome(&scheme(), &without(&vector(), "x-zm-request-timestamp"), BODY, TS),
        Err(VerifyError::MalformedSignature)
    );
    let hex = &SIGNATURE[3..];
    let over_long = format!("{SIGNATURE}0");
    let not_hex = SIGNATURE.replace('a', "z");
    let v1 = format!("v1={hex}");
    for bad in ["", "v0=", "v0", &SIGNATURE[..SIGNATURE.len() - 1], &over_long, &not_hex, hex, &v1]
    {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
}

#[test]
fn repeated_headers_with_another_value_are_malformed() {
    let upper = format!("v0={}", SIGNATURE[3..].to_ascii_uppercase());
    assert_eq!(check(&upper), Ok(()));
    for (name, other) in
        [("x-zm-signature", upper.as_str()), ("x-zm-request-timestamp", "1635885800")]
    {
        let twice = repeated(&vector(), name, other);
        assert_eq!(
            outcome(&scheme(), &twice, BODY, TS),
            Err(VerifyError::MalformedSignature),
            "{name}"
        );
    }
}

#[test]
fn rotation() {
    let rotated = Zoom::new(["new-secret-token", SECRET]).unwrap();
    assert_eq!(outcome(&rotated, &vector(), BODY, TS), Ok(()));
    let neither = Zoom::new(["new-secret-token", "old-secret-token"]).unwrap();
    assert_eq!(outcome(&neither, &vector(), BODY, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn debug_hides_the_secret() {
    assert_debug_hides_secret(&scheme(), SECRET);
    assert_debug_hides_secret(&Zoom::new(["new-secret-token", SECRET]).unwrap(), SECRET);
}

#[test]
fn configuration_errors() {
    assert!(Zoom::new([""]).is_err());
    assert!(Zoom::new(Vec::<String>::new()).is_err());
}

#[tokio::test]
async fn envelope_reports_the_tracking_id_and_keys_on_the_digest() {
    let mut sent = vector();
    sent.insert("x-zm-trackingid", "v=2.0;clid=aw1;rid=WEB_96c8e2e07e6f1b8b".parse().unwrap());
    let answer = send(scheme(), sent, BODY, TS).await;
    assert_eq!(
        answer.envelope(),
        json!({
            "scheme": "zoom",
            "id": "v=2.0;clid=aw1;rid=WEB_96c8e2e07e6f1b8b",
            "id_signed": false,
            "type": "meeting.started",
            "version": "1",
            "timestamp": TS,
            "key": digest_key("zoom", BODY),
        })
    );
    // Without the header, the digest is the id too.
    let answer = send(scheme(), vector(), BODY, TS).await.envelope();
    assert_eq!(answer["id"], digest_key("zoom", BODY).trim_start_matches("zoom:sha256:"));
    assert_eq!(answer["key"], digest_key("zoom", BODY));
}

#[tokio::test]
async fn url_validation_is_answered_with_the_first_secret() {
    let sent = testing::zoom(SECRET, TS, VALIDATION);
    assert_eq!(sent["x-zm-signature"], VALIDATION_SIGNATURE);
    let expected =
        json!({ "plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": ENCRYPTED_TOKEN });

    let answer = send(scheme(), sent.clone(), VALIDATION, TS).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), Some("application/json"));
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body, expected);

    // Signed with the second secret, still answered with the first: the
    // token Zoom now uses must come first.
    let rotated = Zoom::new([SECRET, "old-secret-token"]).unwrap();
    let old = testing::zoom("old-secret-token", TS, VALIDATION);
    let answer = send(rotated, old, VALIDATION, TS).await;
    let body: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(body, expected);
}

#[tokio::test]
async fn url_validation_is_not_answered_unsigned() {
    let forged = testing::zoom("forged-secret-token", TS, VALIDATION);
    let answer = send(scheme(), forged, VALIDATION, TS).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(!answer.body.windows(14).any(|w| w == b"encryptedToken"));
    let answer = send(scheme(), HeaderMap::new(), VALIDATION, TS).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    // A stale validation request is not answered either.
    let answer = send(scheme(), testing::zoom(SECRET, TS, VALIDATION), VALIDATION, TS + 301).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_event_mentioning_url_validation_is_an_event() {
    let body = br#"{"event":"meeting.started","payload":{"object":{"topic":"endpoint.url_validation"}},"event_ts":1635885799302}"#;
    let answer = send(scheme(), testing::zoom(SECRET, TS, body), body, TS).await;
    assert_eq!(answer.envelope()["type"], "meeting.started");
}
