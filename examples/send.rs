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
  --scheme NAME      standard (default) | github | stripe | slack | shopify | logto | hmac
  --secret S         signing secret (default: the receiver's demo secret)
  --type T           event type (default user.registered)
  --id ID            event id (default: a fresh one)
  --event-version V  event version (default 1)
  --body JSON        the whole body instead of the demo event
  --timestamp SECS   Unix time to sign with (default: now)
  --tamper           change one byte of the body after signing (expect 401)";

#[tokio::main]
async fn main() {
    let args = Args::parse(
        &["url", "scheme", "secret", "type", "id", "event-version", "body", "timestamp"],
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
    let kind = args.get("type").unwrap_or_else(|| "user.registered".to_owned());
    let version = args.get("event-version").unwrap_or_else(|| "1".to_owned());

    let body =
        args.get("body").unwrap_or_else(|| demo_body(&scheme, &id, &kind, &version, timestamp));
    let mut headers = match scheme.as_str() {
        "standard" => testing::standard_webhooks(&secret, &id, timestamp, body.as_bytes()),
        "github" => testing::github(&secret, body.as_bytes()),
        "stripe" => testing::stripe(&secret, timestamp, body.as_bytes()),
        "slack" => testing::slack(&secret, timestamp, body.as_bytes()),
        "shopify" => testing::shopify(&secret, body.as_bytes()),
        "logto" => testing::logto(&secret, body.as_bytes()),
        "hmac" => match common::scheme("hmac", std::slice::from_ref(&secret)) {
            Ok(_) => {
                let scheme = hookwarden::scheme::GenericHmac::builder()
                    .secret(&secret)
                    .build()
                    .expect("valid");
                testing::generic_hmac(&scheme, timestamp, body.as_bytes())
            }
            Err(e) => common::fail(USAGE, &e),
        },
        other => common::fail(USAGE, &format!("unknown scheme {other:?}")),
    };
    // The envelope headers each provider sends alongside its signature.
    let extra: &[(&str, &str)] = match scheme.as_str() {
        "github" => &[("x-github-delivery", &id), ("x-github-event", &kind)],
        "hmac" => &[("x-webhook-version", &version)],
        "shopify" => &[
            ("x-shopify-webhook-id", &id),
            ("x-shopify-topic", &kind),
            ("x-shopify-api-version", &version),
        ],
        _ => &[],
    };
    for (name, value) in extra {
        headers.insert(*name, value.parse().expect("ASCII"));
    }

    let mut body = body.into_bytes();
    if args.flag("tamper") {
        body[0] ^= 0x20;
    }
    let host = url
        .authority()
        .map(|a| a.to_string())
        .unwrap_or_else(|| common::fail(USAGE, "--url needs a host"));
    let mut request = testing::request(url.path(), headers, Bytes::from(body));
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

/// The demo event, shaped the way each provider shapes its bodies.
fn demo_body(scheme: &str, id: &str, kind: &str, version: &str, timestamp: u64) -> String {
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
