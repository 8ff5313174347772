//! What the fuzz targets share: a plain-text request format (so the seed
//! corpus is readable, and made of real vectors), every built-in scheme
//! configured with the secrets of its published vectors, and a signer for
//! each.
//!
//! # The request format
//!
//! ```text
//! <scheme name>[ +sign]
//! <now, Unix seconds>
//! <request target: path and query>
//! Header-Name: value
//! …
//!
//! <body, the rest of the input, any bytes>
//! ```
//!
//! An unknown scheme name picks a scheme by its first byte; an unparsable
//! `now` is 0, an unparsable target `/`; header lines that are not a valid
//! name and value are skipped. With `+sign` the harness signs the body as
//! the sender would (timestamp `now`), replacing the signature headers, so
//! the code after a successful check is reached too.

use std::sync::LazyLock;
use std::time::Duration;

use hookwarden::Scheme;
use hookwarden::scheme::{
    Discord, Encoding, GenericHmac, GitHub, GitLab, Intercom, Linear, Logto, Mailgun, Paddle,
    SendGrid, Shopify, Slack, Square, StandardWebhooks, Stripe, Twilio, Twitch, Zoom,
};
use hookwarden::testing;
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

/// The tolerance every target verifies with (the default).
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// One parsed request of the text format.
#[derive(Debug)]
pub struct TextRequest<'a> {
    /// Index into [`schemes`].
    pub scheme: usize,
    /// Whether the harness signs the request (`+sign`).
    pub sign: bool,
    /// The receiver's clock, Unix seconds.
    pub now: u64,
    /// The request target.
    pub uri: Uri,
    /// The headers, in order.
    pub headers: HeaderMap,
    /// The body.
    pub body: &'a [u8],
}

/// Splits off the next line (without its `\n`); `None` at the end.
fn line<'a>(rest: &mut &'a [u8]) -> Option<&'a [u8]> {
    if rest.is_empty() {
        return None;
    }
    match rest.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &rest[..i];
            *rest = &rest[i + 1..];
            Some(line)
        }
        None => {
            let line = *rest;
            *rest = &[];
            Some(line)
        }
    }
}

/// Parses the text format; never fails (see the crate docs).
pub fn parse(data: &[u8]) -> TextRequest<'_> {
    let mut rest = data;
    let first = line(&mut rest).unwrap_or_default();
    let (name, sign) = match first.strip_suffix(b" +sign") {
        Some(name) => (name, true),
        None => (first, false),
    };
    let table = schemes();
    let scheme = table
        .iter()
        .position(|entry| entry.name.as_bytes() == name)
        .unwrap_or_else(|| usize::from(name.first().copied().unwrap_or(0)) % table.len());
    let now = line(&mut rest)
        .and_then(|l| std::str::from_utf8(l).ok())
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0);
    let uri = line(&mut rest)
        .and_then(|l| Uri::try_from(l).ok())
        .unwrap_or_else(|| Uri::from_static("/"));
    let mut headers = HeaderMap::new();
    while let Some(l) = line(&mut rest) {
        let l = l.strip_suffix(b"\r").unwrap_or(l);
        if l.is_empty() {
            break;
        }
        let Some(colon) = l.iter().position(|&b| b == b':') else { continue };
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(&l[..colon]),
            HeaderValue::from_bytes(l[colon + 1..].trim_ascii_start()),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    TextRequest { scheme, sign, now, uri, headers, body: rest }
}

/// What a signer needs: the request as parsed.
pub struct ToSign<'a> {
    /// The receiver's clock, used as the signed timestamp.
    pub now: u64,
    /// The request target.
    pub uri: &'a Uri,
    /// The request's headers (an id header is reused when present).
    pub headers: &'a HeaderMap,
    /// The body to sign.
    pub body: &'a [u8],
}

