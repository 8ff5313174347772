use std::time::Duration;

use hookwarden::scheme::{SignedRequest, Twitch};
use hookwarden::testing;
use http::StatusCode;
use serde_json::json;

use super::layers::send;
use super::*;

// Twitch publishes no signed example. Made by `tests/vectors/twitch.js`
// with Node's crypto, as Twitch's docs describe ("Verifying the event
// message", https://dev.twitch.tv/docs/eventsub/handling-webhook-events/):
// HMAC-SHA256(secret, message id + timestamp + body). The message id,
// timestamp, challenge and bodies follow that page's examples
// (`channel.follow` v2); the secret is ours.
const SECRET: &str = "hookwarden-twitch-secret";
const ID: &str = "e76c6bd4-55c9-4987-8304-da1588d8988b";
const TS_STR: &str = "2019-11-16T10:11:12.634234626Z";
const TS: u64 = 1_573_899_072;
const NOTIFICATION: &[u8] = br#"{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"enabled","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"},"event":{"user_id":"1234","user_login":"cool_user","user_name":"Cool_User","broadcaster_user_id":"1337","broadcaster_user_login":"cooler_user","broadcaster_user_name":"Cooler_User","followed_at":"2020-07-15T18:16:11.17106713Z"}}"#;
const NOTIFICATION_SIGNATURE: &str =
    "sha256=6cf146539f4d4833d6b58d2313255f3213ef569c1176ef5e6089bddbcdd0cffe";
const VERIFICATION: &[u8] = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
const VERIFICATION_SIGNATURE: &str =
    "sha256=c9028f74b875a399cb2a0f686b310d211969673ac5f55b9b983e05dbd765514d";
const REVOCATION: &[u8] = br#"{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"authorization_revoked","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
const REVOCATION_SIGNATURE: &str =
    "sha256=85b1613c6b3ee2cfcac402a6364e3adf88509a5d18d67c9521434deb6426a2f6";

fn scheme() -> Twitch {
    Twitch::new([SECRET]).unwrap()
}

/// The headers Twitch sends, signature included.
fn delivery(kind: &str, signature: &str) -> HeaderMap {
    headers(&[
        ("Twitch-Eventsub-Message-Id", ID),
        ("Twitch-Eventsub-Message-Retry", "0"),
        ("Twitch-Eventsub-Message-Type", kind),
        ("Twitch-Eventsub-Message-Signature", signature),
        ("Twitch-Eventsub-Message-Timestamp", TS_STR),
        ("Twitch-Eventsub-Subscription-Type", "channel.follow"),
        ("Twitch-Eventsub-Subscription-Version", "2"),
    ])
}

fn vector() -> HeaderMap {
    delivery("notification", NOTIFICATION_SIGNATURE)
}

fn check(signature: &str) -> Result<(), VerifyError> {
    outcome(
        &scheme(),
        &with(&vector(), "Twitch-Eventsub-Message-Signature", signature),
        NOTIFICATION,
        TS,
    )
}

fn at(headers: &HeaderMap, now: u64, tolerance: u64) -> Result<(), VerifyError> {
    let request = SignedRequest::new(headers, NOTIFICATION, now, Duration::from_secs(tolerance));
    verify_and_precheck(&scheme(), &request).map(drop)
}

#[test]
fn vectors_verify_with_the_signed_id() {
    let verified = verify(&scheme(), &vector(), NOTIFICATION, TS);
    assert_eq!(verified.scheme(), "twitch");
    assert_eq!(verified.timestamp(), Some(TS));
    assert_eq!(verified.signed_id(), Some(ID));
    let verification = delivery("webhook_callback_verification", VERIFICATION_SIGNATURE);
    assert_eq!(outcome(&scheme(), &verification, VERIFICATION, TS), Ok(()));
    let revocation = delivery("revocation", REVOCATION_SIGNATURE);
    assert_eq!(outcome(&scheme(), &revocation, REVOCATION, TS), Ok(()));
}

#[test]
fn signer_reproduces_the_vector() {
    let signed = testing::twitch(SECRET, ID, TS_STR, NOTIFICATION);
    assert_eq!(signed.len(), 3);
    for name in [
        "Twitch-Eventsub-Message-Id",
        "Twitch-Eventsub-Message-Timestamp",
        "Twitch-Eventsub-Message-Signature",
    ] {
        assert_eq!(signed.get(name), vector().get(name), "{name}");
    }
}

