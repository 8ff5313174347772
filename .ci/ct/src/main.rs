//! One signature check, chosen by its arguments, so that
//! `.ci/constant-time.sh` can count the instructions it executes with
//! callgrind.
//!
//! ```text
//! hookwarden-ct <check> <case>     case: match | first | last
//! hookwarden-ct --list             every check, and whether it is keyed
//! ```
//!
//! A check is a scheme's `verify` on a request its test signer signed, with
//! the received tag as signed (`match`), or with its first or last byte
//! changed (`first`, `last`; byte 31 of an HMAC-SHA256 tag, 19 of an
//! HMAC-SHA1 one, the last character of GitLab's token); or one of the
//! comparison primitives (`mac-*`, `ct-eq-*`). Only the call inside
//! `measured_verify` or `measured_compare` is meant to be counted
//! (`--toggle-collect=*measured_*`): setting up the request is not.
//!
//! Prints the outcome: `ok`, or the error. A `first` or `last` case that is
//! not refused as `invalid signature` would measure some other path, so the
//! script checks the outcome too.

use std::hint::black_box;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hookwarden::mac::{HmacSecrets, Mac, Sha1};
use hookwarden::scheme::{
    Discord, GenericHmac, GitHub, GitLab, Intercom, Linear, Logto, Mailgun, Paddle, SendGrid,
    Shopify, Slack, Square, StandardWebhooks, Stripe, Twilio, Twitch, VerifyError, Zoom,
};
use hookwarden::scheme::{Encoding as GenericEncoding, Scheme, SignedRequest};
use hookwarden::{Verified, testing};
use http::{HeaderMap, HeaderName, HeaderValue, Uri};

const NOW: u64 = 1_700_000_000;
const BODY: &[u8] = br#"{"id":"evt_ct","type":"user.registered","data":{"user_id":"u1"}}"#;
const SECRET: &str = "constant-time-check-secret";
const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ED25519_SEED_HEX: &str = "686f6f6b77617264656e20646973636f72642074657374207365656420303121";
const STANDARD_ED_SIGNING: &str = "whsk_VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
const P256_SIGNING: &str = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
/// GitLab's token, 32 characters: its "byte 31" is the last one.
const GITLAB_TOKEN: &str = "glwt-0123456789abcdef0123456789a";
const TWILIO_URL: &str = "https://example.com";
const SQUARE_URL: &str = "https://example.com/webhooks/square";
const TARGET: &str = "/webhooks?x=1";
const FORM: &[u8] = b"CallSid=CA1234567890ABCDE&MessageStatus=delivered&To=%2B18005551212";

/// How the received tag is written.
#[derive(Clone, Copy)]
enum Written {
    Hex,
    Base64,
    /// Base64 of a DER signature (variable length): the whole value.
    Der,
    /// The secret itself (GitLab's token).
    Raw,
}

