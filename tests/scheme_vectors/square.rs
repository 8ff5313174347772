//! Square: `x-square-hmacsha256-signature`, base64 HMAC-SHA256 of the
//! notification URL followed by the body.

use hookwarden::scheme::Square;
use hookwarden::testing;
use http::StatusCode;
use serde_json::json;

use super::layers::send_to;
use super::*;

// square/square-python-sdk, `tests/utilities/test_webhooks_helper.py` at
// 243f83b2f6f730d67433494acc69d6a9ead11421 (the same vector is in
// `tests/integration/test_webhooks_helper.py` at
// ef5c175fb960def97100ed453368829d9c910b35, `test_signature_validation_pass`).
const BODY: &[u8] = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;
const SIGNATURE: &str = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
const KEY: &str = "Ibxx_5AKakO-3qeNVR61Dw";
const URL: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";
// Same files: `test_signature_validation_url_mismatch` (one character
// dropped), `test_signature_validation_invalid_signature_key`,
// `test_signature_validation_invalid_signature_header` (a 20-byte tag).
const OTHER_URL: &str = "https://webhook.site/79a4f3a-dcfa-49ee-bac5-9d0edad886b9";
const OTHER_KEY: &str = "MCmhFRxGX82xMwg5FsaoQA";
const SHORT_SIGNATURE: &str = "1z2n3DEJJiUPKcPzQo1ftvbxGdw=";
// Same files: `test_signature_validation_body_mismatch` (`created_at` a
// month earlier).
const OTHER_BODY: &[u8] = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-06-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;

// square/square-python-sdk, `tests/integration/test_webhooks_helper.py` at
// ef5c175fb960def97100ed453368829d9c910b35,
// `test_signature_validation_escaped_pass`: `<` and `>` as sent, not
// escaped.
const ESCAPED_BODY: &[u8] = br#"{"data":{"type":"webhooks","id":">id<"}}"#;
const ESCAPED_SIGNATURE: &str = "Cxt7+aTi4rKgcA0bC4g9EHdVtLSDWdqccmL5MvihU4U=";
const ESCAPED_KEY: &str = "signature-key";
const ESCAPED_URL: &str = "https://webhook.site/webhooks";

const HEADER: &str = "x-square-hmacsha256-signature";

fn scheme() -> Square {
    Square::new([KEY], URL).unwrap()
}

fn signed(signature: &str) -> HeaderMap {
    headers(&[(HEADER, signature)])
}

fn check(signature: &str) -> Result<(), VerifyError> {
    outcome(&scheme(), &signed(signature), BODY, 0)
}

#[test]
fn published_vectors_verify() {
    let verified = verify(&scheme(), &signed(SIGNATURE), BODY, 0);
    assert_eq!(verified.scheme(), "square");
    assert_eq!(verified.timestamp(), None, "Square signs no timestamp");
    assert_eq!(verified.signed_id(), None);
    let escaped = Square::new([ESCAPED_KEY], ESCAPED_URL).unwrap();
    assert_eq!(outcome(&escaped, &signed(ESCAPED_SIGNATURE), ESCAPED_BODY, 0), Ok(()));
    let json_escaped = br#"{"data":{"type":"webhooks","id":"\u003eid\u003c"}}"#;
    assert_eq!(
        outcome(&escaped, &signed(ESCAPED_SIGNATURE), json_escaped, 0),
        Err(VerifyError::InvalidSignature),
        "the bytes sent are signed, not their meaning"
    );
}

