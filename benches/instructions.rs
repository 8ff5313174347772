//! Instructions per delivery, in process: the whole pipeline against the
//! bare axum route and the handwritten hmac/sha2 receiver, each an axum
//! `Router` called through tower with the same signed 1 KiB Standard
//! Webhooks deliveries (no sockets, so no scheduler or network noise).
//!
//! Run under callgrind by `bash benches/instructions.sh`, which counts only
//! inside [`deliver`] (`--toggle-collect`) for two delivery counts and
//! reports the difference per delivery: setup, signing and the first
//! allocations cancel out. Counting instructions, not time, makes a
//! regression of a few percent visible on a shared, noisy machine.
//!
//! Directly: `cargo bench --bench instructions -- MODE COUNT`, where MODE is
//! `bare`, `handwritten` or `pipeline`; it checks that every delivery was
//! answered as expected and, for the two receivers, handled.

#[path = "../examples/common/handwritten.rs"]
#[allow(dead_code)]
mod handwritten;

use std::hint::black_box;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::routing::post;
use bytes::Bytes;
use hookwarden::Receiver;
use hookwarden::event::Event;
use hookwarden::ip::IpAllowlistLayer;
use hookwarden::router::EventRouter;
use hookwarden::scheme::StandardWebhooks;
use hookwarden::testing;
use http::{Request, StatusCode};
use tower::ServiceExt as _;

/// The examples' demo secret, as `bench_server` uses it.
const SECRET: &str = "whsec_aG9va3dhcmRlbi1kZW1vLXNlY3JldC0zMi1ieXRlcyE=";
const BODY_BYTES: usize = 1024;

/// What a mode serves, and how to tell that its work is done.
struct Contender {
    app: Router,
    expected: StatusCode,
    handled: Box<dyn Fn() -> u64>,
}

fn contender(mode: &str) -> Contender {
    match mode {
        "bare" => Contender {
            app: Router::new().route("/webhooks", post(bare)),
            expected: StatusCode::OK,
            handled: Box::new(|| 0),
        },
        "handwritten" => {
            let state = handwritten::Handwritten::new(SECRET);
            let app = Router::new()
                .route("/webhooks", post(handwritten::receive))
                .with_state(state.clone());
            Contender {
                app,
                expected: StatusCode::ACCEPTED,
                handled: Box::new(move || state.handled.load(Ordering::Relaxed)),
            }
        }
        "pipeline" => {
            let handled = Arc::new(AtomicU64::new(0));
            let counter = handled.clone();
            // The same typed decode as the handwritten receiver's.
            let router = EventRouter::new().catch_all(move |event: Event<handwritten::Ping>| {
                let counter = counter.clone();
                async move {
                    let ping = event.payload();
                    black_box((&ping.kind, &ping.data.id, ping.data.seq, &ping.data.pad));
                    counter.fetch_add(1, Ordering::Relaxed);
                    Ok::<_, std::convert::Infallible>(())
                }
            });
            let allowlist = IpAllowlistLayer::new(["127.0.0.0/8", "::1/128"])
                .expect("valid ranges")
                .peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip());
            let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).expect("a secret"))
                .allowlist(allowlist)
                .router(router)
                .capacity(1 << 20)
                .workers(2)
                .build()
                .expect("a receiver");
            Contender {
                app: Router::new().route_service("/webhooks", receiver.service()),
                expected: StatusCode::ACCEPTED,
                handled: Box::new(move || handled.load(Ordering::Relaxed)),
            }
        }
        other => panic!("unknown mode {other:?}: expected bare, handwritten or pipeline"),
    }
}

async fn bare(body: Bytes) -> StatusCode {
    drop(body);
    StatusCode::OK
}

/// `count` unique deliveries, signed now, as a server would hand them over.
fn requests(count: usize) -> Vec<Request<Body>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40_000)));
    (0..count)
        .map(|seq| {
            let id = format!("evt_bench_{seq:08}");
            let head = format!(r#"{{"type":"bench.ping","data":{{"id":"{id}","seq":{seq},"pad":""#);
            let mut body = head.into_bytes();
            body.resize(BODY_BYTES - 3, b'x');
            body.extend_from_slice(br#""}}"#);
            let body = Bytes::from(body);
            let mut request = Request::post("/webhooks")
                .header("content-type", "application/json")
                .body(Body::from(body.clone()))
                .expect("a request");
            request.headers_mut().extend(testing::standard_webhooks(SECRET, &id, now, &body));
            request.extensions_mut().insert(peer);
            request
        })
        .collect()
}

/// The measured part: every request answered, then every delivery
/// handled (for the receivers, whose work runs after the answer).
#[inline(never)]
fn deliver(runtime: &tokio::runtime::Runtime, contender: &Contender, requests: Vec<Request<Body>>) {
    let count = requests.len() as u64;
    runtime.block_on(async {
        for request in requests {
            let response = contender.app.clone().oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), contender.expected, "unexpected answer");
            black_box(response);
        }
        if contender.expected != StatusCode::OK {
            while (contender.handled)() < count {
                tokio::task::yield_now().await;
            }
        }
    });
}

fn main() {
    // `cargo bench` adds `--bench`; skip any flag.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let mode = args.first().map_or("pipeline", String::as_str);
    let count: usize = args.get(1).map_or(1000, |n| n.parse().expect("COUNT is a number"));
    // One thread: the workers run between requests on the same thread, so
    // every instruction of a delivery is counted, and counted the same way
    // each run.
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let contender = runtime.block_on(async { contender(mode) });
    let requests = requests(count);
    deliver(&runtime, &contender, requests);
    println!("{mode}: {count} deliveries answered and handled");
}
