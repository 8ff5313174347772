//! The server side of the benchmark in `examples/loadgen.rs`:
//! `cargo run --release --example bench_server -- --help`.
//!
//! `--mode bare` answers POST /webhooks with a plain axum route that reads
//! the body and answers 200; `--mode handwritten` with the receiver people
//! write by hand (hmac + sha2 + subtle, a `Mutex<HashSet>`, serde, `tokio::spawn`;
//! `examples/common/handwritten.rs`); `--mode pipeline` with the whole
//! hookwarden pipeline (allowlist, verify, envelope, the 202 once the
//! inbox keeps the delivery) and a typed catch-all that decodes the same
//! struct as the handwritten one; `--store` picks the inbox (memory by
//! default, or a durable one). All are served the same way (axum,
//! `ConnectInfo`, `TCP_NODELAY`), so the difference is the receiver.
//! On SIGINT or SIGTERM it prints its counters and the CPU time it used to
//! stderr, and exits.

mod common;
#[path = "common/handwritten.rs"]
mod handwritten;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::ConnectInfo;
use axum::routing::post;
use axum::serve::{Listener as _, ListenerExt as _};
use bytes::Bytes;
use hookwarden::event::Event;
use hookwarden::inbox::Inbox;
use hookwarden::ip::IpAllowlistLayer;
use hookwarden::router::EventRouter;
use hookwarden::scheme::StandardWebhooks;
use hookwarden::{ConfigError, Receiver, ReceiverHandle};
use http::StatusCode;

use common::{Args, DEMO_SECRET};

const USAGE: &str = "\
usage: cargo run --release --example bench_server -- [options]

  --mode MODE        bare (an axum route that reads the body, 200) |
                     handwritten (hmac/sha2/subtle, a Mutex<HashSet>, serde, tokio::spawn; 202) |
                     pipeline (the hookwarden receiver, 202); default pipeline
  --listen ADDR      default 127.0.0.1:3000; route POST /webhooks
  --threads N        runtime worker threads (default: the CPUs this process may use)
  --store URL        pipeline inbox: memory (default) | sqlite://PATH | postgres://… | redis://…
  --queue N          pipeline inbox capacity (default 65536)
  --workers N        pipeline handler concurrency (default 2)

Pipeline secret: the examples' demo secret. Counters on stderr at exit.";

const OPTIONS: &[&str] = &["mode", "listen", "threads", "store", "queue", "workers"];

fn main() {
    let args = Args::parse(OPTIONS, &[], USAGE);
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if let Some(threads) = args.parsed::<usize>("threads", USAGE) {
        runtime.worker_threads(threads.max(1));
    }
    let runtime = runtime
        .enable_all()
        .build()
        .unwrap_or_else(|e| common::fail(USAGE, &format!("no runtime: {e}")));
    runtime.block_on(serve(args));
}

