use hookwarden::scheme::Linear;
use hookwarden::testing;
use http::StatusCode;
use serde_json::json;

use super::layers::{digest_key, send};
use super::*;

// linear/linear `packages/sdk/src/_tests/LinearWebhooks.test.ts` at
// 0950795080a2482711b72b604286f83ccd04c374: its `requestBody` as
// `JSON.stringify` writes it, and its secret. The test signs at run time;
// the signature here was made by `tests/vectors/linear.mjs` (Node's
// crypto) and checked by the official SDK's `LinearWebhookClient.verify`
// (@linear/sdk 98.0.0).
const SECRET: &str = "SECRET";
const BODY: &[u8] = br#"{"action":"create","data":{"id":"2174add1-f7c8-44e3-bbf3-2d60b5ea8bc9","createdAt":"2020-01-23T12:53:18.084Z","updatedAt":"2020-01-23T12:53:18.084Z","archivedAt":null,"body":"Indeed, I think this is definitely an improvement over the previous version.","edited":false,"issueId":"539068e2-ae88-4d09-bd75-22eb4a59612f","userId":"aacdca22-6266-4c0a-ab3c-8fa70a26765c"},"type":"Comment","url":"https://linear.app/issue/LIN-1778/foo-bar#comment-77217de3-fb52-4dad-bb9a-b356beb93de8","createdAt":"2020-01-23T12:53:18.084Z","webhookTimestamp":1677611643000}"#;
const SIGNATURE: &str = "8790fcbbea809950be9198408593c2a13f7591bba6c61adb589f709b5e1b186a";
/// The body's `webhookTimestamp`, in seconds.
const TS: u64 = 1_677_611_643;

fn scheme() -> Linear {
    Linear::new([SECRET]).unwrap()
}

fn vector() -> HeaderMap {
    headers(&[("Linear-Signature", SIGNATURE)])
}

fn check(signature: &str) -> Result<(), VerifyError> {
    outcome(&scheme(), &headers(&[("Linear-Signature", signature)]), BODY, TS)
}

