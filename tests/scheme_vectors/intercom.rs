//! Intercom: `X-Hub-Signature: sha1=<hex>`, HMAC-SHA1 of the body keyed with
//! the app's client secret.
//!
//! Intercom publishes no signed example. The bodies below follow the
//! notification model of its docs (developers.intercom.com, "Webhook
//! models": a `notification_event` with `id`, `topic`, `created_at`,
//! `data.item`; and the `ping` sent when a webhook is saved), and the
//! signatures were made with Node's `crypto` by `tests/vectors/intercom.js`
//! (Node 20), the way Intercom's "Signed notifications" section describes.
//! RFC 2202's HMAC-SHA1 vectors anchor the algorithm itself (see
//! `rfc_2202_anchors_the_algorithm`).

use hookwarden::mac::{HmacSecrets, Mac, Sha1};
use hookwarden::scheme::Intercom;
use hookwarden::testing;
use http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::layers::send_to;
use super::*;

const SECRET: &str = "d6c1e3f0-8a1b-4c5d-9e2f-intercom-test";
const NOTIFICATION: &[u8] = br#"{"type":"notification_event","app_id":"a86dr8yl","data":{"type":"notification_event_data","item":{"type":"conversation","id":"147","state":"closed"}},"links":{},"id":"notif_ccd8a4d2-c6be-4c2b-b0e9-85a7c6f4d6a1","topic":"conversation.admin.closed","delivery_status":"pending","delivery_attempts":1,"delivered_at":0,"first_sent_at":1700000000,"created_at":1700000000,"self":null}"#;
const NOTIFICATION_SIGNATURE: &str = "sha1=fbea48ef5276f6f757fafd0ad45dc290e71b084b";
const PING: &[u8] = br#"{"type":"notification_event","app_id":"a86dr8yl","data":{"type":"notification_event_data","item":{"type":"ping","message":"something something interzen"}},"links":{},"id":null,"topic":"ping","delivery_status":null,"delivery_attempts":1,"delivered_at":0,"first_sent_at":1700000000,"created_at":1700000000,"self":null}"#;
const PING_SIGNATURE: &str = "sha1=1c8e01fc955a95453053a770904f5d8b465c8406";
const OTHER_SECRET: &str = "another-client-secret";
const HEADER: &str = "x-hub-signature";

fn scheme() -> Intercom {
    Intercom::new([SECRET]).unwrap()
}

fn signed(signature: &str) -> HeaderMap {
    headers(&[(HEADER, signature)])
}

fn check(signature: &str) -> Result<(), VerifyError> {
    outcome(&scheme(), &signed(signature), NOTIFICATION, 0)
}