/// Where the received tag is.
#[derive(Clone, Copy)]
enum Place {
    /// At the end of this header's value.
    Header(&'static str),
    /// In the body, after `"signature":"` (Mailgun).
    Body,
}

/// A scheme and a request it accepts.
struct Check {
    scheme: Box<dyn Scheme>,
    headers: HeaderMap,
    body: Vec<u8>,
    place: Place,
    written: Written,
    /// Tag length in bytes (characters for `Raw`).
    len: usize,
    /// The request target (path and query).
    target: String,
}

/// The keyed checks (HMAC schemes and GitLab's token), whose counts must
/// not depend on where a tag differs; then the public-key ones.
const KEYED: [&str; 18] = [
    "standard",
    "github",
    "stripe",
    "slack",
    "shopify",
    "logto",
    "zoom",
    "twitch",
    "paddle",
    "gitlab",
    "linear",
    "square",
    "twilio",
    "mailgun",
    "intercom",
    "hmac",
    "hmac-base64-timestamped",
    "twilio-sha1-json",
];
const PUBLIC_KEY: [&str; 3] = ["standard-v1a", "discord", "sendgrid"];
const PRIMITIVES: [&str; 4] = ["mac-sha256", "mac-sha1", "ct-eq-32", "ct-eq-20"];

fn check(name: &str) -> Option<Check> {
    let hex_header = |scheme: Box<dyn Scheme>, headers: HeaderMap, header: &'static str| Check {
        scheme,
        headers,
        body: BODY.to_vec(),
        place: Place::Header(header),
        written: Written::Hex,
        len: 32,
        target: TARGET.to_owned(),
    };
    let generic_timestamped = || {
        GenericHmac::builder()
            .secret(SECRET)
            .header("X-Signature")
            .encoding(GenericEncoding::Base64)
            .timestamp_header("X-Timestamp")
            .build()
            .unwrap()
    };
    Some(match name {
        "standard" => Check {
            scheme: Box::new(StandardWebhooks::new([STANDARD_SECRET]).unwrap()),
            headers: testing::standard_webhooks(STANDARD_SECRET, "msg_ct", NOW, BODY),
            body: BODY.to_vec(),
            place: Place::Header("webhook-signature"),
            written: Written::Base64,
            len: 32,
            target: TARGET.to_owned(),
        },
        "github" => hex_header(
            Box::new(GitHub::new([SECRET]).unwrap()),
            testing::github(SECRET, BODY),
            "x-hub-signature-256",
        ),
        "stripe" => hex_header(
            Box::new(Stripe::new([SECRET]).unwrap()),
            testing::stripe(SECRET, NOW, BODY),
            "stripe-signature",
        ),
        "slack" => hex_header(
            Box::new(Slack::new([SECRET]).unwrap()),
            testing::slack(SECRET, NOW, BODY),
            "x-slack-signature",
        ),
        "shopify" => Check {
            written: Written::Base64,
            ..hex_header(
                Box::new(Shopify::new([SECRET]).unwrap()),
                testing::shopify(SECRET, BODY),
                "x-shopify-hmac-sha256",
            )
        },
        "logto" => hex_header(
            Box::new(Logto::new([SECRET]).unwrap()),
            testing::logto(SECRET, BODY),
            "logto-signature-sha-256",
        ),
        "zoom" => hex_header(
            Box::new(Zoom::new([SECRET]).unwrap()),
            testing::zoom(SECRET, NOW, BODY),
            "x-zm-signature",
        ),
        "twitch" => hex_header(
            Box::new(Twitch::new([SECRET]).unwrap()),
            testing::twitch(SECRET, "msg-ct", "2023-11-14T22:13:20.5Z", BODY),
            "twitch-eventsub-message-signature",
        ),
        "paddle" => hex_header(
            Box::new(Paddle::new([SECRET]).unwrap()),
            testing::paddle(SECRET, NOW, BODY),
            "paddle-signature",
        ),
        "gitlab" => Check {
            written: Written::Raw,
            ..hex_header(
                Box::new(GitLab::new([GITLAB_TOKEN]).unwrap()),
                testing::gitlab(GITLAB_TOKEN),
                "x-gitlab-token",
            )
        },
        "linear" => {
            let body = format!(r#"{{"type":"Issue","webhookTimestamp":{NOW}000}}"#).into_bytes();
            Check {
                headers: testing::linear(SECRET, &body),
                body,
                ..hex_header(
                    Box::new(Linear::new([SECRET]).unwrap()),
                    HeaderMap::new(),
                    "linear-signature",
                )
            }
        }
        "square" => Check {
            written: Written::Base64,
            ..hex_header(
                Box::new(Square::new([SECRET], SQUARE_URL).unwrap()),
                testing::square(SECRET, SQUARE_URL, BODY),
                "x-square-hmacsha256-signature",
            )
        },
        "twilio" => {
            let params = [
                ("CallSid", "CA1234567890ABCDE"),
                ("MessageStatus", "delivered"),
                ("To", "+18005551212"),
            ];
            Check {
                scheme: Box::new(Twilio::new([SECRET], TWILIO_URL).unwrap()),
                headers: testing::twilio(SECRET, &format!("{TWILIO_URL}{TARGET}"), &params),
                body: FORM.to_vec(),
                place: Place::Header("x-twilio-signature"),
                written: Written::Base64,
                len: 20,
                target: TARGET.to_owned(),
            }
        }
        "twilio-sha1-json" => {
            let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(BODY));
            let target = format!("{TARGET}&bodySHA256={digest}");
            Check {
                scheme: Box::new(Twilio::new([SECRET], TWILIO_URL).unwrap()),
                headers: testing::twilio(SECRET, &format!("{TWILIO_URL}{target}"), &[]),
                body: BODY.to_vec(),
                place: Place::Header("x-twilio-signature"),
                written: Written::Base64,
                len: 20,
                target,
            }
        }
        "mailgun" => Check {
            body: testing::mailgun(SECRET, NOW, "token-ct", BODY),
            place: Place::Body,
            ..hex_header(Box::new(Mailgun::new([SECRET]).unwrap()), HeaderMap::new(), "")
        },
        "intercom" => Check {
            len: 20,
            ..hex_header(
                Box::new(Intercom::new([SECRET]).unwrap()),
                testing::intercom(SECRET, BODY),
                "x-hub-signature",
            )
        },
        "hmac" => {
            let scheme = GenericHmac::builder().secret(SECRET).build().unwrap();
            let headers = testing::generic_hmac(&scheme, NOW, BODY);
            hex_header(Box::new(scheme), headers, "x-webhook-signature")
        }
        "hmac-base64-timestamped" => Check {
            written: Written::Base64,
            ..hex_header(
                Box::new(generic_timestamped()),
                testing::generic_hmac(&generic_timestamped(), NOW, BODY),
                "x-signature",
            )
        },
        "standard-v1a" => Check {
            scheme: Box::new(
                StandardWebhooks::with_public_keys([testing::ed25519_public_key(
                    STANDARD_ED_SIGNING,
                )])
                .unwrap(),
            ),
            headers: testing::standard_webhooks_ed25519(STANDARD_ED_SIGNING, "msg_ct", NOW, BODY),
            body: BODY.to_vec(),
            place: Place::Header("webhook-signature"),
            written: Written::Base64,
            len: 64,
            target: TARGET.to_owned(),
        },
        "discord" => Check {
            len: 64,
            ..hex_header(
                Box::new(Discord::new([testing::discord_public_key(ED25519_SEED_HEX)]).unwrap()),
                testing::discord(ED25519_SEED_HEX, NOW, BODY),
                "x-signature-ed25519",
            )
        },
        "sendgrid" => Check {
            written: Written::Der,
            ..hex_header(
                Box::new(SendGrid::new([testing::sendgrid_public_key(P256_SIGNING)]).unwrap()),
                testing::sendgrid(P256_SIGNING, NOW, BODY),
                "x-twilio-email-event-webhook-signature",
            )
        },
        _ => return None,
    })
}

