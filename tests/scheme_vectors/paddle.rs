use hookwarden::mac::MAX_SIGNATURES;
use hookwarden::scheme::Paddle;
use hookwarden::testing;
use http::StatusCode;

use super::layers::send;
use super::*;

// PaddleHQ/paddle-node-sdk
// `src/__tests__/notifications/webhooks-validator.test.ts` at
// 4210c16b61d697c92bfd3b094136369591f71f29 ("Valid signature", "Valid
// signature with multiple hashes", "Invalid secret", "Invalid data - has
// more space", the header tests).
const SECRET: &str = "VALID_SECRET";
const TS: u64 = 1_698_796_800;
const BODY: &[u8] = br#"{"data": ["1", "2"]}"#;
const SIGNATURE: &str =
    "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9";
const MULTI_BODY: &[u8] = br#"{"data": "value"}"#;
const MULTI_SIGNATURE: &str = "ts=1698796800;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h1=28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261;h2=RANDOM_HASH";
const HEX: &str = "a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9";

fn scheme() -> Paddle {
    Paddle::new([SECRET]).unwrap()
}

fn vector() -> HeaderMap {
    headers(&[("Paddle-Signature", SIGNATURE)])
}

fn check(signature: &str) -> Result<(), VerifyError> {
    outcome(&scheme(), &headers(&[("Paddle-Signature", signature)]), BODY, TS)
}

#[test]
fn published_vectors_verify() {
    let verified = verify(&scheme(), &vector(), BODY, TS);
    assert_eq!(verified.scheme(), "paddle");
    assert_eq!(verified.timestamp(), Some(TS));
    assert_eq!(verified.signed_id(), None, "the id is in the body, not signed apart");
    let multi = headers(&[("Paddle-Signature", MULTI_SIGNATURE)]);
    assert_eq!(outcome(&scheme(), &multi, MULTI_BODY, TS), Ok(()));
}

#[test]
fn published_negative_vectors() {
    // "Invalid secret".
    let wrong = Paddle::new(["INVALID_VALID_SECRET"]).unwrap();
    assert_eq!(outcome(&wrong, &vector(), BODY, TS), Err(VerifyError::InvalidSignature));
    // "Invalid data - has more space".
    let spaced = br#"{ "data": [ "1", "2" ]}"#;
    assert_eq!(outcome(&scheme(), &vector(), spaced, TS), Err(VerifyError::InvalidSignature));
    // "InValid timestamp": `ts=9876` with the same hash: far outside the window.
    assert_eq!(check(&format!("ts=9876;h1={HEX}")), Err(VerifyError::TimestampOutOfTolerance));
    // "Invalid signature" and the header tests: malformed here, not merely
    // unmatched.
    for bad in ["ts=1698796800;h1=invalid_signature", "invalid_header", "h1=invalid_header"] {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad}");
    }
    assert_eq!(check("ts=1698796800;h2=invalid_header"), Err(VerifyError::MalformedSignature));
}

#[test]
fn signer_reproduces_the_published_header() {
    assert_eq!(testing::paddle(SECRET, TS, BODY), vector());
}

