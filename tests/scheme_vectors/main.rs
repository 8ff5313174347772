//! Every built-in scheme checked against its provider's published test
//! vectors, and the negative twin of each: what must be refused, and with
//! which [`VerifyError`].
//!
//! The source of every vector is named beside it. The clock is injected:
//! timestamped schemes are checked with `now` equal to the vector's
//! timestamp, so the vectors never expire.
//!
//! Every check also runs the scheme's precheck on the same headers without
//! the body ([`precheck::verify_and_precheck`]): it must pass each vector,
//! and refuse each negative twin it refuses with verify's own error.

use std::fmt::Debug;
use std::time::Duration;

use hookwarden::scheme::{Scheme, SignedRequest, Verified, VerifyError};
use http::{HeaderMap, HeaderName, HeaderValue};

/// The tolerance every timestamped vector is checked with (the default).
const TOLERANCE: Duration = Duration::from_secs(300);

/// Headers from `(name, value)` pairs, appended in order, so a name given
/// twice is sent twice.
fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        let name = HeaderName::try_from(*name).expect("a valid header name");
        let value = HeaderValue::try_from(*value).expect("a valid header value");
        map.append(name, value);
    }
    map
}

/// A copy of `map` with `name` set to `value` (replacing any earlier value).
fn with(map: &HeaderMap, name: &str, value: &str) -> HeaderMap {
    let mut map = map.clone();
    map.insert(
        HeaderName::try_from(name).expect("a valid header name"),
        HeaderValue::try_from(value).expect("a valid header value"),
    );
    map
}

/// A copy of `map` with one more `value` for `name`: the header is sent twice.
fn repeated(map: &HeaderMap, name: &str, value: &str) -> HeaderMap {
    let mut map = map.clone();
    map.append(
        HeaderName::try_from(name).expect("a valid header name"),
        HeaderValue::try_from(value).expect("a valid header value"),
    );
    map
}

/// A copy of `map` without `name`.
fn without(map: &HeaderMap, name: &str) -> HeaderMap {
    let mut map = map.clone();
    map.remove(name);
    map
}

#[path = "../common/precheck.rs"]
mod precheck;

use precheck::verify_and_precheck;

fn verify(scheme: &impl Scheme, headers: &HeaderMap, body: &[u8], now: u64) -> Verified {
    verify_and_precheck(scheme, &SignedRequest::new(headers, body, now, TOLERANCE))
        .unwrap_or_else(|e| panic!("{} should verify: {e}", scheme.name()))
}

fn outcome(
    scheme: &impl Scheme,
    headers: &HeaderMap,
    body: &[u8],
    now: u64,
) -> Result<(), VerifyError> {
    verify_and_precheck(scheme, &SignedRequest::new(headers, body, now, TOLERANCE)).map(drop)
}

/// Checked at exactly the tolerance it passes; one second beyond, in
/// either direction, it is refused.
fn assert_tolerance_window(scheme: &impl Scheme, headers: &HeaderMap, body: &[u8], ts: u64) {
    let window = TOLERANCE.as_secs();
    assert_eq!(outcome(scheme, headers, body, ts + window), Ok(()), "stale, just inside");
    assert_eq!(outcome(scheme, headers, body, ts - window), Ok(()), "future, just inside");
    assert_eq!(
        outcome(scheme, headers, body, ts + window + 1),
        Err(VerifyError::TimestampOutOfTolerance),
        "stale, just outside"
    );
    assert_eq!(
        outcome(scheme, headers, body, ts - window - 1),
        Err(VerifyError::TimestampOutOfTolerance),
        "future, just outside"
    );
}

/// The timestamps no checked arithmetic should accept.
const HOSTILE_TIMESTAMPS: [&str; 6] =
    ["99999999999999999999999", "-1", "+1614265330", "1614265330.0", "", " 1614265330"];

fn assert_debug_hides_secret(scheme: &impl Debug, secret: &str) {
    let shown = format!("{scheme:?}");
    assert!(!shown.contains(secret), "Debug shows the secret: {shown}");
    let shown = format!("{scheme:#?}");
    assert!(!shown.contains(secret), "pretty Debug shows the secret: {shown}");
}

/// Re-serialising parsed JSON changes its bytes (spacing, key order), and
/// so breaks any signature over the bytes received.
fn reserialised(json: &[u8]) -> Vec<u8> {
    let value: serde_json::Value = serde_json::from_slice(json).expect("the vector is JSON");
    let bytes = serde_json::to_vec(&value).expect("JSON serialises");
    if bytes != json {
        return bytes;
    }
    // Already compact and sorted: pretty-printing still changes the bytes.
    serde_json::to_vec_pretty(&value).expect("JSON serialises")
}

#[path = "../common/mod.rs"]
#[allow(dead_code)] // used without some features
mod common;
mod layers;

#[cfg(feature = "ed25519")]
mod discord;
#[cfg(not(feature = "ed25519"))]
#[test]
fn discord_and_standard_webhooks_v1a_need_the_ed25519_feature() {
    common::skip("Discord and Standard Webhooks v1a vectors: built without the `ed25519` feature");
}
#[cfg(not(feature = "p256"))]
#[test]
fn sendgrid_needs_the_p256_feature() {
    common::skip("SendGrid vectors: built without the `p256` feature");
}
mod mailgun;
#[cfg(feature = "p256")]
mod sendgrid;

mod standard_webhooks {
    use hookwarden::mac::MAX_SIGNATURES;
    use hookwarden::scheme::StandardWebhooks;
    use hookwarden::testing;

    use super::*;

    // standard-webhooks/standard-webhooks @ caacf51459e2b5ba9180be5ac8b4e1971b906d92
    // `libraries/python/tests/test_webhooks.py`, `test_sign_function` (the
    // file's `PayloadForTesting` signs with the current time, so it has no
    // fixed signature).
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TS: u64 = 1_614_265_330;
    const TS_STR: &str = "1614265330";
    const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
    const SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
    // Same file, `test_invalid_signature_raises_error`: the last
    // character changed.
    const INVALID_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=";
    // Same file, `test_multi_sig_payload_is_valid`: a signature that
    // belongs to some other secret, sent as `v1` and as an unknown `v2`.
    const DECOY_V1: &str = "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    const DECOY_V2: &str = "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
    // Valid base64 ("this is not the secret"), but not the vector's key.
    const OTHER_SECRET: &str = "whsec_dGhpcyBpcyBub3QgdGhlIHNlY3JldA==";

    fn scheme() -> StandardWebhooks {
        StandardWebhooks::new([SECRET]).unwrap()
    }

    fn vector() -> HeaderMap {
        with_signature(SIGNATURE)
    }

    fn with_signature(signature: &str) -> HeaderMap {
        headers(&[
            ("webhook-id", ID),
            ("webhook-timestamp", TS_STR),
            ("webhook-signature", signature),
        ])
    }

    fn check(signature: &str) -> Result<(), VerifyError> {
        outcome(&scheme(), &with_signature(signature), PAYLOAD, TS)
    }

    #[test]
    fn published_vector_verifies() {
        let verified = verify(&scheme(), &vector(), PAYLOAD, TS);
        assert_eq!(verified.scheme(), "standard-webhooks");
        assert_eq!(verified.timestamp(), Some(TS));
        assert_eq!(verified.signed_id(), Some(ID));
    }