/// A body with this `webhookTimestamp` field (raw JSON) and its signature.
fn signed_with_timestamp(field: &str) -> (Vec<u8>, HeaderMap) {
    let body = format!(r#"{{"type":"Issue","action":"update","data":{{"id":"x"}}{field}}}"#);
    let headers = testing::linear(SECRET, body.as_bytes());
    (body.into_bytes(), headers)
}

#[test]
fn vector_verifies_and_reports_the_body_timestamp() {
    let verified = verify(&scheme(), &vector(), BODY, TS);
    assert_eq!(verified.scheme(), "linear");
    assert_eq!(verified.timestamp(), Some(TS));
    assert_eq!(verified.signed_id(), None);
}

#[test]
fn signer_reproduces_the_vector() {
    assert_eq!(testing::linear(SECRET, BODY), vector());
}

#[test]
fn tampered_body_or_wrong_secret_is_invalid() {
    // The SDK test's "incorrect signature": the wrong secret.
    let wrong = Linear::new(["WRONG_SECRET"]).unwrap();
    assert_eq!(outcome(&wrong, &vector(), BODY, TS), Err(VerifyError::InvalidSignature));
    let tampered = String::from_utf8(BODY.to_vec()).unwrap().replace("LIN-1778", "LIN-1779");
    assert_eq!(
        outcome(&scheme(), &vector(), tampered.as_bytes(), TS),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(
        outcome(&scheme(), &vector(), &reserialised(BODY), TS),
        Err(VerifyError::InvalidSignature)
    );
    // A fresher timestamp cannot be put in: it is inside the signed body.
    let fresher =
        String::from_utf8(BODY.to_vec()).unwrap().replace("1677611643000", "1677611943000");
    assert_eq!(
        outcome(&scheme(), &vector(), fresher.as_bytes(), TS + 300),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn tolerance_window() {
    // The SDK test's "correct signature, incorrect timestamp": refused once
    // the body's timestamp is outside the window (Linear's SDK allows 60 s;
    // here the configured tolerance).
    assert_tolerance_window(&scheme(), &vector(), BODY, TS);
    // Milliseconds are rounded down to the second.
    let (body, sent) = signed_with_timestamp(r#","webhookTimestamp":1677611643999"#);
    assert_eq!(verify(&scheme(), &sent, &body, TS).timestamp(), Some(TS));
}

#[test]
fn a_missing_or_unreadable_timestamp_is_malformed() {
    for field in [
        "",
        r#","webhookTimestamp":null"#,
        r#","webhookTimestamp":"1677611643000""#,
        r#","webhookTimestamp":1677611643000.5"#,
        r#","webhookTimestamp":-1677611643000"#,
        r#","webhookTimestamp":99999999999999999999999"#,
        r#","webhookTimestamp":1677611643000,"webhookTimestamp":1677611643000"#,
        r#","nested":{"webhookTimestamp":1677611643000}"#,
    ] {
        let (body, sent) = signed_with_timestamp(field);
        assert_eq!(
            outcome(&scheme(), &sent, &body, TS),
            Err(VerifyError::MalformedSignature),
            "{field:?}"
        );
    }
    // Signed bodies that are not objects.
    for body in [&b"[1677611643000]"[..], b"1677611643000", b"not json"] {
        let sent = testing::linear(SECRET, body);
        assert_eq!(outcome(&scheme(), &sent, body, TS), Err(VerifyError::MalformedSignature));
    }
}

#[test]
fn the_signature_is_checked_before_the_body_is_read() {
    // An unsigned body is refused as such, whatever its timestamp.
    let (body, _) = signed_with_timestamp("");
    let forged = testing::linear("WRONG_SECRET", &body);
    assert_eq!(outcome(&scheme(), &forged, &body, TS), Err(VerifyError::InvalidSignature));
    let forged = testing::linear("WRONG_SECRET", BODY);
    assert_eq!(outcome(&scheme(), &forged, BODY, 0), Err(VerifyError::InvalidSignature));
}

#[test]
fn missing_and_malformed_signatures() {
    assert_eq!(outcome(&scheme(), &HeaderMap::new(), BODY, TS), Err(VerifyError::MissingSignature));
    let over_long = format!("{SIGNATURE}0");
    let not_hex = SIGNATURE.replace('a', "z");
    let prefixed = format!("sha256={SIGNATURE}");
    for bad in ["", &SIGNATURE[..63], &over_long, &not_hex, &prefixed] {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
    assert_eq!(check(&SIGNATURE.to_ascii_uppercase()), Ok(()));
}

#[test]
fn repeated_headers_with_another_value_are_malformed() {
    assert_eq!(
        outcome(&scheme(), &repeated(&vector(), "Linear-Signature", SIGNATURE), BODY, TS),
        Ok(())
    );
    let twice = repeated(&vector(), "Linear-Signature", &SIGNATURE.to_ascii_uppercase());
    assert_eq!(outcome(&scheme(), &twice, BODY, TS), Err(VerifyError::MalformedSignature));
}

#[test]
fn rotation() {
    let rotated = Linear::new(["lin_wh_new", SECRET]).unwrap();
    assert_eq!(outcome(&rotated, &vector(), BODY, TS), Ok(()));
    let neither = Linear::new(["lin_wh_new", "lin_wh_old"]).unwrap();
    assert_eq!(outcome(&neither, &vector(), BODY, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn debug_hides_the_secret() {
    assert_debug_hides_secret(
        &Linear::new(["lin_wh_0123456789abcdef"]).unwrap(),
        "lin_wh_0123456789abcdef",
    );
    assert_debug_hides_secret(
        &Linear::new(["lin_wh_new", "lin_wh_0123456789abcdef"]).unwrap(),
        "lin_wh_0123456789abcdef",
    );
}

#[test]
fn configuration_errors() {
    assert!(Linear::new([""]).is_err());
    assert!(Linear::new(Vec::<String>::new()).is_err());
}

// The shape of the SDK's own `generateIssuePayload`
// (`packages/sdk/src/_tests/webhook-handler.test.ts`), with fixed ids.
const ISSUE: &[u8] = br#"{"type":"Issue","action":"create","actor":{"id":"0b7a5b8e-6b2d-4c8e-9a52-3c0f4d6b1a11"},"data":{"foo":"bar"},"organizationId":"5e1c7f0a-2d3b-4c5d-8e9f-0a1b2c3d4e5f","createdAt":"2025-08-08T05:00:00.000Z","webhookId":"7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d","webhookTimestamp":1754629200000}"#;
const ISSUE_TS: u64 = 1_754_629_200;

#[tokio::test]
async fn envelope_reports_the_delivery_id_and_keys_on_the_digest() {
    let mut sent = testing::linear(SECRET, ISSUE);
    sent.insert("linear-delivery", "234d1a4e-b617-4388-90fe-adc3633d6b72".parse().unwrap());
    sent.insert("linear-event", "Issue".parse().unwrap());
    let answer = send(scheme(), sent, ISSUE, ISSUE_TS).await;
    assert_eq!(
        answer.envelope(),
        json!({
            "scheme": "linear",
            "id": "234d1a4e-b617-4388-90fe-adc3633d6b72",
            "id_signed": false,
            "type": "Issue",
            "version": "1",
            "timestamp": ISSUE_TS,
            "key": digest_key("linear", ISSUE),
        })
    );
    // The unsigned `Linear-Event` header does not override the signed type.
    let mut relabelled = testing::linear(SECRET, ISSUE);
    relabelled.insert("linear-event", "Comment".parse().unwrap());
    let envelope = send(scheme(), relabelled, ISSUE, ISSUE_TS).await.envelope();
    assert_eq!(envelope["type"], "Issue");
    // A replay under a fresh delivery id is the same dedupe key.
    let mut replayed = testing::linear(SECRET, ISSUE);
    replayed.insert("linear-delivery", "00000000-0000-4000-8000-000000000000".parse().unwrap());
    let envelope = send(scheme(), replayed, ISSUE, ISSUE_TS).await.envelope();
    assert_eq!(envelope["key"], digest_key("linear", ISSUE));
}

#[tokio::test]
async fn unsigned_or_stale_deliveries_do_not_reach_the_handler() {
    let forged = testing::linear("WRONG_SECRET", ISSUE);
    assert_eq!(send(scheme(), forged, ISSUE, ISSUE_TS).await.status, StatusCode::UNAUTHORIZED);
    let signed = testing::linear(SECRET, ISSUE);
    assert_eq!(
        send(scheme(), signed, ISSUE, ISSUE_TS + 301).await.status,
        StatusCode::UNAUTHORIZED
    );
}
