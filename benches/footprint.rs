//! Memory footprint of the in-memory store and inbox, and the store's
//! insert latency as it grows: "RSS at 1M retained ids and at 50k queued
//! deliveries; no latency spikes as the store grows".
//!
//! Each scenario runs in a fresh process (this binary again, with
//! `--scenario NAME`), so the memory one leaves behind does not count in
//! the next. A scenario reads `VmRSS` and `VmHWM` from `/proc/self/status`
//! once its empty structure is built and warmed up, and again when it is
//! full; the growth divided by the items held is the cost of one item,
//! allocator overhead included (and, for tables, the room left for growth).
//!
//! * `store`: a [`MemoryStore`] holding 1,000,000 keys claimed and
//!   completed, all within their retention (bound 2,000,000, so none is
//!   evicted). Bytes per key, and the store's own estimate
//!   ([`MemoryStore::memory_usage`]). Every claim that inserts a key is
//!   timed: p50, p99, p99.99 and max per slice of 100,000 keys, the count
//!   over 50 µs, and the slowest inserts with the number of keys held when
//!   each ran. After each insert, outside the timed part, the store's
//!   `memory_usage` and `len` tell whether it grew a shard's table or
//!   evicted, so a spike can be put down to the table's growth or not.
//! * `store-at-bound`: the same at the default bound (1,000,000), which
//!   each of the 1024 shards holds with a margin over its even share: how
//!   many keys are kept (all, unless a shard is unluckily full), and what
//!   any evictions cost in latency.
//! * `inbox-done`: a [`MemoryInbox`] remembering 1,000,000 done delivery
//!   ids (each accepted, leased and completed through the `Inbox` trait;
//!   `max_remembered` 2,000,000, as the default would already forget some),
//!   1 KiB bodies. Bytes per id (the last 64 done deliveries are kept
//!   whole, body included, and count too), and the latency of one accept +
//!   lease + complete, per slice as for the store.
//! * `inbox-queued`: 50,000 deliveries of 1 KiB accepted and not handled,
//!   built as the receiver builds them (a copy of the body, scheme, dedupe
//!   key, timestamp, client address); bytes per delivery, and beyond the
//!   body.
//! * `receiver-queued`: the same through a whole [`Receiver`] (Standard
//!   Webhooks verification, envelope, the 202), driven in process through
//!   its tower service; its one worker is stuck in the handler on the first
//!   delivery, so the next 50,000 wait in the inbox.
//!
//! ```sh
//! cargo bench --bench footprint                      # every scenario, a few seconds
//! cargo bench --bench footprint -- store inbox-done  # some
//! ```
//!
//! Prints a table and appends one JSON line per scenario (with the commit
//! and the date) to `${CARGO_TARGET_DIR:-target}/footprint.jsonl`. Sizes
//! are in KiB and bytes, times in nanoseconds. The latencies are wall-clock
//! times on a possibly shared machine: a spike that is neither a growth nor
//! an eviction may be the scheduler's, and any operation that first touches
//! a fresh page of memory pays a page fault (on a virtual machine, a single
//! one can take a few hundred microseconds).

use std::convert::Infallible;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::Receiver;
use hookwarden::event::Delivery;
use hookwarden::inbox::{Accept, AttemptOutcome, AttemptRecord, Inbox, MemoryInbox};
use hookwarden::router::EventRouter;
use hookwarden::scheme::StandardWebhooks;
use hookwarden::store::{Claim, ClaimToken, IdempotencyStore, MemoryStore};
use hookwarden::testing;
use http::StatusCode;
use serde_json::{Value, json};
use tower::ServiceExt as _;

#[path = "common/keys.rs"]
mod keys;
use keys::Keys;