/// A signed request: headers to set (replacing those names), and the body
/// when the scheme signs inside it (Mailgun).
pub struct Signed {
    /// Headers to insert.
    pub headers: HeaderMap,
    /// A replacement body, if the signature lives in it.
    pub body: Option<Vec<u8>>,
    /// Whether the scheme must accept the result: false where the signed
    /// request can still be refused for other reasons (Linear's body
    /// timestamp, Twilio's `bodySHA256`, a Mailgun event that is not JSON).
    pub must_verify: bool,
}

/// A built-in scheme and its signer.
pub struct Entry {
    /// The name used in the text format.
    pub name: &'static str,
    /// The scheme, configured with its vectors' secrets.
    pub scheme: Box<dyn Scheme>,
    /// Signs a request as this sender would.
    pub sign: fn(&ToSign<'_>) -> Signed,
}

/// Secrets of the published vectors in `tests/scheme_vectors`.
mod secrets {
    pub(crate) const STANDARD: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    pub(crate) const STANDARD_ED_SIGNING: &str =
        "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
    pub(crate) const STANDARD_ED_PUBLIC: &str = "whpk_ZlN4eg7dSSqi0moX9hQUk3orrOouK3QVQSlJa248c/g=";
    pub(crate) const GITHUB: &str = "It's a Secret to Everybody";
    pub(crate) const STRIPE: &str = "webhook_secret";
    pub(crate) const SLACK: &str = "8f742231b10e8888abcd99yyyzzz85a5";
    pub(crate) const SHOPIFY: &str = "steffi";
    pub(crate) const LOGTO: &str = "foo";
    pub(crate) const DISCORD_SEED: &str =
        "686f6f6b77617264656e20646973636f72642074657374207365656420303121";
    pub(crate) const ZOOM: &str = "hookwarden-zoom-secret-token";
    pub(crate) const TWITCH: &str = "hookwarden-twitch-secret";
    pub(crate) const PADDLE: &str = "VALID_SECRET";
    pub(crate) const GITLAB: &str = "glwt-example-secret-token";
    pub(crate) const LINEAR: &str = "SECRET";
    pub(crate) const SQUARE: &str = "Ibxx_5AKakO-3qeNVR61Dw";
    pub(crate) const SQUARE_URL: &str = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";
    pub(crate) const TWILIO: &str = "12345";
    pub(crate) const TWILIO_URL: &str = "https://example.com";
    pub(crate) const MAILGUN: &str = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0";
    pub(crate) const SENDGRID_PY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==";
    pub(crate) const SENDGRID_NODE: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqDqBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==";
    pub(crate) const SENDGRID_SIGNING: &str =
        "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
    pub(crate) const INTERCOM: &str = "d6c1e3f0-8a1b-4c5d-9e2f-intercom-test";
    pub(crate) const GENERIC: &str = "generic-hmac-secret";
}

fn headers_only(headers: HeaderMap) -> Signed {
    Signed { headers, body: None, must_verify: true }
}

/// The request's id header, or a fixed one.
fn id_or<'a>(headers: &'a HeaderMap, name: &str, default: &'a str) -> &'a str {
    headers.get(name).and_then(|v| v.to_str().ok()).filter(|id| !id.is_empty()).unwrap_or(default)
}

fn standard_webhooks(s: &ToSign<'_>) -> Signed {
    let id = id_or(s.headers, "webhook-id", "msg_fuzz");
    headers_only(testing::standard_webhooks(secrets::STANDARD, id, s.now, s.body))
}

fn standard_webhooks_v1a(s: &ToSign<'_>) -> Signed {
    let id = id_or(s.headers, "webhook-id", "msg_fuzz");
    headers_only(testing::standard_webhooks_ed25519(
        secrets::STANDARD_ED_SIGNING,
        id,
        s.now,
        s.body,
    ))
}

fn twitch(s: &ToSign<'_>) -> Signed {
    let id = id_or(s.headers, "twitch-eventsub-message-id", "e76c6bd4-fuzz");
    // Twitch writes RFC 3339 with four-digit years.
    let (now, must_verify) = if s.now < 253_402_300_800 { (s.now, true) } else { (0, false) };
    let mut signed = headers_only(testing::twitch(secrets::TWITCH, id, &rfc3339(now), s.body));
    signed.must_verify = must_verify;
    signed
}

fn linear(s: &ToSign<'_>) -> Signed {
    // Signed, but its timestamp is in the body, which may lack one.
    Signed { headers: testing::linear(secrets::LINEAR, s.body), body: None, must_verify: false }
}

fn twilio(s: &ToSign<'_>) -> Signed {
    let target = s.uri.path_and_query().map_or("/", |t| t.as_str());
    let url = format!("{}{target}", secrets::TWILIO_URL);
    let decoded: Vec<_> = form_urlencoded::parse(s.body).collect();
    let params: Vec<(&str, &str)> = decoded.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect();
    // With `bodySHA256` in the query the body is checked by its digest,
    // which this signer does not put there; past the parameter cap the
    // request is malformed.
    let plain_form = !s.uri.query().unwrap_or_default().contains("bodySHA256")
        && params.len() <= Twilio::MAX_PARAMETERS;
    Signed {
        headers: testing::twilio(secrets::TWILIO, &url, &params),
        body: None,
        must_verify: plain_form,
    }
}

fn mailgun(s: &ToSign<'_>) -> Signed {
    let json = serde_json::from_slice::<serde::de::IgnoredAny>(s.body).is_ok();
    let body = testing::mailgun(secrets::MAILGUN, s.now, "fuzz-token", s.body);
    Signed { headers: HeaderMap::new(), body: Some(body), must_verify: json }
}

fn generic() -> GenericHmac {
    GenericHmac::builder().secret(secrets::GENERIC).build().expect("a valid generic scheme")
}

fn generic_timestamped() -> GenericHmac {
    GenericHmac::builder()
        .secret(secrets::GENERIC)
        .header("X-Signature")
        .encoding(Encoding::Base64)
        .timestamp_header("X-Timestamp")
        .build()
        .expect("a valid generic scheme")
}

/// Every built-in scheme (and the ed25519 half of Standard Webhooks, and
/// the timestamped generic scheme), built once.
pub fn schemes() -> &'static [Entry] {
    static SCHEMES: LazyLock<Vec<Entry>> = LazyLock::new(|| {
        let standard = || {
            StandardWebhooks::new([secrets::STANDARD])
                .and_then(|s| s.public_key(secrets::STANDARD_ED_PUBLIC))
                .expect("valid keys")
        };
        let sendgrid_own = testing::sendgrid_public_key(secrets::SENDGRID_SIGNING);
        vec![
            Entry { name: "standard", scheme: Box::new(standard()), sign: standard_webhooks },
            Entry {
                name: "standard-v1a",
                scheme: Box::new(standard()),
                sign: standard_webhooks_v1a,
            },
            Entry {
                name: "github",
                scheme: Box::new(GitHub::new([secrets::GITHUB]).unwrap()),
                sign: |s| headers_only(testing::github(secrets::GITHUB, s.body)),
            },
            Entry {
                name: "stripe",
                scheme: Box::new(Stripe::new([secrets::STRIPE]).unwrap()),
                sign: |s| headers_only(testing::stripe(secrets::STRIPE, s.now, s.body)),
            },
            Entry {
                name: "slack",
                scheme: Box::new(Slack::new([secrets::SLACK]).unwrap()),
                sign: |s| headers_only(testing::slack(secrets::SLACK, s.now, s.body)),
            },
            Entry {
                name: "shopify",
                scheme: Box::new(Shopify::new([secrets::SHOPIFY]).unwrap()),
                sign: |s| headers_only(testing::shopify(secrets::SHOPIFY, s.body)),
            },
            Entry {
                name: "logto",
                scheme: Box::new(Logto::new([secrets::LOGTO]).unwrap()),
                sign: |s| headers_only(testing::logto(secrets::LOGTO, s.body)),
            },
            Entry {
                name: "discord",
                scheme: Box::new(
                    Discord::new([testing::discord_public_key(secrets::DISCORD_SEED)]).unwrap(),
                ),
                sign: |s| headers_only(testing::discord(secrets::DISCORD_SEED, s.now, s.body)),
            },
            Entry {
                name: "zoom",
                scheme: Box::new(Zoom::new([secrets::ZOOM]).unwrap()),
                sign: |s| headers_only(testing::zoom(secrets::ZOOM, s.now, s.body)),
            },
            Entry {
                name: "twitch",
                scheme: Box::new(Twitch::new([secrets::TWITCH]).unwrap()),
                sign: twitch,
            },
            Entry {
                name: "paddle",
                scheme: Box::new(Paddle::new([secrets::PADDLE]).unwrap()),
                sign: |s| headers_only(testing::paddle(secrets::PADDLE, s.now, s.body)),
            },
            Entry {
                name: "gitlab",
                scheme: Box::new(GitLab::new([secrets::GITLAB]).unwrap()),
                sign: |_| headers_only(testing::gitlab(secrets::GITLAB)),
            },
            Entry {
                name: "linear",
                scheme: Box::new(Linear::new([secrets::LINEAR]).unwrap()),
                sign: linear,
            },
            Entry {
                name: "square",
                scheme: Box::new(Square::new([secrets::SQUARE], secrets::SQUARE_URL).unwrap()),
                sign: |s| {
                    headers_only(testing::square(secrets::SQUARE, secrets::SQUARE_URL, s.body))
                },
            },
            Entry {
                name: "twilio",
                scheme: Box::new(Twilio::new([secrets::TWILIO], secrets::TWILIO_URL).unwrap()),
                sign: twilio,
            },
            Entry {
                name: "mailgun",
                scheme: Box::new(Mailgun::new([secrets::MAILGUN]).unwrap()),
                sign: mailgun,
            },
            Entry {
                name: "sendgrid",
                scheme: Box::new(
                    SendGrid::new([secrets::SENDGRID_PY, secrets::SENDGRID_NODE, &sendgrid_own])
                        .unwrap(),
                ),
                sign: |s| headers_only(testing::sendgrid(secrets::SENDGRID_SIGNING, s.now, s.body)),
            },
            Entry {
                name: "intercom",
                scheme: Box::new(Intercom::new([secrets::INTERCOM]).unwrap()),
                sign: |s| headers_only(testing::intercom(secrets::INTERCOM, s.body)),
            },
            Entry {
                name: "hmac",
                scheme: Box::new(generic()),
                sign: |s| headers_only(testing::generic_hmac(&generic(), s.now, s.body)),
            },
            Entry {
                name: "hmac-ts",
                scheme: Box::new(generic_timestamped()),
                sign: |s| {
                    headers_only(testing::generic_hmac(&generic_timestamped(), s.now, s.body))
                },
            },
        ]
    });
    &SCHEMES
}

