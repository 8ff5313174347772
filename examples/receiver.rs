//! A working webhook receiver: `cargo run --example receiver -- --help`.
//!
//! POST /webhooks runs the whole hookwarden pipeline (HTTPS required or
//! not, allowlist, verify, envelope, the 202 once the inbox keeps the
//! delivery, background workers); GET /healthz is not guarded. With
//! `--tls-cert` and `--tls-key` (cargo feature `tls`) it serves HTTPS, and
//! reloads the certificate on SIGHUP and when the files change. Every event a handler finishes is printed as one JSON line
//! on stdout; everything else (startup, failed attempts, dead letters) goes
//! to stderr.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::get;
use hookwarden::dispatch::RetryPolicy;
use hookwarden::https::{ForwardedProto, RequireHttpsLayer};
use hookwarden::ip::{ClientIpSource, IpAllowlistLayer};
#[cfg(feature = "tls")]
use hookwarden::tls::TlsConfig;
use hookwarden::{ConfigError, Receiver};
use tokio::net::TcpListener;

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
  --max-inflight N       bodies waited for at once (default 64); past it one is answered
                         503 overloaded with Retry-After, so bodies waited for hold at most
                         N x --max-body bytes
  --allow CIDR           allowed client range; repeatable (default: every address)
  --trust-proxy CIDR     proxy whose forwarding headers are believed; repeatable
  --client-ip-header H   which header trusted proxies write the client address in: xff
                         (X-Forwarded-For, default) | forwarded (RFC 7239) | any other header
                         name holding one address (e.g. X-Real-IP); needs --trust-proxy
  --store URL            where acknowledged deliveries are kept: memory (default) |
                         sqlite://PATH | postgres://… | redis://… (all but memory are
                         durable: a restart on the same URL carries on; cargo features
                         `sqlite` / `postgres` / `redis`)
  --queue N              inbox capacity: pending + leased + retrying (default 1024)
  --workers N            handler concurrency (default 4)
  --max-attempts N       attempts before a delivery is dead-lettered (default 5)
  --handler-delay-ms N   the demo handler sleeps N ms per event
  --fail-first N         the demo handler fails the first N attempts of every event
  --tls-cert PEM --tls-key PEM
                         serve HTTPS (rustls) on --listen: the certificate chain and its private
                         key, both or neither; reloaded on SIGHUP and when the files change
                         (cargo feature `tls`)
  --require-https        refuse deliveries that did not arrive over HTTPS: 403 https_required. A
                         trusted proxy's X-Forwarded-Proto counts (its Forwarded proto= with
                         --client-ip-header forwarded)
  --admin-listen ADDR    serve the operator's API, page (/admin) and Prometheus metrics
                         (/metrics) on this second listener (off by default; cargo feature
                         `admin`); needs --admin-token
  --admin-token T        the bearer token every admin request must carry (16 characters or
                         more; never printed)

Routes: POST /webhooks, GET /healthz; with --admin-listen, the admin routes on that listener
only. One JSON line per handled event on stdout.";

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
    "client-ip-header",
    "store",
    "queue",
    "workers",
    "max-attempts",
    "handler-delay-ms",
    "fail-first",
    "tls-cert",
    "tls-key",
    "admin-listen",
    "admin-token",
];

const FLAGS: &[&str] = &["require-https"];

/// Without the `tls` feature there is never a certificate to serve.
#[cfg(not(feature = "tls"))]
type TlsConfig = std::convert::Infallible;

/// `--tls-cert` and `--tls-key`, loaded and checked.
fn tls_config(args: &Args) -> Option<TlsConfig> {
    let (cert, key) = match (args.get("tls-cert"), args.get("tls-key")) {
        (None, None) => return None,
        (Some(cert), Some(key)) => (cert, key),
        _ => common::fail(USAGE, "--tls-cert and --tls-key go together: give both or neither"),
    };
    #[cfg(feature = "tls")]
    {
        Some(
            TlsConfig::from_pem_files(cert, key)
                .unwrap_or_else(|e| common::fail(USAGE, &e.to_string())),
        )
    }
    #[cfg(not(feature = "tls"))]
    {
        let _ = (cert, key);
        common::fail(
            USAGE,
            "this build has no HTTPS (--tls-cert, --tls-key): run with `cargo run --features tls --example receiver -- …`",
        )
    }
}

