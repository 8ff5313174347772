//! SendGrid's signed Event Webhook (feature `p256`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hookwarden::clock::FixedClock;
use hookwarden::event::Event;
use hookwarden::router::EventRouter;
use hookwarden::scheme::SendGrid;
use hookwarden::{Receiver, testing};
use http::StatusCode;
use http_body_util::BodyExt;
use tower::ServiceExt;

use super::layers::{send, sha256_hex};
use super::*;

// sendgrid/sendgrid-python `test/unit/test_eventwebhook.py`
// (commit 1dcc378bb90ed0d043c9dcfd239eb4c0b5501a81): a one-event batch,
// compact JSON with sorted keys and a trailing CRLF, as SendGrid sends it.
const PY_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
const PY_SIGNATURE: &str = "MEUCIGHQVtGj+Y3LkG9fLcxf3qfI10QysgDWmMOVmxG0u6ZUAiEAyBiXDWzM+uOe5W0JuG+luQAbPIqHh89M15TluLtEZtM=";
const PY_TS: u64 = 1_600_112_502;
const PY_TS_STR: &str = "1600112502";
const PY_PAYLOAD: &[u8] = b"[{\"email\":\"hello@world.com\",\"event\":\"dropped\",\"reason\":\"Bounced Address\",\"sg_event_id\":\"ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA\",\"sg_message_id\":\"LRzXl_NHStOGhQ4kofSm_A.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC76C-9.0\",\"smtp-id\":\"<LRzXl_NHStOGhQ4kofSm_A@ismtpd0039p1iad1.sendgrid.net>\",\"timestamp\":1600112492}]\r\n";
const PY_EVENT_ID: &str = "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA";

// sendgrid/sendgrid-nodejs `packages/eventwebhook/src/eventwebhook.spec.js`
// (commit 31bf6a020b7076f003a92b93baf8a054282a9838): another key, a body
// that is one object (`JSON.stringify` of the example), and the same file's
// "bad signature" (one character changed) and "invalid key".
const NODE_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
const NODE_SIGNATURE: &str = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH2j/0=";
const NODE_BAD_SIGNATURE: &str = "MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6BpSzoQsbVRamr2nlxFDWYNH3j/0=";
const NODE_TS: u64 = 1_588_788_367;
const NODE_PAYLOAD: &[u8] =
    br#"{"category":"example_payload","event":"test_event","message_id":"message_id"}"#;
/// Both SDKs' "invalid key": a valid P-256 key, not the signer's.
const OTHER_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEqTxd43gyp8IOEto2LdIfjRQrIbsd4SXZkLW6jDutdhXSJCWHw8REntlo7aNDthvj+y7GjUuFDb/R1NGe1OPzpA==";

/// The test signer's key: the P-256 private key of RFC 6979, appendix A.2.5.
const SIGNING_KEY: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";

const SIGNATURE_HEADER: &str = "X-Twilio-Email-Event-Webhook-Signature";
const TIMESTAMP_HEADER: &str = "X-Twilio-Email-Event-Webhook-Timestamp";

fn scheme() -> SendGrid {
    SendGrid::new([PY_KEY]).unwrap()
}

fn signed(signature: &str, timestamp: &str) -> HeaderMap {
    headers(&[(SIGNATURE_HEADER, signature), (TIMESTAMP_HEADER, timestamp)])
}

fn vector() -> HeaderMap {
    signed(PY_SIGNATURE, PY_TS_STR)
}

fn check(signature: &str) -> Result<(), VerifyError> {
    outcome(&scheme(), &signed(signature, PY_TS_STR), PY_PAYLOAD, PY_TS)
}

#[test]
fn published_vectors_verify() {
    let verified = verify(&scheme(), &vector(), PY_PAYLOAD, PY_TS);
    assert_eq!(verified.scheme(), "sendgrid");
    assert_eq!(verified.timestamp(), Some(PY_TS));
    assert_eq!(verified.signed_id(), None, "ids are in the signed body");
    let node = SendGrid::new([NODE_KEY]).unwrap();
    let headers = signed(NODE_SIGNATURE, "1588788367");
    assert_eq!(outcome(&node, &headers, NODE_PAYLOAD, NODE_TS), Ok(()));
}