/// Applies the signer of `entry` to `request` (headers replaced, body
/// maybe replaced); returns whether the scheme must accept it.
pub fn sign(entry: &Entry, request: &mut TextRequest<'_>, body: &mut Vec<u8>) -> bool {
    let signed = (entry.sign)(&ToSign {
        now: request.now,
        uri: &request.uri,
        headers: &request.headers,
        body: request.body,
    });
    for (name, value) in &signed.headers {
        request.headers.insert(name.clone(), value.clone());
    }
    match signed.body {
        Some(new) => *body = new,
        None => body.extend_from_slice(request.body),
    }
    signed.must_verify
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds before the year 10000.
pub fn rfc3339(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_573_899_072), "2019-11-16T10:11:12Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn the_text_format() {
        let request = parse(b"github\n12\n/x?y=1\nX-A: 1\nbad line\nX-A:2\n\n{\"a\":1}\n");
        assert_eq!(schemes()[request.scheme].name, "github");
        assert!(!request.sign);
        assert_eq!(request.now, 12);
        assert_eq!(request.uri, "/x?y=1");
        assert_eq!(request.headers.get_all("x-a").iter().count(), 2);
        assert_eq!(request.body, b"{\"a\":1}\n");
        assert!(parse(b"slack +sign\n").sign);
    }
}