const RETAINED: u64 = 1_000_000;
const QUEUED: u64 = 50_000;
const SLICE: u64 = 100_000;
const BODY_BYTES: usize = 1024;
/// An insert slower than this counts as a spike.
const SPIKE_NS: u64 = 50_000;
const LEASE: Duration = Duration::from_secs(60);
const RETAIN: Duration = Duration::from_secs(3600);
/// The examples' demo secret, as `bench_server` uses it.
const SECRET: &str = "whsec_aG9va3dhcmRlbi1kZW1vLXNlY3JldC0zMi1ieXRlcyE=";

const SCENARIOS: &[&str] =
    &["store", "store-at-bound", "inbox-done", "inbox-queued", "receiver-queued"];

fn main() {
    // `cargo bench` adds `--bench`; other flags are ignored too.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(at) = args.iter().position(|a| a == "--scenario") {
        let name = args.get(at + 1).expect("--scenario NAME");
        let result = run(name);
        println!("{result}");
        return;
    }
    let wanted: Vec<&str> =
        args.iter().map(String::as_str).filter(|a| !a.starts_with("--")).collect();
    for name in &wanted {
        assert!(
            SCENARIOS.contains(name),
            "unknown scenario {name:?}: expected one of {SCENARIOS:?}"
        );
    }
    let (commit, date) = (commit(), today());
    let out = std::path::Path::new(&std::env::var("CARGO_TARGET_DIR").unwrap_or("target".into()))
        .join("footprint.jsonl");
    let mut results = Vec::new();
    for name in SCENARIOS.iter().filter(|n| wanted.is_empty() || wanted.contains(n)) {
        eprintln!("footprint: {name} …");
        let started = Instant::now();
        let mut result = in_child(name);
        result["commit"] = json!(commit);
        result["date"] = json!(date);
        result["seconds"] = json!((started.elapsed().as_secs_f64() * 10.0).round() / 10.0);
        append(&out, &result);
        results.push(result);
    }
    print!("{}", table(&results));
    println!("JSON lines appended to {}", out.display());
}

/// Runs one scenario in a fresh process and returns its JSON line.
fn in_child(name: &str) -> Value {
    let exe = std::env::current_exe().expect("this binary's path");
    let output = Command::new(exe)
        .args(["--scenario", name])
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("the scenario process starts");
    assert!(output.status.success(), "scenario {name} failed: {}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("scenario {name}: {e}: {line:?}"))
}

fn run(name: &str) -> Value {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let mut result = match name {
        "store" => runtime.block_on(store(2 * RETAINED as usize)),
        "store-at-bound" => runtime.block_on(store(1_000_000)),
        "inbox-done" => runtime.block_on(inbox_done()),
        "inbox-queued" => runtime.block_on(inbox_queued()),
        "receiver-queued" => runtime.block_on(receiver_queued()),
        other => panic!("unknown scenario {other:?}"),
    };
    result["scenario"] = json!(name);
    result
}

/// `VmRSS` and `VmHWM` (the peak) of this process, in KiB.
fn memory() -> Memory {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status (Linux)");
    let field = |name: &str| {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} in /proc/self/status"))
    };
    Memory { rss_kib: field("VmRSS:"), hwm_kib: field("VmHWM:") }
}

#[derive(Clone, Copy)]
struct Memory {
    rss_kib: u64,
    hwm_kib: u64,
}

/// The memory figures of a scenario holding `items` things.
fn footprint(before: Memory, after: Memory, items: u64) -> Value {
    let grown = after.rss_kib.saturating_sub(before.rss_kib) * 1024;
    json!({
        "items": items,
        "rss_before_kib": before.rss_kib,
        "rss_after_kib": after.rss_kib,
        "hwm_kib": after.hwm_kib,
        "bytes_per_item": round1(grown as f64 / items as f64),
        "peak_bytes_per_item": round1(
            after.hwm_kib.saturating_sub(before.rss_kib) as f64 * 1024.0 / items as f64
        ),
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// What else an operation did, when the store can tell.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Nothing,
    /// A shard's table grew (its allocation changed size).
    Growth,
    /// A full shard evicted keys.
    Eviction,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Event::Nothing => "",
            Event::Growth => "table growth",
            Event::Eviction => "eviction",
        }
    }
}

