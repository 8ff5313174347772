//! A load generator for webhook receivers: `cargo run --release --example
//! loadgen -- --help`.
//!
//! It signs `--deliveries` unique Standard Webhooks deliveries before the
//! clock starts (each with its own `webhook-id`, signed with the current
//! time), opens `--connections` keep-alive HTTP/1.1 connections, and sends
//! requests one after another on each connection for `--duration` seconds.
//! It then prints requests per second, latency percentiles (p50, p90, p99,
//! p99.9, max) and the count of every response status, with the non-2xx
//! ones singled out; `--json` adds one machine-readable summary line on
//! stdout.
//!
//! `--duplicates R` mixes in a share `R` of requests that repeat a delivery
//! already sent on the same connection (answered 200 `duplicate` by a
//! receiver), and `--bad-signatures R` a share `R` of deliveries whose
//! signature does not match (answered 401). The `--deliveries` unique ones
//! stay unique; the mixed-in requests come on top. When every prepared
//! request has been sent the run stops early (it says so), unless `--cycle`
//! is given: then they are sent again, and are duplicates from then on.
//!
//! # The benchmark: the full pipeline against a bare route
//!
//! `bench_server` serves POST /webhooks either as a bare axum route that
//! reads the body and answers 200 (`--mode bare`) or through the whole
//! hookwarden pipeline (`--mode pipeline`: allowlist, verify, envelope,
//! in-memory dedupe, 202 ack, a handler doing nothing; queue 65536, 2
//! workers). On a 2-core machine, pin the server and the load generator to
//! separate cores, and sign enough deliveries for the whole run (a bare
//! route can take over 100,000 requests a second):
//!
//! ```text
//! cargo build --release --examples
//! taskset -c 0 target/release/examples/bench_server --mode bare --listen 127.0.0.1:3000 &
//! taskset -c 1 target/release/examples/loadgen --url http://127.0.0.1:3000/webhooks \
//!     --connections 32 --duration 10 --body-bytes 1024 --deliveries 1500000 --json
//! kill %1
//! # the same with --mode pipeline (it prints its counters when stopped);
//! # alternate the two modes several times and compare the medians
//! ```
//!
//! Every run signs fresh ids, so a server that outlives one run still sees
//! the next run's deliveries as new. The load generator runs on one thread
//! (`--threads` for more); when its core is saturated the figure is a floor
//! on the server's capacity, not the capacity itself. Measured numbers and
//! where the pipeline's time goes: `src/docs/benchmarks.md`.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::testing;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::sync::Barrier;

use common::{Args, DEMO_SECRET};

const USAGE: &str = "\
usage: cargo run --release --example loadgen -- [options]

  --url URL              where to post (default http://127.0.0.1:3000/webhooks)
  --connections C        keep-alive connections, one request at a time each (default 32)
  --duration SECS        how long to send, fractions allowed (default 10)
  --deliveries N         unique deliveries signed before the clock starts (default 200000)
  --body-bytes B         body size in bytes (default 1024)
  --secret S             Standard Webhooks signing secret (default: the demo secret)
  --duplicates R         share of extra requests repeating an earlier delivery (default 0)
  --bad-signatures R     share of extra requests with a wrong signature (default 0)
  --cycle                when every prepared request is sent, send them again
                         (as duplicates) instead of stopping
  --timeout SECS         per-request timeout; a timed-out connection is reopened (default 10)
  --threads N            runtime threads (default 1: a single-threaded runtime)
  --json                 also print one JSON summary line on stdout";

const OPTIONS: &[&str] = &[
    "url",
    "connections",
    "duration",
    "deliveries",
    "body-bytes",
    "secret",
    "duplicates",
    "bad-signatures",
    "timeout",
    "threads",
];

/// The event type of every generated delivery.
const EVENT_TYPE: &str = "loadgen.ping";

/// What a prepared request is meant to test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A delivery not sent before.
    Unique,
    /// A repeat of a delivery sent earlier on the same connection.
    Duplicate,
    /// A delivery whose signature does not match.
    BadSignature,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Unique => "unique",
            Kind::Duplicate => "duplicate",
            Kind::BadSignature => "bad_signature",
        }
    }
}

/// One request, signed and ready to send.
#[derive(Clone)]
struct Prepared {
    kind: Kind,
    headers: HeaderMap,
    body: Bytes,
}

struct Config {
    url: Uri,
    addr: SocketAddr,
    connections: usize,
    duration: Duration,
    deliveries: usize,
    body_bytes: usize,
    secret: String,
    duplicates: f64,
    bad_signatures: f64,
    cycle: bool,
    timeout: Duration,
    threads: usize,
    json: bool,
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    statuses: BTreeMap<(Kind, u16), u64>,
    errors: u64,
    last_error: Option<String>,
    exhausted: bool,
    finished: Option<Instant>,
}

