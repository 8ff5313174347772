//! Signs and posts a demo event to a receiver:
//! `cargo run --example send -- --help`.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::testing;
use http::Request;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use common::{Args, DEMO_SECRET};

const USAGE: &str = "\
usage: cargo run --example send -- [options]

  --url URL          where to post (default http://127.0.0.1:3000/webhooks)
  --scheme NAME      standard (default) | github | stripe | slack | shopify | logto | hmac |
                     discord | zoom | twitch | paddle | gitlab | linear | square | twilio |
                     mailgun | sendgrid | intercom
  --secret S         signing secret (default: the receiver's demo secret); for discord the
                     hex ed25519 seed, for sendgrid the hex P-256 key (default: the demo keys)
  --public-url URL   the URL the sender was configured with (square, twilio; default --url)
  --type T           event type (default user.registered, or one the provider sends)
  --id ID            event id (default: a fresh one)
  --event-version V  event version (default 1)
  --body JSON        the whole body instead of the demo event
  --timestamp SECS   Unix time to sign with (default: now)
  --tamper           change one byte of the body after signing (expect 401)";

#[tokio::main]
async fn main() {
    let args = Args::parse(
        &[
            "url",
            "scheme",
            "secret",
            "type",
            "id",
            "event-version",
            "body",
            "timestamp",
            "public-url",
        ],
        &["tamper"],
        USAGE,
    );
    let url: http::Uri = args
        .get("url")
        .unwrap_or_else(|| "http://127.0.0.1:3000/webhooks".to_owned())
        .parse()
        .unwrap_or_else(|e| common::fail(USAGE, &format!("invalid --url: {e}")));
    let scheme = args.get("scheme").unwrap_or_else(|| "standard".to_owned());
    let secret = args.get("secret").unwrap_or_else(|| DEMO_SECRET.to_owned());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let timestamp = args.parsed::<u64>("timestamp", USAGE).unwrap_or(now);
    let id = args
        .get("id")
        .unwrap_or_else(|| format!("evt_{}", hookwarden::store::ClaimToken::random().to_hex()));
    let kind = args.get("type").unwrap_or_else(|| default_type(&scheme).to_owned());
    let version = args.get("event-version").unwrap_or_else(|| "1".to_owned());

    let public_url = args.get("public-url").unwrap_or_else(|| url.to_string());
    let demo = Demo { id: &id, kind: &kind, version: &version, timestamp };
    let (mut headers, body) = sign(&scheme, &secret, &public_url, args.get("body"), &demo)
        .unwrap_or_else(|e| common::fail(USAGE, &e));
    // The envelope headers each provider sends alongside its signature.
    let extra: &[(&str, &str)] = match scheme.as_str() {
        "github" => &[("x-github-delivery", &id), ("x-github-event", &kind)],
        "hmac" => &[("x-webhook-version", &version)],
        "shopify" => &[
            ("x-shopify-webhook-id", &id),
            ("x-shopify-topic", &kind),
            ("x-shopify-api-version", &version),
        ],
        "twitch" => &[
            ("twitch-eventsub-message-type", "notification"),
            ("twitch-eventsub-subscription-type", &kind),
            ("twitch-eventsub-subscription-version", &version),
        ],
        "gitlab" => &[("x-gitlab-event-uuid", &id), ("x-gitlab-event", "Push Hook")],
        "linear" => &[("linear-delivery", &id), ("linear-event", &kind)],
        "twilio" => &[("i-twilio-idempotency-token", &id)],
        _ => &[],
    };
    for (name, value) in extra {
        headers.insert(*name, value.parse().expect("ASCII"));
    }
    if scheme == "twilio" {
        headers.insert(
            http::header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().expect("ASCII"),
        );
    }

    let mut body = body;
    if args.flag("tamper") {
        body[0] ^= 0x20;
    }
    let host = url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| common::fail(USAGE, "--url needs a host"));
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    // The scheme's own `Content-Type` (a form post's) replaces the JSON one.
    let mut request = testing::request(path, headers, Bytes::from(body));
    request.headers_mut().insert(http::header::HOST, host.parse().expect("a valid host"));

    match post(&host, request).await {
        Ok((status, text)) => {
            println!("{} {}", status.as_u16(), text);
            if !status.is_success() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("error: cannot post to {url}: {e}");
            std::process::exit(1);
        }
    }
}

/// The demo event's type: the canonical `user.registered` where the
/// provider's body can carry it at `data`, else an event the provider
/// really sends (the receiver's catch-all takes it).
fn default_type(scheme: &str) -> &'static str {
    match scheme {
        "discord" => "APPLICATION_AUTHORIZED",
        "zoom" => "meeting.started",
        "twitch" => "channel.follow",
        "gitlab" => "push",
        "intercom" => "conversation.user.created",
        "twilio" | "mailgun" | "sendgrid" => "delivered",
        _ => "user.registered",
    }
}