/// Per-operation latencies, kept one slice at a time (the buffer is
/// allocated and touched before the baseline, so it does not count).
struct Latencies {
    slice: Vec<u64>,
    slices: Vec<Value>,
    /// The slowest operations: (nanoseconds, index, event).
    worst: Vec<(u64, u64, Event)>,
    /// In this slice: operations that grew a table or evicted, and the
    /// spikes among them.
    events: [u64; 2],
    spikes_with: [u64; 2],
    /// The slowest operation of each kind (nothing else, growth,
    /// eviction): (nanoseconds, index).
    slowest_by_event: [Option<(u64, u64)>; 3],
    done: u64,
}

impl Latencies {
    fn new() -> Self {
        let mut slice = vec![u64::MAX; SLICE as usize];
        slice.clear();
        Self {
            slice,
            slices: Vec::new(),
            worst: Vec::new(),
            events: [0; 2],
            spikes_with: [0; 2],
            slowest_by_event: [None; 3],
            done: 0,
        }
    }

    fn record(&mut self, took: Duration, event: Event) {
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        if self.worst.len() < 5 || ns > self.worst[4].0 {
            self.worst.push((ns, self.done, event));
            self.worst.sort_unstable_by(|a, b| b.cmp(a));
            self.worst.truncate(5);
        }
        let slowest = &mut self.slowest_by_event[event as usize];
        if slowest.is_none_or(|(worst, _)| ns > worst) {
            *slowest = Some((ns, self.done));
        }
        if event != Event::Nothing {
            let i = usize::from(event == Event::Eviction);
            self.events[i] += 1;
            self.spikes_with[i] += u64::from(ns > SPIKE_NS);
        }
        self.slice.push(ns);
        self.done += 1;
        if self.slice.len() as u64 == SLICE {
            self.close_slice();
        }
    }

    fn close_slice(&mut self) {
        if self.slice.is_empty() {
            return;
        }
        let n = self.slice.len();
        let over = self.slice.iter().filter(|&&ns| ns > SPIKE_NS).count();
        let (events, spikes_with) =
            (std::mem::take(&mut self.events), std::mem::take(&mut self.spikes_with));
        self.slice.sort_unstable();
        let at = |q: f64| self.slice[((q * n as f64).ceil() as usize).clamp(1, n) - 1];
        self.slices.push(json!({
            "from": self.done - n as u64,
            "to": self.done,
            "p50_ns": at(0.5),
            "p99_ns": at(0.99),
            "p9999_ns": at(0.9999),
            "max_ns": self.slice[n - 1],
            "over_50us": over,
            "growths": events[0],
            "over_50us_growing": spikes_with[0],
            "evictions": events[1],
            "over_50us_evicting": spikes_with[1],
        }));
        self.slice.clear();
    }

    fn finish(mut self) -> Value {
        self.close_slice();
        let slowest = |at: Option<(u64, u64)>| at.map(|(ns, at)| json!({"ns": ns, "at": at}));
        json!({
            "slices": self.slices,
            "worst": self
                .worst
                .iter()
                .map(|&(ns, at, event)| json!({"ns": ns, "at": at, "event": event.name()}))
                .collect::<Vec<_>>(),
            "slowest_plain": slowest(self.slowest_by_event[Event::Nothing as usize]),
            "slowest_growth": slowest(self.slowest_by_event[Event::Growth as usize]),
            "slowest_eviction": slowest(self.slowest_by_event[Event::Eviction as usize]),
        })
    }
}

