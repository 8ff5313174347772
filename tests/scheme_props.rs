//! Properties of the built-in schemes over random inputs:
//!
//! * whatever a `testing` signer signs, the matching scheme verifies, for
//!   any body (empty, binary, not UTF-8);
//! * flipping any single bit of the body, the id, the timestamp or the
//!   signature header makes verification fail. The one exception is a
//!   hex signature: flipping bit 5 of a letter `a`–`f` changes only its case,
//!   and hex is case-insensitive, so that header is the same signature
//!   written differently, and still verifies;
//! * each time, the scheme's precheck (the headers alone, no body) agrees:
//!   it never refuses what verify accepts, and refuses only with verify's
//!   own error.

use std::time::Duration;

use hookwarden::scheme::{
    GenericHmac, GitHub, Logto, Scheme, Shopify, SignedRequest, Slack, StandardWebhooks, Stripe,
    Verified, VerifyError,
};
use hookwarden::testing;
use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;

const TOLERANCE: Duration = Duration::from_secs(300);
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET: &str = "an ordinary shared secret";

fn check(
    scheme: &impl Scheme,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<Verified, VerifyError> {
    verify_and_precheck(scheme, &SignedRequest::new(headers, body, now, TOLERANCE))
}

#[path = "common/precheck.rs"]
mod precheck;

use precheck::verify_and_precheck;

/// Where the bit is flipped.
#[derive(Debug, Clone, Copy)]
enum Target {
    Body,
    /// A header; `hex_tail` when its value ends in a 64-digit hex tag.
    Header {
        name: &'static str,
        hex_tail: bool,
    },
}

/// Flips bit `bit` of the byte at `at` in the target and checks that the
/// scheme refuses the result (or, for a case flip of a hex letter, that it
/// still accepts it). A flip that does not leave a valid header value is
/// not a request anyone can send: that case is rejected (skipped).
fn assert_flip_refused(
    scheme: &impl Scheme,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
    target: Target,
    at: Index,
    bit: u8,
) -> Result<(), TestCaseError> {
    prop_assert!(check(scheme, headers, body, now).is_ok(), "the unflipped request must verify");
    let mask = 1u8 << bit;
    match target {
        Target::Body => {
            prop_assume!(!body.is_empty());
            let mut flipped = body.to_vec();
            flipped[at.index(body.len())] ^= mask;
            let result = check(scheme, headers, &flipped, now);
            prop_assert_eq!(result.map(drop), Err(VerifyError::InvalidSignature));
        }
        Target::Header { name, hex_tail } => {
            let original = headers.get(name).expect("the signer sets this header").as_bytes();
            let pos = at.index(original.len());
            let mut flipped = original.to_vec();
            flipped[pos] ^= mask;
            let Ok(value) = HeaderValue::from_bytes(&flipped) else {
                return Err(TestCaseError::reject("not a valid header value"));
            };
            let mut tampered = headers.clone();
            tampered.insert(name, value);
            let result = check(scheme, &tampered, body, now);
            let same_tag = hex_tail
                && pos >= original.len() - 64
                && matches!(original[pos], b'a'..=b'f' | b'A'..=b'F')
                && mask == 0x20;
            if same_tag {
                prop_assert!(result.is_ok(), "a case flip in hex is the same tag: {result:?}");
            } else {
                prop_assert!(
                    result.is_err(),
                    "flipping bit {bit} of byte {pos} of {name} was accepted: {:?}",
                    String::from_utf8_lossy(&flipped)
                );
            }
        }
    }
    Ok(())
}

/// A body of 0 to 4 KiB of arbitrary bytes, rarely valid UTF-8.
fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..4096)
}

/// Plausible send times (2001 to 2033), so that every flip of a digit
/// leaves a number.
fn timestamp() -> impl Strategy<Value = u64> {
    1_000_000_000u64..2_000_000_000
}