/// Flips the lowest bit of byte `index` of the tag found at the end of
/// `text` (written as `written`, `len` bytes long), in place.
fn flip_tag(text: &mut [u8], written: Written, len: usize, index: usize) {
    let chars = match written {
        Written::Hex => 2 * len,
        Written::Base64 => len.div_ceil(3) * 4,
        Written::Der | Written::Raw => text.len(),
    };
    let start = text.len().checked_sub(chars).expect("the tag fits in its header");
    let tail = &mut text[start..];
    let mut tag = match written {
        Written::Hex => hex::decode(&*tail).expect("a hex tag"),
        Written::Base64 | Written::Der => STANDARD.decode(&*tail).expect("a base64 tag"),
        Written::Raw => tail.to_vec(),
    };
    let index = match (written, index) {
        // The first byte of r, after the DER headers (a first byte of 0x30
        // would be refused as unparsable, not as a wrong signature).
        (Written::Der, 0) => 4,
        (_, 0) => 0,
        _ => tag.len() - 1,
    };
    tag[index] ^= 1;
    if let Written::Raw = written {
        // Another letter or digit: the token stays a valid header value.
        tag[index] = if tag[index].is_ascii_alphanumeric() { tag[index] } else { b'x' };
    }
    let encoded = match written {
        Written::Hex => hex::encode(&tag).into_bytes(),
        Written::Base64 | Written::Der => STANDARD.encode(&tag).into_bytes(),
        Written::Raw => tag,
    };
    assert_eq!(encoded.len(), tail.len(), "the changed tag keeps its length");
    tail.copy_from_slice(&encoded);
}