/// 1,000,000 keys claimed and completed in a store with this bound.
async fn store(bound: usize) -> Value {
    let store = MemoryStore::builder().max_entries(bound).build();
    let mut keys = Keys::new();
    let mut latencies = Latencies::new();
    // Warm up the code paths and the allocator on another namespace's keys
    // (removed again), so the baseline has them.
    let warm = store.with_namespace("warm-up");
    for n in 0..1000 {
        let token = ClaimToken::from_u128(u128::from(n) + 1);
        warm.claim(keys.get(n), &token, LEASE).await.expect("a claim");
        warm.release(keys.get(n), &token).await.expect("a release");
    }
    let before = memory();
    let (mut size, mut held) = (store.memory_usage(), 0);
    let mut busy = Duration::ZERO;
    for n in 0..RETAINED {
        let key = keys.get(n);
        let token = ClaimToken::from_u128(u128::from(n) + 1);
        let at = Instant::now();
        let claim = store.claim(key, &token, LEASE).await.expect("a claim");
        let took = at.elapsed();
        assert!(matches!(claim, Claim::Claimed(_)), "a fresh key");
        assert!(store.complete(key, &token, RETAIN).await.expect("a completion"));
        busy += at.elapsed();
        // Outside the timed part: did this insert grow a table, or evict?
        let (now_size, now_held) = (store.memory_usage(), store.len());
        let event = if now_held <= held {
            Event::Eviction
        } else if now_size > size {
            Event::Growth
        } else {
            Event::Nothing
        };
        (size, held) = (now_size, now_held);
        latencies.record(took, event);
    }
    let after = memory();
    let held = store.len() as u64;
    let mut result = footprint(before, after, held);
    result["bound"] = json!(bound);
    result["inserted"] = json!(RETAINED);
    result["evicted"] = json!(RETAINED - held);
    result["estimate_bytes_per_item"] =
        json!(round1(store.memory_usage() as f64 / held.max(1) as f64));
    result["ns_per_claim_complete"] = json!(busy.as_nanos() as u64 / RETAINED);
    result["latency"] = latencies.finish();
    result
}