#[test]
fn published_negative_vectors() {
    let other_url = Square::new([KEY], OTHER_URL).unwrap();
    assert_eq!(
        outcome(&other_url, &signed(SIGNATURE), BODY, 0),
        Err(VerifyError::InvalidSignature)
    );
    let other_key = Square::new([OTHER_KEY], URL).unwrap();
    assert_eq!(
        outcome(&other_key, &signed(SIGNATURE), BODY, 0),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(
        outcome(&scheme(), &signed(SIGNATURE), OTHER_BODY, 0),
        Err(VerifyError::InvalidSignature)
    );
    // The SDK reports a false match; a 20-byte tag cannot be a SHA-256
    // one, so it is refused before any comparison.
    assert_eq!(check(SHORT_SIGNATURE), Err(VerifyError::MalformedSignature));
}

#[test]
fn signer_reproduces_the_published_signatures() {
    assert_eq!(testing::square(KEY, URL, BODY), signed(SIGNATURE));
    assert_eq!(testing::square(ESCAPED_KEY, ESCAPED_URL, ESCAPED_BODY), signed(ESCAPED_SIGNATURE));
}

#[test]
fn tampered_or_reserialised_body_is_invalid() {
    let mut changed = BODY.to_vec();
    let last_digit = changed.iter().rposition(u8::is_ascii_digit).unwrap();
    changed[last_digit] ^= 1;
    assert_eq!(
        outcome(&scheme(), &signed(SIGNATURE), &changed, 0),
        Err(VerifyError::InvalidSignature)
    );
    // `test_signature_validation_body_formatted`: the same JSON, pretty.
    assert_eq!(
        outcome(&scheme(), &signed(SIGNATURE), &reserialised(BODY), 0),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn the_url_is_configuration_not_request_data() {
    // A trailing slash or another case is another URL: Square signs the
    // URL exactly as registered.
    for url in [
        format!("{URL}/"),
        URL.replace("webhook.site", "WEBHOOK.site"),
        URL.replace("https", "http"),
    ] {
        let scheme = Square::new([KEY], &url).unwrap();
        assert_eq!(
            outcome(&scheme, &signed(SIGNATURE), BODY, 0),
            Err(VerifyError::InvalidSignature),
            "{url}"
        );
    }
    assert_eq!(scheme().notification_url(), URL);
}

#[tokio::test]
async fn the_host_and_path_of_the_request_are_never_trusted() {
    // Through the layers, at a path and Host that have nothing to do with
    // the notification URL: it verifies, since only the configured URL
    // counts…
    let mut sent = signed(SIGNATURE);
    sent.insert("host", "attacker.example".parse().unwrap());
    let answer = send_to(scheme(), "/elsewhere?x=1", sent.clone(), BODY, 1_700_000_000).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    // …and a Host naming the signed URL cannot make another key's
    // signature verify.
    sent.insert("host", "webhook.site".parse().unwrap());
    let other = Square::new([OTHER_KEY], URL).unwrap();
    let answer = send_to(other, "/679a4f3a-dcfa-49ee-bac5-9d0edad886b9", sent, BODY, 0).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "invalid_signature");
}

#[test]
fn missing_signature() {
    assert_eq!(outcome(&scheme(), &HeaderMap::new(), BODY, 0), Err(VerifyError::MissingSignature));
    // The old SHA-1 header alone is not accepted.
    let old = headers(&[("x-square-signature", SHORT_SIGNATURE)]);
    assert_eq!(outcome(&scheme(), &old, BODY, 0), Err(VerifyError::MissingSignature));
}

#[test]
fn malformed_signatures() {
    let hex = "18567892b260801b0d9f4d2186cd5c19ccea6f61e82f8456fd2eaf919f7fd8de";
    let url_safe = SIGNATURE.replace('/', "_");
    let unpadded = SIGNATURE.trim_end_matches('=');
    let truncated = &SIGNATURE[..40];
    let longer = format!("{SIGNATURE}A");
    let spaced = format!(" {SIGNATURE}");
    for bad in [
        "",
        "=",
        hex,
        &url_safe,
        unpadded,
        truncated,
        &longer,
        &spaced,
        "sha256=GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=",
    ] {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
}

#[test]
fn repeated_signature_header() {
    let same = repeated(&signed(SIGNATURE), HEADER, SIGNATURE);
    assert_eq!(outcome(&scheme(), &same, BODY, 0), Ok(()));
    let different = repeated(&signed(SIGNATURE), HEADER, ESCAPED_SIGNATURE);
    assert_eq!(outcome(&scheme(), &different, BODY, 0), Err(VerifyError::MalformedSignature));
}

#[test]
fn no_timestamp_so_no_window() {
    // Nothing signed says when: the clock plays no part, a captured
    // delivery verifies whenever it is replayed (dedupe on the signed
    // `event_id` is what refuses it).
    for now in [0, 1_657_744_259, u64::MAX] {
        assert_eq!(outcome(&scheme(), &signed(SIGNATURE), BODY, now), Ok(()));
    }
}

#[test]
fn rotation() {
    let rotated = Square::new([OTHER_KEY, KEY], URL).unwrap();
    assert_eq!(outcome(&rotated, &signed(SIGNATURE), BODY, 0), Ok(()));
    let neither = Square::new([OTHER_KEY, ESCAPED_KEY], URL).unwrap();
    assert_eq!(outcome(&neither, &signed(SIGNATURE), BODY, 0), Err(VerifyError::InvalidSignature));
}

#[test]
fn debug_hides_the_key() {
    assert_debug_hides_secret(&scheme(), KEY);
    assert_debug_hides_secret(&Square::new([OTHER_KEY, KEY], URL).unwrap(), OTHER_KEY);
}

#[test]
fn configuration_errors() {
    assert!(Square::new(Vec::<String>::new(), URL).is_err());
    assert!(Square::new([""], URL).is_err());
    for url in ["", "webhook.site/hooks", "/hooks", "ftp://webhook.site/hooks", "https://"] {
        assert!(Square::new([KEY], url).is_err(), "{url:?}");
    }
}

#[tokio::test]
async fn envelope_reads_the_signed_event_id() {
    let answer =
        send_to(scheme(), "/webhooks/square", signed(SIGNATURE), BODY, 1_700_000_000).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(
        answer.json(),
        json!({
            "scheme": "square",
            "id": "ac3ac95b-f97d-458c-a6e6-18981597e05f",
            "id_signed": true,
            "type": "webhooks.test_notification",
            "version": "1",
            // `created_at` is RFC 3339 text: not read as a timestamp.
            "timestamp": null,
            "key": "square:id:ac3ac95b-f97d-458c-a6e6-18981597e05f",
        })
    );
}

#[tokio::test]
async fn no_handshake_and_nothing_unsigned_gets_through() {
    // Square has no handshake: even its test notification is an event
    // (it reached the handler above). Unsigned, it goes nowhere.
    let answer = send_to(scheme(), "/webhooks/square", HeaderMap::new(), BODY, 0).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "missing_signature");
    assert_eq!(answer.content_type(), Some("application/json"));
}
