//! Idempotency store benchmarks.
//!
//! * `memory/claim+complete`: one claim and one completion of a fresh key,
//!   on one thread (criterion; throughput counts both operations). Tokens
//!   are the caller's to make: these are cheap distinct ones, so the figure
//!   is the store's own work (`ClaimToken::random` costs extra). The
//!   store runs at its default bound (1,000,000), so once full it evicts as
//!   it would in production; `…/bound=100k` is the same with a table that
//!   fits in the CPU's caches.
//! * `memory/claim-done`: a duplicate's claim (the key is retained).
//! * Bytes per retained key at 1,000,000 keys: the growth of the resident
//!   set, and the store's own estimate.
//! * Redis and PostgreSQL claim latency, p50 and p99, with 32 claims in
//!   flight on loopback, against `HOOKWARDEN_TEST_REDIS_URL` and
//!   `HOOKWARDEN_TEST_POSTGRES_URL` (skipped without them, or without the
//!   `redis` / `postgres` features).
//!
//! `cargo bench --all-features --bench store`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use hookwarden::store::{Claim, ClaimToken, IdempotencyStore, MemoryStore};
use tokio::runtime::Runtime;

#[path = "common/keys.rs"]
mod keys;
use keys::Keys;

const LEASE: Duration = Duration::from_secs(60);
const RETAIN: Duration = Duration::from_secs(3600);

fn single_thread() -> Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn memory(c: &mut Criterion) {
    let rt = single_thread();
    let mut group = c.benchmark_group("memory");
    group.throughput(Throughput::Elements(2));
    // Fresh keys at the default bound (once full, the store evicts as it
    // would in production, and the table is far larger than the CPU's
    // caches), and at a bound whose table fits in them.
    for (name, bound) in [("claim+complete", 1_000_000), ("claim+complete/bound=100k", 100_000)] {
        let store = MemoryStore::builder().max_entries(bound).build();
        let mut next = 0_u64;
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut keys = Keys::new();
                    let started = Instant::now();
                    for _ in 0..iters {
                        next += 1;
                        let key = keys.get(next);
                        let token = ClaimToken::from_u128(u128::from(next));
                        let claim = store.claim(key, &token, LEASE).await.unwrap();
                        assert!(matches!(claim, Claim::Claimed(_)), "fresh key");
                        black_box(store.complete(key, &token, RETAIN).await.unwrap());
                    }
                    started.elapsed()
                })
            })
        });
    }

    let done = MemoryStore::new();
    rt.block_on(async {
        let mut keys = Keys::new();
        for n in 0..1024 {
            let key = keys.get(n);
            let token = ClaimToken::from_u128(u128::from(n));
            assert!(matches!(done.claim(key, &token, LEASE).await.unwrap(), Claim::Claimed(_)));
            done.complete(key, &token, RETAIN).await.unwrap();
        }
    });
    group.throughput(Throughput::Elements(1));
    group.bench_function("claim-done", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut keys = Keys::new();
                let token = ClaimToken::from_u128(u128::MAX);
                let started = Instant::now();
                for n in 0..iters {
                    let claim = done.claim(keys.get(n & 1023), &token, LEASE).await.unwrap();
                    assert_eq!(black_box(claim), Claim::Done);
                }
                started.elapsed()
            })
        })
    });
    group.finish();
}

fn resident_bytes() -> Option<usize> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Bytes per retained key with 1,000,000 keys completed and retained.
fn footprint(keys: u64) {
    let rt = single_thread();
    let before = resident_bytes();
    let store = MemoryStore::builder().max_entries(2 * keys as usize).build();
    rt.block_on(async {
        let mut buf = Keys::new();
        for n in 0..keys {
            let key = buf.get(n);
            let token = ClaimToken::from_u128(u128::from(n));
            assert!(matches!(store.claim(key, &token, LEASE).await.unwrap(), Claim::Claimed(_)));
            store.complete(key, &token, RETAIN).await.unwrap();
        }
    });
    assert_eq!(store.len() as u64, keys);
    let estimate = store.memory_usage() as f64 / keys as f64;
    match (before, resident_bytes()) {
        (Some(before), Some(after)) => println!(
            "memory/retained keys: {keys}; resident set grew {:.1} bytes per key; \
             the store's estimate: {estimate:.1} bytes per key",
            after.saturating_sub(before) as f64 / keys as f64
        ),
        _ => println!(
            "memory/retained keys: {keys}; the store's estimate: {estimate:.1} bytes per key"
        ),
    }
    drop(store);
}

