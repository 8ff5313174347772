//! A working webhook receiver: `cargo run --example receiver -- --help`.
//!
//! POST /webhooks is guarded by hookwarden; GET /healthz is not. Every
//! event handled is printed as one JSON line on stdout; everything else
//! (startup, failures) goes to stderr.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use hookwarden::{Rejection, Verified, VerifyLayer};
use http::StatusCode;

use common::{Args, DEMO_SECRET, SCHEMES};

const USAGE: &str = "\
usage: cargo run --example receiver -- [options]

  --listen ADDR        address to listen on (default 127.0.0.1:3000; [::]:PORT is dual-stack)
  --scheme NAME        standard (default) | github | stripe | slack | shopify | logto | hmac
  --secret S           a signing secret; repeat for several active secrets (rotation)
  --tolerance SECS     timestamp tolerance, both directions (default 300)
  --max-body BYTES     body limit (default 1048576)

Routes: POST /webhooks (verified), GET /healthz.";

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let args = Args::parse(&["listen", "scheme", "secret", "tolerance", "max-body"], &[], USAGE);
    let listen: SocketAddr = args.parsed("listen", USAGE).unwrap_or(([127, 0, 0, 1], 3000).into());
    let scheme_name = args.get("scheme").unwrap_or_else(|| "standard".to_owned());
    let mut secrets = args.all("secret");
    if secrets.is_empty() {
        eprintln!("no --secret given; using the demo secret: {DEMO_SECRET}");
        secrets.push(DEMO_SECRET.to_owned());
    }
    let scheme = common::scheme(&scheme_name, &secrets).unwrap_or_else(|e| common::fail(USAGE, &e));
    let tolerance = args.parsed::<u64>("tolerance", USAGE).unwrap_or(300);
    let max_body = args.parsed::<usize>("max-body", USAGE).unwrap_or(1024 * 1024);

    let verify = VerifyLayer::from_shared(scheme)
        .tolerance(Duration::from_secs(tolerance))
        .max_body(max_body);
    let app = Router::new()
        .route("/webhooks", post(on_webhook).route_layer(verify).fallback(not_post))
        .route("/healthz", get(|| async { "ok" }));

    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| common::fail(USAGE, &format!("cannot listen on {listen}: {e}")));
    eprintln!(
        "hookwarden receiver: scheme {scheme_name} ({SCHEMES}), {} active secret(s), listening on http://{}/webhooks",
        secrets.len(),
        listener.local_addr().expect("bound")
    );
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .expect("server error");
}

async fn not_post() -> Response {
    Rejection::MethodNotAllowed.into_response::<Body>()
}

async fn on_webhook(Extension(verified): Extension<Verified>, request: Request) -> Response {
    let event = demo_event(&verified, request.headers());
    println!(
        "{}",
        serde_json::json!({
            "id": event.id,
            "type": event.kind,
            "version": event.version,
            "attempt": 1,
            "handler": "inline",
        })
    );
    (StatusCode::ACCEPTED, axum::Json(serde_json::json!({ "status": "accepted", "id": event.id })))
        .into_response()
}

struct DemoEvent {
    id: String,
    kind: String,
    version: String,
}

fn demo_event(verified: &Verified, headers: &http::HeaderMap) -> DemoEvent {
    let body: serde_json::Value = serde_json::from_slice(verified.body()).unwrap_or_default();
    let field = |name: &str| body.get(name).and_then(|v| v.as_str()).map(str::to_owned);
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    DemoEvent {
        id: verified
            .signed_id()
            .map(str::to_owned)
            .or_else(|| field("id"))
            .or_else(|| header("x-github-delivery"))
            .unwrap_or_default(),
        kind: field("type").or_else(|| header("x-github-event")).unwrap_or_default(),
        version: field("version").unwrap_or_else(|| "1".to_owned()),
    }
}
