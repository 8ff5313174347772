//! Twitch EventSub (webhook transport):
//! `Twitch-Eventsub-Message-Signature: sha256=<hex>` over
//! `message id + timestamp + body`.
//!
//! The HMAC-SHA256 is keyed with the `secret` given when the subscription
//! was created. The message id (`Twitch-Eventsub-Message-Id`) and the
//! timestamp (`Twitch-Eventsub-Message-Timestamp`, RFC 3339 with up to
//! nanoseconds, such as `2023-07-19T10:11:12.123456789Z`) are both signed:
//! the id is recorded as signed and dedupe keys on it.
//!
//! # Timestamps
//!
//! Twitch asks receivers to refuse messages more than 10 minutes old. A
//! message is refused as
//! [`TimestampOutOfTolerance`](VerifyError::TimestampOutOfTolerance) if it
//! is older than the configured tolerance **or** 600 seconds, whichever is
//! smaller, or further in the future than the configured tolerance. The
//! timestamp is read to whole seconds (the fraction is dropped). A
//! timestamp that is not strict RFC 3339, or is before 1970, is
//! [`MalformedSignature`](VerifyError::MalformedSignature).
//!
//! # Message types
//!
//! `Twitch-Eventsub-Message-Type` is not signed, so the signed body has the
//! last word:
//!
//! - `webhook_callback_verification`: the body's `challenge` is echoed as
//!   `text/plain` (any verified body with a top-level `challenge` string is
//!   answered so: only a verification has one);
//! - `revocation`: acknowledged with `204` and not kept, if the body has no
//!   `event` (a revocation has none); logged at INFO with the subscription
//!   type and status;
//! - anything else (`notification`): an event.

use std::borrow::Cow;

use http::HeaderName;

use super::conventions::{EnvelopeConfig, Source, header, pointer};
use super::handshake::Handshake;
use super::{Scheme, SignedRequest, Verified, VerifyError, contains};
use crate::error::ConfigError;
use crate::mac::{HmacSecrets, Mac};

static SIGNATURE: HeaderName = HeaderName::from_static("twitch-eventsub-message-signature");
static MESSAGE_ID: HeaderName = HeaderName::from_static("twitch-eventsub-message-id");
static TIMESTAMP: HeaderName = HeaderName::from_static("twitch-eventsub-message-timestamp");
static MESSAGE_TYPE: HeaderName = HeaderName::from_static("twitch-eventsub-message-type");
const NAME: &str = "twitch";

/// Twitch's own limit on a message's age, in seconds.
const MAX_AGE: u64 = 600;

/// Twitch EventSub's webhook signature (`Twitch-Eventsub-Message-Signature`),
/// its callback verification and its revocations.
///
/// What it cannot protect against: a message replayed within the
/// tolerance window (at most 10 minutes old) verifies again (dedupe on the
/// signed message id covers it).
///
/// ```
/// use std::time::Duration;
///
/// use hookwarden::scheme::{Scheme, SignedRequest, Twitch};
/// use http::HeaderMap;
///
/// // The `secret` sent when creating the subscription (10 to 100 characters).
/// let scheme = Twitch::new(["hookwarden-twitch-secret"])?;
///
/// let body = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"2","cost":0,"condition":{"broadcaster_user_id":"1337","moderator_user_id":"1337"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
/// let mut headers = HeaderMap::new();
/// headers.insert("twitch-eventsub-message-id", "e76c6bd4-55c9-4987-8304-da1588d8988b".parse()?);
/// headers.insert("twitch-eventsub-message-timestamp", "2019-11-16T10:11:12.634234626Z".parse()?);
/// headers.insert("twitch-eventsub-message-type", "webhook_callback_verification".parse()?);
/// headers.insert(
///     "twitch-eventsub-message-signature",
///     "sha256=c9028f74b875a399cb2a0f686b310d211969673ac5f55b9b983e05dbd765514d".parse()?,
/// );
/// let request = SignedRequest::new(&headers, body, 1_573_899_072, Duration::from_secs(300));
/// let verified = scheme.verify(&request)?;
/// assert_eq!(verified.signed_id(), Some("e76c6bd4-55c9-4987-8304-da1588d8988b"));
/// let answer = scheme.handshake(&request, &verified).expect("a challenge");
/// assert_eq!(&answer.body()[..], b"pogchamp-kappa-360noscope-vohiyo");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Twitch {
    pub(crate) secrets: HmacSecrets,
}

