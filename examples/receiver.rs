//! A working webhook receiver: `cargo run --example receiver -- --help`.
//!
//! POST /webhooks runs the whole hookwarden pipeline (allowlist, verify,
//! envelope, the 202 once the inbox keeps the delivery, background
//! workers); GET /healthz is
//! not guarded. Every event a handler finishes is printed as one JSON line
//! on stdout; everything else (startup, failed attempts, dead letters) goes
//! to stderr.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use hookwarden::dispatch::RetryPolicy;
use hookwarden::ip::{ClientIpSource, IpAllowlistLayer};
use hookwarden::{ConfigError, Receiver};

use common::demo::{self, Demo};
use common::{Args, DEMO_SECRET, SCHEMES};

const USAGE: &str = "\
usage: cargo run --example receiver -- [options]

  --listen ADDR          address to listen on (default 127.0.0.1:3000; [::]:PORT is dual-stack)
  --scheme NAME          standard (default) | github | stripe | slack | shopify | logto | hmac |
                         discord | zoom | twitch | paddle | gitlab | linear | square | twilio |
                         mailgun | sendgrid | intercom
  --secret S             a signing secret; repeat for several active secrets (rotation)
  --public-key K         a verification key for schemes with key pairs; repeatable: discord
                         (hex ed25519), sendgrid (base64 DER P-256), standard (whpk_, v1a);
                         default for discord and sendgrid: the demo key `send` signs with
  --public-url URL       the URL the sender was configured with, for schemes that sign it
                         (square, twilio); default http://LISTEN/webhooks. The request's own
                         Host is never trusted for this
  --tolerance SECS       timestamp tolerance, both directions (default 300)
  --max-body BYTES       body limit (default 1048576)
  --max-inflight N       bodies read at once (default 64); past it a request is answered
                         503 overloaded with Retry-After, so unverified bodies hold at most
                         N x --max-body bytes
  --allow CIDR           allowed client range; repeatable (default: every address)
  --trust-proxy CIDR     proxy whose X-Forwarded-For is believed; repeatable
  --store URL            where acknowledged deliveries are kept: memory (default) |
                         sqlite://PATH | postgres://… | redis://… (all but memory are
                         durable: a restart on the same URL carries on; cargo features
                         `sqlite` / `postgres` / `redis`)
  --queue N              inbox capacity: pending + leased + retrying (default 1024)
  --workers N            handler concurrency (default 4)
  --max-attempts N       attempts before a delivery is dead-lettered (default 5)
  --handler-delay-ms N   the demo handler sleeps N ms per event
  --fail-first N         the demo handler fails the first N attempts of every event

Routes: POST /webhooks, GET /healthz. One JSON line per handled event on stdout.";

const OPTIONS: &[&str] = &[
    "listen",
    "scheme",
    "secret",
    "public-key",
    "public-url",
    "tolerance",
    "max-body",
    "max-inflight",
    "allow",
    "trust-proxy",
    "store",
    "queue",
    "workers",
    "max-attempts",
    "handler-delay-ms",
    "fail-first",
];

fn allowlist(allow: &[String], trust: &[String]) -> Result<Option<IpAllowlistLayer>, ConfigError> {
    if allow.is_empty() && trust.is_empty() {
        return Ok(None);
    }
    let mut layer = if allow.is_empty() {
        IpAllowlistLayer::allow_any()
    } else {
        IpAllowlistLayer::new(allow)?
    };
    if !trust.is_empty() {
        layer = layer.trust_proxies(trust, ClientIpSource::XForwardedFor)?;
    }
    Ok(Some(layer.peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip())))
}

#[tokio::main]
async fn main() {
    common::init_logging("info");

    let args = Args::parse(OPTIONS, &[], USAGE);
    let listen: SocketAddr = args.parsed("listen", USAGE).unwrap_or(([127, 0, 0, 1], 3000).into());
    let scheme_name = args.get("scheme").unwrap_or_else(|| "standard".to_owned());
    let mut secrets = args.all("secret");
    if secrets.is_empty() {
        eprintln!("no --secret given; using the demo secret: {DEMO_SECRET}");
        secrets.push(DEMO_SECRET.to_owned());
    }
    let public_url = args.get("public-url").unwrap_or_else(|| format!("http://{listen}/webhooks"));
    let scheme = common::scheme(&common::SchemeArgs {
        name: &scheme_name,
        secrets: &secrets,
        public_keys: &args.all("public-key"),
        public_url: &public_url,
    })
    .unwrap_or_else(|e| common::fail(USAGE, &e));
    let demo = Demo {
        delay: Duration::from_millis(args.parsed("handler-delay-ms", USAGE).unwrap_or(0)),
        fail_first: args.parsed("fail-first", USAGE).unwrap_or(0),
    };
    let capacity = args.parsed("queue", USAGE).unwrap_or(1024);
    let inbox = common::inbox(args.get("store"), capacity)
        .await
        .unwrap_or_else(|e| common::fail(USAGE, &e));
    let retry =
        RetryPolicy::default().with_max_attempts(args.parsed("max-attempts", USAGE).unwrap_or(5));

    let report: demo::Report = std::sync::Arc::new(|line| println!("{line}"));
    let mut builder = Receiver::builder_shared(scheme)
        .router(demo::router(demo, report))
        .shared_inbox(inbox)
        .retry(retry)
        .default_version("1")
        .tolerance(Duration::from_secs(args.parsed("tolerance", USAGE).unwrap_or(300)))
        .max_body(args.parsed("max-body", USAGE).unwrap_or(1024 * 1024))
        .max_inflight(
            args.parsed("max-inflight", USAGE).unwrap_or(hookwarden::verify::DEFAULT_MAX_INFLIGHT),
        )
        .workers(args.parsed("workers", USAGE).unwrap_or(4))
        .on_dead_letter(|letter| {
            tracing::error!(id = letter.delivery.id(), attempts = letter.attempts, error = %letter.error, "dead letter");
        });
    match allowlist(&args.all("allow"), &args.all("trust-proxy")) {
        Ok(Some(layer)) => builder = builder.allowlist(layer),
        Ok(None) => {}
        Err(e) => common::fail(USAGE, &e.to_string()),
    }
    let receiver = builder.build().unwrap_or_else(|e| common::fail(USAGE, &e.to_string()));

    let app = Router::new()
        .route_service("/webhooks", receiver.service())
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

    let report = receiver.handle().shutdown(Duration::from_secs(10)).await;
    eprintln!(
        "shut down: {} unfinished, {} dead letter(s), drained: {}",
        report.left, report.dead_letters, report.drained
    );
}