#[test]
fn rfc_2202_anchors_the_algorithm() {
    // RFC 2202 section 3, test case 2, through the same SHA-1 secrets the
    // scheme uses, and through the scheme itself.
    let secrets = HmacSecrets::<Sha1>::with_digest("t", ["Jefe"]).unwrap();
    let tag = Mac::from_hex(b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").unwrap();
    assert!(secrets.verify(&[b"what do ya want for nothing?"], &[tag]));
    let jefe = Intercom::new(["Jefe"]).unwrap();
    let sent = signed("sha1=effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    assert_eq!(outcome(&jefe, &sent, b"what do ya want for nothing?", 0), Ok(()));
}

#[test]
fn generated_vectors_verify() {
    let verified = verify(&scheme(), &signed(NOTIFICATION_SIGNATURE), NOTIFICATION, 0);
    assert_eq!(verified.scheme(), "intercom");
    assert_eq!(verified.timestamp(), None, "Intercom signs no timestamp");
    assert_eq!(outcome(&scheme(), &signed(PING_SIGNATURE), PING, 0), Ok(()));
    // Hex may be uppercase.
    assert_eq!(
        check(&NOTIFICATION_SIGNATURE.to_ascii_uppercase().replace("SHA1=", "sha1=")),
        Ok(())
    );
}

#[test]
fn signer_reproduces_the_vectors() {
    assert_eq!(testing::intercom(SECRET, NOTIFICATION), signed(NOTIFICATION_SIGNATURE));
    assert_eq!(testing::intercom(SECRET, PING), signed(PING_SIGNATURE));
}

#[test]
fn tampered_or_reserialised_body_is_invalid() {
    let changed = String::from_utf8(NOTIFICATION.to_vec()).unwrap().replace("\"147\"", "\"148\"");
    assert_eq!(
        outcome(&scheme(), &signed(NOTIFICATION_SIGNATURE), changed.as_bytes(), 0),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(
        outcome(&scheme(), &signed(NOTIFICATION_SIGNATURE), &reserialised(NOTIFICATION), 0),
        Err(VerifyError::InvalidSignature)
    );
    // Another delivery's signature.
    assert_eq!(check(PING_SIGNATURE), Err(VerifyError::InvalidSignature));
}

#[test]
fn wrong_secret_and_rotation() {
    let wrong = Intercom::new([OTHER_SECRET]).unwrap();
    assert_eq!(
        outcome(&wrong, &signed(NOTIFICATION_SIGNATURE), NOTIFICATION, 0),
        Err(VerifyError::InvalidSignature)
    );
    let rotated = Intercom::new([OTHER_SECRET, SECRET]).unwrap();
    assert_eq!(outcome(&rotated, &signed(NOTIFICATION_SIGNATURE), NOTIFICATION, 0), Ok(()));
    let neither = Intercom::new([OTHER_SECRET, "third"]).unwrap();
    assert_eq!(
        outcome(&neither, &signed(NOTIFICATION_SIGNATURE), NOTIFICATION, 0),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn missing_signature() {
    assert_eq!(
        outcome(&scheme(), &HeaderMap::new(), NOTIFICATION, 0),
        Err(VerifyError::MissingSignature)
    );
    // GitHub's SHA-256 header is not Intercom's.
    let sha256 = headers(&[("x-hub-signature-256", NOTIFICATION_SIGNATURE)]);
    assert_eq!(outcome(&scheme(), &sha256, NOTIFICATION, 0), Err(VerifyError::MissingSignature));
}

#[test]
fn malformed_signatures() {
    let hex = NOTIFICATION_SIGNATURE.strip_prefix("sha1=").unwrap();
    let sha256_length = format!("sha1={}", "ab".repeat(32));
    let short = format!("sha1={}", &hex[..38]);
    let long = format!("sha1={hex}00");
    let odd = format!("sha1={}", &hex[..39]);
    let not_hex = format!("sha1={}", hex.replace('f', "g"));
    let sha256_prefix = format!("sha256={hex}");
    let base64 = "sha1=++pI71J29vdX+v0K1F3CkOcbCEs=";
    for bad in
        ["", "sha1=", hex, &sha256_length, &short, &long, &odd, &not_hex, &sha256_prefix, base64]
    {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
}

#[test]
fn repeated_signature_header() {
    let same = repeated(&signed(NOTIFICATION_SIGNATURE), HEADER, NOTIFICATION_SIGNATURE);
    assert_eq!(outcome(&scheme(), &same, NOTIFICATION, 0), Ok(()));
    let different = repeated(&signed(NOTIFICATION_SIGNATURE), HEADER, PING_SIGNATURE);
    assert_eq!(
        outcome(&scheme(), &different, NOTIFICATION, 0),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn no_timestamp_so_no_window() {
    // `created_at` is in the signed body but is not checked against the
    // clock: a captured notification verifies whenever it is replayed;
    // dedupe on its signed id refuses it.
    for now in [0, 1_700_000_000 + 10 * 365 * 86_400, u64::MAX] {
        assert_eq!(outcome(&scheme(), &signed(NOTIFICATION_SIGNATURE), NOTIFICATION, now), Ok(()));
    }
}

#[test]
fn debug_hides_the_secret() {
    assert_debug_hides_secret(&scheme(), SECRET);
    assert_debug_hides_secret(&Intercom::new([OTHER_SECRET, SECRET]).unwrap(), OTHER_SECRET);
}

#[test]
fn configuration_errors() {
    assert!(Intercom::new(Vec::<&str>::new()).is_err());
    assert!(Intercom::new([SECRET, ""]).is_err());
}

#[tokio::test]
async fn envelope_reads_the_signed_notification() {
    let answer =
        send_to(scheme(), "/webhooks/intercom", signed(NOTIFICATION_SIGNATURE), NOTIFICATION, 0)
            .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(
        answer.json(),
        json!({
            "scheme": "intercom",
            "id": "notif_ccd8a4d2-c6be-4c2b-b0e9-85a7c6f4d6a1",
            "id_signed": true,
            "type": "conversation.admin.closed",
            "version": "1",
            "timestamp": 1_700_000_000,
            "key": "intercom:id:notif_ccd8a4d2-c6be-4c2b-b0e9-85a7c6f4d6a1",
        })
    );
}

#[tokio::test]
async fn a_ping_is_an_event_keyed_on_its_body() {
    // The ping Intercom sends when a webhook is saved has a `null` id: it
    // is an ordinary event of type `ping`, keyed on the body digest (no
    // handshake: Intercom only wants a 2xx).
    let answer = send_to(scheme(), "/webhooks/intercom", signed(PING_SIGNATURE), PING, 0).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    let digest: String = Sha256::digest(PING).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(answer.json()["type"], "ping");
    assert_eq!(answer.json()["id"], digest.as_str());
    assert_eq!(answer.json()["key"], format!("intercom:sha256:{digest}"));
}

#[tokio::test]
async fn unsigned_notifications_go_nowhere() {
    let answer = send_to(scheme(), "/webhooks/intercom", HeaderMap::new(), PING, 0).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "missing_signature");
    let forged = signed(&format!("sha1={}", "0".repeat(40)));
    let answer = send_to(scheme(), "/webhooks/intercom", forged, PING, 0).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "invalid_signature");
}