impl Tally {
    fn error(&mut self, error: String) {
        self.errors += 1;
        self.last_error = Some(error);
    }
}

/// A small deterministic generator (splitmix64), for the mix of request
/// kinds.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn main() {
    let config = parse();
    let runtime = if config.threads <= 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.threads)
            .enable_all()
            .build()
    };
    let runtime = runtime.unwrap_or_else(|e| common::fail(USAGE, &format!("no runtime: {e}")));
    runtime.block_on(run(config));
}

fn parse() -> Config {
    let args = Args::parse(OPTIONS, &["json", "cycle"], USAGE);
    let url: Uri = args
        .get("url")
        .unwrap_or_else(|| "http://127.0.0.1:3000/webhooks".to_owned())
        .parse()
        .unwrap_or_else(|e| common::fail(USAGE, &format!("invalid --url: {e}")));
    if url.scheme_str() != Some("http") {
        common::fail(USAGE, "--url must be http://HOST:PORT/PATH");
    }
    let Some(authority) = url.authority() else { common::fail(USAGE, "--url needs a host") };
    let host = authority.host().trim_start_matches('[').trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .ok()
        .and_then(|mut addrs| addrs.next())
        .unwrap_or_else(|| common::fail(USAGE, &format!("cannot resolve {host}:{port}")));
    let ratio = |name: &str| {
        let r: f64 = args.parsed(name, USAGE).unwrap_or(0.0);
        if !(0.0..1.0).contains(&r) {
            common::fail(USAGE, &format!("--{name} must be in [0, 1)"));
        }
        r
    };
    let (duplicates, bad_signatures) = (ratio("duplicates"), ratio("bad-signatures"));
    if duplicates + bad_signatures >= 1.0 {
        common::fail(USAGE, "--duplicates plus --bad-signatures must be below 1");
    }
    let seconds = |name: &str, default: f64| {
        let s: f64 = args.parsed(name, USAGE).unwrap_or(default);
        if !(s > 0.0 && s.is_finite()) {
            common::fail(USAGE, &format!("--{name} must be a positive number of seconds"));
        }
        Duration::from_secs_f64(s)
    };
    let config = Config {
        addr,
        connections: args.parsed("connections", USAGE).unwrap_or(32),
        duration: seconds("duration", 10.0),
        deliveries: args.parsed("deliveries", USAGE).unwrap_or(200_000),
        body_bytes: args.parsed("body-bytes", USAGE).unwrap_or(1024),
        secret: args.get("secret").unwrap_or_else(|| DEMO_SECRET.to_owned()),
        duplicates,
        bad_signatures,
        cycle: args.flag("cycle"),
        timeout: seconds("timeout", 10.0),
        threads: args.parsed("threads", USAGE).unwrap_or(1),
        json: args.flag("json"),
        url,
    };
    if config.connections == 0 || config.deliveries == 0 {
        common::fail(USAGE, "--connections and --deliveries must be at least 1");
    }
    config
}

/// A JSON body of exactly `size` bytes (or the smallest that holds the
/// event, if `size` is smaller).
fn body(id: &str, seq: usize, size: usize) -> Bytes {
    let head = format!(r#"{{"type":"{EVENT_TYPE}","data":{{"id":"{id}","seq":{seq},"pad":""#);
    let tail = r#""}}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    let mut body = String::with_capacity(head.len() + pad + tail.len());
    body.push_str(&head);
    body.extend(std::iter::repeat_n('x', pad));
    body.push_str(tail);
    Bytes::from(body)
}

/// Signs the requests, dealt round-robin to the connections: `deliveries`
/// unique ones plus the shares of duplicates and bad signatures.
fn prepare(config: &Config) -> Vec<Vec<Prepared>> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
    // Fresh ids on every run, so a receiver that remembers earlier runs
    // still sees these deliveries as new.
    let run = hookwarden::store::ClaimToken::random().to_hex();
    let run = &run[..12.min(run.len())];
    let host = HeaderValue::try_from(config.url.authority().expect("checked").as_str())
        .expect("an authority is a valid header value");
    let extra = config.duplicates + config.bad_signatures;
    let total = (config.deliveries as f64 / (1.0 - extra)).ceil() as usize;
    let mut mix = Mix(now ^ 0x6c6f_6164_6765_6e21);
    let mut lanes: Vec<Vec<Prepared>> = (0..config.connections)
        .map(|_| Vec::with_capacity(total / config.connections + 1))
        .collect();
    // Where each lane's unique deliveries are, for duplicates to repeat.
    let mut originals: Vec<Vec<usize>> = vec![Vec::new(); config.connections];
    let (mut slot, mut unique) = (0, 0);
    while unique < config.deliveries {
        let (lane, originals) =
            (&mut lanes[slot % config.connections], &mut originals[slot % config.connections]);
        slot += 1;
        let roll = mix.unit();
        // Only repeat what this connection sends before; with nothing to
        // repeat yet, send a unique delivery.
        if roll < config.duplicates && !originals.is_empty() {
            let original = &lane[originals[mix.below(originals.len())]];
            let repeat = Prepared { kind: Kind::Duplicate, ..original.clone() };
            lane.push(repeat);
            continue;
        }
        let bad = roll >= config.duplicates && roll < extra;
        let id = format!("evt_{run}_{slot:08}");
        let body = body(&id, slot, config.body_bytes);
        let mut headers = testing::standard_webhooks(&config.secret, &id, now, &body);
        if bad {
            // Signed over another id: well-formed, but it does not match.
            let wrong = testing::standard_webhooks(&config.secret, &format!("{id}x"), now, &body);
            headers.insert("webhook-signature", wrong["webhook-signature"].clone());
        } else {
            unique += 1;
            originals.push(lane.len());
        }
        headers.insert(HOST, host.clone());
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let kind = if bad { Kind::BadSignature } else { Kind::Unique };
        lane.push(Prepared { kind, headers, body });
    }
    lanes
}