#[test]
fn tampered_body_id_timestamp_or_wrong_secret_is_invalid() {
    let tampered = String::from_utf8(NOTIFICATION.to_vec()).unwrap().replace("1234", "1235");
    assert_eq!(
        outcome(&scheme(), &vector(), tampered.as_bytes(), TS),
        Err(VerifyError::InvalidSignature)
    );
    assert_eq!(
        outcome(&scheme(), &vector(), &reserialised(NOTIFICATION), TS),
        Err(VerifyError::InvalidSignature)
    );
    // The id is signed: a replay under a fresh id does not verify.
    let other_id =
        with(&vector(), "Twitch-Eventsub-Message-Id", "e76c6bd4-55c9-4987-8304-da1588d8988c");
    assert_eq!(outcome(&scheme(), &other_id, NOTIFICATION, TS), Err(VerifyError::InvalidSignature));
    // The timestamp is signed as written: the same instant written
    // otherwise does not verify.
    for same_second in ["2019-11-16T10:11:12.634234627Z", "2019-11-16T10:11:12.634234626+00:00"] {
        let other_ts = with(&vector(), "Twitch-Eventsub-Message-Timestamp", same_second);
        assert_eq!(
            outcome(&scheme(), &other_ts, NOTIFICATION, TS),
            Err(VerifyError::InvalidSignature),
            "{same_second}"
        );
    }
    let wrong = Twitch::new(["hookwarden-twitch-secreT"]).unwrap();
    assert_eq!(outcome(&wrong, &vector(), NOTIFICATION, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn tolerance_window() {
    // With the default tolerance (300 s, under Twitch's 10 minutes).
    assert_tolerance_window(&scheme(), &vector(), NOTIFICATION, TS);
}

#[test]
fn never_older_than_ten_minutes_whatever_the_tolerance() {
    let v = vector();
    // An hour of tolerance: still at most 600 s old…
    assert_eq!(at(&v, TS + 600, 3600), Ok(()));
    assert_eq!(at(&v, TS + 601, 3600), Err(VerifyError::TimestampOutOfTolerance));
    // …but up to the tolerance in the future.
    assert_eq!(at(&v, TS - 3600, 3600), Ok(()));
    assert_eq!(at(&v, TS - 3601, 3600), Err(VerifyError::TimestampOutOfTolerance));
    // A smaller tolerance is smaller both ways.
    assert_eq!(at(&v, TS + 60, 60), Ok(()));
    assert_eq!(at(&v, TS + 61, 60), Err(VerifyError::TimestampOutOfTolerance));
    assert_eq!(at(&v, TS - 61, 60), Err(VerifyError::TimestampOutOfTolerance));
    // The fraction is dropped: 10:11:12.63 counts as 10:11:12.
    assert_eq!(at(&v, TS, 0), Ok(()));
    assert_eq!(at(&v, TS + 1, 0), Err(VerifyError::TimestampOutOfTolerance));
}

#[test]
fn hostile_timestamps_are_malformed() {
    let hostile = HOSTILE_TIMESTAMPS.iter().copied().chain([
        "1573899072",
        "2019-11-16T10:11:12.634234626",
        "2019-11-16 10:11:12.634234626Z",
        "2019-11-16T10:11:12.6342346261Z",
        "2019-11-31T10:11:12Z",
        "2019-11-16T25:11:12Z",
        "1969-12-31T23:59:59Z",
        "99999-11-16T10:11:12Z",
        "2019-11-16T10:11:12.634234626Z ",
    ]);
    for ts in hostile {
        let sent = with(&vector(), "Twitch-Eventsub-Message-Timestamp", ts);
        assert_eq!(
            outcome(&scheme(), &sent, NOTIFICATION, TS),
            Err(VerifyError::MalformedSignature),
            "{ts:?}"
        );
    }
}

#[test]
fn missing_and_malformed_headers() {
    let v = vector();
    assert_eq!(
        outcome(&scheme(), &without(&v, "Twitch-Eventsub-Message-Signature"), NOTIFICATION, TS),
        Err(VerifyError::MissingSignature)
    );
    for name in ["Twitch-Eventsub-Message-Id", "Twitch-Eventsub-Message-Timestamp"] {
        assert_eq!(
            outcome(&scheme(), &without(&v, name), NOTIFICATION, TS),
            Err(VerifyError::MalformedSignature),
            "{name}"
        );
    }
    let empty_id = with(&v, "Twitch-Eventsub-Message-Id", "");
    assert_eq!(
        outcome(&scheme(), &empty_id, NOTIFICATION, TS),
        Err(VerifyError::MalformedSignature)
    );
    let hex = &NOTIFICATION_SIGNATURE[7..];
    let over_long = format!("{NOTIFICATION_SIGNATURE}0");
    let not_hex = NOTIFICATION_SIGNATURE.replace('f', "g");
    let sha1 = format!("sha1={hex}");
    let truncated = &NOTIFICATION_SIGNATURE[..NOTIFICATION_SIGNATURE.len() - 1];
    for bad in ["", "sha256=", "sha256", hex, truncated, &over_long, &not_hex, &sha1] {
        assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad:?}");
    }
}

#[test]
fn repeated_headers_with_another_value_are_malformed() {
    let upper = format!("sha256={}", NOTIFICATION_SIGNATURE[7..].to_ascii_uppercase());
    assert_eq!(check(&upper), Ok(()));
    for (name, other) in [
        ("Twitch-Eventsub-Message-Signature", upper.as_str()),
        ("Twitch-Eventsub-Message-Id", "e76c6bd4-55c9-4987-8304-da1588d8988c"),
        ("Twitch-Eventsub-Message-Timestamp", "2019-11-16T10:11:13Z"),
    ] {
        let twice = repeated(&vector(), name, other);
        assert_eq!(
            outcome(&scheme(), &twice, NOTIFICATION, TS),
            Err(VerifyError::MalformedSignature),
            "{name}"
        );
    }
}

#[test]
fn rotation() {
    let rotated = Twitch::new(["new-subscription-secret", SECRET]).unwrap();
    assert_eq!(outcome(&rotated, &vector(), NOTIFICATION, TS), Ok(()));
    let neither = Twitch::new(["new-subscription-secret", "old-subscription-secret"]).unwrap();
    assert_eq!(outcome(&neither, &vector(), NOTIFICATION, TS), Err(VerifyError::InvalidSignature));
}

#[test]
fn debug_hides_the_secret() {
    assert_debug_hides_secret(&scheme(), SECRET);
    assert_debug_hides_secret(&Twitch::new(["new-subscription-secret", SECRET]).unwrap(), SECRET);
}

#[test]
fn configuration_errors() {
    assert!(Twitch::new([""]).is_err());
    assert!(Twitch::new(Vec::<String>::new()).is_err());
}

#[tokio::test]
async fn envelope_reads_the_signed_id_and_the_body_subscription() {
    let answer = send(scheme(), vector(), NOTIFICATION, TS).await;
    assert_eq!(
        answer.envelope(),
        json!({
            "scheme": "twitch",
            "id": ID,
            "id_signed": true,
            "type": "channel.follow",
            "version": "2",
            "timestamp": TS,
            "key": format!("twitch:id:{ID}"),
        })
    );
    // The unsigned headers do not override the signed body.
    let relabelled = with(&vector(), "Twitch-Eventsub-Subscription-Type", "channel.subscribe");
    let relabelled = with(&relabelled, "Twitch-Eventsub-Subscription-Version", "1");
    let envelope = send(scheme(), relabelled, NOTIFICATION, TS).await.envelope();
    assert_eq!(
        (envelope["type"].as_str(), envelope["version"].as_str()),
        (Some("channel.follow"), Some("2"))
    );
}

#[tokio::test]
async fn the_challenge_is_echoed_as_text() {
    let sent = delivery("webhook_callback_verification", VERIFICATION_SIGNATURE);
    let answer = send(scheme(), sent, VERIFICATION, TS).await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.content_type(), Some("text/plain; charset=utf-8"));
    assert_eq!(&answer.body[..], b"pogchamp-kappa-360noscope-vohiyo");
    // The signed body decides: the same body under another message type is
    // still only a challenge, never an event.
    let relabelled = delivery("notification", VERIFICATION_SIGNATURE);
    let answer = send(scheme(), relabelled, VERIFICATION, TS).await;
    assert_eq!(&answer.body[..], b"pogchamp-kappa-360noscope-vohiyo");
}

#[tokio::test]
async fn a_revocation_is_acknowledged_and_not_kept() {
    let sent = delivery("revocation", REVOCATION_SIGNATURE);
    let answer = send(scheme(), sent, REVOCATION, TS).await;
    assert_eq!(answer.status, StatusCode::NO_CONTENT);
    assert!(answer.body.is_empty());
    // A notification relabelled as a revocation is still an event.
    let relabelled = delivery("revocation", NOTIFICATION_SIGNATURE);
    let answer = send(scheme(), relabelled, NOTIFICATION, TS).await;
    assert_eq!(answer.envelope()["type"], "channel.follow");
}

#[tokio::test]
async fn handshakes_are_not_answered_unsigned() {
    for (kind, body) in
        [("webhook_callback_verification", VERIFICATION), ("revocation", REVOCATION)]
    {
        let forged = testing::twitch("forged-subscription-secret", ID, TS_STR, body);
        let mut sent = forged.clone();
        sent.insert("twitch-eventsub-message-type", kind.parse().unwrap());
        let answer = send(scheme(), sent, body, TS).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{kind}");
        assert!(!answer.body.windows(8).any(|w| w == b"pogchamp"), "{kind}");
        // Nor signed but stale.
        let mut stale = testing::twitch(SECRET, ID, TS_STR, body);
        stale.insert("twitch-eventsub-message-type", kind.parse().unwrap());
        let answer = send(scheme(), stale, body, TS + 601).await;
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{kind}");
    }
}