    #[test]
    fn published_negative_vector_is_invalid() {
        assert_eq!(check(INVALID_SIGNATURE), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn valid_signature_among_decoys_verifies() {
        // `test_multi_sig_payload_is_valid`: decoys before and after.
        let header = [DECOY_V1, DECOY_V2, SIGNATURE, DECOY_V2, DECOY_V1].join(" ");
        assert_eq!(check(&header), Ok(()));
        // Only decoys: a `v1` is there to check, and it does not match.
        assert_eq!(check(&[DECOY_V1, DECOY_V2].join(" ")), Err(VerifyError::InvalidSignature));
        // Doubled spaces are tolerated.
        assert_eq!(check(&format!("{DECOY_V1}  {SIGNATURE}")), Ok(()));
    }

    #[test]
    fn only_unknown_versions_is_malformed() {
        // Nothing this receiver can check is not "no match".
        assert_eq!(check(DECOY_V2), Err(VerifyError::MalformedSignature));
        assert_eq!(check(""), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn svix_header_names_verify() {
        // Svix's own libraries send the same scheme under `svix-` names
        // (the specification's tests send only `webhook-` ones).
        let svix =
            headers(&[("svix-id", ID), ("svix-timestamp", TS_STR), ("svix-signature", SIGNATURE)]);
        let verified = verify(&scheme(), &svix, PAYLOAD, TS);
        assert_eq!(verified.signed_id(), Some(ID));
        assert_eq!(
            outcome(&scheme(), &with(&svix, "svix-signature", INVALID_SIGNATURE), PAYLOAD, TS),
            Err(VerifyError::InvalidSignature)
        );
        assert_eq!(
            outcome(&scheme(), &without(&svix, "svix-signature"), PAYLOAD, TS),
            Err(VerifyError::MissingSignature)
        );
    }

    #[test]
    fn secret_without_prefix_verifies() {
        let bare = StandardWebhooks::new([SECRET.strip_prefix("whsec_").unwrap()]).unwrap();
        assert_eq!(outcome(&bare, &vector(), PAYLOAD, TS), Ok(()));
    }

    #[test]
    fn signer_reproduces_the_published_headers() {
        let signed = testing::standard_webhooks(SECRET, ID, TS, PAYLOAD);
        assert_eq!(signed, vector());
    }

    #[test]
    fn tampered_body_is_invalid() {
        let body = br#"{"test": 2432232315}"#;
        assert_eq!(outcome(&scheme(), &vector(), body, TS), Err(VerifyError::InvalidSignature));
        let mut longer = PAYLOAD.to_vec();
        longer.push(b'\n');
        assert_eq!(outcome(&scheme(), &vector(), &longer, TS), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn tampered_id_or_timestamp_is_invalid() {
        let other_id = with(&vector(), "webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJel");
        assert_eq!(outcome(&scheme(), &other_id, PAYLOAD, TS), Err(VerifyError::InvalidSignature));
        // A timestamp one second off is inside the window, but signed.
        let other_ts = with(&vector(), "webhook-timestamp", "1614265331");
        assert_eq!(outcome(&scheme(), &other_ts, PAYLOAD, TS), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn wrong_secret_is_invalid() {
        let wrong = StandardWebhooks::new([OTHER_SECRET]).unwrap();
        assert_eq!(outcome(&wrong, &vector(), PAYLOAD, TS), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn tolerance_window() {
        assert_tolerance_window(&scheme(), &vector(), PAYLOAD, TS);
    }

    #[test]
    fn missing_headers() {
        let scheme = scheme();
        assert_eq!(
            outcome(&scheme, &HeaderMap::new(), PAYLOAD, TS),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(
            outcome(&scheme, &without(&vector(), "webhook-signature"), PAYLOAD, TS),
            Err(VerifyError::MissingSignature)
        );
        // A signature without the signed id or timestamp cannot be checked.
        assert_eq!(
            outcome(&scheme, &without(&vector(), "webhook-timestamp"), PAYLOAD, TS),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            outcome(&scheme, &with(&vector(), "webhook-id", ""), PAYLOAD, TS),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn empty_signature_is_malformed() {
        // CVE-2024-21491: an empty `v1,` once compared equal to anything.
        assert_eq!(check("v1,"), Err(VerifyError::MalformedSignature));
        assert_eq!(check("v1"), Err(VerifyError::MalformedSignature));
        // Stricter than the reference libraries, which skip a bad entry:
        // any unparsable `v1` entry refuses the whole header.
        assert_eq!(check(&format!("v1, {SIGNATURE}")), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn wrong_length_or_alphabet_is_malformed() {
        let b64 = SIGNATURE.strip_prefix("v1,").unwrap();
        let truncated = format!("v1,{}", &b64[..b64.len() - 1]);
        let over_long = format!("v1,{b64}A");
        // 31 and 33 bytes, each correctly encoded.
        let short_tag = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1A==";
        let long_tag = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OEA";
        let url_safe = SIGNATURE.replace('+', "-").replace('/', "_");
        let not_base64 = SIGNATURE.replace('+', "!");
        let unpadded = SIGNATURE.trim_end_matches('=');
        for bad in [&truncated, &over_long, short_tag, long_tag, &url_safe, &not_base64, unpadded] {
            assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad}");
        }
    }

    #[test]
    fn hostile_timestamps_are_malformed() {
        for ts in HOSTILE_TIMESTAMPS {
            let hostile = with(&vector(), "webhook-timestamp", ts);
            assert_eq!(
                outcome(&scheme(), &hostile, PAYLOAD, TS),
                Err(VerifyError::MalformedSignature),
                "{ts:?}"
            );
        }
    }

    #[test]
    fn repeated_headers() {
        let scheme = scheme();
        // The same value twice counts once.
        let same = repeated(&vector(), "webhook-signature", SIGNATURE);
        assert_eq!(outcome(&scheme, &same, PAYLOAD, TS), Ok(()));
        for (name, other) in [
            ("webhook-signature", INVALID_SIGNATURE),
            ("webhook-id", "msg_other"),
            ("webhook-timestamp", "1614265331"),
        ] {
            let twice = repeated(&vector(), name, other);
            assert_eq!(
                outcome(&scheme, &twice, PAYLOAD, TS),
                Err(VerifyError::MalformedSignature),
                "{name}"
            );
        }
    }

    #[test]
    fn reserialised_json_is_invalid() {
        let body = reserialised(PAYLOAD);
        assert_eq!(body, br#"{"test":2432232314}"#);
        assert_eq!(outcome(&scheme(), &vector(), &body, TS), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn rotation() {
        let rotated = StandardWebhooks::new([OTHER_SECRET, SECRET]).unwrap();
        assert_eq!(outcome(&rotated, &vector(), PAYLOAD, TS), Ok(()));
        let neither =
            StandardWebhooks::new([OTHER_SECRET, "whsec_cHJldmlvdXMgc2lnbmluZyBzZWNyZXQ="])
                .unwrap();
        assert_eq!(outcome(&neither, &vector(), PAYLOAD, TS), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn signature_count_is_bounded() {
        let decoys = |n: usize| vec![DECOY_V1; n];
        let mut at_limit = decoys(MAX_SIGNATURES - 1);
        at_limit.push(SIGNATURE);
        assert_eq!(check(&at_limit.join(" ")), Ok(()));
        let mut over = decoys(MAX_SIGNATURES);
        over.push(SIGNATURE);
        assert_eq!(check(&over.join(" ")), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_debug_hides_secret(&scheme(), "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let rotated = StandardWebhooks::new([OTHER_SECRET, SECRET]).unwrap();
        assert_debug_hides_secret(&rotated, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_debug_hides_secret(&rotated, "dGhpcyBpcyBub3QgdGhlIHNlY3JldA");
    }

    #[test]
    fn bad_secrets_are_config_errors() {
        assert!(StandardWebhooks::new(["whsec_"]).is_err());
        assert!(StandardWebhooks::new(["whsec_not base64!"]).is_err());
        assert!(StandardWebhooks::new(Vec::<String>::new()).is_err());
    }

    // `libraries/go/webhook_asymmetric_test.go` (`TestAsymmetricWebhookSign`)
    // from an unmerged pull request to standard-webhooks/standard-webhooks
    // that adds `v1a` (ed25519) signatures: the same id, timestamp and
    // payload as above. The specification's main branch publishes no `v1a`
    // vector yet.
    #[cfg_attr(not(feature = "ed25519"), allow(dead_code))]
    const ED_SIGNING_KEY: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
    const ED_SIGNATURE: &str = "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
    // The public key of that seed (derived, not published).
    #[cfg_attr(not(feature = "ed25519"), allow(dead_code))]
    const ED_PUBLIC_KEY: &str = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=";

    /// Without the `ed25519` feature, `v1a` entries are not understood.
    #[cfg(not(feature = "ed25519"))]
    #[test]
    fn asymmetric_signature_alone_is_malformed_without_the_feature() {
        assert_eq!(check(ED_SIGNATURE), Err(VerifyError::MalformedSignature));
        assert_eq!(check(&format!("{ED_SIGNATURE} {SIGNATURE}")), Ok(()));
    }

    #[cfg(feature = "ed25519")]
    mod ed25519 {
        use super::*;

        fn public() -> StandardWebhooks {
            StandardWebhooks::with_public_keys([ED_PUBLIC_KEY]).unwrap()
        }

        fn published() -> HeaderMap {
            with_signature(ED_SIGNATURE)
        }

        #[test]
        fn signer_reproduces_the_published_header() {
            let signed = testing::standard_webhooks_ed25519(ED_SIGNING_KEY, ID, TS, PAYLOAD);
            assert_eq!(signed["webhook-signature"].as_bytes(), ED_SIGNATURE.as_bytes());
            assert_eq!(signed, published());
            // The Go test gives the seed without its prefix.
            let bare = ED_SIGNING_KEY.strip_prefix("whsk_").unwrap();
            assert_eq!(testing::standard_webhooks_ed25519(bare, ID, TS, PAYLOAD), signed);
        }

        #[test]
        fn the_work_of_one_request_is_capped() {
            use hookwarden::scheme::{MAX_PUBLIC_KEYS, MAX_V1A_SIGNATURES};
            // The published signature among `MAX_V1A_SIGNATURES` entries
            // verifies; one entry more is refused before any check.
            // Well formed (64 bytes), but no key's signature.
            let decoy = format!("v1a,{}==", "A".repeat(86));
            let entries = |n: usize| {
                let mut all = vec![decoy.clone(); n - 1];
                all.push(ED_SIGNATURE.to_owned());
                with_signature(&all.join(" "))
            };
            assert_eq!(outcome(&public(), &entries(MAX_V1A_SIGNATURES), PAYLOAD, TS), Ok(()));
            assert_eq!(
                outcome(&public(), &entries(MAX_V1A_SIGNATURES + 1), PAYLOAD, TS),
                Err(VerifyError::MalformedSignature)
            );
            // At most `MAX_PUBLIC_KEYS` keys are active.
            let keys = vec![ED_PUBLIC_KEY; MAX_PUBLIC_KEYS];
            assert!(StandardWebhooks::with_public_keys(&keys).is_ok());
            let keys = vec![ED_PUBLIC_KEY; MAX_PUBLIC_KEYS + 1];
            assert!(StandardWebhooks::with_public_keys(&keys).is_err());
        }

        #[test]
        fn public_key_is_derived() {
            assert_eq!(testing::ed25519_public_key(ED_SIGNING_KEY), ED_PUBLIC_KEY);
        }

        #[test]
        fn published_vector_verifies() {
            let verified = verify(&public(), &published(), PAYLOAD, TS);
            assert_eq!(verified.signed_id(), Some(ID));
            assert_eq!(verified.timestamp(), Some(TS));
            let bare = ED_PUBLIC_KEY.strip_prefix("whpk_").unwrap();
            let bare = StandardWebhooks::with_public_keys([bare]).unwrap();
            assert_eq!(outcome(&bare, &published(), PAYLOAD, TS), Ok(()));
        }

        #[test]
        fn tampered_body_or_wrong_key_is_invalid() {
            assert_eq!(
                outcome(&public(), &published(), br#"{"test": 2432232315}"#, TS),
                Err(VerifyError::InvalidSignature)
            );
            let other_id = with(&published(), "webhook-id", "msg_other");
            assert_eq!(
                outcome(&public(), &other_id, PAYLOAD, TS),
                Err(VerifyError::InvalidSignature)
            );
            let other =
                testing::ed25519_public_key("whsk_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
            let wrong = StandardWebhooks::with_public_keys([other.as_str()]).unwrap();
            assert_eq!(
                outcome(&wrong, &published(), PAYLOAD, TS),
                Err(VerifyError::InvalidSignature)
            );
            // Rotation: the right key second.
            let rotated =
                StandardWebhooks::with_public_keys([other.as_str(), ED_PUBLIC_KEY]).unwrap();
            assert_eq!(outcome(&rotated, &published(), PAYLOAD, TS), Ok(()));
        }

        #[test]
        fn tolerance_window() {
            assert_tolerance_window(&public(), &published(), PAYLOAD, TS);
        }

        #[test]
        fn hmac_and_public_key_together() {
            let both = scheme().public_key(ED_PUBLIC_KEY).unwrap();
            for header in [
                ED_SIGNATURE.to_owned(),
                SIGNATURE.to_owned(),
                format!("{ED_SIGNATURE} {SIGNATURE}"),
                format!("{DECOY_V1} {ED_SIGNATURE}"),
            ] {
                assert_eq!(
                    outcome(&both, &with_signature(&header), PAYLOAD, TS),
                    Ok(()),
                    "{header}"
                );
            }
            // A key-only scheme has no secret for a `v1` entry...
            assert_eq!(
                outcome(&public(), &vector(), PAYLOAD, TS),
                Err(VerifyError::InvalidSignature)
            );
            // ...and an HMAC-only scheme no key for a `v1a` entry.
            assert_eq!(
                outcome(&scheme(), &published(), PAYLOAD, TS),
                Err(VerifyError::InvalidSignature)
            );
        }

        #[test]
        fn empty_or_wrong_length_is_malformed() {
            let b64 = ED_SIGNATURE.strip_prefix("v1a,").unwrap();
            let truncated = format!("v1a,{}", &b64[..b64.len() - 4]);
            let over_long = format!("v1a,{b64}AAAA");
            let not_base64 = ED_SIGNATURE.replace('/', "!");
            for bad in ["v1a,", &truncated, &over_long, &not_base64] {
                assert_eq!(
                    outcome(&public(), &with_signature(bad), PAYLOAD, TS),
                    Err(VerifyError::MalformedSignature),
                    "{bad}"
                );
            }
        }

        #[test]
        fn bad_public_keys_are_config_errors() {
            assert!(StandardWebhooks::with_public_keys(["whpk_"]).is_err());
            assert!(StandardWebhooks::with_public_keys(["whpk_AAAA"]).is_err());
            assert!(StandardWebhooks::with_public_keys(Vec::<String>::new()).is_err());
        }

        #[test]
        fn debug_hides_the_secret() {
            let both = scheme().public_key(ED_PUBLIC_KEY).unwrap();
            assert_debug_hides_secret(&both, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        }
    }
}

mod github {
    use hookwarden::scheme::GitHub;
    use hookwarden::testing;

    use super::*;

    // github/docs, "Validating webhook deliveries" (testing the webhook
    // payload validation).
    const SECRET: &str = "It's a Secret to Everybody";
    const PAYLOAD: &[u8] = b"Hello, World!";
    const SIGNATURE: &str =
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    const HEADER: &str = "X-Hub-Signature-256";

    fn scheme() -> GitHub {
        GitHub::new([SECRET]).unwrap()
    }

    fn check(signature: &str) -> Result<(), VerifyError> {
        outcome(&scheme(), &headers(&[(HEADER, signature)]), PAYLOAD, 0)
    }

    #[test]
    fn published_vector_verifies() {
        let verified = verify(&scheme(), &headers(&[(HEADER, SIGNATURE)]), PAYLOAD, 0);
        assert_eq!(verified.scheme(), "github");
        // GitHub signs no timestamp and no delivery id.
        assert_eq!(verified.timestamp(), None);
        assert_eq!(verified.signed_id(), None);
        // No timestamp: the clock does not matter.
        assert_eq!(outcome(&scheme(), &headers(&[(HEADER, SIGNATURE)]), PAYLOAD, u64::MAX), Ok(()));
    }

    #[test]
    fn uppercase_hex_verifies() {
        let upper = format!("sha256={}", SIGNATURE["sha256=".len()..].to_ascii_uppercase());
        assert_eq!(check(&upper), Ok(()));
    }

    #[test]
    fn signer_reproduces_the_published_header() {
        assert_eq!(testing::github(SECRET, PAYLOAD), headers(&[(HEADER, SIGNATURE)]));
    }

    #[test]
    fn tampered_body_or_wrong_secret_is_invalid() {
        let sent = headers(&[(HEADER, SIGNATURE)]);
        assert_eq!(
            outcome(&scheme(), &sent, b"Hello, World?", 0),
            Err(VerifyError::InvalidSignature)
        );
        assert_eq!(outcome(&scheme(), &sent, b"", 0), Err(VerifyError::InvalidSignature));
        let wrong = GitHub::new(["It's a secret to everybody"]).unwrap();
        assert_eq!(outcome(&wrong, &sent, PAYLOAD, 0), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn missing_header() {
        assert_eq!(
            outcome(&scheme(), &HeaderMap::new(), PAYLOAD, 0),
            Err(VerifyError::MissingSignature)
        );
        // The legacy SHA-1 header is not accepted in its place.
        let sha1 = headers(&[("X-Hub-Signature", "sha1=0000000000000000000000000000000000000000")]);
        assert_eq!(outcome(&scheme(), &sha1, PAYLOAD, 0), Err(VerifyError::MissingSignature));
    }

    #[test]
    fn empty_signature_is_malformed() {
        assert_eq!(check("sha256="), Err(VerifyError::MalformedSignature));
        assert_eq!(check(""), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn wrong_length_alphabet_or_prefix_is_malformed() {
        let hex = &SIGNATURE["sha256=".len()..];
        let truncated = &SIGNATURE[..SIGNATURE.len() - 1];
        let over_long = format!("{SIGNATURE}00");
        let not_hex = SIGNATURE.replace('e', "g");
        let bare = hex.to_owned(); // the `sha256=` prefix is required
        let sha1_prefix = format!("sha1={hex}");
        let upper_prefix = format!("SHA256={hex}");
        for bad in [truncated, &over_long, &not_hex, &bare, &sha1_prefix, &upper_prefix] {
            assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad}");
        }
    }

    #[test]
    fn repeated_header_with_another_value_is_malformed() {
        let same = headers(&[(HEADER, SIGNATURE), (HEADER, SIGNATURE)]);
        assert_eq!(outcome(&scheme(), &same, PAYLOAD, 0), Ok(()));
        let upper = format!("sha256={}", SIGNATURE["sha256=".len()..].to_ascii_uppercase());
        let twice = headers(&[(HEADER, SIGNATURE), (HEADER, &upper)]);
        assert_eq!(outcome(&scheme(), &twice, PAYLOAD, 0), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn reserialised_json_is_invalid() {
        let body = br#"{"zen": "Keep it logically awesome.", "hook_id": 1}"#;
        let sent = testing::github(SECRET, body);
        assert_eq!(outcome(&scheme(), &sent, body, 0), Ok(()));
        assert_eq!(
            outcome(&scheme(), &sent, &reserialised(body), 0),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn rotation() {
        let sent = headers(&[(HEADER, SIGNATURE)]);
        let rotated = GitHub::new(["new secret", SECRET]).unwrap();
        assert_eq!(outcome(&rotated, &sent, PAYLOAD, 0), Ok(()));
        let neither = GitHub::new(["new secret", "older secret"]).unwrap();
        assert_eq!(outcome(&neither, &sent, PAYLOAD, 0), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_debug_hides_secret(&scheme(), SECRET);
        let rotated = GitHub::new(["new github secret", SECRET]).unwrap();
        assert_debug_hides_secret(&rotated, SECRET);
        assert_debug_hides_secret(&rotated, "new github secret");
    }

    #[test]
    fn empty_secret_is_a_config_error() {
        assert!(GitHub::new([""]).is_err());
        assert!(GitHub::new(Vec::<&str>::new()).is_err());
    }
}

mod stripe {
    use hookwarden::mac::MAX_SIGNATURES;
    use hookwarden::scheme::Stripe;
    use hookwarden::testing;

    use super::*;

    // stripe/stripe-dotnet `src/StripeTests/Services/Events/EventUtilityTest.cs`,
    // with the payload of `src/StripeTests/Resources/event_test_signature.json`.
    const SECRET: &str = "webhook_secret";
    const TS: u64 = 1_533_204_620;
    const V1: &str = "2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7";
    const V0: &str = "63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";
    const HEADER: &str = "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";
    const PAYLOAD: &[u8] = include_bytes!("../fixtures/stripe_event_test_signature.json");

    fn scheme() -> Stripe {
        Stripe::new([SECRET]).unwrap()
    }

    fn check(header: &str) -> Result<(), VerifyError> {
        outcome(&scheme(), &headers(&[("Stripe-Signature", header)]), PAYLOAD, TS)
    }

    #[test]
    fn fixture_is_the_published_payload() {
        assert_eq!(PAYLOAD.len(), 484);
        assert!(PAYLOAD.ends_with(b"}\n"));
        assert!(!PAYLOAD.contains(&b'\r'));
    }

    #[test]
    fn published_vector_verifies() {
        let verified = verify(&scheme(), &headers(&[("Stripe-Signature", HEADER)]), PAYLOAD, TS);
        assert_eq!(verified.scheme(), "stripe");
        assert_eq!(verified.timestamp(), Some(TS));
        assert_eq!(verified.signed_id(), None);
    }

    #[test]
    fn v0_is_ignored() {
        assert_eq!(check(&format!("t={TS},v1={V1}")), Ok(()));
        assert_eq!(check(&format!("t={TS},v0={V0},v1={V1}")), Ok(()));
        // Only a `v0`: nothing this receiver checks.
        assert_eq!(check(&format!("t={TS},v0={V0}")), Err(VerifyError::MalformedSignature));
        // Unknown keys are ignored too.
        assert_eq!(check(&format!("t={TS},v1={V1},v9=x")), Ok(()));
    }

    #[test]
    fn signer_reproduces_the_published_signature() {
        let signed = testing::stripe(SECRET, TS, PAYLOAD);
        assert_eq!(signed["stripe-signature"], format!("t={TS},v1={V1}").as_str());
    }

    #[test]
    fn tampered_body_or_wrong_secret_is_invalid() {
        let sent = headers(&[("Stripe-Signature", HEADER)]);
        let tampered = String::from_utf8(PAYLOAD.to_vec()).unwrap().replace("cus_123", "cus_124");
        assert_eq!(
            outcome(&scheme(), &sent, tampered.as_bytes(), TS),
            Err(VerifyError::InvalidSignature)
        );
        // CRLF line endings, as a careless proxy might write them.
        let crlf = String::from_utf8(PAYLOAD.to_vec()).unwrap().replace('\n', "\r\n");
        assert_eq!(
            outcome(&scheme(), &sent, crlf.as_bytes(), TS),
            Err(VerifyError::InvalidSignature)
        );
        let wrong = Stripe::new(["whsec_webhook_secret"]).unwrap();
        assert_eq!(outcome(&wrong, &sent, PAYLOAD, TS), Err(VerifyError::InvalidSignature));
        // The timestamp is signed: one second off is inside the window.
        assert_eq!(
            check(&HEADER.replace("t=1533204620", "t=1533204621")),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn tolerance_window() {
        assert_tolerance_window(&scheme(), &headers(&[("Stripe-Signature", HEADER)]), PAYLOAD, TS);
    }

    #[test]
    fn missing_header_or_parts() {
        assert_eq!(
            outcome(&scheme(), &HeaderMap::new(), PAYLOAD, TS),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(check(&format!("v1={V1}")), Err(VerifyError::MalformedSignature));
        assert_eq!(check(&format!("t={TS}")), Err(VerifyError::MalformedSignature));
        assert_eq!(check(""), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn empty_signature_is_malformed() {
        assert_eq!(check(&format!("t={TS},v1=")), Err(VerifyError::MalformedSignature));
        assert_eq!(check(&format!("t={TS},v1=,v1={V1}")), Err(VerifyError::MalformedSignature));
        assert_eq!(check(&format!("t={TS},v1")), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn wrong_length_or_alphabet_is_malformed() {
        let truncated = format!("t={TS},v1={}", &V1[..63]);
        let over_long = format!("t={TS},v1={V1}0");
        let not_hex = format!("t={TS},v1={}", V1.replace('f', "x"));
        for bad in [truncated, over_long, not_hex] {
            assert_eq!(check(&bad), Err(VerifyError::MalformedSignature), "{bad}");
        }
    }

    #[test]
    fn hostile_timestamps_are_malformed() {
        for ts in HOSTILE_TIMESTAMPS {
            // Stripe's parser trims spaces around a value; the rest must fail.
            if ts.trim() != ts {
                continue;
            }
            let header = format!("t={ts},v1={V1}");
            assert_eq!(check(&header), Err(VerifyError::MalformedSignature), "{header}");
        }
        // Two different timestamps: which one is signed?
        assert_eq!(
            check(&format!("t={TS},t=1533204621,v1={V1}")),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(check(&format!("t={TS},t={TS},v1={V1}")), Ok(()));
    }

    #[test]
    fn repeated_header_with_another_value_is_malformed() {
        let same = headers(&[("Stripe-Signature", HEADER), ("Stripe-Signature", HEADER)]);
        assert_eq!(outcome(&scheme(), &same, PAYLOAD, TS), Ok(()));
        let other = format!("t={TS},v1={V0}");
        let twice = headers(&[("Stripe-Signature", HEADER), ("Stripe-Signature", &other)]);
        assert_eq!(outcome(&scheme(), &twice, PAYLOAD, TS), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn reserialised_json_is_invalid() {
        let body = reserialised(PAYLOAD);
        assert_ne!(body, PAYLOAD);
        assert_eq!(
            outcome(&scheme(), &headers(&[("Stripe-Signature", HEADER)]), &body, TS),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn rotation() {
        let sent = headers(&[("Stripe-Signature", HEADER)]);
        let rotated = Stripe::new(["whsec_new", SECRET]).unwrap();
        assert_eq!(outcome(&rotated, &sent, PAYLOAD, TS), Ok(()));
        let neither = Stripe::new(["whsec_new", "whsec_old"]).unwrap();
        assert_eq!(outcome(&neither, &sent, PAYLOAD, TS), Err(VerifyError::InvalidSignature));
        // During a roll Stripe sends one `v1` per secret; any may match.
        assert_eq!(check(&format!("t={TS},v1={V0},v1={V1}")), Ok(()));
        assert_eq!(check(&format!("t={TS},v1={V0},v1={V0}")), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn signature_count_is_bounded() {
        let header = |decoys: usize| {
            let mut parts = vec![format!("t={TS}")];
            parts.extend(std::iter::repeat_n(format!("v1={V0}"), decoys));
            parts.push(format!("v1={V1}"));
            parts.push(format!("v0={V0}"));
            parts.join(",")
        };
        assert_eq!(check(&header(MAX_SIGNATURES - 1)), Ok(()));
        assert_eq!(check(&header(MAX_SIGNATURES)), Err(VerifyError::MalformedSignature));
        assert_eq!(check(&header(10 * MAX_SIGNATURES)), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_debug_hides_secret(&scheme(), SECRET);
    }
}

mod slack {
    use hookwarden::scheme::Slack;
    use hookwarden::testing;

    use super::*;

    // slackapi/python-slack-sdk
    // `tests/slack_sdk/signature/test_signature_verifier.py`: the example
    // from Slack's "Verifying requests from Slack" documentation.
    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    const TS: u64 = 1_531_420_618;
    const TS_STR: &str = "1531420618";
    const BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
    const SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

    fn scheme() -> Slack {
        Slack::new([SECRET]).unwrap()
    }

    fn vector() -> HeaderMap {
        headers(&[("X-Slack-Request-Timestamp", TS_STR), ("X-Slack-Signature", SIGNATURE)])
    }

    fn check(signature: &str) -> Result<(), VerifyError> {
        outcome(&scheme(), &with(&vector(), "X-Slack-Signature", signature), BODY, TS)
    }

    #[test]
    fn published_vector_verifies() {
        let verified = verify(&scheme(), &vector(), BODY, TS);
        assert_eq!(verified.scheme(), "slack");
        assert_eq!(verified.timestamp(), Some(TS));
    }

    #[test]
    fn signer_reproduces_the_published_headers() {
        assert_eq!(testing::slack(SECRET, TS, BODY), vector());
    }

    #[test]
    fn tampered_body_timestamp_or_wrong_secret_is_invalid() {
        let tampered = String::from_utf8(BODY.to_vec()).unwrap().replace("foobar", "foobaz");
        assert_eq!(
            outcome(&scheme(), &vector(), tampered.as_bytes(), TS),
            Err(VerifyError::InvalidSignature)
        );
        let wrong = Slack::new(["8f742231b10e8888abcd99yyyzzz85a6"]).unwrap();
        assert_eq!(outcome(&wrong, &vector(), BODY, TS), Err(VerifyError::InvalidSignature));
        let other_ts = with(&vector(), "X-Slack-Request-Timestamp", "1531420619");
        assert_eq!(outcome(&scheme(), &other_ts, BODY, TS), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn tolerance_window() {
        assert_tolerance_window(&scheme(), &vector(), BODY, TS);
    }

    #[test]
    fn missing_headers() {
        assert_eq!(
            outcome(&scheme(), &without(&vector(), "X-Slack-Signature"), BODY, TS),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(
            outcome(&scheme(), &without(&vector(), "X-Slack-Request-Timestamp"), BODY, TS),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn empty_signature_is_malformed() {
        assert_eq!(check("v0="), Err(VerifyError::MalformedSignature));
        assert_eq!(check(""), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn wrong_length_alphabet_or_version_is_malformed() {
        let hex = &SIGNATURE[3..];
        let truncated = &SIGNATURE[..SIGNATURE.len() - 2];
        let over_long = format!("{SIGNATURE}0");
        let not_hex = SIGNATURE.replace('a', "z");
        let bare = hex.to_owned();
        let v1 = format!("v1={hex}");
        for bad in [truncated, &over_long, &not_hex, &bare, &v1] {
            assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad}");
        }
    }

    #[test]
    fn hostile_timestamps_are_malformed() {
        for ts in HOSTILE_TIMESTAMPS {
            let hostile = with(&vector(), "X-Slack-Request-Timestamp", ts);
            assert_eq!(
                outcome(&scheme(), &hostile, BODY, TS),
                Err(VerifyError::MalformedSignature),
                "{ts:?}"
            );
        }
    }

    #[test]
    fn repeated_headers_with_another_value_are_malformed() {
        let upper = format!("v0={}", SIGNATURE[3..].to_ascii_uppercase());
        assert_eq!(check(&upper), Ok(()));
        for (name, other) in
            [("X-Slack-Signature", upper.as_str()), ("X-Slack-Request-Timestamp", "1531420619")]
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
    fn reserialised_json_is_invalid() {
        // Slack's vector is form-encoded; its Events API sends JSON.
        let body = br#"{"token": "z26uFbvR1xHJEdHE1OQiO6t8", "type": "url_verification"}"#;
        let sent = testing::slack(SECRET, TS, body);
        assert_eq!(outcome(&scheme(), &sent, body, TS), Ok(()));
        assert_eq!(
            outcome(&scheme(), &sent, &reserialised(body), TS),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn rotation() {
        let rotated = Slack::new(["new-signing-secret", SECRET]).unwrap();
        assert_eq!(outcome(&rotated, &vector(), BODY, TS), Ok(()));
        let neither = Slack::new(["new-signing-secret", "old-signing-secret"]).unwrap();
        assert_eq!(outcome(&neither, &vector(), BODY, TS), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_debug_hides_secret(&scheme(), SECRET);
    }
}

mod shopify {
    use hookwarden::scheme::Shopify;
    use hookwarden::testing;

    use super::*;

    // Shopify/shopify-api-php @ 07c22ddbfb2e662436c66a2de52c92220458e27b
    // `tests/Webhooks/RegistryTest.php`, with the API secret key of
    // `tests/BaseTestCase.php` (pinned: these values changed upstream).
    const SECRET: &str = "steffi";
    const BODY: &[u8] = br#"{"foo":"bar"}"#;
    const SIGNATURE: &str = "/Redz4YXHLnSmmSN8grr5/Jl/Ua3d7yX3iWbjb8R8wo=";
    const HEADER: &str = "X-Shopify-Hmac-Sha256";

    fn scheme() -> Shopify {
        Shopify::new([SECRET]).unwrap()
    }

    fn check(signature: &str) -> Result<(), VerifyError> {
        outcome(&scheme(), &headers(&[(HEADER, signature)]), BODY, 0)
    }

    #[test]
    fn published_vector_verifies() {
        let verified = verify(&scheme(), &headers(&[(HEADER, SIGNATURE)]), BODY, 0);
        assert_eq!(verified.scheme(), "shopify");
        assert_eq!(verified.timestamp(), None);
    }

    #[test]
    fn signer_reproduces_the_published_header() {
        assert_eq!(testing::shopify(SECRET, BODY), headers(&[(HEADER, SIGNATURE)]));
    }

    #[test]
    fn tampered_body_or_wrong_secret_is_invalid() {
        let sent = headers(&[(HEADER, SIGNATURE)]);
        assert_eq!(
            outcome(&scheme(), &sent, br#"{"foo":"baz"}"#, 0),
            Err(VerifyError::InvalidSignature)
        );
        let wrong = Shopify::new(["Steffi"]).unwrap();
        assert_eq!(outcome(&wrong, &sent, BODY, 0), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn missing_or_empty_header() {
        assert_eq!(
            outcome(&scheme(), &HeaderMap::new(), BODY, 0),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(check(""), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn wrong_length_or_alphabet_is_malformed() {
        let truncated = &SIGNATURE[..SIGNATURE.len() - 1];
        let over_long = format!("{SIGNATURE}AAAA");
        let url_safe = SIGNATURE.replace('/', "_");
        // The genuine tag, written in hex: Shopify only writes base64.
        use base64::Engine as _;
        let tag = base64::engine::general_purpose::STANDARD.decode(SIGNATURE).unwrap();
        let hex = hex::encode(&tag);
        assert!(hex.starts_with("fd179dcf86171cb9"), "{hex}");
        let prefixed = format!("sha256={SIGNATURE}");
        for bad in [truncated, &over_long, &url_safe, &hex, &prefixed] {
            assert_eq!(check(bad), Err(VerifyError::MalformedSignature), "{bad}");
        }
    }

    #[test]
    fn repeated_header_with_another_value_is_malformed() {
        let twice = headers(&[(HEADER, SIGNATURE), (HEADER, SIGNATURE)]);
        assert_eq!(outcome(&scheme(), &twice, BODY, 0), Ok(()));
        let other = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";
        let twice = headers(&[(HEADER, SIGNATURE), (HEADER, other)]);
        assert_eq!(outcome(&scheme(), &twice, BODY, 0), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn reserialised_json_is_invalid() {
        // The vector is already compact JSON: serialising it again gives the
        // same bytes (and verifies); any other formatting does not.
        let compact =
            serde_json::to_vec(&serde_json::from_slice::<serde_json::Value>(BODY).unwrap())
                .unwrap();
        assert_eq!(compact, BODY);
        let body = reserialised(BODY);
        assert_ne!(body, BODY);
        assert_eq!(
            outcome(&scheme(), &headers(&[(HEADER, SIGNATURE)]), &body, 0),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn rotation() {
        let sent = headers(&[(HEADER, SIGNATURE)]);
        let rotated = Shopify::new(["new-client-secret", SECRET]).unwrap();
        assert_eq!(outcome(&rotated, &sent, BODY, 0), Ok(()));
        let neither = Shopify::new(["new-client-secret", "old-client-secret"]).unwrap();
        assert_eq!(outcome(&neither, &sent, BODY, 0), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_debug_hides_secret(&scheme(), SECRET);
    }
}

mod logto {
    use hookwarden::scheme::Logto;
    use hookwarden::testing;

    use super::*;

    // logto-io/logto `packages/core/src/utils/sign.test.ts`.
    const KEY: &str = "foo";
    const VECTORS: [(&[u8], &str); 2] = [
        (
            br#"{"bar":"bar","foo":"foo"}"#,
            "436958f1dbfefab37712fb3927760490fbf7757da8c0b2306ee7b485f0360eee",
        ),
        (b"{}", "c76356efa19d219d1d7e08ccb20b1d26db53b143156f406c99dcb8e0876d6c55"),
    ];
    const HEADER: &str = "logto-signature-sha-256";

    fn scheme() -> Logto {
        Logto::new([KEY]).unwrap()
    }

    fn check(body: &[u8], signature: &str) -> Result<(), VerifyError> {
        outcome(&scheme(), &headers(&[(HEADER, signature)]), body, 0)
    }

    #[test]
    fn published_vectors_verify_bare_and_prefixed() {
        for (body, hex) in VECTORS {
            let verified = verify(&scheme(), &headers(&[(HEADER, hex)]), body, 0);
            assert_eq!(verified.scheme(), "logto");
            assert_eq!(check(body, &format!("sha256={hex}")), Ok(()));
            assert_eq!(check(body, &hex.to_ascii_uppercase()), Ok(()));
        }
    }

    #[test]
    fn signer_verifies() {
        for (body, hex) in VECTORS {
            let signed = testing::logto(KEY, body);
            let value = signed[HEADER].to_str().unwrap();
            assert!(value.ends_with(hex), "{value}");
            assert_eq!(outcome(&scheme(), &signed, body, 0), Ok(()));
        }
    }

    #[test]
    fn crossed_vectors_and_wrong_key_are_invalid() {
        let [(first_body, first), (second_body, second)] = VECTORS;
        assert_eq!(check(first_body, second), Err(VerifyError::InvalidSignature));
        assert_eq!(check(second_body, first), Err(VerifyError::InvalidSignature));
        let wrong = Logto::new(["fo"]).unwrap();
        assert_eq!(
            outcome(&wrong, &headers(&[(HEADER, first)]), first_body, 0),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn missing_or_empty_header() {
        let (body, _) = VECTORS[0];
        assert_eq!(
            outcome(&scheme(), &HeaderMap::new(), body, 0),
            Err(VerifyError::MissingSignature)
        );
        assert_eq!(check(body, ""), Err(VerifyError::MalformedSignature));
        assert_eq!(check(body, "sha256="), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn wrong_length_or_alphabet_is_malformed() {
        let (body, hex) = VECTORS[0];
        let truncated = &hex[..63];
        let over_long = format!("{hex}0");
        let not_hex = hex.replace('f', "x");
        let other_prefix = format!("sha512={hex}");
        for bad in [truncated, &over_long, &not_hex, &other_prefix] {
            assert_eq!(check(body, bad), Err(VerifyError::MalformedSignature), "{bad}");
        }
    }

    #[test]
    fn repeated_header_with_another_value_is_malformed() {
        let (body, hex) = VECTORS[0];
        let prefixed = format!("sha256={hex}");
        // Same tag, written differently: still two different values.
        let twice = headers(&[(HEADER, hex), (HEADER, &prefixed)]);
        assert_eq!(outcome(&scheme(), &twice, body, 0), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn reserialised_json_is_invalid() {
        let (body, hex) = VECTORS[0];
        let changed = reserialised(body);
        assert_ne!(changed, body);
        assert_eq!(check(&changed, hex), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn rotation() {
        let (body, hex) = VECTORS[0];
        let sent = headers(&[(HEADER, hex)]);
        let rotated = Logto::new(["bar", KEY]).unwrap();
        assert_eq!(outcome(&rotated, &sent, body, 0), Ok(()));
        let neither = Logto::new(["bar", "baz"]).unwrap();
        assert_eq!(outcome(&neither, &sent, body, 0), Err(VerifyError::InvalidSignature));
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_debug_hides_secret(&scheme(), "\"foo\"");
        let key = "a-long-logto-signing-key";
        assert_debug_hides_secret(&Logto::new([key]).unwrap(), key);
    }
}

mod generic_hmac {
    use base64::Engine as _;
    use hmac::{Hmac, Mac as _};
    use hookwarden::scheme::{Encoding, GenericHmac, SignedContent};
    use hookwarden::testing;
    use sha2::Sha256;

    use super::*;

    const SECRET: &str = "generic-hmac-secret";
    const BODY: &[u8] = br#"{"type":"invoice.paid","id":"evt_1"}"#;
    const TS: u64 = 1_700_000_000;

    fn tag(pieces: &[&[u8]]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
        for piece in pieces {
            mac.update(piece);
        }
        mac.finalize().into_bytes().into()
    }

    fn default_scheme() -> GenericHmac {
        GenericHmac::builder().secret(SECRET).build().unwrap()
    }

    fn timestamped_scheme() -> GenericHmac {
        GenericHmac::builder()
            .secret(SECRET)
            .header("X-Signature")
            .encoding(Encoding::Base64)
            .timestamp_header("X-Timestamp")
            .build()
            .unwrap()
    }

    #[test]
    fn default_round_trip() {
        let scheme = default_scheme();
        let signed = testing::generic_hmac(&scheme, TS, BODY);
        // Hex of the HMAC of the body, in `X-Webhook-Signature`, with the
        // optional prefix written.
        let expected = format!("sha256={}", hex::encode(tag(&[BODY])));
        assert_eq!(signed, headers(&[("X-Webhook-Signature", &expected)]));
        let verified = verify(&scheme, &signed, BODY, 0);
        assert_eq!(verified.scheme(), "hmac");
        assert_eq!(verified.timestamp(), None);
        // The prefix is optional, and hex may be uppercase.
        let bare = hex::encode(tag(&[BODY]));
        assert_eq!(outcome(&scheme, &headers(&[("X-Webhook-Signature", &bare)]), BODY, 0), Ok(()));
        let upper = bare.to_ascii_uppercase();
        assert_eq!(outcome(&scheme, &headers(&[("X-Webhook-Signature", &upper)]), BODY, 0), Ok(()));
    }

    #[test]
    fn default_config_verifies_the_github_vector() {
        // Same algorithm as GitHub's (github/docs, "Validating webhook
        // deliveries"), under the generic header.
        let scheme = GenericHmac::builder().secret("It's a Secret to Everybody").build().unwrap();
        let sent = headers(&[(
            "X-Webhook-Signature",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        )]);
        assert_eq!(outcome(&scheme, &sent, b"Hello, World!", 0), Ok(()));
        assert_eq!(
            outcome(&scheme, &sent, b"Hello, World?", 0),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn default_config_negatives() {
        let scheme = default_scheme();
        let signed = testing::generic_hmac(&scheme, TS, BODY);
        assert_eq!(outcome(&scheme, &signed, b"{}", 0), Err(VerifyError::InvalidSignature));
        assert_eq!(
            outcome(&scheme, &HeaderMap::new(), BODY, 0),
            Err(VerifyError::MissingSignature)
        );
        let hex = hex::encode(tag(&[BODY]));
        for bad in ["", "sha256=", &hex[..63], &format!("{hex}00"), &hex.replace('a', "g")] {
            assert_eq!(
                outcome(&scheme, &headers(&[("X-Webhook-Signature", bad)]), BODY, 0),
                Err(VerifyError::MalformedSignature),
                "{bad}"
            );
        }
        let twice = repeated(&signed, "X-Webhook-Signature", &hex);
        assert_eq!(outcome(&scheme, &twice, BODY, 0), Err(VerifyError::MalformedSignature));
        let wrong = GenericHmac::builder().secret("another").build().unwrap();
        assert_eq!(outcome(&wrong, &signed, BODY, 0), Err(VerifyError::InvalidSignature));
        let rotated = GenericHmac::builder().secret("another").secret(SECRET).build().unwrap();
        assert_eq!(outcome(&rotated, &signed, BODY, 0), Ok(()));
        let neither = GenericHmac::builder().secret("another").secret("third").build().unwrap();
        assert_eq!(outcome(&neither, &signed, BODY, 0), Err(VerifyError::InvalidSignature));
        assert_eq!(
            outcome(&scheme, &signed, &reserialised(BODY), 0),
            Err(VerifyError::InvalidSignature)
        );
    }

    #[test]
    fn base64_with_timestamp_round_trip() {
        let scheme = timestamped_scheme();
        let signed = testing::generic_hmac(&scheme, TS, BODY);
        // The base64 HMAC of `timestamp.body`, after the default optional
        // prefix, and the timestamp beside it.
        let ts = TS.to_string();
        let b64 =
            base64::engine::general_purpose::STANDARD.encode(tag(&[ts.as_bytes(), b".", BODY]));
        let expected = format!("sha256={b64}");
        assert_eq!(
            signed,
            headers(&[("X-Signature", expected.as_str()), ("X-Timestamp", ts.as_str())])
        );
        let verified = verify(&scheme, &signed, BODY, TS);
        assert_eq!(verified.timestamp(), Some(TS));
        // The prefix is optional.
        assert_eq!(outcome(&scheme, &with(&signed, "X-Signature", &b64), BODY, TS), Ok(()));
        assert_tolerance_window(&scheme, &signed, BODY, TS);
    }

    #[test]
    fn base64_with_timestamp_negatives() {
        let scheme = timestamped_scheme();
        let signed = testing::generic_hmac(&scheme, TS, BODY);
        let sig = signed["x-signature"].to_str().unwrap();
        let sig = sig.strip_prefix("sha256=").unwrap().to_owned();
        assert_eq!(outcome(&scheme, &signed, b"{}", TS), Err(VerifyError::InvalidSignature));
        // The timestamp is signed.
        let other_ts = with(&signed, "X-Timestamp", &(TS + 1).to_string());
        assert_eq!(outcome(&scheme, &other_ts, BODY, TS), Err(VerifyError::InvalidSignature));
        assert_eq!(
            outcome(&scheme, &without(&signed, "X-Timestamp"), BODY, TS),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(
            outcome(&scheme, &without(&signed, "X-Signature"), BODY, TS),
            Err(VerifyError::MissingSignature)
        );
        for ts in HOSTILE_TIMESTAMPS {
            assert_eq!(
                outcome(&scheme, &with(&signed, "X-Timestamp", ts), BODY, TS),
                Err(VerifyError::MalformedSignature),
                "{ts:?}"
            );
        }
        let hex = hex::encode(tag(&[TS.to_string().as_bytes(), b".", BODY]));
        for bad in ["", "sha256=", &sig[..43], &format!("{sig}A"), &sig.replace('=', "!"), &hex] {
            assert_eq!(
                outcome(&scheme, &with(&signed, "X-Signature", bad), BODY, TS),
                Err(VerifyError::MalformedSignature),
                "{bad}"
            );
        }
        let twice = repeated(&signed, "X-Timestamp", &(TS + 1).to_string());
        assert_eq!(outcome(&scheme, &twice, BODY, TS), Err(VerifyError::MalformedSignature));
    }

    #[test]
    fn a_timestamp_it_does_not_sign_is_refused_at_build_time() {
        // Anyone could change an unsigned timestamp: checking it would
        // report it as signed while it proves nothing.
        let error = GenericHmac::builder()
            .secret(SECRET)
            .timestamp_header("X-Timestamp")
            .signed_content(SignedContent::Body)
            .build()
            .expect_err("an unsigned timestamp must be refused");
        assert!(error.to_string().contains("timestamp"), "{error}");
        // Without a timestamp header the body alone is signed, and
        // `Verified` reports no timestamp.
        let scheme = GenericHmac::builder().secret(SECRET).build().unwrap();
        let signed = testing::generic_hmac(&scheme, TS, BODY);
        assert!(signed.get("x-timestamp").is_none());
        assert_eq!(verify(&scheme, &signed, BODY, TS).timestamp(), None);
    }

    #[test]
    fn required_prefix() {
        let scheme = GenericHmac::builder().secret(SECRET).prefix("v1=").build().unwrap();
        let hex = hex::encode(tag(&[BODY]));
        let sent = |value: &str| headers(&[("X-Webhook-Signature", value)]);
        assert_eq!(outcome(&scheme, &sent(&format!("v1={hex}")), BODY, 0), Ok(()));
        assert_eq!(outcome(&scheme, &sent(&hex), BODY, 0), Err(VerifyError::MalformedSignature));
        assert_eq!(
            outcome(&scheme, &sent(&format!("sha256={hex}")), BODY, 0),
            Err(VerifyError::MalformedSignature)
        );
        assert_eq!(outcome(&scheme, &sent("v1="), BODY, 0), Err(VerifyError::MalformedSignature));
        let none = GenericHmac::builder().secret(SECRET).no_prefix().build().unwrap();
        assert_eq!(outcome(&none, &sent(&hex), BODY, 0), Ok(()));
        assert_eq!(
            outcome(&none, &sent(&format!("sha256={hex}")), BODY, 0),
            Err(VerifyError::MalformedSignature)
        );
    }

    #[test]
    fn configuration_errors() {
        assert!(GenericHmac::builder().build().is_err());
        assert!(GenericHmac::builder().secret("").build().is_err());
        assert!(GenericHmac::builder().secret(SECRET).header("not a header").build().is_err());
        assert!(
            GenericHmac::builder()
                .secret(SECRET)
                .signed_content(SignedContent::TimestampDotBody)
                .build()
                .is_err()
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        assert_debug_hides_secret(&default_scheme(), SECRET);
        assert_debug_hides_secret(&timestamped_scheme(), SECRET);
        assert_debug_hides_secret(&GenericHmac::builder().secret(SECRET), SECRET);
    }
}

mod paddle;

mod zoom;

mod twitch;

mod linear;

mod gitlab;
mod intercom;
mod square;
mod twilio;