async fn run(config: Config) {
    let started = Instant::now();
    let lanes = prepare(&config);
    let count = |kind: Kind| lanes.iter().flatten().filter(|p| p.kind == kind).count();
    let (unique, duplicates, bad) =
        (count(Kind::Unique), count(Kind::Duplicate), count(Kind::BadSignature));
    eprintln!(
        "loadgen: signed {} requests ({unique} unique, {duplicates} duplicates, {bad} bad signatures) \
         of {} bytes in {:.2} s",
        unique + duplicates + bad,
        config.body_bytes,
        started.elapsed().as_secs_f64()
    );
    eprintln!(
        "loadgen: {} with {} connections for {:.1} s",
        config.url,
        config.connections,
        config.duration.as_secs_f64()
    );

    let config = Arc::new(config);
    let path: Uri = config
        .url
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .expect("a path is a valid origin-form URI");
    // Every connection connects first; the clock starts when all are ready.
    let barrier = Arc::new(Barrier::new(config.connections + 1));
    let tasks: Vec<_> = lanes
        .into_iter()
        .map(|lane| {
            let (config, barrier, path) = (config.clone(), barrier.clone(), path.clone());
            tokio::spawn(connection(config, barrier, path, lane))
        })
        .collect();
    barrier.wait().await;
    let start = Instant::now();
    let mut total = Tally::default();
    for task in tasks {
        let tally = task.await.expect("a connection task panicked");
        total.latencies_us.extend(tally.latencies_us);
        for (key, n) in tally.statuses {
            *total.statuses.entry(key).or_default() += n;
        }
        total.errors += tally.errors;
        total.last_error = tally.last_error.or(total.last_error);
        total.exhausted |= tally.exhausted;
        total.finished = total.finished.max(tally.finished);
    }
    let elapsed = total.finished.unwrap_or_else(Instant::now).saturating_duration_since(start);
    report(&config, &mut total, elapsed);
    if total.latencies_us.is_empty() {
        eprintln!("error: no request was answered");
        std::process::exit(1);
    }
}

async fn connect(
    addr: SocketAddr,
) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>, String> {
    let stream = TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
    stream.set_nodelay(true).map_err(|e| format!("TCP_NODELAY: {e}"))?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(async move {
        // Errors show up on the sender as well.
        let _ = connection.await;
    });
    Ok(sender)
}

/// Sends this connection's requests one after another until the time is up.
async fn connection(
    config: Arc<Config>,
    barrier: Arc<Barrier>,
    path: Uri,
    mut lane: Vec<Prepared>,
) -> Tally {
    let mut tally = Tally::default();
    tally.latencies_us.reserve(lane.len());
    let mut sender = connect(config.addr).await;
    barrier.wait().await;
    let deadline = Instant::now() + config.duration;
    let (mut next, mut repeating) = (0, false);
    loop {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if next == lane.len() {
            if !config.cycle || lane.is_empty() {
                tally.exhausted = true;
                break;
            }
            next = 0;
            repeating = true;
        }
        let sending = match &mut sender {
            Ok(sending) => sending,
            Err(error) => {
                tally.error(error.clone());
                tokio::time::sleep(Duration::from_millis(100)).await;
                sender = connect(config.addr).await;
                continue;
            }
        };
        let prepared = &mut lane[next];
        next += 1;
        let kind = match prepared.kind {
            Kind::Unique if repeating => Kind::Duplicate,
            kind => kind,
        };
        // Sent once: move the headers out; cycling: keep them for the next round.
        let headers = if config.cycle {
            prepared.headers.clone()
        } else {
            std::mem::take(&mut prepared.headers)
        };
        let mut request = Request::new(Full::new(prepared.body.clone()));
        *request.method_mut() = Method::POST;
        *request.uri_mut() = path.clone();
        *request.headers_mut() = headers;
        let sent = Instant::now();
        let exchange = async {
            sending.ready().await.map_err(|e| format!("connection: {e}"))?;
            let response =
                sending.send_request(request).await.map_err(|e| format!("request: {e}"))?;
            let status = response.status().as_u16();
            response.into_body().collect().await.map_err(|e| format!("response body: {e}"))?;
            Ok::<_, String>(status)
        };
        match tokio::time::timeout(config.timeout, exchange).await {
            Ok(Ok(status)) => {
                let micros = sent.elapsed().as_micros().min(u32::MAX as u128) as u32;
                tally.latencies_us.push(micros);
                *tally.statuses.entry((kind, status)).or_default() += 1;
            }
            Ok(Err(error)) => {
                tally.error(error);
                sender = connect(config.addr).await;
            }
            Err(_) => {
                tally.error(format!("no response within {:?}", config.timeout));
                sender = connect(config.addr).await;
            }
        }
    }
    tally.finished = Some(Instant::now());
    tally
}