/// Claim latency with `concurrency` claims in flight, `total` claims of
/// fresh keys; prints p50 and p99.
#[cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code))]
fn latency(
    rt: &Runtime,
    name: &str,
    store: Arc<dyn IdempotencyStore>,
    concurrency: usize,
    total: usize,
) {
    let run = format!(
        "{:x}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
    );
    let started = Instant::now();
    let mut samples: Vec<Duration> = rt.block_on(async {
        let mut tasks = tokio::task::JoinSet::new();
        for worker in 0..concurrency {
            let store = store.clone();
            let run = run.clone();
            tasks.spawn(async move {
                let mut samples = Vec::with_capacity(total / concurrency);
                for i in 0..total / concurrency {
                    let key = format!("bench-{run}-{worker}-{i}");
                    let token = ClaimToken::random();
                    let started = Instant::now();
                    let claim = store.claim(&key, &token, LEASE).await.expect("claim");
                    samples.push(started.elapsed());
                    assert!(matches!(claim, Claim::Claimed(_)));
                }
                samples
            });
        }
        let mut all = Vec::with_capacity(total);
        while let Some(samples) = tasks.join_next().await {
            all.extend(samples.expect("task"));
        }
        all
    });
    let elapsed = started.elapsed();
    samples.sort_unstable();
    let pct = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{name}/claim latency, {concurrency} concurrent, {} claims: p50 {:.3} ms, p99 {:.3} ms, \
         {:.0} claims/s",
        samples.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        samples.len() as f64 / elapsed.as_secs_f64()
    );
}

fn shared_stores(quick: bool) {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let total = if quick { 320 } else { 32_000 };
    let namespace = format!("bench-{}", std::process::id());

    #[cfg(feature = "redis")]
    match std::env::var("HOOKWARDEN_TEST_REDIS_URL") {
        Ok(url) => {
            let store = rt.block_on(
                hookwarden::store::RedisStore::builder(url).namespace(namespace.clone()).connect(),
            );
            let store: Arc<dyn IdempotencyStore> = Arc::new(store.expect("redis"));
            latency(&rt, "redis", store.clone(), 32, total / 10);
            latency(&rt, "redis", store, 32, total);
        }
        Err(_) => println!("redis: skipped: HOOKWARDEN_TEST_REDIS_URL not set"),
    }
    #[cfg(not(feature = "redis"))]
    println!("redis: skipped: built without the `redis` feature");

    #[cfg(feature = "postgres")]
    match std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") {
        Ok(url) => {
            let store = hookwarden::store::PostgresStore::builder(url)
                .namespace(namespace.clone())
                .pool_size(32)
                .build()
                .expect("postgres");
            rt.block_on(store.migrate()).expect("migrate");
            let store: Arc<dyn IdempotencyStore> = Arc::new(store);
            latency(&rt, "postgres", store.clone(), 32, total / 10);
            latency(&rt, "postgres", store, 32, total);
        }
        Err(_) => println!("postgres: skipped: HOOKWARDEN_TEST_POSTGRES_URL not set"),
    }
    #[cfg(not(feature = "postgres"))]
    println!("postgres: skipped: built without the `postgres` feature");
    let _ = (&rt, namespace, total);
}

fn main() {
    // `cargo test --benches` runs each benchmark once, quickly.
    let quick = std::env::args().any(|arg| arg == "--test");
    // First, while the heap is fresh.
    footprint(if quick { 10_000 } else { 1_000_000 });
    let mut criterion = Criterion::default().configure_from_args();
    memory(&mut criterion);
    shared_stores(quick);
    criterion.final_summary();
}
