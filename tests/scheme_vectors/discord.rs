//! Discord webhook events (feature `ed25519`).
//!
//! Discord publishes no request signed with a fixed key: its SDKs' tests
//! (discord/discord-interactions-js `src/__tests__/utils/SharedTestUtils.ts`)
//! draw a fresh key pair on every run, and its docs show no signature. So
//! the vectors below were signed from a fixed seed by
//! `tests/vectors/discord.js` (Node's WebCrypto Ed25519) and each was
//! checked there with the official `discord-interactions` npm package,
//! version 4.4.0 (`verifyKey`), before it was copied here. Ed25519 is
//! deterministic: re-running the script prints the same signatures.

use std::time::Duration;

use hookwarden::Receiver;
use hookwarden::clock::FixedClock;
use hookwarden::router::EventRouter;
use hookwarden::scheme::Discord;
use hookwarden::testing;
use http::StatusCode;
use tower::ServiceExt;

use super::layers::{Answer, send, sha256_hex};
use super::*;

/// The 32-byte seed of `tests/vectors/discord.js` ("hookwarden discord
/// test seed 01!"), in hex.
const SEED: &str = "686f6f6b77617264656e20646973636f72642074657374207365656420303121";
/// Its public key, as the script printed it.
const PUBLIC_KEY: &str = "1b5547c97acac55ce0038ed280a7b09a8f817b10a3f55faf562c32919fcd5be9";
const TS: u64 = 1_729_262_573;
const TS_STR: &str = "1729262573";

/// The "Application Authorized" webhook event of Discord's docs
/// (https://discord.com/developers/docs/events/webhook-events), abridged.
const EVENT: &[u8] = br#"{"version":1,"application_id":"1234560123453231555","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{"integration_type":1,"scopes":["applications.commands"],"user":{"id":"111178765189277770","username":"nelly","discriminator":"0","global_name":null,"avatar":null}}}}"#;
const EVENT_SIGNATURE: &str = "e06141ae047257bd65a26b4807e7dfdae67c36f5494f926d863743a9fd474e89d4538998edbe32213b764a4a7eba4d09ffbd6d371cfb135fe23f979d11f57c0d";
/// The webhook-event PING (`"type":0`) sent when the URL is saved.
const WEBHOOK_PING: &[u8] = br#"{"version":1,"application_id":"1234560123453231555","type":0}"#;
const WEBHOOK_PING_SIGNATURE: &str = "dec57154822cc9178098e9d8a612575f689553f85dc217b2aa0307916fe6511aab8387c768c835426ddfefbef297941842fbeddeeccb4b6dc7470d3f4777fe05";
/// The interactions PING of discord-interactions-js
/// `src/__tests__/utils/SharedTestUtils.ts` (`pingRequestBody`).
const INTERACTIONS_PING: &[u8] =
    br#"{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1}"#;
const INTERACTIONS_PING_SIGNATURE: &str = "ad0e7ff4d2ac4721efa2358de6fd10fe5d7e45aeab7727527ddf64b417be9efc86b78a537e8e5b98689c7470bfeec085117a0d914f6ca3e7ccd9bc177d6be206";

/// Another application's key (the public key of the seed `11…11`).
fn other_public_key() -> String {
    testing::discord_public_key(&"11".repeat(32))
}

fn scheme() -> Discord {
    Discord::new([PUBLIC_KEY]).unwrap()
}

fn signed(signature: &str) -> HeaderMap {
    headers(&[("X-Signature-Ed25519", signature), ("X-Signature-Timestamp", TS_STR)])
}

fn vector() -> HeaderMap {
    signed(EVENT_SIGNATURE)
}

fn check(signature: &str) -> Result<(), VerifyError> {
    outcome(&scheme(), &signed(signature), EVENT, TS)
}

#[test]
fn generated_vectors_verify() {
    let verified = verify(&scheme(), &vector(), EVENT, TS);
    assert_eq!(verified.scheme(), "discord");
    assert_eq!(verified.timestamp(), Some(TS));
    assert_eq!(verified.signed_id(), None, "Discord signs no id");
    for (body, signature) in
        [(WEBHOOK_PING, WEBHOOK_PING_SIGNATURE), (INTERACTIONS_PING, INTERACTIONS_PING_SIGNATURE)]
    {
        assert_eq!(outcome(&scheme(), &signed(signature), body, TS), Ok(()));
    }
}