/// What the demo event is.
struct Demo<'a> {
    id: &'a str,
    kind: &'a str,
    version: &'a str,
    timestamp: u64,
}

/// The headers and body a provider would send for the demo event (or for
/// `body`, when given), signed with `secret`.
fn sign(
    scheme: &str,
    secret: &str,
    public_url: &str,
    body: Option<String>,
    demo: &Demo<'_>,
) -> Result<(http::HeaderMap, Vec<u8>), String> {
    let Demo { id, timestamp, .. } = *demo;
    let body = body.unwrap_or_else(|| demo_body(scheme, demo)).into_bytes();
    let headers = match scheme {
        "standard" => testing::standard_webhooks(secret, id, timestamp, &body),
        "github" => testing::github(secret, &body),
        "stripe" => testing::stripe(secret, timestamp, &body),
        "slack" => testing::slack(secret, timestamp, &body),
        "shopify" => testing::shopify(secret, &body),
        "logto" => testing::logto(secret, &body),
        "hmac" => {
            let scheme = hookwarden::scheme::GenericHmac::builder()
                .secret(secret)
                .build()
                .map_err(|e| e.to_string())?;
            testing::generic_hmac(&scheme, timestamp, &body)
        }
        "zoom" => testing::zoom(secret, timestamp, &body),
        "twitch" => testing::twitch(secret, id, &common::rfc3339(timestamp), &body),
        "paddle" => testing::paddle(secret, timestamp, &body),
        "gitlab" => testing::gitlab(secret),
        "linear" => testing::linear(secret, &body),
        "square" => testing::square(secret, public_url, &body),
        "intercom" => testing::intercom(secret, &body),
        "twilio" => {
            let params: Vec<(String, String)> = form_urlencoded::parse(&body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let params: Vec<(&str, &str)> =
                params.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            testing::twilio(secret, public_url, &params)
        }
        "mailgun" => {
            // Mailgun signs inside the body: the event data goes in whole.
            let body = testing::mailgun(secret, timestamp, id, &body);
            return Ok((http::HeaderMap::new(), body));
        }
        "discord" => discord(secret, timestamp, &body)?,
        "sendgrid" => sendgrid(secret, timestamp, &body)?,
        other => {
            return Err(format!("unknown scheme {other:?}; expected one of: {}", common::SCHEMES));
        }
    };
    Ok((headers, body))
}

/// Discord signs with an ed25519 key: `--secret` is its hex seed (default
/// the demo key the receiver knows).
#[cfg(feature = "ed25519")]
fn discord(secret: &str, timestamp: u64, body: &[u8]) -> Result<http::HeaderMap, String> {
    let key = if secret == DEMO_SECRET { common::DEMO_DISCORD_KEY } else { secret };
    Ok(testing::discord(key, timestamp, body))
}

#[cfg(not(feature = "ed25519"))]
fn discord(_: &str, _: u64, _: &[u8]) -> Result<http::HeaderMap, String> {
    Err("discord needs the `ed25519` feature: `cargo run --features ed25519 --example send`".into())
}

/// SendGrid signs with a P-256 key: `--secret` is its hex scalar (default
/// the demo key the receiver knows).
#[cfg(feature = "p256")]
fn sendgrid(secret: &str, timestamp: u64, body: &[u8]) -> Result<http::HeaderMap, String> {
    let key = if secret == DEMO_SECRET { common::DEMO_SENDGRID_KEY } else { secret };
    Ok(testing::sendgrid(key, timestamp, body))
}

#[cfg(not(feature = "p256"))]
fn sendgrid(_: &str, _: u64, _: &[u8]) -> Result<http::HeaderMap, String> {
    Err("sendgrid needs the `p256` feature: `cargo run --features p256 --example send`".into())
}

/// The demo event, shaped the way each provider shapes its bodies.
fn demo_body(scheme: &str, demo: &Demo<'_>) -> String {
    let Demo { id, kind, version, timestamp } = *demo;
    // The canonical auth-service event; version 2 renamed `username` to
    // `display_name`.
    let name_field = if version == "1" { "username" } else { "display_name" };
    let data = serde_json::json!({
        "user_id": "u_42",
        "email": "ada@example.com",
        name_field: "ada",
        "registered_at": timestamp,
    });
    let body = match scheme {
        "stripe" => {
            serde_json::json!({ "id": id, "object": "event", "type": kind, "api_version": version, "created": timestamp, "data": data })
        }
        "slack" => {
            serde_json::json!({ "type": "event_callback", "event_id": id, "event_time": timestamp, "event": { "type": kind, "user": "u_42" } })
        }
        "logto" => serde_json::json!({ "event": kind, "createdAt": timestamp, "data": data }),
        // As most webhook guides write it: no id, the version in a header.
        "hmac" => serde_json::json!({ "event": kind, "timestamp": timestamp, "data": data }),
        "discord" => serde_json::json!({
            "version": 1, "application_id": "1234567890", "type": 1,
            "event": { "type": kind, "timestamp": common::rfc3339(timestamp), "data": data },
        }),
        "zoom" => {
            serde_json::json!({ "event": kind, "event_ts": timestamp * 1000, "payload": data })
        }
        "twitch" => serde_json::json!({
            "subscription": { "id": id, "type": kind, "version": version, "status": "enabled" },
            "event": data,
        }),
        "paddle" => serde_json::json!({
            "event_id": id, "event_type": kind, "occurred_at": common::rfc3339(timestamp), "data": data,
        }),
        "gitlab" => serde_json::json!({ "object_kind": kind, "event_name": kind, "data": data }),
        "linear" => serde_json::json!({
            "action": "create", "type": kind, "data": data, "webhookTimestamp": timestamp * 1000,
        }),
        "square" => serde_json::json!({
            "merchant_id": "M1", "type": kind, "event_id": id, "created_at": common::rfc3339(timestamp), "data": data,
        }),
        "intercom" => serde_json::json!({
            "type": "notification_event", "id": id, "topic": kind, "created_at": timestamp, "data": { "item": data },
        }),
        // Mailgun: the event data; `sign` wraps it with the signature.
        "mailgun" => {
            serde_json::json!({ "id": id, "event": kind, "timestamp": timestamp, "recipient": "ada@example.com" })
        }
        // SendGrid posts a batch.
        "sendgrid" => serde_json::json!([{
            "email": "ada@example.com", "timestamp": timestamp, "event": kind, "sg_event_id": id,
            "sg_message_id": "m1",
        }]),
        "twilio" => {
            let form = form_urlencoded::Serializer::new(String::new())
                .append_pair("AccountSid", "AC0000")
                .append_pair("MessageSid", id)
                .append_pair("MessageStatus", kind)
                .append_pair("From", "+15005550006")
                .finish();
            return form;
        }
        _ => {
            serde_json::json!({ "id": id, "type": kind, "version": version, "timestamp": timestamp, "data": data })
        }
    };
    body.to_string()
}

async fn post(
    host: &str,
    request: Request<Full<Bytes>>,
) -> Result<(http::StatusCode, String), Box<dyn std::error::Error>> {
    let stream = tokio::net::TcpStream::connect(host).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}