fn message_id() -> impl Strategy<Value = String> {
    "msg_[A-Za-z0-9]{1,32}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn standard_webhooks_round_trip(body in body(), id in message_id(), ts in timestamp()) {
        let scheme = StandardWebhooks::new([WHSEC]).unwrap();
        let headers = testing::standard_webhooks(WHSEC, &id, ts, &body);
        let verified = check(&scheme, &headers, &body, ts).unwrap();
        prop_assert_eq!(verified.signed_id(), Some(id.as_str()));
        prop_assert_eq!(verified.timestamp(), Some(ts));
    }

    #[test]
    fn standard_webhooks_refuses_any_bit_flip(
        body in body(),
        id in message_id(),
        ts in timestamp(),
        target in prop_oneof![
            Just(Target::Body),
            Just(Target::Header { name: "webhook-id", hex_tail: false }),
            Just(Target::Header { name: "webhook-timestamp", hex_tail: false }),
            Just(Target::Header { name: "webhook-signature", hex_tail: false }),
        ],
        at in any::<Index>(),
        bit in 0u8..8,
    ) {
        let scheme = StandardWebhooks::new([WHSEC]).unwrap();
        let headers = testing::standard_webhooks(WHSEC, &id, ts, &body);
        assert_flip_refused(&scheme, &headers, &body, ts, target, at, bit)?;
    }

    #[test]
    fn stripe_round_trip(body in body(), ts in timestamp()) {
        let scheme = Stripe::new([SECRET]).unwrap();
        let headers = testing::stripe(SECRET, ts, &body);
        prop_assert_eq!(check(&scheme, &headers, &body, ts).unwrap().timestamp(), Some(ts));
    }

    #[test]
    fn stripe_refuses_any_bit_flip(
        body in body(),
        ts in timestamp(),
        // The timestamp travels inside the signature header.
        target in prop_oneof![
            Just(Target::Body),
            Just(Target::Header { name: "stripe-signature", hex_tail: true }),
        ],
        at in any::<Index>(),
        bit in 0u8..8,
    ) {
        let scheme = Stripe::new([SECRET]).unwrap();
        let headers = testing::stripe(SECRET, ts, &body);
        assert_flip_refused(&scheme, &headers, &body, ts, target, at, bit)?;
    }

    #[test]
    fn slack_round_trip(body in body(), ts in timestamp()) {
        let scheme = Slack::new([SECRET]).unwrap();
        let headers = testing::slack(SECRET, ts, &body);
        prop_assert_eq!(check(&scheme, &headers, &body, ts).unwrap().timestamp(), Some(ts));
    }

    #[test]
    fn slack_refuses_any_bit_flip(
        body in body(),
        ts in timestamp(),
        target in prop_oneof![
            Just(Target::Body),
            Just(Target::Header { name: "x-slack-request-timestamp", hex_tail: false }),
            Just(Target::Header { name: "x-slack-signature", hex_tail: true }),
        ],
        at in any::<Index>(),
        bit in 0u8..8,
    ) {
        let scheme = Slack::new([SECRET]).unwrap();
        let headers = testing::slack(SECRET, ts, &body);
        assert_flip_refused(&scheme, &headers, &body, ts, target, at, bit)?;
    }

    #[test]
    fn github_round_trip(body in body()) {
        let scheme = GitHub::new([SECRET]).unwrap();
        let headers = testing::github(SECRET, &body);
        prop_assert!(check(&scheme, &headers, &body, 0).is_ok());
    }

    #[test]
    fn github_refuses_any_bit_flip(
        body in body(),
        target in prop_oneof![
            Just(Target::Body),
            Just(Target::Header { name: "x-hub-signature-256", hex_tail: true }),
        ],
        at in any::<Index>(),
        bit in 0u8..8,
    ) {
        let scheme = GitHub::new([SECRET]).unwrap();
        let headers = testing::github(SECRET, &body);
        assert_flip_refused(&scheme, &headers, &body, 0, target, at, bit)?;
    }

    #[test]
    fn shopify_round_trip(body in body()) {
        let scheme = Shopify::new([SECRET]).unwrap();
        let headers = testing::shopify(SECRET, &body);
        prop_assert!(check(&scheme, &headers, &body, 0).is_ok());
    }

    #[test]
    fn shopify_refuses_any_bit_flip(
        body in body(),
        target in prop_oneof![
            Just(Target::Body),
            Just(Target::Header { name: "x-shopify-hmac-sha256", hex_tail: false }),
        ],
        at in any::<Index>(),
        bit in 0u8..8,
    ) {
        let scheme = Shopify::new([SECRET]).unwrap();
        let headers = testing::shopify(SECRET, &body);
        assert_flip_refused(&scheme, &headers, &body, 0, target, at, bit)?;
    }

    #[test]
    fn logto_round_trip(body in body()) {
        let scheme = Logto::new([SECRET]).unwrap();
        let headers = testing::logto(SECRET, &body);
        prop_assert!(check(&scheme, &headers, &body, 0).is_ok());
    }

    #[test]
    fn logto_refuses_any_bit_flip(
        body in body(),
        target in prop_oneof![
            Just(Target::Body),
            Just(Target::Header { name: "logto-signature-sha-256", hex_tail: true }),
        ],
        at in any::<Index>(),
        bit in 0u8..8,
    ) {
        let scheme = Logto::new([SECRET]).unwrap();
        let headers = testing::logto(SECRET, &body);
        assert_flip_refused(&scheme, &headers, &body, 0, target, at, bit)?;
    }

    #[test]
    fn generic_hmac_refuses_any_bit_flip(
        body in body(),
        ts in timestamp(),
        base64 in any::<bool>(),
        target in prop_oneof![
            Just(Target::Body),
            Just(Target::Header { name: "x-webhook-signature", hex_tail: true }),
            Just(Target::Header { name: "x-timestamp", hex_tail: false }),
        ],
        at in any::<Index>(),
        bit in 0u8..8,
    ) {
        let builder = GenericHmac::builder().secret(SECRET).timestamp_header("x-timestamp");
        let builder = if base64 {
            builder.encoding(hookwarden::scheme::Encoding::Base64)
        } else {
            builder
        };
        let scheme = builder.build().unwrap();
        let headers = testing::generic_hmac(&scheme, ts, &body);
        // A base64 tag has no case-insensitive letters.
        let target = match target {
            Target::Header { name, .. } if base64 && name == "x-webhook-signature" => {
                Target::Header { name, hex_tail: false }
            }
            other => other,
        };
        assert_flip_refused(&scheme, &headers, &body, ts, target, at, bit)?;
    }

    #[test]
    fn generic_hmac_round_trip(body in body(), ts in timestamp(), base64 in any::<bool>()) {
        let builder = GenericHmac::builder().secret(SECRET).timestamp_header("x-timestamp");
        let builder = if base64 {
            builder.encoding(hookwarden::scheme::Encoding::Base64)
        } else {
            builder
        };
        let scheme = builder.build().unwrap();
        let headers = testing::generic_hmac(&scheme, ts, &body);
        prop_assert_eq!(check(&scheme, &headers, &body, ts).unwrap().timestamp(), Some(ts));
    }

    /// Rotation: whichever of the active secrets signed, the request
    /// verifies; a secret that is not active never does.
    #[test]
    fn any_active_secret_verifies(body in body(), which in 0usize..3) {
        let secrets = ["first secret", "second secret", "third secret"];
        let headers = testing::github(secrets[which], &body);
        let all = GitHub::new(secrets).unwrap();
        prop_assert!(check(&all, &headers, &body, 0).is_ok());
        let others = secrets.iter().enumerate().filter(|&(i, _)| i != which).map(|(_, s)| *s);
        let others = GitHub::new(others).unwrap();
        prop_assert_eq!(
            check(&others, &headers, &body, 0).map(drop),
            Err(VerifyError::InvalidSignature)
        );
    }
}

/// The round trips above do see bodies that are not UTF-8; make sure of the
/// extreme ones too.
#[test]
fn binary_bodies_round_trip() {
    let bodies: [&[u8]; 4] = [b"", b"\xff\xfe\x00\x80", &[0u8; 4096], b"\xc3\x28 invalid"];
    for body in bodies {
        let ts = 1_700_000_000;
        let headers = testing::standard_webhooks(WHSEC, "msg_1", ts, body);
        let scheme = StandardWebhooks::new([WHSEC]).unwrap();
        assert!(check(&scheme, &headers, body, ts).is_ok());
        let headers = testing::stripe(SECRET, ts, body);
        assert!(check(&Stripe::new([SECRET]).unwrap(), &headers, body, ts).is_ok());
        let headers = testing::slack(SECRET, ts, body);
        assert!(check(&Slack::new([SECRET]).unwrap(), &headers, body, ts).is_ok());
        let headers = testing::github(SECRET, body);
        assert!(check(&GitHub::new([SECRET]).unwrap(), &headers, body, 0).is_ok());
        let headers = testing::shopify(SECRET, body);
        assert!(check(&Shopify::new([SECRET]).unwrap(), &headers, body, 0).is_ok());
    }
}