/// The latency below which `q` of the sorted samples fall (nearest rank).
fn percentile(sorted: &[u32], q: f64) -> u32 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn report(config: &Config, total: &mut Tally, elapsed: Duration) {
    let latencies = &mut total.latencies_us;
    latencies.sort_unstable();
    let requests = latencies.len() as u64;
    let seconds = elapsed.as_secs_f64().max(1e-9);
    let rps = requests as f64 / seconds;
    let mean = latencies.iter().map(|&l| u64::from(l)).sum::<u64>() as f64 / requests.max(1) as f64;
    let (p50, p90, p99, p999) = (
        percentile(latencies, 0.50),
        percentile(latencies, 0.90),
        percentile(latencies, 0.99),
        percentile(latencies, 0.999),
    );
    let max = latencies.last().copied().unwrap_or(0);

    let mut by_status: BTreeMap<u16, u64> = BTreeMap::new();
    for (&(_, status), &n) in &total.statuses {
        *by_status.entry(status).or_default() += n;
    }
    let non_2xx: BTreeMap<u16, u64> =
        by_status.iter().filter(|(s, _)| !(200..300).contains(*s)).map(|(&s, &n)| (s, n)).collect();
    let list = |map: &BTreeMap<u16, u64>| {
        if map.is_empty() {
            return "none".to_owned();
        }
        map.iter().map(|(s, n)| format!("{s}: {n}")).collect::<Vec<_>>().join(", ")
    };

    eprintln!("requests:  {requests} in {seconds:.2} s = {rps:.0} req/s");
    eprintln!(
        "latency:   p50 {} · p90 {} · p99 {} · p99.9 {} · max {} · mean {} (ms)",
        ms(p50),
        ms(p90),
        ms(p99),
        ms(p999),
        ms(max),
        ms(mean as u32)
    );
    eprintln!("statuses:  {}", list(&by_status));
    eprintln!("non-2xx:   {}", list(&non_2xx));
    if config.duplicates > 0.0 || config.bad_signatures > 0.0 || config.cycle {
        for (&(kind, status), n) in &total.statuses {
            eprintln!("  {:<14} {status}: {n}", kind.name());
        }
    }
    if total.errors > 0 {
        eprintln!(
            "errors:    {} (last: {})",
            total.errors,
            total.last_error.as_deref().unwrap_or("?")
        );
    }
    if total.exhausted {
        eprintln!(
            "note: a connection sent all its prepared requests before the time was up; \
             raise --deliveries or pass --cycle"
        );
    }

    if config.json {
        let statuses = |map: &BTreeMap<u16, u64>| {
            map.iter()
                .map(|(s, n)| (s.to_string(), serde_json::json!(n)))
                .collect::<serde_json::Map<_, _>>()
        };
        let mut by_kind = serde_json::Map::new();
        for (&(kind, status), &n) in &total.statuses {
            let entry = by_kind.entry(kind.name()).or_insert_with(|| serde_json::json!({}));
            entry[status.to_string()] = n.into();
        }
        let line = serde_json::json!({
            "url": config.url.to_string(),
            "connections": config.connections,
            "duration_s": seconds,
            "body_bytes": config.body_bytes,
            "requests": requests,
            "rps": rps,
            "p50_us": p50,
            "p90_us": p90,
            "p99_us": p99,
            "p999_us": p999,
            "max_us": max,
            "mean_us": mean,
            "statuses": statuses(&by_status),
            "non_2xx": statuses(&non_2xx),
            "by_kind": by_kind,
            "errors": total.errors,
            "exhausted": total.exhausted,
        });
        println!("{line}");
    }
}

fn ms(micros: u32) -> String {
    format!("{:.2}", f64::from(micros) / 1000.0)
}
