//! HMAC tags (SHA-256, and SHA-1 for the senders that still use it) and
//! the set of active secrets that checks them.
//!
//! Every HMAC scheme in hookwarden verifies the same way:
//!
//! * the received signature is decoded into a fixed-size [`Mac`]; anything
//!   that does not decode to exactly the digest's length (32 bytes for
//!   SHA-256, 20 for SHA-1) is malformed (an empty `v1,` signature never
//!   reaches a comparison: the bug behind CVE-2024-21491);
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
//! let a: Mac = Mac::from_hex(b"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17").unwrap();
//! let b: Mac = Mac::from_hex(b"757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17").unwrap();
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
//!
//! The same for HMAC-SHA1 (Twilio, Intercom): name the digest, and the tags
//! are 20 bytes:
//!
//! ```
//! use hookwarden::mac::{HmacSecrets, Mac, Sha1};
//!
//! // RFC 2202, test case 2.
//! let secrets = HmacSecrets::<Sha1>::with_digest("example", ["Jefe"]).unwrap();
//! let received = Mac::from_hex(b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").unwrap();
//! assert!(secrets.verify(&[b"what do ya want ", b"for nothing?"], &[received]));
//! // A SHA-256 tag is not a SHA-1 one: 64 hex digits are malformed here.
//! let long = Mac::<20>::from_hex(&[b'a'; 64]);
//! assert!(long.is_err());
//! ```
//!
//! A SHA-256 tag cannot be checked against SHA-1 secrets (the lengths are
//! part of the types):
//!
//! ```compile_fail
//! use hookwarden::mac::{HmacSecrets, Mac, Sha1};
//!
//! let secrets = HmacSecrets::<Sha1>::with_digest("example", ["Jefe"]).unwrap();
//! let received: Mac = Mac::from_bytes([0; 32]);
//! secrets.verify(&[b"body"], &[received]); // error: expected `Mac<20>`
//! ```

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::Hmac;
use hmac::digest::KeyInit;
/// The digests [`HmacSecrets`] can use, re-exported so that naming one
/// needs no dependency of your own.
pub use sha1::Sha1;
pub use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::error::ConfigError;
use crate::error::VerifyError;

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

/// A received HMAC tag of exactly `N` bytes: 32 (HMAC-SHA256, the default)
/// or 20 (HMAC-SHA1).
///
/// Deliberately without `PartialEq`; compare with [`Mac::ct_eq`].
#[derive(Clone, Copy)]
pub struct Mac<const N: usize = 32>([u8; N]);