#[test]
fn published_negative_vectors_are_invalid() {
    let node = SendGrid::new([NODE_KEY]).unwrap();
    let bad = signed(NODE_BAD_SIGNATURE, "1588788367");
    assert_eq!(outcome(&node, &bad, NODE_PAYLOAD, NODE_TS), Err(VerifyError::InvalidSignature));
    // "bad payload".
    let good = signed(NODE_SIGNATURE, "1588788367");
    assert_eq!(outcome(&node, &good, b"payload", NODE_TS), Err(VerifyError::InvalidSignature));
    // "invalid key".
    let other = SendGrid::new([OTHER_KEY]).unwrap();
    assert_eq!(outcome(&other, &good, NODE_PAYLOAD, NODE_TS), Err(VerifyError::InvalidSignature));
    assert_eq!(outcome(&other, &vector(), PY_PAYLOAD, PY_TS), Err(VerifyError::InvalidSignature));
    // "bad timestamp": not a number at all.
    let words = signed(NODE_SIGNATURE, "timestamp");
    assert_eq!(outcome(&node, &words, NODE_PAYLOAD, NODE_TS), Err(VerifyError::MalformedSignature));
    // The Python file's "bad signature" is the Node vector's: well formed,
    // but over another message.
    assert_eq!(check(NODE_SIGNATURE), Err(VerifyError::InvalidSignature));
}