/// Serves `app` over HTTPS until Ctrl-C, reloading the certificate on
/// SIGHUP and when its files change.
#[cfg(feature = "tls")]
async fn serve_https(listener: TcpListener, tls: TlsConfig, app: Router) -> std::io::Result<()> {
    hookwarden::tls::serve(listener, tls, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
}

#[cfg(not(feature = "tls"))]
async fn serve_https(_: TcpListener, tls: TlsConfig, _: Router) -> std::io::Result<()> {
    match tls {}
}

/// Watches the certificate files (SIGHUP, and every 10 s).
#[cfg(feature = "tls")]
fn reload_tls(tls: &TlsConfig) -> Result<(), ConfigError> {
    tls.reload_on_sighup()?;
    tls.reload_when_changed(Duration::from_secs(10))?;
    Ok(())
}

#[cfg(not(feature = "tls"))]
fn reload_tls(tls: &TlsConfig) -> Result<(), ConfigError> {
    match *tls {}
}

/// `--require-https`, believing the trusted proxies' word in the header
/// family they write the client address in.
fn require_https(
    trust: &[String],
    source: &ClientIpSource,
) -> Result<RequireHttpsLayer, ConfigError> {
    let mut layer = RequireHttpsLayer::new();
    if !trust.is_empty() {
        let proto = match source {
            ClientIpSource::Forwarded => ForwardedProto::Forwarded,
            _ => ForwardedProto::XForwardedProto,
        };
        layer = layer.trust_proxies(trust, proto)?;
    }
    Ok(layer.peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip()))
}

fn allowlist(
    allow: &[String],
    trust: &[String],
    source: ClientIpSource,
) -> Result<Option<IpAllowlistLayer>, ConfigError> {
    if allow.is_empty() && trust.is_empty() {
        return Ok(None);
    }
    let mut layer = if allow.is_empty() {
        IpAllowlistLayer::allow_any()
    } else {
        IpAllowlistLayer::new(allow)?
    };
    if !trust.is_empty() {
        layer = layer.trust_proxies(trust, source)?;
    }
    Ok(Some(layer.peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip())))
}

#[tokio::main]
async fn main() {
    common::init_logging("info");

    let args = Args::parse(OPTIONS, FLAGS, USAGE);
    let listen: SocketAddr = args.parsed("listen", USAGE).unwrap_or(([127, 0, 0, 1], 3000).into());
    let scheme_name = args.get("scheme").unwrap_or_else(|| "standard".to_owned());
    let mut secrets = args.all("secret");
    if secrets.is_empty() {
        eprintln!("no --secret given; using the demo secret: {DEMO_SECRET}");
        secrets.push(DEMO_SECRET.to_owned());
    }
    let tls = tls_config(&args);
    let http = if tls.is_some() { "https" } else { "http" };
    let trust = args.all("trust-proxy");
    let source = match args.get("client-ip-header") {
        Some(_) if trust.is_empty() => common::fail(
            USAGE,
            "--client-ip-header names the header trusted proxies write: give --trust-proxy too",
        ),
        Some(name) => common::client_ip_source(&name).unwrap_or_else(|e| common::fail(USAGE, &e)),
        None => ClientIpSource::XForwardedFor,
    };
    let public_url =
        args.get("public-url").unwrap_or_else(|| format!("{http}://{listen}/webhooks"));
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
    if args.flag("require-https") {
        if tls.is_none() && trust.is_empty() {
            eprintln!(
                "warning: --require-https without --tls-cert or --trust-proxy: every delivery is refused with 403 https_required"
            );
        }
        let layer =
            require_https(&trust, &source).unwrap_or_else(|e| common::fail(USAGE, &e.to_string()));
        builder = builder.require_https(layer);
    }
    match allowlist(&args.all("allow"), &trust, source) {
        Ok(Some(layer)) => builder = builder.allowlist(layer),
        Ok(None) => {}
        Err(e) => common::fail(USAGE, &e.to_string()),
    }
    let receiver = builder.build().unwrap_or_else(|e| common::fail(USAGE, &e.to_string()));
    let admin =
        common::admin::serve(args.get("admin-listen"), args.get("admin-token"), receiver.handle())
            .await
            .unwrap_or_else(|e| common::fail(USAGE, &e));

    let app = Router::new()
        .route_service("/webhooks", receiver.service())
        .route("/healthz", get(|| async { "ok" }));
    let listener = TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| common::fail(USAGE, &format!("cannot listen on {listen}: {e}")));
    if let Some(tls) = &tls {
        reload_tls(tls).unwrap_or_else(|e| common::fail(USAGE, &e.to_string()));
    }
    if let Some(admin) = admin {
        eprintln!("admin on http://{admin}/admin (API under /admin/api, Prometheus at /metrics)");
    }
    eprintln!(
        "hookwarden receiver: scheme {scheme_name} ({SCHEMES}), {} active secret(s), listening on {http}://{}/webhooks",
        secrets.len(),
        listener.local_addr().expect("bound")
    );
    match tls {
        Some(tls) => serve_https(listener, tls, app).await,
        None => {
            axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(async {
                    let _ = tokio::signal::ctrl_c().await;
                })
                .await
        }
    }
    .expect("server error");

    let report = receiver.handle().shutdown(Duration::from_secs(10)).await;
    eprintln!(
        "shut down: {} unfinished, {} dead letter(s), drained: {}",
        report.left, report.dead_letters, report.drained
    );
}