#[test]
fn signer_reproduces_the_vectors() {
    assert_eq!(testing::discord_public_key(SEED), PUBLIC_KEY);
    assert_eq!(testing::discord(SEED, TS, EVENT), vector());
    assert_eq!(testing::discord(SEED, TS, WEBHOOK_PING), signed(WEBHOOK_PING_SIGNATURE));
    // The 64-byte NaCl form (seed, then public key) signs the same.
    assert_eq!(testing::discord(&format!("{SEED}{PUBLIC_KEY}"), TS, EVENT), vector());
}

#[test]
fn signatures_of_other_bodies_are_invalid() {
    // Each vector's signature is bound to its own body.
    assert_eq!(check(WEBHOOK_PING_SIGNATURE), Err(VerifyError::InvalidSignature));
    assert_eq!(
        outcome(&scheme(), &signed(EVENT_SIGNATURE), WEBHOOK_PING, TS),
        Err(VerifyError::InvalidSignature)
    );
}

#[test]
fn tampered_body_or_timestamp_is_invalid() {
    let mut body = EVENT.to_vec();
    let at = body.iter().position(|&b| b == b'7').unwrap();
    body[at] = b'8';
    assert_eq!(outcome(&scheme(), &vector(), &body, TS), Err(VerifyError::InvalidSignature));
    let mut longer = EVENT.to_vec();
    longer.push(b'\n');
    assert_eq!(outcome(&scheme(), &vector(), &longer, TS), Err(VerifyError::InvalidSignature));
    // The timestamp is signed: one second off is inside the window, but
    // not what was signed.
    let other_ts = with(&vector(), "X-Signature-Timestamp", "1729262574");
    assert_eq!(outcome(&scheme(), &other_ts, EVENT, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn reserialised_json_is_invalid() {
    let body = reserialised(EVENT);
    assert_ne!(body, EVENT);
    assert_eq!(outcome(&scheme(), &vector(), &body, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn wrong_key_is_invalid() {
    let wrong = Discord::new([other_public_key()]).unwrap();
    assert_eq!(outcome(&wrong, &vector(), EVENT, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn rotation() {
    let rotated = Discord::new([other_public_key(), PUBLIC_KEY.to_owned()]).unwrap();
    assert_eq!(outcome(&rotated, &vector(), EVENT, TS), Ok(()));
    let neither =
        Discord::new([other_public_key(), testing::discord_public_key(&"22".repeat(32))]).unwrap();
    assert_eq!(outcome(&neither, &vector(), EVENT, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn key_count_is_bounded() {
    let keys = |n: usize| {
        (0..n)
            .map(|i| testing::discord_public_key(&format!("{i:02x}").repeat(32)))
            .collect::<Vec<_>>()
    };
    let mut eight = keys(7);
    eight.push(PUBLIC_KEY.to_owned());
    assert_eq!(outcome(&Discord::new(&eight).unwrap(), &vector(), EVENT, TS), Ok(()));
    assert!(Discord::new(keys(9)).is_err(), "nine keys: refused at build time");
}

#[test]
fn missing_headers() {
    assert_eq!(
        outcome(&scheme(), &HeaderMap::new(), EVENT, TS),
        Err(VerifyError::MissingSignature)
    );
    assert_eq!(
        outcome(&scheme(), &without(&vector(), "X-Signature-Ed25519"), EVENT, TS),
        Err(VerifyError::MissingSignature)
    );
    // A signature whose signed timestamp is missing cannot be checked.
    assert_eq!(
        outcome(&scheme(), &without(&vector(), "X-Signature-Timestamp"), EVENT, TS),
        Err(VerifyError::MalformedSignature)
    );
}

#[test]
fn malformed_signatures() {
    let sig = EVENT_SIGNATURE;
    let base64 = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        hex::decode(sig).unwrap(),
    );
    for bad in [
        "",
        &sig[..127],
        &sig[..126],
        &format!("{sig}00"),
        &sig.replacen('e', "g", 1),
        &format!("0x{}", &sig[2..]),
        &base64,
    ] {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
    // Uppercase hex is still hex.
    assert_eq!(check(&sig.to_ascii_uppercase()), Ok(()));
}

#[test]
fn repeated_headers() {
    let same = repeated(&vector(), "X-Signature-Ed25519", EVENT_SIGNATURE);
    assert_eq!(outcome(&scheme(), &same, EVENT, TS), Ok(()));
    for (name, other) in
        [("X-Signature-Ed25519", WEBHOOK_PING_SIGNATURE), ("X-Signature-Timestamp", "1729262574")]
    {
        let twice = repeated(&vector(), name, other);
        assert_eq!(outcome(&scheme(), &twice, EVENT, TS), Err(VerifyError::MalformedSignature));
    }
}

#[test]
fn tolerance_window() {
    assert_tolerance_window(&scheme(), &vector(), EVENT, TS);
}

#[test]
fn hostile_timestamps_are_malformed() {
    for ts in HOSTILE_TIMESTAMPS {
        let hostile = with(&vector(), "X-Signature-Timestamp", ts);
        assert_eq!(
            outcome(&scheme(), &hostile, EVENT, TS),
            Err(VerifyError::MalformedSignature),
            "{ts:?}"
        );
    }
}

#[test]
fn bad_public_keys_are_config_errors() {
    assert!(Discord::new(Vec::<String>::new()).is_err());
    assert!(Discord::new([""]).is_err());
    assert!(Discord::new(["not hex"]).is_err());
    assert!(Discord::new([&PUBLIC_KEY[..62]]).is_err(), "31 bytes");
    assert!(Discord::new([format!("{PUBLIC_KEY}00")]).is_err(), "33 bytes");
    // Surrounding whitespace, as pasted, is tolerated.
    assert!(Discord::new([format!(" {PUBLIC_KEY}\n")]).is_ok());
}

#[test]
fn debug_shows_no_signing_key() {
    // The receiver holds public keys only; nothing secret to hide, but
    // nothing of the sender's key either.
    assert_debug_hides_secret(&scheme(), SEED);
}

#[tokio::test]
async fn envelope_of_an_event() {
    let answer = send(scheme(), vector(), EVENT, TS).await;
    assert_eq!(answer.status, StatusCode::OK);
    let digest = sha256_hex(EVENT);
    assert_eq!(
        answer.json(),
        serde_json::json!({
            "scheme": "discord",
            "id": digest,
            "id_signed": true,
            "type": "APPLICATION_AUTHORIZED",
            "version": "1",
            "timestamp": TS,
            "key": format!("discord:sha256:{digest}"),
        })
    );
}

fn assert_not_answered(answer: &Answer) {
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(!answer.reached_the_handler());
    assert_eq!(answer.json()["error"], "invalid_signature");
}

#[tokio::test]
async fn webhook_ping_is_answered_204() {
    let answer = send(scheme(), signed(WEBHOOK_PING_SIGNATURE), WEBHOOK_PING, TS).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
    assert_eq!(answer.content_type(), None);
    assert!(!answer.reached_the_handler(), "a handshake is never an event");
    // Unsigned (another body's signature): refused, not answered.
    let forged = send(scheme(), signed(EVENT_SIGNATURE), WEBHOOK_PING, TS).await;
    assert_not_answered(&forged);
    // Stale: refused too.
    let stale = send(scheme(), signed(WEBHOOK_PING_SIGNATURE), WEBHOOK_PING, TS + 301).await;
    assert_eq!(stale.status, StatusCode::UNAUTHORIZED);
    assert_eq!(stale.json()["error"], "timestamp_out_of_tolerance");
}

#[tokio::test]
async fn interactions_ping_is_answered_with_a_pong() {
    let answer = send(scheme(), signed(INTERACTIONS_PING_SIGNATURE), INTERACTIONS_PING, TS).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), Some("application/json"));
    assert_eq!(&answer.body[..], br#"{"type":1}"#);
    assert!(!answer.reached_the_handler());
    let forged = send(scheme(), signed(EVENT_SIGNATURE), INTERACTIONS_PING, TS).await;
    assert_not_answered(&forged);
}

#[tokio::test]
async fn other_interactions_are_not_webhook_events() {
    // A slash command (`"type":2`): no handshake, and no `event` to read a
    // type from, so the envelope layer refuses it. Such interactions need
    // VerifyLayer alone around a synchronous handler.
    let command = br#"{"id":"787053080478613556","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":2,"version":1,"data":{"id":"787053080478613554","name":"test"}}"#;
    let answer = send(scheme(), testing::discord(SEED, TS, command), command, TS).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    assert_eq!(answer.json()["error"], "malformed_event");
}

#[tokio::test]
async fn the_receiver_acknowledges_events_with_204() {
    let handled = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let count = handled.clone();
    let router =
        EventRouter::new().catch_all(move |_: hookwarden::event::Event<serde_json::Value>| {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            async { Ok::<_, String>(()) }
        });
    let receiver =
        Receiver::builder(scheme()).clock(FixedClock::new(TS)).router(router).build().unwrap();
    for _ in 0..2 {
        let request = testing::request("/webhooks", vector(), EVENT.to_vec());
        let response = receiver.service().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "accepted, then duplicate");
    }
    let handle = receiver.handle();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while handle.stats().handled < 1 {
        assert!(std::time::Instant::now() < deadline, "the event is handled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stats = handle.stats();
    assert_eq!((stats.accepted, stats.duplicates), (1, 1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(handled.load(std::sync::atomic::Ordering::SeqCst), 1);
}
