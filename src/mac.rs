//! HMAC-SHA256 tags and the set of active secrets that checks them.
//!
//! Every HMAC scheme in hookwarden verifies the same way:
//!
//! * the received signature is decoded into a fixed-size [`Mac`]; anything
//!   that does not decode to exactly 32 bytes is malformed (an empty `v1,`
//!   signature never reaches a comparison: the bug behind CVE-2024-21491);
//! * the message is fed to a pre-keyed HMAC state piece by piece, with no
//!   copy of the body;
//! * every active secret is tried and every candidate signature compared in
//!   constant time, with the results OR-ed: no early exit tells which secret
//!   or which signature matched.
//!
//! A [`Mac`] has no `PartialEq`, so a timing-unsafe `==` cannot compile:
//!
//! ```compile_fail
//! use hookwarden::mac::Mac;
//!
//! let a = Mac::from_hex(b"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17").unwrap();
//! let b = Mac::from_hex(b"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17").unwrap();
//! assert!(a == b); // error: `==` cannot be applied to type `Mac`
//! ```
//!
//! Compare with [`Mac::ct_eq`] instead, or better, let
//! [`HmacSecrets::verify`] do it:
//!
//! ```
//! use hookwarden::mac::{HmacSecrets, Mac};
//!
//! // GitHub's documented example.
//! let secrets = HmacSecrets::new("example", ["It's a Secret to Everybody"]).unwrap();
//! let received =
//!     Mac::from_hex(b"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17").unwrap();
//! assert!(secrets.verify(&[b"Hello, World!"], &[received]));
//! assert!(!secrets.verify(&[b"Hello, World?"], &[received]));
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac as _};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::error::ConfigError;
use crate::error::VerifyError;

type HmacSha256 = Hmac<Sha256>;

/// Marks a byte that is not a digit of the alphabet in the tables below.
const INVALID: u8 = 0x80;