#[test]
fn tampered_body_or_timestamp_is_invalid() {
    assert_eq!(
        outcome(&scheme(), &vector(), br#"{"data": ["1", "3"]}"#, TS),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(check(&format!("ts=1698796801;h1={HEX}")), Err(VerifyError::InvalidSignature));
    assert_eq!(
        outcome(&scheme(), &vector(), &reserialised(BODY), TS),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn tolerance_window() {
    assert_tolerance_window(&scheme(), &vector(), BODY, TS);
}

#[test]
fn hostile_timestamps_are_malformed() {
    for ts in HOSTILE_TIMESTAMPS {
        assert_eq!(
            check(&format!("ts={ts};h1={HEX}")),
            Err(VerifyError::MalformedSignature),
            "{ts:?}"
        );
    }
    // Nor are spaces taken off the parts.
    assert_eq!(check(&format!("ts={TS}; h1={HEX}")), Err(VerifyError::MalformedSignature));
}

#[test]
fn missing_and_malformed_headers() {
    assert_eq!(outcome(&scheme(), &HeaderMap::new(), BODY, TS), Err(VerifyError::MissingSignature));
    let truncated = format!("ts={TS};h1={}", &HEX[..63]);
    let over_long = format!("ts={TS};h1={HEX}0");
    let not_hex = format!("ts={TS};h1={}", HEX.replace('a', "z"));
    let two_timestamps = format!("ts={TS};ts=1698796801;h1={HEX}");
    for bad in [
        "",
        "ts=1698796800",
        "ts=1698796800;h1=",
        "ts=1698796800;h1",
        &truncated,
        &over_long,
        &not_hex,
        &two_timestamps,
    ] {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
    // The same timestamp twice is one timestamp; order does not matter.
    assert_eq!(check(&format!("ts={TS};h1={HEX};ts={TS}")), Ok(()));
    assert_eq!(check(&format!("h1={HEX};ts={TS}")), Ok(()));
}

#[test]
fn repeated_headers_with_another_value_are_malformed() {
    let same = repeated(&vector(), "Paddle-Signature", SIGNATURE);
    assert_eq!(outcome(&scheme(), &same, BODY, TS), Ok(()));
    let other = repeated(&vector(), "Paddle-Signature", &format!("ts={TS};h1={}", "0".repeat(64)));
    assert_eq!(outcome(&scheme(), &other, BODY, TS), Err(VerifyError::MalformedSignature));
}

#[test]
fn rotation() {
    // Two secrets on our side…
    let rotated = Paddle::new(["pdl_ntfset_new", SECRET]).unwrap();
    assert_eq!(outcome(&rotated, &vector(), BODY, TS), Ok(()));
    let neither = Paddle::new(["pdl_ntfset_new", "pdl_ntfset_old"]).unwrap();
    assert_eq!(outcome(&neither, &vector(), BODY, TS), Err(VerifyError::InvalidSignature));
    // …or two `h1` on Paddle's: any one may match.
    let zero = "0".repeat(64);
    assert_eq!(check(&format!("ts={TS};h1={zero};h1={HEX}")), Ok(()));
    assert_eq!(check(&format!("ts={TS};h1={zero};h1={zero}")), Err(VerifyError::InvalidSignature));
}

#[test]
fn signature_count_is_bounded() {
    let zero = format!("h1={}", "0".repeat(64));
    let mut at_limit = vec![format!("ts={TS}")];
    at_limit.extend(std::iter::repeat_n(zero.clone(), MAX_SIGNATURES - 1));
    at_limit.push(format!("h1={HEX}"));
    assert_eq!(check(&at_limit.join(";")), Ok(()));
    let mut over = vec![format!("ts={TS}")];
    over.extend(std::iter::repeat_n(zero, MAX_SIGNATURES));
    over.push(format!("h1={HEX}"));
    assert_eq!(check(&over.join(";")), Err(VerifyError::MalformedSignature));
}

#[test]
fn debug_hides_the_secret() {
    assert_debug_hides_secret(&scheme(), SECRET);
    assert_debug_hides_secret(&Paddle::new(["pdl_ntfset_new", SECRET]).unwrap(), SECRET);
}

#[test]
fn configuration_errors() {
    assert!(Paddle::new([""]).is_err());
    assert!(Paddle::new(Vec::<String>::new()).is_err());
}

// An abridged `transaction.completed` notification in the shape of
// Paddle's docs ("Simulate webhook events" / the notifications reference)
// and the SDK's mocks.
const EVENT: &[u8] = br#"{"event_id":"evt_01hv8wptq8987qeep44cyrewp9","event_type":"transaction.completed","occurred_at":"2024-04-12T10:18:49.621022Z","notification_id":"ntf_01hv8wpts6qmg1ap0jc8tp9kjd","data":{"id":"txn_01hv8wnvvtedwjrhfhpr9vkq9w","status":"completed","currency_code":"USD"}}"#;
const NOW: u64 = 1_712_917_130;

#[tokio::test]
async fn envelope_reads_the_signed_event_id_and_type() {
    let answer = send(scheme(), testing::paddle(SECRET, NOW, EVENT), EVENT, NOW).await;
    assert_eq!(
        answer.envelope(),
        serde_json::json!({
            "scheme": "paddle",
            "id": "evt_01hv8wptq8987qeep44cyrewp9",
            "id_signed": true,
            "type": "transaction.completed",
            "version": "1",
            // `occurred_at` is RFC 3339: the signed `ts` instead.
            "timestamp": NOW,
            "key": "paddle:id:evt_01hv8wptq8987qeep44cyrewp9",
        })
    );
}

#[tokio::test]
async fn unsigned_or_stale_deliveries_do_not_reach_the_handler() {
    let signed = testing::paddle(SECRET, NOW, EVENT);
    let forged = testing::paddle("pdl_ntfset_forged", NOW, EVENT);
    assert_eq!(send(scheme(), forged, EVENT, NOW).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(send(scheme(), signed, EVENT, NOW + 301).await.status, StatusCode::UNAUTHORIZED);
}