impl Twitch {
    /// Verifies with these subscription secrets; every one is active.
    pub fn new<I, K>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = K>,
        K: AsRef<[u8]>,
    {
        Ok(Self { secrets: HmacSecrets::new(NAME, secrets)? })
    }
}

/// What the headers say: the tag, the message id, the raw timestamp and
/// the checked one.
struct Signed<'a> {
    received: Mac,
    id: &'a str,
    raw_ts: &'a [u8],
    timestamp: u64,
}

fn signed_headers<'a>(request: &SignedRequest<'a>) -> Result<Signed<'a>, VerifyError> {
    let header = request.required_header(&SIGNATURE)?;
    let hex = header.strip_prefix(b"sha256=").ok_or(VerifyError::MalformedSignature)?;
    let received = Mac::from_hex(hex)?;
    let id = request.header(&MESSAGE_ID)?.ok_or(VerifyError::MalformedSignature)?;
    let id = std::str::from_utf8(id).map_err(|_| VerifyError::MalformedSignature)?;
    if id.is_empty() {
        return Err(VerifyError::MalformedSignature);
    }
    let raw_ts = request.header(&TIMESTAMP)?.ok_or(VerifyError::MalformedSignature)?;
    let timestamp = rfc3339_unix_seconds(raw_ts).ok_or(VerifyError::MalformedSignature)?;
    let now = request.now();
    let tolerance = request.tolerance().as_secs();
    let too_old = now.saturating_sub(timestamp) > tolerance.min(MAX_AGE);
    let too_new = timestamp.saturating_sub(now) > tolerance;
    if too_old || too_new {
        return Err(VerifyError::TimestampOutOfTolerance);
    }
    Ok(Signed { received, id, raw_ts, timestamp })
}

impl Scheme for Twitch {
    fn name(&self) -> &'static str {
        NAME
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let Signed { received, id, raw_ts, timestamp } = signed_headers(request)?;
        self.secrets.check(&[id.as_bytes(), raw_ts, request.body()], &[received])?;
        Ok(Verified::new(NAME).with_timestamp(timestamp).with_signed_id(id))
    }

    fn precheck(&self, request: &SignedRequest<'_>) -> Result<(), VerifyError> {
        signed_headers(request).map(drop)
    }

    /// Id: the signed message id, dedupe on it. Type and version: the
    /// signed body's `subscription.type` and `subscription.version`, else
    /// the `Twitch-Eventsub-Subscription-Type` and `-Version` headers.
    /// Timestamp: the signed one.
    fn envelope(&self) -> EnvelopeConfig {
        EnvelopeConfig::fields(
            vec![Source::SignedId],
            vec![pointer("/subscription/type"), header("twitch-eventsub-subscription-type")],
            vec![pointer("/subscription/version"), header("twitch-eventsub-subscription-version")],
            vec![Source::SignedTimestamp],
        )
    }

    /// `webhook_callback_verification`: the `challenge`, echoed as
    /// `text/plain`; `revocation`: `204`, logged (see the module docs).
    fn handshake(&self, request: &SignedRequest<'_>, _: &Verified) -> Option<Handshake> {
        #[derive(serde::Deserialize)]
        struct Subscription<'a> {
            #[serde(rename = "type", borrow)]
            kind: Option<Cow<'a, str>>,
            #[serde(borrow)]
            status: Option<Cow<'a, str>>,
        }
        #[derive(serde::Deserialize)]
        struct Message<'a> {
            #[serde(borrow)]
            challenge: Option<Cow<'a, str>>,
            #[serde(borrow)]
            subscription: Option<Subscription<'a>>,
            event: Option<serde::de::IgnoredAny>,
        }
        let body = request.body();
        let revocation = request.header(&MESSAGE_TYPE).ok().flatten() == Some(b"revocation");
        // Cheap test first: notifications are neither.
        if !revocation && !contains(body, b"\"challenge\"") {
            return None;
        }
        let message: Message<'_> = serde_json::from_slice(body).ok()?;
        if let Some(challenge) = message.challenge {
            return Some(Handshake::text("webhook_callback_verification", challenge.into_owned()));
        }
        if revocation && message.event.is_none() {
            let subscription = message.subscription;
            let (kind, status) = match &subscription {
                Some(s) => (s.kind.as_deref(), s.status.as_deref()),
                None => (None, None),
            };
            tracing::info!(
                target: "hookwarden::verify",
                scheme = NAME,
                subscription_type = kind.unwrap_or("unknown"),
                status = status.unwrap_or("unknown"),
                "Twitch revoked a subscription"
            );
            return Some(Handshake::no_content("revocation"));
        }
        None
    }
}