/// Delivery number `seq`: its id and its JSON body of [`BODY_BYTES`].
fn payload(seq: u64) -> (String, Vec<u8>) {
    let id = format!("msg_footprint_{seq:010}");
    let head = format!(r#"{{"type":"bench.ping","data":{{"id":"{id}","seq":{seq},"pad":""#);
    let mut body = head.into_bytes();
    body.resize(BODY_BYTES - 3, b'x');
    body.extend_from_slice(br#""}}"#);
    (id, body)
}

/// One delivery as the receiver's acknowledgement builds it.
fn delivery(seq: u64, received: u64) -> Delivery {
    let (id, body) = payload(seq);
    Delivery::new(id.as_str(), "bench.ping", "1", Bytes::copy_from_slice(&body))
        .with_scheme("standard-webhooks")
        .with_dedupe_key(id.as_str())
        .with_timestamp(Some(received))
        .with_client_ip(Some(IpAddr::V4(Ipv4Addr::LOCALHOST)))
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs()
}

/// 1,000,000 deliveries accepted, leased and completed: done ids remembered.
async fn inbox_done() -> Value {
    let inbox = MemoryInbox::builder().capacity(16).max_remembered(2 * RETAINED as usize).build();
    let handled = AttemptRecord::new(1, AttemptOutcome::Handled, Duration::from_micros(5));
    let now = unix_now();
    let mut latencies = Latencies::new();
    let cycle = |seq| {
        let inbox = &inbox;
        let handled = &handled;
        async move {
            let delivery = delivery(seq, now);
            let at = Instant::now();
            assert_eq!(inbox.accept(&delivery.into()).await.expect("accepted"), Accept::Accepted);
            let leased = inbox.lease(1, LEASE).await.expect("a lease");
            assert!(inbox.complete(&leased[0].lease, handled).await.expect("completed"));
            at.elapsed()
        }
    };
    // The first 64 done deliveries are kept whole, and replaced by later
    // ones: warm up past them so the baseline holds them.
    const WARM: u64 = 1000;
    for seq in 0..WARM {
        cycle(seq).await;
    }
    let before = memory();
    let started = Instant::now();
    for seq in WARM..WARM + RETAINED {
        latencies.record(cycle(seq).await, Event::Nothing);
    }
    let elapsed = started.elapsed();
    let after = memory();
    let stats = inbox.stats().await.expect("stats");
    assert_eq!(stats.done, WARM + RETAINED, "every done id remembered");
    let mut result = footprint(before, after, RETAINED);
    result["remembered"] = json!(stats.done);
    result["ns_per_delivery"] = json!(elapsed.as_nanos() as u64 / RETAINED);
    result["latency"] = latencies.finish();
    result
}

/// 50,000 deliveries of 1 KiB accepted and waiting.
async fn inbox_queued() -> Value {
    let inbox = MemoryInbox::with_capacity(QUEUED as usize + 1);
    let now = unix_now();
    // One in, to warm up the inbox's maps and the allocator.
    assert_eq!(inbox.accept(&delivery(0, now).into()).await.expect("accepted"), Accept::Accepted);
    let before = memory();
    for seq in 1..=QUEUED {
        assert_eq!(
            inbox.accept(&delivery(seq, now).into()).await.expect("accepted"),
            Accept::Accepted
        );
    }
    let after = memory();
    let stats = inbox.stats().await.expect("stats");
    assert_eq!(stats.pending, QUEUED + 1);
    queued(footprint(before, after, QUEUED))
}

/// 50,000 deliveries of 1 KiB through a Receiver whose one worker is busy.
async fn receiver_queued() -> Value {
    let router = EventRouter::new().catch_all_raw(|_| async {
        // The worker never comes back: everything after the first waits.
        std::future::pending::<Result<(), Infallible>>().await
    });
    let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).expect("a secret"))
        .router(router)
        .capacity(QUEUED as usize + 16)
        .workers(1)
        .attempt_timeout(Duration::from_secs(3600))
        .build()
        .expect("a receiver");
    let service = receiver.service();
    let handle = receiver.handle();
    let now = unix_now();
    let send = |seq: u64| {
        let service = service.clone();
        async move {
            let (id, body) = payload(seq);
            let headers = testing::standard_webhooks(SECRET, &id, now, &body);
            let request = testing::request("/webhooks", headers, body);
            let response = service.oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), StatusCode::ACCEPTED);
        }
    };
    // The first delivery takes the worker; wait until it is leased.
    send(0).await;
    for _ in 0..1000 {
        if handle.inbox().stats().await.expect("stats").leased == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let before = memory();
    for seq in 1..=QUEUED {
        send(seq).await;
    }
    let after = memory();
    let stats = handle.inbox().stats().await.expect("stats");
    assert_eq!((stats.leased, stats.pending), (1, QUEUED), "one handled, the rest queued");
    queued(footprint(before, after, QUEUED))
}

fn queued(mut result: Value) -> Value {
    let per = result["bytes_per_item"].as_f64().expect("a number");
    result["body_bytes"] = json!(BODY_BYTES);
    result["beyond_body_bytes"] = json!(round1(per - BODY_BYTES as f64));
    result
}