async fn serve(args: Args) {
    common::init_logging("warn");
    let listen: SocketAddr = args.parsed("listen", USAGE).unwrap_or(([127, 0, 0, 1], 3000).into());
    let mode = args.get("mode").unwrap_or_else(|| "pipeline".to_owned());
    let queue: usize = args.parsed("queue", USAGE).unwrap_or(65536);
    let workers: usize = args.parsed("workers", USAGE).unwrap_or(2);

    let handwritten = handwritten::Handwritten::new(DEMO_SECRET);
    let (app, receiver) = match mode.as_str() {
        "bare" => (Router::new().route("/webhooks", post(bare)), None),
        "handwritten" => (
            Router::new()
                .route("/webhooks", post(handwritten::receive))
                .with_state(handwritten.clone()),
            None,
        ),
        "pipeline" => {
            let url = args.get("store");
            let inbox = match url.as_deref().and_then(|u| u.strip_prefix("sqlite://")) {
                // Kept as its own type, for its group-commit counters.
                #[cfg(feature = "sqlite")]
                Some(path) => {
                    let sqlite = hookwarden::inbox::SqliteInbox::builder(path)
                        .capacity(queue)
                        .open()
                        .unwrap_or_else(|e| common::fail(USAGE, &e.to_string()));
                    SQLITE.set(sqlite.clone()).expect("set once");
                    Arc::new(sqlite) as Arc<dyn Inbox>
                }
                _ => common::inbox(url, queue).await.unwrap_or_else(|e| common::fail(USAGE, &e)),
            };
            let receiver =
                pipeline(inbox, workers).unwrap_or_else(|e| common::fail(USAGE, &e.to_string()));
            (Router::new().route_service("/webhooks", receiver.service()), Some(receiver.handle()))
        }
        other => common::fail(
            USAGE,
            &format!("unknown --mode {other:?}: expected bare, handwritten or pipeline"),
        ),
    };
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .unwrap_or_else(|e| common::fail(USAGE, &format!("cannot listen on {listen}: {e}")))
        .tap_io(|tcp| {
            let _ = tcp.set_nodelay(true);
        });
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let settings = match &receiver {
        Some(handle) => format!(", inbox {:?}, workers {workers}", handle.inbox()),
        None => String::new(),
    };
    eprintln!(
        "bench_server: mode {mode}{settings}, listening on http://{}/webhooks ({threads} CPU(s) available)",
        listener.local_addr().expect("bound")
    );
    let started = Instant::now();
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(stop())
        .await
        .expect("server error");
    if let Some(handle) = receiver {
        report(&handle, started.elapsed()).await;
    }
    if mode == "handwritten" {
        let handled = handwritten.handled.load(std::sync::atomic::Ordering::Relaxed);
        eprintln!("bench_server: handwritten handled {handled}");
    }
}

/// The baseline: read the whole body, answer 200.
async fn bare(body: Bytes) -> StatusCode {
    drop(body);
    StatusCode::OK
}

fn pipeline(inbox: Arc<dyn Inbox>, workers: usize) -> Result<Receiver, ConfigError> {
    let allowlist = IpAllowlistLayer::new(["127.0.0.0/8", "::1/128"])?
        .peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip());
    // The same typed decode as the handwritten receiver's.
    let router = EventRouter::new().catch_all(|event: Event<handwritten::Ping>| async move {
        let ping = event.payload();
        let _ = (&ping.kind, &ping.data.id, ping.data.seq, &ping.data.pad);
        Ok::<_, std::convert::Infallible>(())
    });
    Receiver::builder(StandardWebhooks::new([DEMO_SECRET])?)
        .allowlist(allowlist)
        .router(router)
        .shared_inbox(inbox)
        .workers(workers)
        .build()
}

/// The SQLite inbox, when the benchmark runs on one.
#[cfg(feature = "sqlite")]
static SQLITE: std::sync::OnceLock<hookwarden::inbox::SqliteInbox> = std::sync::OnceLock::new();

async fn report(handle: &ReceiverHandle, uptime: Duration) {
    let waiting = handle.inbox().stats().await.map(|s| s.active()).unwrap_or_default();
    let report = handle.shutdown(Duration::from_secs(5)).await;
    let after = handle.stats();
    eprintln!(
        "bench_server: up {:.1} s; accepted {}, handled {}, dead-lettered {}; waiting at stop {}; \
         left after drain {}",
        uptime.as_secs_f64(),
        after.accepted,
        after.handled,
        after.dead_lettered,
        waiting,
        report.left
    );
    #[cfg(feature = "sqlite")]
    if let Some(sqlite) = SQLITE.get() {
        let batches = sqlite.commit_stats();
        eprintln!(
            "bench_server: sqlite group commit: commits {}, ops {}, largest {} ({:.1} writes per commit)",
            batches.commits,
            batches.ops,
            batches.largest,
            batches.mean()
        );
    }
}

async fn stop() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("a SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}
