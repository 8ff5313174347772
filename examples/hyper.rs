//! A plain hyper 1.x server (no axum) guarded by the IP allowlist and
//! GitHub signature verification.
//!
//! ```text
//! cargo run --example hyper -- [--listen ADDR] [--allow CIDR]... [--trust-proxy CIDR]...
//! ```
//!
//! `--listen` defaults to `127.0.0.1:3000` (`[::]:3000` is dual-stack);
//! `--allow` defaults to loopback; with `--trust-proxy`, those peers'
//! `X-Forwarded-For` is believed. The example prints a `curl` command that
//! sends a correctly signed delivery.
//!
//! hyper does not record the peer address, so each connection's service
//! puts it in the requests as a `PeerAddr` extension: without it, every
//! request would be refused with 500 `peer_address_unknown`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use hookwarden::VerifyLayer;
use hookwarden::ip::{ClientIp, ClientIpSource, IpAllowlistLayer, PeerAddr};
use hookwarden::scheme::GitHub;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::ServiceBuilder;

const SECRET: &str = "It's a Secret to Everybody";

/// The application: runs only for allowed, verified deliveries.
async fn handle(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let client = request.extensions().get::<ClientIp>().map(ToString::to_string);
    let event = request.headers().get("x-github-event").and_then(|v| v.to_str().ok());
    println!(
        "delivery from {} ({})",
        client.as_deref().unwrap_or("?"),
        event.unwrap_or("no event")
    );
    Ok(Response::new(Full::new(Bytes::from_static(b"thanks\n"))))
}

struct Args {
    listen: SocketAddr,
    allow: Vec<String>,
    trust: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut args = Args {
        listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
        allow: Vec::new(),
        trust: Vec::new(),
    };
    let mut argv = std::env::args().skip(1);
    while let Some(flag) = argv.next() {
        let mut value = || argv.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--listen" => args.listen = value()?.parse().map_err(|e| format!("--listen: {e}"))?,
            "--allow" => args.allow.push(value()?),
            "--trust-proxy" => args.trust.push(value()?),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if args.allow.is_empty() {
        args.allow = vec!["127.0.0.1/32".into(), "::1/128".into()];
    }
    Ok(args)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,hookwarden=debug".into()),
        )
        .init();
    let args = args()?;

    let mut allowlist = IpAllowlistLayer::new(&args.allow)?;
    if !args.trust.is_empty() {
        allowlist = allowlist.trust_proxies(&args.trust, ClientIpSource::XForwardedFor)?;
    }
    // Keep `allowlist.handle()` to replace the ranges while serving.
    let verify = VerifyLayer::new(GitHub::new([SECRET])?).max_body(256 * 1024);

    let listener = TcpListener::bind(args.listen).await?;
    let local = listener.local_addr()?;
    let body = r#"{"zen":"Keep it logically awesome."}"#;
    let signature = hookwarden::testing::github(SECRET, body.as_bytes());
    let signature = signature["x-hub-signature-256"].to_str()?;
    println!("listening on {local}; allowed: {}", args.allow.join(", "));
    let mut target = local;
    if target.ip().is_unspecified() {
        target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    println!(
        "try: curl -i http://{target}/ -H 'X-GitHub-Event: ping' \
         -H 'X-Hub-Signature-256: {signature}' --data '{body}'"
    );

    loop {
        let (stream, remote) = listener.accept().await?;
        // One service per connection, which knows its peer: the allowlist
        // runs first (before the body is read), then verification.
        let service = ServiceBuilder::new()
            .layer(PeerAddr(remote))
            .layer(allowlist.clone())
            .layer(verify.clone())
            .service_fn(handle);
        tokio::spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(error) = connection.await {
                eprintln!("connection from {remote}: {error}");
            }
        });
    }
}