fn table(results: &[Value]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{:<16} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "scenario", "items", "RSS MiB", "peak MiB", "B/item", "peak", "estimate", "> body"
    );
    for r in results {
        let mib = |field: &str| r[field].as_f64().unwrap_or(0.0) / 1024.0;
        let or_dash = |v: &Value| v.as_f64().map_or("—".to_owned(), |b| format!("{b:.1}"));
        let _ = writeln!(
            out,
            "{:<16} {:>9} {:>9.1} {:>9.1} {:>8.1} {:>8.1} {:>8} {:>8}",
            r["scenario"].as_str().unwrap_or("?"),
            r["items"],
            mib("rss_after_kib") - mib("rss_before_kib"),
            mib("hwm_kib") - mib("rss_before_kib"),
            r["bytes_per_item"].as_f64().unwrap_or(0.0),
            r["peak_bytes_per_item"].as_f64().unwrap_or(0.0),
            or_dash(&r["estimate_bytes_per_item"]),
            or_dash(&r["beyond_body_bytes"]),
        );
    }
    let _ = writeln!(
        out,
        "(RSS growth over the empty, warmed-up structure; peak: VmHWM; estimate: \
         MemoryStore::memory_usage; > body: bytes per delivery beyond its {BODY_BYTES} B body)"
    );
    for r in results {
        let Some(slices) = r["latency"]["slices"].as_array() else { continue };
        let name = r["scenario"].as_str().unwrap_or("?");
        let _ = writeln!(out, "\n{name}: latency of each operation, per slice (µs)");
        if r["evicted"].as_u64().is_some_and(|e| e > 0) {
            let _ = writeln!(
                out,
                "  at the bound of {}: {} of {} keys kept, {} evicted",
                r["bound"], r["items"], r["inserted"], r["evicted"]
            );
        }
        // Only the store scenarios can tell growth and eviction apart.
        let tracked = name.starts_with("store");
        let _ = write!(
            out,
            "  {:>17} {:>6} {:>6} {:>7} {:>7} {:>7}",
            "operations", "p50", "p99", "p99.99", "max", ">50 µs"
        );
        if tracked {
            let _ = write!(out, " {:>17} {:>17}", "growths (>50 µs)", "evictions (>50 µs)");
        }
        out.push('\n');
        let us = |v: &Value| v.as_f64().unwrap_or(0.0) / 1000.0;
        for s in slices {
            let _ = write!(
                out,
                "  {:>17} {:>6.2} {:>6.2} {:>7.1} {:>7.1} {:>7}",
                format!("{}–{}", s["from"], s["to"]),
                us(&s["p50_ns"]),
                us(&s["p99_ns"]),
                us(&s["p9999_ns"]),
                us(&s["max_ns"]),
                s["over_50us"],
            );
            if tracked {
                let pair = |all: &str, slow: &str| format!("{} ({})", s[all], s[slow]);
                let _ = write!(
                    out,
                    " {:>17} {:>17}",
                    pair("growths", "over_50us_growing"),
                    pair("evictions", "over_50us_evicting")
                );
            }
            out.push('\n');
        }
        if tracked {
            let latency = &r["latency"];
            let kinds = [
                ("table growth", "slowest_growth"),
                ("eviction", "slowest_eviction"),
                ("neither", "slowest_plain"),
            ];
            let by_kind: Vec<String> = kinds
                .iter()
                .filter(|(_, field)| !latency[field].is_null())
                .map(|(kind, field)| {
                    let w = &latency[field];
                    format!("{kind} {:.0} µs at #{}", us(&w["ns"]), w["at"])
                })
                .collect();
            let _ = writeln!(out, "  slowest with {}", by_kind.join("; "));
        }
        let worst: Vec<String> = r["latency"]["worst"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| match w["event"].as_str().filter(|e| !e.is_empty()) {
                Some(event) => format!("{:.0} µs at #{} ({event})", us(&w["ns"]), w["at"]),
                None => format!("{:.0} µs at #{}", us(&w["ns"]), w["at"]),
            })
            .collect();
        let _ = writeln!(out, "  slowest: {}", worst.join(", "));
    }
    out
}

fn append(path: &std::path::Path, line: &Value) {
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    writeln!(file, "{line}").expect("a JSON line written");
}

/// The short commit hash of the checkout, if git knows it.
fn commit() -> String {
    first_line("git", &["rev-parse", "--short", "HEAD"])
}

/// Today's date in UTC, `YYYY-MM-DD`, as `date` gives it.
fn today() -> String {
    first_line("date", &["-u", "+%F"])
}

/// What a command prints, trimmed; `unknown` if it cannot run or fails.
fn first_line(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}