/// The request of `check`, with its tag changed as `case` says.
fn request(check: &mut Check, case: &str) {
    let index = match case {
        "match" => return,
        "first" => 0,
        "last" => usize::MAX,
        _ => usage(),
    };
    match check.place {
        Place::Header(name) => {
            let name = HeaderName::from_static(name);
            let mut value = check.headers[&name].as_bytes().to_vec();
            flip_tag(&mut value, check.written, check.len, index);
            check.headers.insert(name, HeaderValue::from_bytes(&value).unwrap());
        }
        Place::Body => {
            let key = br#""signature":""#;
            let at = check.body.windows(key.len()).rposition(|w| w == key).unwrap() + key.len();
            flip_tag(&mut check.body[at..at + 2 * check.len], check.written, check.len, index);
        }
    }
}

/// The counted call: one `verify`.
#[inline(never)]
fn measured_verify(
    scheme: &dyn Scheme,
    request: &SignedRequest<'_>,
) -> Result<Verified, VerifyError> {
    scheme.verify(request)
}

/// The counted call: one comparison.
#[inline(never)]
fn measured_compare(compare: &dyn Fn() -> bool) -> bool {
    compare()
}

fn primitive(name: &str, case: &str) -> Option<bool> {
    let index = match case {
        "match" => None,
        "first" => Some(0),
        "last" => Some(usize::MAX),
        _ => usage(),
    };
    let tag_of = |headers: HeaderMap, name: &str, prefix: &str| -> Vec<u8> {
        let value = headers[name].to_str().unwrap().strip_prefix(prefix).unwrap().to_owned();
        hex::decode(value).unwrap()
    };
    let changed = |tag: &[u8]| -> Vec<u8> {
        let mut tag = tag.to_vec();
        if let Some(index) = index {
            let index = index.min(tag.len() - 1);
            tag[index] ^= 1;
        }
        tag
    };
    let sha256 = tag_of(testing::github(SECRET, BODY), "x-hub-signature-256", "sha256=");
    let sha1 = tag_of(testing::intercom(SECRET, BODY), "x-hub-signature", "sha1=");
    let outcome = match name {
        "mac-sha256" => {
            let secrets = HmacSecrets::new("ct", [SECRET]).unwrap();
            let received = Mac::<32>::from_bytes(changed(&sha256).try_into().unwrap());
            measured_compare(&|| secrets.verify(black_box(&[BODY]), black_box(&[received])))
        }
        "mac-sha1" => {
            let secrets = HmacSecrets::<Sha1>::with_digest("ct", [SECRET]).unwrap();
            let received = Mac::<20>::from_bytes(changed(&sha1).try_into().unwrap());
            measured_compare(&|| secrets.verify(black_box(&[BODY]), black_box(&[received])))
        }
        "ct-eq-32" => {
            let ours = Mac::<32>::from_bytes(sha256.clone().try_into().unwrap());
            let theirs = Mac::<32>::from_bytes(changed(&sha256).try_into().unwrap());
            measured_compare(&|| black_box(&ours).ct_eq(black_box(&theirs)).into())
        }
        "ct-eq-20" => {
            let ours = Mac::<20>::from_bytes(sha1.clone().try_into().unwrap());
            let theirs = Mac::<20>::from_bytes(changed(&sha1).try_into().unwrap());
            measured_compare(&|| black_box(&ours).ct_eq(black_box(&theirs)).into())
        }
        _ => return None,
    };
    Some(outcome)
}

fn usage() -> ! {
    eprintln!("usage: hookwarden-ct <check> match|first|last, or hookwarden-ct --list");
    std::process::exit(2);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [list] if list == "--list" => {
            for name in KEYED {
                println!("{name} keyed");
            }
            for name in PUBLIC_KEY {
                println!("{name} public-key");
            }
            for name in PRIMITIVES {
                println!("{name} primitive");
            }
        }
        [name, case] => {
            if let Some(outcome) = primitive(name, case) {
                println!("{}", if outcome { "ok" } else { "mismatch" });
                return;
            }
            let Some(mut check) = check(name) else { usage() };
            request(&mut check, case);
            let uri: Uri = check.target.parse().unwrap();
            let signed = SignedRequest::new(
                &check.headers,
                &check.body,
                NOW,
                std::time::Duration::from_secs(300),
            )
            .with_uri(&uri);
            let outcome = measured_verify(black_box(&*check.scheme), black_box(&signed));
            match outcome {
                Ok(_) => println!("ok"),
                Err(error) => println!("{error}"),
            }
        }
        _ => usage(),
    }
}