impl<const N: usize> Mac<N> {
    /// Decodes exactly `2 × N` hex digits (either case).
    pub fn from_hex(hex: &[u8]) -> Result<Self, VerifyError> {
        if hex.len() != 2 * N {
            return Err(VerifyError::MalformedSignature);
        }
        let mut tag = [0u8; N];
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

    /// Decodes standard, padded base64 of exactly `N` bytes (44 characters
    /// for 32 bytes, 28 for 20, the last one `=`), canonical: the unused
    /// low bits are zero.
    pub fn from_base64(base64: &[u8]) -> Result<Self, VerifyError> {
        let (full, rest) = (N / 3, N % 3);
        if base64.len() != N.div_ceil(3) * 4 {
            return Err(VerifyError::MalformedSignature);
        }
        let sextet = |c: u8| BASE64_DIGITS[usize::from(c)];
        let mut tag = [0u8; N];
        let mut invalid = 0u8;
        // Full quanta: four characters make three bytes…
        for (bytes, quad) in tag.chunks_exact_mut(3).zip(base64[..full * 4].chunks_exact(4)) {
            let [a, b, c, d] = [sextet(quad[0]), sextet(quad[1]), sextet(quad[2]), sextet(quad[3])];
            invalid |= a | b | c | d;
            let n = u32::from(a & 0x3f) << 18
                | u32::from(b & 0x3f) << 12
                | u32::from(c & 0x3f) << 6
                | u32::from(d & 0x3f);
            bytes.copy_from_slice(&n.to_be_bytes()[1..]);
        }
        // …and a padded last quantum makes the one or two bytes left.
        let last = &base64[full * 4..];
        let canonical = match rest {
            0 => true,
            1 => {
                let [a, b] = [sextet(last[0]), sextet(last[1])];
                invalid |= a | b;
                tag[full * 3] = (a << 2) | ((b & 0x3f) >> 4);
                &last[2..] == b"==" && b & 0x0f == 0
            }
            _ => {
                let [a, b, c] = [sextet(last[0]), sextet(last[1]), sextet(last[2])];
                invalid |= a | b | c;
                let n = u32::from(a & 0x3f) << 18
                    | u32::from(b & 0x3f) << 12
                    | u32::from(c & 0x3f) << 6;
                tag[full * 3..].copy_from_slice(&n.to_be_bytes()[1..3]);
                last[3] == b'=' && c & 0x03 == 0
            }
        };
        if invalid & INVALID != 0 || !canonical {
            return Err(VerifyError::MalformedSignature);
        }
        Ok(Self(tag))
    }

    /// Wraps raw tag bytes.
    pub fn from_bytes(tag: [u8; N]) -> Self {
        Self(tag)
    }

    /// Constant-time equality: the tags are XOR-ed and OR-ed 64 bits at a
    /// time (then byte by byte for a tail, such as SHA-1's last four
    /// bytes) without branches, then compared with `subtle`.
    pub fn ct_eq(&self, other: &Self) -> Choice {
        let word = |chunk: &[u8]| u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
        let (ours, theirs) = (self.0.chunks_exact(8), other.0.chunks_exact(8));
        let tail = ours.remainder().iter().zip(theirs.remainder());
        let tail = tail.fold(0u64, |acc, (a, b)| acc | u64::from(a ^ b));
        let difference = ours.zip(theirs).fold(tail, |acc, (a, b)| acc | (word(a) ^ word(b)));
        difference.ct_eq(&0)
    }
}

impl<const N: usize> fmt::Debug for Mac<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Mac(..)")
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for sha2::Sha256 {}
    impl Sealed for sha1::Sha1 {}
}

/// A hash function HMAC tags are made with: [`Sha256`] (the default) or
/// [`Sha1`]. Sealed: only these two.
pub trait HmacDigest: sealed::Sealed + Send + Sync + 'static {
    /// A received tag: [`Mac<32>`](Mac) for SHA-256, [`Mac<20>`](Mac) for
    /// SHA-1.
    type Tag: Copy + fmt::Debug;
    /// The pre-keyed HMAC state.
    #[doc(hidden)]
    type Keyed: hmac::Mac + KeyInit + Clone + Send + Sync;
    /// Compares a received tag with a computed one in constant time (the
    /// lengths agree by the types).
    #[doc(hidden)]
    fn ct_eq(received: &Self::Tag, computed: &hmac::digest::Output<Self::Keyed>) -> Choice;
}

impl HmacDigest for Sha256 {
    type Tag = Mac<32>;
    type Keyed = Hmac<Sha256>;
    fn ct_eq(received: &Mac<32>, computed: &hmac::digest::Output<Self::Keyed>) -> Choice {
        received.ct_eq(&Mac((*computed).into()))
    }
}

impl HmacDigest for Sha1 {
    type Tag = Mac<20>;
    type Keyed = Hmac<Sha1>;
    fn ct_eq(received: &Mac<20>, computed: &hmac::digest::Output<Self::Keyed>) -> Choice {
        received.ct_eq(&Mac((*computed).into()))
    }
}

/// The active HMAC secrets of a scheme, each kept as a pre-keyed state so
/// a request only pays for hashing its own bytes; HMAC-SHA256 unless `D`
/// says otherwise ([`HmacSecrets::<Sha1>::with_digest`](Self::with_digest)).
///
/// Several secrets may be active at once (rotation). The raw key bytes are
/// never kept; `Debug` prints only how many secrets there are.
#[derive(Clone)]
pub struct HmacSecrets<D: HmacDigest = Sha256> {
    keyed: Vec<D::Keyed>,
}