#[test]
fn signer_verifies_and_agrees_with_the_published_format() {
    // No SDK publishes a private key, so the signer cannot reproduce the
    // published signatures; it signs the same message (`timestamp +
    // body`, SHA-256, DER, base64) under the RFC 6979 key, and the
    // scheme, which verifies the published vectors above, verifies it.
    let public = testing::sendgrid_public_key(SIGNING_KEY);
    assert!(
        public.starts_with("MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"),
        "DER SPKI, like the SDKs' keys"
    );
    assert_eq!(public.len(), PY_KEY.len());
    let ours = SendGrid::new([&public]).unwrap();
    let headers = testing::sendgrid(SIGNING_KEY, PY_TS, PY_PAYLOAD);
    assert_eq!(headers[TIMESTAMP_HEADER], PY_TS_STR);
    assert_eq!(outcome(&ours, &headers, PY_PAYLOAD, PY_TS), Ok(()));
    // Deterministic (RFC 6979).
    assert_eq!(testing::sendgrid(SIGNING_KEY, PY_TS, PY_PAYLOAD), headers);
    // And only under that key.
    assert_eq!(outcome(&scheme(), &headers, PY_PAYLOAD, PY_TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn tampered_body_or_timestamp_is_invalid() {
    let mut body = PY_PAYLOAD.to_vec();
    let at = body.iter().position(|&b| b == b'9').unwrap();
    body[at] = b'8';
    assert_eq!(outcome(&scheme(), &vector(), &body, PY_TS), Err(VerifyError::InvalidSignature));
    // The trailing CRLF is part of what was signed.
    let trimmed = &PY_PAYLOAD[..PY_PAYLOAD.len() - 2];
    assert_eq!(outcome(&scheme(), &vector(), trimmed, PY_TS), Err(VerifyError::InvalidSignature));
    let other_ts = with(&vector(), TIMESTAMP_HEADER, "1600112503");
    assert_eq!(
        outcome(&scheme(), &other_ts, PY_PAYLOAD, PY_TS),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn reserialised_json_is_invalid() {
    let body = reserialised(PY_PAYLOAD);
    assert_ne!(body, PY_PAYLOAD);
    assert_eq!(outcome(&scheme(), &vector(), &body, PY_TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn rotation() {
    let rotated = SendGrid::new([OTHER_KEY, NODE_KEY, PY_KEY]).unwrap();
    assert_eq!(outcome(&rotated, &vector(), PY_PAYLOAD, PY_TS), Ok(()));
    let node = signed(NODE_SIGNATURE, "1588788367");
    assert_eq!(outcome(&rotated, &node, NODE_PAYLOAD, NODE_TS), Ok(()));
    let neither = SendGrid::new([OTHER_KEY, NODE_KEY]).unwrap();
    assert_eq!(outcome(&neither, &vector(), PY_PAYLOAD, PY_TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn key_count_is_bounded() {
    assert!(SendGrid::new([PY_KEY; 8]).is_ok());
    assert!(SendGrid::new([PY_KEY; 9]).is_err(), "nine keys: refused at build time");
}

#[test]
fn missing_headers() {
    assert_eq!(
        outcome(&scheme(), &HeaderMap::new(), PY_PAYLOAD, PY_TS),
        Err(VerifyError::MissingSignature)
    );
    assert_eq!(
        outcome(&scheme(), &without(&vector(), SIGNATURE_HEADER), PY_PAYLOAD, PY_TS),
        Err(VerifyError::MissingSignature)
    );
    assert_eq!(
        outcome(&scheme(), &without(&vector(), TIMESTAMP_HEADER), PY_PAYLOAD, PY_TS),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn malformed_signatures() {
    let der = STANDARD.decode(PY_SIGNATURE).unwrap();
    // r and s as 64 raw bytes (the other common encoding): not DER.
    let raw = {
        let signature = p256::ecdsa::Signature::from_der(&der).unwrap();
        STANDARD.encode(signature.to_bytes())
    };
    let truncated_der = STANDARD.encode(&der[..der.len() - 1]);
    let trailing_der = STANDARD.encode([&der[..], &[0]].concat());
    let too_long = "A".repeat(100);
    for bad in [
        "",
        "=",
        "!!!!",
        "AAAA",
        &PY_SIGNATURE[..PY_SIGNATURE.len() - 4],
        &PY_SIGNATURE.replace('+', "-"),
        PY_SIGNATURE.trim_end_matches('='),
        &raw,
        &truncated_der,
        &trailing_der,
        &too_long,
        &hex::encode(&der),
    ] {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
}

#[test]
fn repeated_headers() {
    let same = repeated(&vector(), SIGNATURE_HEADER, PY_SIGNATURE);
    assert_eq!(outcome(&scheme(), &same, PY_PAYLOAD, PY_TS), Ok(()));
    for (name, other) in [(SIGNATURE_HEADER, NODE_SIGNATURE), (TIMESTAMP_HEADER, "1600112503")] {
        let twice = repeated(&vector(), name, other);
        assert_eq!(
            outcome(&scheme(), &twice, PY_PAYLOAD, PY_TS),
            Err(VerifyError::MalformedSignature),
            "{name}"
        );
    }
}

#[test]
fn tolerance_window() {
    assert_tolerance_window(&scheme(), &vector(), PY_PAYLOAD, PY_TS);
}

#[test]
fn hostile_timestamps_are_malformed() {
    for ts in HOSTILE_TIMESTAMPS {
        let hostile = with(&vector(), TIMESTAMP_HEADER, ts);
        assert_eq!(
            outcome(&scheme(), &hostile, PY_PAYLOAD, PY_TS),
            Err(VerifyError::MalformedSignature),
            "{ts:?}"
        );
    }
}

#[test]
fn bad_keys_are_config_errors() {
    assert!(SendGrid::new(Vec::<String>::new()).is_err());
    assert!(SendGrid::new([""]).is_err());
    assert!(SendGrid::new(["not base64!"]).is_err());
    // Base64, but not a key; a key cut short.
    assert!(SendGrid::new(["AAAA"]).is_err());
    assert!(SendGrid::new([STANDARD.encode(&STANDARD.decode(PY_KEY).unwrap()[..60])]).is_err());
    // An Ed25519 SubjectPublicKeyInfo: DER, but not P-256.
    assert!(
        SendGrid::new(["MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE="]).is_err()
    );
    // Pasted with surrounding whitespace: fine.
    assert!(SendGrid::new([format!(" {PY_KEY}\n")]).is_ok());
}

#[test]
fn debug_shows_no_signing_key() {
    // The receiver holds public keys only.
    assert_debug_hides_secret(&scheme(), SIGNING_KEY);
}

#[tokio::test]
async fn envelope_of_each_event_in_the_published_batch() {
    let answer = send(scheme(), vector(), PY_PAYLOAD, PY_TS).await;
    assert_eq!(answer.status, StatusCode::OK);
    let digest = sha256_hex(PY_PAYLOAD);
    assert_eq!(
        answer.json(),
        serde_json::json!({
            "scheme": "sendgrid",
            "id": digest,
            "id_signed": true,
            "type": "batch",
            "version": "1",
            "timestamp": null,
            "key": format!("sendgrid:sha256:{digest}"),
            "batch": [{
                "scheme": "sendgrid",
                "id": PY_EVENT_ID,
                "id_signed": true,
                "type": "dropped",
                "version": "1",
                "timestamp": 1_600_112_492,
                "key": format!("sendgrid:id:{PY_EVENT_ID}"),
            }],
        })
    );
}

#[tokio::test]
async fn envelope_fallbacks_and_refusals() {
    let public = testing::sendgrid_public_key(SIGNING_KEY);
    let now = PY_TS;
    // An element without `sg_event_id` or `timestamp`: its own digest, the
    // signed timestamp.
    let body = br#"[{"email":"a@example.com","event":"processed","sg_event_id":"cHJvY2Vzc2VkLTE","timestamp":1600112490},{"email":"b@example.com","event":"open"}]"#;
    let answer = send(
        SendGrid::new([&public]).unwrap(),
        testing::sendgrid(SIGNING_KEY, now, body),
        body,
        now,
    )
    .await;
    assert_eq!(answer.status, StatusCode::OK);
    let batch = &answer.json()["batch"];
    assert_eq!(batch[0]["key"], "sendgrid:id:cHJvY2Vzc2VkLTE");
    let second = sha256_hex(br#"{"email":"b@example.com","event":"open"}"#);
    assert_eq!(batch[1]["id"], second);
    assert_eq!(batch[1]["key"], format!("sendgrid:sha256:{second}"));
    assert_eq!(batch[1]["timestamp"], now);
    // Authentic, but not a batch (the Node vector's body is one object), an
    // empty batch, an element without a type: 400.
    for body in [NODE_PAYLOAD, b"[]", br#"[{"sg_event_id":"x"}]"#] {
        let headers = testing::sendgrid(SIGNING_KEY, now, body);
        let answer = send(SendGrid::new([&public]).unwrap(), headers, body, now).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", String::from_utf8_lossy(body));
        assert_eq!(answer.json()["error"], "malformed_event");
    }
    // Unsigned: refused before any envelope is read.
    let answer = send(scheme(), signed(NODE_SIGNATURE, PY_TS_STR), PY_PAYLOAD, now).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(!answer.reached_the_handler());
}

/// A batch of three events posted to a `Receiver`: three deliveries, each
/// handled once; the same batch again is a duplicate and nothing is handled
/// twice; a batch overlapping it only adds its new event.
#[tokio::test]
async fn the_receiver_keeps_each_event_of_a_batch_once() {
    const NOW: u64 = 1_700_000_000;
    let seen: Arc<Mutex<HashMap<String, u32>>> = Arc::default();
    let record = seen.clone();
    let router = EventRouter::new().catch_all(move |event: Event<serde_json::Value>| {
        let id = event.payload()["sg_event_id"].as_str().unwrap().to_owned();
        *record.lock().unwrap().entry(id).or_default() += 1;
        async { Ok::<_, String>(()) }
    });
    let public = testing::sendgrid_public_key(SIGNING_KEY);
    let receiver = Receiver::builder(SendGrid::new([public]).unwrap())
        .clock(FixedClock::new(NOW))
        .router(router)
        .build()
        .unwrap();
    let handle = receiver.handle();
    let post = |body: &'static [u8]| {
        let service = receiver.service();
        async move {
            let headers = testing::sendgrid(SIGNING_KEY, NOW, body);
            let response =
                service.oneshot(testing::request("/webhooks", headers, body)).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<serde_json::Value>(&bytes).unwrap())
        }
    };
    let until_handled = |n: u64| {
        let handle = handle.clone();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while handle.stats().handled < n {
                assert!(std::time::Instant::now() < deadline, "{n} events handled");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Time for a wrongly kept extra delivery to be handled too.
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };

    let batch: &'static [u8] = b"[{\"email\":\"a@example.com\",\"event\":\"processed\",\"sg_event_id\":\"ZXZ0LTE\",\"timestamp\":1699999990},{\"email\":\"a@example.com\",\"event\":\"delivered\",\"sg_event_id\":\"ZXZ0LTI\",\"timestamp\":1699999991},{\"email\":\"a@example.com\",\"event\":\"open\",\"sg_event_id\":\"ZXZ0LTM\",\"timestamp\":1699999992}]\r\n";
    let (status, answer) = post(batch).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer, serde_json::json!({ "status": "accepted", "id": sha256_hex(batch) }));
    until_handled(3).await;
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.duplicates, stats.handled), (3, 0, 3));

    // SendGrid resends the batch (it got no 2xx, say): a duplicate.
    let (status, answer) = post(batch).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(answer["status"], "duplicate");
    until_handled(3).await;
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.duplicates, stats.handled), (3, 3, 3));

    // A batch that repeats one event and brings a new one.
    let overlapping: &'static [u8] = b"[{\"email\":\"a@example.com\",\"event\":\"open\",\"sg_event_id\":\"ZXZ0LTM\",\"timestamp\":1699999992},{\"email\":\"a@example.com\",\"event\":\"click\",\"sg_event_id\":\"ZXZ0LTQ\",\"timestamp\":1699999993}]";
    let (status, answer) = post(overlapping).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(answer["status"], "accepted");
    until_handled(4).await;
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.duplicates, stats.handled), (4, 4, 4));

    let seen = seen.lock().unwrap();
    let expected: HashMap<String, u32> =
        ["ZXZ0LTE", "ZXZ0LTI", "ZXZ0LTM", "ZXZ0LTQ"].iter().map(|id| (id.to_string(), 1)).collect();
    assert_eq!(*seen, expected, "every event handled exactly once");
}