/// The value of each hex digit (either case); [`INVALID`] elsewhere.
const HEX_DIGITS: [u8; 256] = {
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        table[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        table[b'a' as usize + i] = 10 + i as u8;
        table[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    table
};

/// The value of each standard base64 character; [`INVALID`] elsewhere.
const BASE64_DIGITS: [u8; 256] = {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut table = [INVALID; 256];
    let mut i = 0;
    while i < 64 {
        table[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    table
};

/// At most this many candidate signatures are read from one request; a
/// header with more is malformed. Bounds the work an attacker can cause.
pub const MAX_SIGNATURES: usize = 16;

/// A received HMAC-SHA256 tag: exactly 32 bytes.
///
/// Deliberately without `PartialEq`; compare with [`Mac::ct_eq`].
#[derive(Clone, Copy)]
pub struct Mac([u8; 32]);

impl Mac {
    /// Decodes 64 hex digits (either case).
    pub fn from_hex(hex: &[u8]) -> Result<Self, VerifyError> {
        let hex: &[u8; 64] = hex.try_into().map_err(|_| VerifyError::MalformedSignature)?;
        let mut tag = [0u8; 32];
        let mut invalid = 0u8;
        for (byte, pair) in tag.iter_mut().zip(hex.chunks_exact(2)) {
            let (high, low) = (HEX_DIGITS[usize::from(pair[0])], HEX_DIGITS[usize::from(pair[1])]);
            invalid |= high | low;
            *byte = (high << 4) | (low & 0x0f);
        }
        if invalid & INVALID != 0 {
            return Err(VerifyError::MalformedSignature);
        }
        Ok(Self(tag))
    }

    /// Decodes standard, padded base64 of exactly 32 bytes (44 characters,
    /// the last one `=`, canonical: the unused low bits are zero).
    pub fn from_base64(base64: &[u8]) -> Result<Self, VerifyError> {
        let text: &[u8; 44] = base64.try_into().map_err(|_| VerifyError::MalformedSignature)?;
        let sextet = |c: u8| BASE64_DIGITS[usize::from(c)];
        let mut tag = [0u8; 32];
        let mut invalid = 0u8;
        // Ten full quanta of four characters make 30 bytes…
        for (bytes, quad) in tag.chunks_exact_mut(3).zip(text[..40].chunks_exact(4)) {
            let [a, b, c, d] = [sextet(quad[0]), sextet(quad[1]), sextet(quad[2]), sextet(quad[3])];
            invalid |= a | b | c | d;
            let n = u32::from(a & 0x3f) << 18
                | u32::from(b & 0x3f) << 12
                | u32::from(c & 0x3f) << 6
                | u32::from(d & 0x3f);
            bytes.copy_from_slice(&n.to_be_bytes()[1..]);
        }
        // …and the last three characters plus `=` make two more.
        let [a, b, c] = [sextet(text[40]), sextet(text[41]), sextet(text[42])];
        invalid |= a | b | c;
        if invalid & INVALID != 0 || text[43] != b'=' || c & 0x03 != 0 {
            return Err(VerifyError::MalformedSignature);
        }
        let n = u32::from(a) << 18 | u32::from(b) << 12 | u32::from(c) << 6;
        tag[30..].copy_from_slice(&n.to_be_bytes()[1..3]);
        Ok(Self(tag))
    }

    /// Wraps raw tag bytes.
    pub fn from_bytes(tag: [u8; 32]) -> Self {
        Self(tag)
    }

    /// Constant-time equality: the four 64-bit words are XOR-ed and OR-ed
    /// without branches, then compared with `subtle`.
    pub fn ct_eq(&self, other: &Mac) -> Choice {
        let word = |tag: &[u8; 32], i: usize| {
            u64::from_ne_bytes(tag[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
        };
        let difference = (0..4).fold(0u64, |acc, i| acc | (word(&self.0, i) ^ word(&other.0, i)));
        difference.ct_eq(&0)
    }
}

impl fmt::Debug for Mac {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mac(..)")
    }
}

/// The active HMAC-SHA256 secrets of a scheme, each kept as a pre-keyed
/// state so a request only pays for hashing its own bytes.
///
/// Several secrets may be active at once (rotation). The raw key bytes are
/// never kept; `Debug` prints only how many secrets there are.
#[derive(Clone)]
pub struct HmacSecrets {
    keyed: Vec<HmacSha256>,
}

impl HmacSecrets {
    /// Pre-keys one state per secret; the secrets are used as raw bytes.
    ///
    /// Fails if there is no secret or a secret is empty. `scheme` names the
    /// scheme in the error.
    pub fn new<I, K>(scheme: &'static str, secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let mut keyed = Vec::new();
        for secret in secrets {
            let secret = secret.as_ref();
            if secret.is_empty() {
                return Err(ConfigError::EmptySecret { scheme });
            }
            keyed.push(HmacSha256::new_from_slice(secret).expect("HMAC accepts any key length"));
        }
        if keyed.is_empty() {
            return Err(ConfigError::NoSecret { scheme });
        }
        Ok(Self { keyed })
    }

    /// Like [`new`](Self::new), for secrets that are base64 text (such as
    /// Standard Webhooks' `whsec_…` after its prefix). The decoded bytes are
    /// zeroised once keyed.
    pub(crate) fn from_base64<I, K>(scheme: &'static str, secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        let decoded = secrets
            .into_iter()
            .map(|s| {
                STANDARD
                    .decode(s.as_ref())
                    .map(Zeroizing::new)
                    .map_err(|_| ConfigError::UndecodableSecret { scheme, expected: "base64" })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(scheme, decoded.iter().map(|k| k.as_slice()))
    }

    /// How many secrets are active.
    pub fn len(&self) -> usize {
        self.keyed.len()
    }

    /// Always false: a set of secrets cannot be built empty.
    pub fn is_empty(&self) -> bool {
        self.keyed.is_empty()
    }

    /// Computes the tag of the concatenation of `message` under every secret
    /// and compares it with every candidate in constant time.
    ///
    /// True if any candidate matches any secret. All comparisons run
    /// whatever the outcome.
    pub fn verify(&self, message: &[&[u8]], candidates: &[Mac]) -> bool {
        let mut matched = Choice::from(0);
        for key in &self.keyed {
            let expected = Mac(tag(key, message));
            for candidate in candidates {
                matched |= expected.ct_eq(candidate);
            }
        }
        matched.into()
    }

    /// The tag of `message` under the first secret: for the test signers,
    /// and for answers a sender checks against its own secret (Zoom's URL
    /// validation).
    pub(crate) fn sign(&self, message: &[&[u8]]) -> [u8; 32] {
        tag(&self.keyed[0], message)
    }
}

fn tag(key: &HmacSha256, message: &[&[u8]]) -> [u8; 32] {
    let mut mac = key.clone();
    for piece in message {
        mac.update(piece);
    }
    mac.finalize().into_bytes().into()
}

impl Drop for HmacSecrets {
    /// Best effort: overwrites each pre-keyed state (which is derived from
    /// the secret) before its memory is freed. The `hmac` crate offers no
    /// zeroising of its own; the raw secret bytes are never kept at all.
    fn drop(&mut self) {
        for key in &mut self.keyed {
            *key = HmacSha256::new_from_slice(&[0]).expect("HMAC accepts any key length");
            std::hint::black_box(&*key);
        }
    }
}

impl fmt::Debug for HmacSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSecrets").field("count", &self.keyed.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_of_wrong_length_or_alphabet_is_malformed() {
        assert!(Mac::from_hex(b"").is_err());
        assert!(Mac::from_hex(&[b'a'; 62]).is_err());
        assert!(Mac::from_hex(&[b'a'; 66]).is_err());
        assert!(Mac::from_hex(&[b'g'; 64]).is_err());
        assert!(Mac::from_hex(&[b'A'; 64]).is_ok());
    }

    #[test]
    fn base64_must_be_exactly_32_bytes() {
        assert!(Mac::from_base64(b"").is_err());
        // 33 bytes encode to 44 characters without padding.
        assert!(Mac::from_base64(STANDARD.encode([7u8; 33]).as_bytes()).is_err());
        assert!(Mac::from_base64(STANDARD.encode([7u8; 31]).as_bytes()).is_err());
        assert!(Mac::from_base64(STANDARD.encode([7u8; 32]).as_bytes()).is_ok());
        assert!(Mac::from_base64(&[b'!'; 44]).is_err());
    }

    #[test]
    fn table_decoders_agree_with_the_hex_and_base64_crates() {
        let mut tag = [0u8; 32];
        for round in 0..2000u32 {
            for (i, byte) in tag.iter_mut().enumerate() {
                *byte = (round.wrapping_mul(2_654_435_761).rotate_left(i as u32 % 32) >> 7) as u8
                    ^ i as u8;
            }
            assert_eq!(Mac::from_hex(hex::encode(tag).as_bytes()).unwrap().0, tag);
            assert_eq!(Mac::from_hex(hex::encode_upper(tag).as_bytes()).unwrap().0, tag);
            assert_eq!(Mac::from_base64(STANDARD.encode(tag).as_bytes()).unwrap().0, tag);
        }
        let good = STANDARD.encode([0xffu8; 32]);
        for position in 0..44 {
            for bad in [b'-', b'_', b'=', b' ', 0xc3] {
                let mut text = good.clone().into_bytes();
                if text[position] == bad {
                    continue;
                }
                text[position] = bad;
                assert!(Mac::from_base64(&text).is_err(), "{position} {bad}");
            }
        }
        // Non-canonical: the two unused low bits of the last digit are set.
        let mut text = STANDARD.encode([0u8; 32]).into_bytes();
        text[42] = b'B';
        assert!(Mac::from_base64(&text).is_err());
        assert!(STANDARD.decode(&text).is_err(), "the base64 crate agrees");
    }

    #[test]
    fn no_or_empty_secret_is_a_config_error() {
        let none: [&str; 0] = [];
        assert!(matches!(HmacSecrets::new("t", none), Err(ConfigError::NoSecret { .. })));
        assert!(matches!(HmacSecrets::new("t", ["a", ""]), Err(ConfigError::EmptySecret { .. })));
    }

    #[test]
    fn any_active_secret_matches() {
        let old = HmacSecrets::new("t", ["old"]).unwrap();
        let both = HmacSecrets::new("t", ["new", "old"]).unwrap();
        let tag = Mac(tag(&old.keyed[0], &[b"body"]));
        assert!(both.verify(&[b"body"], &[tag]));
        assert!(!both.verify(&[b"bodY"], &[tag]));
    }

    #[test]
    fn debug_does_not_show_key_material() {
        let secrets = HmacSecrets::new("t", ["hunter2"]).unwrap();
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("hunter2"));
        assert_eq!(format!("{:?}", Mac([1; 32])), "Mac(..)");
    }
}