/// Parses a strict RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.fraction]`
/// then `Z` or `±HH:MM`) into Unix seconds, the fraction (1 to 9 digits)
/// dropped.
///
/// `None` for anything else: other lengths or separators, out-of-range
/// fields (a leap second `:60` is accepted as the next second), dates
/// before 1970. All arithmetic is checked.
pub(crate) fn rfc3339_unix_seconds(raw: &[u8]) -> Option<u64> {
    fn digits(raw: &[u8]) -> Option<i64> {
        raw.iter().try_fold(0i64, |acc, &d| {
            let digit = d.checked_sub(b'0').filter(|d| *d < 10)?;
            acc.checked_mul(10)?.checked_add(i64::from(digit))
        })
    }
    // "YYYY-MM-DDTHH:MM:SS" is 19 bytes; then the fraction and the offset.
    let (date_time, rest) = raw.split_at_checked(19)?;
    let [y0, y1, y2, y3, b'-', m0, m1, b'-', d0, d1, t, h0, h1, b':', n0, n1, b':', s0, s1] =
        *date_time
    else {
        return None;
    };
    if !matches!(t, b'T' | b't') {
        return None;
    }
    let year = digits(&[y0, y1, y2, y3])?;
    let month = digits(&[m0, m1])?;
    let day = digits(&[d0, d1])?;
    let hour = digits(&[h0, h1])?;
    let minute = digits(&[n0, n1])?;
    let second = digits(&[s0, s1])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }

    let rest = match rest.strip_prefix(b".") {
        Some(fraction) => {
            let n = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
            if !(1..=9).contains(&n) {
                return None;
            }
            &fraction[n..]
        }
        None => rest,
    };
    let offset = match rest {
        b"Z" | b"z" => 0,
        [sign @ (b'+' | b'-'), oh0, oh1, b':', om0, om1] => {
            let (hours, minutes) = (digits(&[*oh0, *oh1])?, digits(&[*om0, *om1])?);
            if hours > 23 || minutes > 59 {
                return None;
            }
            let offset = hours * 3600 + minutes * 60;
            if *sign == b'-' { -offset } else { offset }
        }
        _ => return None,
    };

    let days = days_from_civil(year, month, day)?;
    let local = days.checked_mul(86_400)?.checked_add(hour * 3600 + minute * 60 + second)?;
    u64::try_from(local.checked_sub(offset)?).ok()
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar
/// (negative before it): whole years, then whole months, then days.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    // Leap days in the years [1, y): y/4 - y/100 + y/400, for y ≥ 1.
    let leaps_before = |y: i64| (y - 1) / 4 - (y - 1) / 100 + (y - 1) / 400;
    if year < 1 {
        return None;
    }
    let years = year - 1970;
    let mut days = years.checked_mul(365)?.checked_add(leaps_before(year) - leaps_before(1970))?;
    for m in 1..month {
        days += days_in_month(year, m);
    }
    days.checked_add(day - 1)
}