impl HmacSecrets {
    /// HMAC-SHA256: pre-keys one state per secret; the secrets are used as
    /// raw bytes.
    ///
    /// Fails if there is no secret or a secret is empty. `scheme` names the
    /// scheme in the error.
    pub fn new<I, K>(scheme: &'static str, secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Self::with_digest(scheme, secrets)
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
}

impl<D: HmacDigest> HmacSecrets<D> {
    /// Like [`new`](HmacSecrets::new), with the digest named by the type:
    /// `HmacSecrets::<Sha1>::with_digest(…)` for HMAC-SHA1.
    pub fn with_digest<I, K>(scheme: &'static str, secrets: I) -> Result<Self, ConfigError>
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
            keyed.push(keyed_state::<D>(secret));
        }
        if keyed.is_empty() {
            return Err(ConfigError::NoSecret { scheme });
        }
        Ok(Self { keyed })
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
    pub fn verify(&self, message: &[&[u8]], candidates: &[D::Tag]) -> bool {
        let mut matched = Choice::from(0);
        for key in &self.keyed {
            let expected = tag(key, message);
            for candidate in candidates {
                matched |= D::ct_eq(candidate, &expected);
            }
        }
        matched.into()
    }

    /// Like [`verify`](Self::verify), as a scheme answers:
    /// [`VerifyError::InvalidSignature`] when nothing matches.
    pub fn check(&self, message: &[&[u8]], candidates: &[D::Tag]) -> Result<(), VerifyError> {
        if self.verify(message, candidates) { Ok(()) } else { Err(VerifyError::InvalidSignature) }
    }