/// Twitch's `Twitch-Eventsub-Message-Id`, `-Timestamp` and `-Signature`
/// headers; `timestamp` is RFC 3339, as Twitch writes it (such as
/// `2023-07-19T10:11:12.123456789Z`).
#[cfg(feature = "testing")]
pub fn sign(secret: &str, message_id: &str, timestamp: &str, body: &[u8]) -> http::HeaderMap {
    let scheme = Twitch::new([secret]).expect("a non-empty secret");
    let tag = scheme.secrets.sign(&[message_id.as_bytes(), timestamp.as_bytes(), body]);
    let mut headers = http::HeaderMap::new();
    headers.insert("twitch-eventsub-message-id", super::ascii(message_id.to_owned()));
    headers.insert("twitch-eventsub-message-timestamp", super::ascii(timestamp.to_owned()));
    headers.insert(
        "twitch-eventsub-message-signature",
        super::ascii(format!("sha256={}", hex::encode(tag))),
    );
    headers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_reads_whole_seconds() {
        let cases: [(&str, u64); 12] = [
            ("1970-01-01T00:00:00Z", 0),
            ("1970-01-01T00:00:00.999999999Z", 0),
            ("2019-11-16T10:11:12.634234626Z", 1_573_899_072),
            ("2023-07-19T10:11:12.123456789Z", 1_689_761_472),
            ("2023-07-19T10:11:12Z", 1_689_761_472),
            ("2023-07-19t10:11:12.1z", 1_689_761_472),
            ("2023-07-19T12:11:12+02:00", 1_689_761_472),
            ("2023-07-19T05:41:12.5-04:30", 1_689_761_472),
            ("2000-02-29T00:00:00Z", 951_782_400),
            ("2024-12-31T23:59:59Z", 1_735_689_599),
            ("2016-12-31T23:59:60Z", 1_483_228_800),
            ("9999-12-31T23:59:59Z", 253_402_300_799),
        ];
        for (text, unix) in cases {
            assert_eq!(rfc3339_unix_seconds(text.as_bytes()), Some(unix), "{text}");
        }
    }

    #[test]
    fn rfc3339_refuses_anything_loose() {
        for bad in [
            "",
            "2023-07-19",
            "2023-07-19T10:11:12",
            "2023-07-19 10:11:12Z",
            "2023-07-19T10:11:12.Z",
            "2023-07-19T10:11:12.1234567890Z",
            "2023-07-19T10:11:12,5Z",
            "2023-07-19T10:11:12ZZ",
            "2023-07-19T10:11:12Z ",
            " 2023-07-19T10:11:12Z",
            "2023-07-19T10:11:12+0200",
            "2023-07-19T10:11:12+24:00",
            "2023-07-19T10:11:12+02:60",
            "2023-13-19T10:11:12Z",
            "2023-00-19T10:11:12Z",
            "2023-02-29T10:11:12Z",
            "2023-04-31T10:11:12Z",
            "2023-07-00T10:11:12Z",
            "2023-07-19T24:00:00Z",
            "2023-07-19T10:60:12Z",
            "2023-07-19T10:11:61Z",
            "+023-07-19T10:11:12Z",
            "-023-07-19T10:11:12Z",
            "1969-12-31T23:59:59Z",
            "1970-01-01T00:00:00+00:01",
            "0000-01-01T00:00:00Z",
            "1689761472",
            "99999999999999999999999",
            "２023-07-19T10:11:12Z",
        ] {
            assert_eq!(rfc3339_unix_seconds(bad.as_bytes()), None, "{bad:?}");
        }
    }

    #[test]
    fn days_agree_with_a_day_by_day_count() {
        // Walk every day from 1970 to 2100 and compare.
        let mut expected = 0i64;
        for year in 1970..2100 {
            for month in 1..=12 {
                for day in 1..=days_in_month(year, month) {
                    assert_eq!(days_from_civil(year, month, day), Some(expected));
                    expected += 1;
                }
            }
        }
    }
}