    /// The tag of `message` under the first secret: for the test signers,
    /// and for answers a sender checks against its own secret (Zoom's URL
    /// validation).
    pub(crate) fn sign(&self, message: &[&[u8]]) -> Vec<u8> {
        tag(&self.keyed[0], message).to_vec()
    }
}

fn keyed_state<D: HmacDigest>(secret: &[u8]) -> D::Keyed {
    <D::Keyed as KeyInit>::new_from_slice(secret).expect("HMAC accepts any key length")
}

fn tag<K: hmac::Mac + Clone>(key: &K, message: &[&[u8]]) -> hmac::digest::Output<K> {
    let mut mac = key.clone();
    for piece in message {
        mac.update(piece);
    }
    mac.finalize().into_bytes()
}

impl<D: HmacDigest> Drop for HmacSecrets<D> {
    /// Best effort: overwrites each pre-keyed state (which is derived from
    /// the secret) before its memory is freed. The `hmac` crate offers no
    /// zeroising of its own; the raw secret bytes are never kept at all.
    fn drop(&mut self) {
        for key in &mut self.keyed {
            *key = keyed_state::<D>(&[0]);
            std::hint::black_box(&*key);
        }
    }
}

impl<D: HmacDigest> fmt::Debug for HmacSecrets<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSecrets").field("count", &self.keyed.len()).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The SHA-256 tag, named: a bare `Mac::from_hex(…)` whose length
    /// nothing else fixes is ambiguous.
    type Mac = super::Mac<32>;
    type Mac20 = super::Mac<20>;

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
        let tag = Mac::from_bytes(tag(&old.keyed[0], &[b"body"]).into());
        // The matching secret first, in the middle and last: no position
        // wins or loses by its place.
        for secrets in [["old", "new", "newer"], ["new", "old", "newer"], ["new", "newer", "old"]] {
            let all = HmacSecrets::new("t", secrets).unwrap();
            assert!(all.verify(&[b"body"], &[tag]), "{secrets:?}");
            assert!(!all.verify(&[b"bodY"], &[tag]), "{secrets:?}");
        }
        // Nor the matching candidate among several received.
        let other = Mac::from_bytes([7; 32]);
        let all = HmacSecrets::new("t", ["new", "old"]).unwrap();
        for candidates in [[tag, other, other], [other, tag, other], [other, other, tag]] {
            assert!(all.verify(&[b"body"], &candidates));
        }
        assert!(!all.verify(&[b"body"], &[other, other]));
    }

    #[test]
    fn debug_does_not_show_key_material() {
        let secrets = HmacSecrets::new("t", ["hunter2"]).unwrap();
        let shown = format!("{secrets:?}");
        assert!(!shown.contains("hunter2"));
        assert_eq!(format!("{:?}", Mac::from_bytes([1; 32])), "Mac(..)");
        assert_eq!(format!("{:?}", Mac20::from_bytes([1; 20])), "Mac(..)");
    }

    #[test]
    fn sha1_tags_are_20_bytes() {
        assert!(Mac20::from_hex(&[b'a'; 40]).is_ok());
        for len in [0, 38, 39, 41, 42, 64] {
            assert!(Mac20::from_hex(&vec![b'a'; len]).is_err(), "{len}");
        }
        assert!(Mac20::from_hex(&[b'g'; 40]).is_err());
        assert!(Mac20::from_base64(STANDARD.encode([7u8; 20]).as_bytes()).is_ok());
        assert_eq!(STANDARD.encode([7u8; 20]).len(), 28);
        for len in [19, 21, 32] {
            let text = STANDARD.encode(vec![7u8; len]);
            assert!(Mac20::from_base64(text.as_bytes()).is_err(), "{len}");
        }
        // Non-canonical: the two unused low bits of the last digit are set.
        let mut text = STANDARD.encode([0u8; 20]).into_bytes();
        text[26] = b'B';
        assert!(Mac20::from_base64(&text).is_err());
        assert!(STANDARD.decode(&text).is_err(), "the base64 crate agrees");
    }

    #[test]
    fn decoders_of_other_lengths_agree_with_the_crates() {
        // Lengths that leave 0, 1 and 2 bytes in the last base64 quantum.
        fn check<const N: usize>() {
            for round in 0..300u32 {
                let tag: [u8; N] = std::array::from_fn(|i| {
                    (round.wrapping_mul(2_654_435_761).rotate_left(i as u32 % 32) >> 5) as u8
                        ^ i as u8
                });
                let b64 = STANDARD.encode(tag);
                assert_eq!(super::Mac::<N>::from_base64(b64.as_bytes()).unwrap().0, tag);
                assert_eq!(super::Mac::<N>::from_hex(hex::encode(tag).as_bytes()).unwrap().0, tag);
                let a = super::Mac::<N>::from_bytes(tag);
                assert!(bool::from(a.ct_eq(&a)));
                for i in 0..N {
                    let mut other = tag;
                    other[i] ^= 1 << (i % 8);
                    assert!(!bool::from(a.ct_eq(&super::Mac::from_bytes(other))), "{N} {i}");
                }
            }
            // A set low bit in the padded quantum is not canonical.
            if !N.is_multiple_of(3) {
                let mut text = STANDARD.encode([0u8; N]).into_bytes();
                let last_digit = text.iter().rposition(|&c| c != b'=').unwrap();
                text[last_digit] = b'B';
                assert!(super::Mac::<N>::from_base64(&text).is_err(), "{N}");
                assert!(STANDARD.decode(&text).is_err(), "the base64 crate agrees");
            }
        }
        check::<20>();
        check::<21>();
        check::<22>();
        check::<32>();
    }

    #[test]
    fn sha1_secrets_verify_rfc_2202() {
        // RFC 2202, test cases 1 and 2.
        let secrets = HmacSecrets::<Sha1>::with_digest("t", [[0x0bu8; 20]]).unwrap();
        let tag = Mac20::from_hex(b"b617318655057264e28bc0b6fb378c8ef146be00").unwrap();
        assert!(secrets.verify(&[b"Hi ", b"There"], &[tag]));
        assert!(!secrets.verify(&[b"Hi there"], &[tag]));
        let rotated = HmacSecrets::<Sha1>::with_digest("t", ["Jefe", "other"]).unwrap();
        let jefe = Mac20::from_hex(b"effcdf6ae5eb2fa2d27416d5f184df9c259a7c79").unwrap();
        assert!(rotated.verify(&[b"what do ya want for nothing?"], &[tag, jefe]));
        assert!(!rotated.verify(&[b"what do ya want for nothing?"], &[tag]));
        let none: [&str; 0] = [];
        assert!(matches!(
            HmacSecrets::<Sha1>::with_digest("t", none),
            Err(ConfigError::NoSecret { .. })
        ));
        assert!(!format!("{rotated:?}").contains("Jefe"));
    }
}
