//! The SQLite inbox driven directly the way the receiver drives it, against
//! the in-memory inbox under the same load, in the same run.
//!
//! 32 accept loops (one per connection of the end-to-end benchmark) accept
//! fresh deliveries with 1 KiB bodies, and 16 workers each lease one
//! delivery at a time and complete it, until every delivery is done. The
//! SQLite inbox is on a fresh file in the temporary directory each run
//! (WAL, `synchronous=FULL`). The two inboxes alternate, for several
//! rounds; the summary gives medians and the ratios to memory.
//!
//! Each run reports deliveries done per second, accepts per second (until
//! the last accept was answered: the accept loops run ahead of the
//! workers, as the receiver's connections do), the CPU time the whole
//! process spent per delivery (from `/proc`, Linux only), and for SQLite
//! the part of it its writer thread spent, and how writes were grouped
//! into commits. On a shared machine the CPU times vary less than the
//! rates do. Run it on one core, as the end-to-end benchmark runs the
//! server:
//!
//! ```text
//! cargo bench --all-features --bench sqlite_inbox --no-run
//! taskset -c 0 target/release/deps/sqlite_inbox-<hash> [DELIVERIES] [ROUNDS]
//! ```
//!
//! (defaults: 50,000 deliveries, 3 rounds).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use hookwarden::event::Delivery;
use hookwarden::inbox::{
    Accept, AttemptOutcome, AttemptRecord, Inbox, MemoryInbox, SqliteCommitStats, SqliteInbox,
};
use tokio::sync::Notify;
use tokio::task::JoinSet;

const ACCEPTORS: usize = 32;
const WORKERS: usize = 16;
const BODY_BYTES: usize = 1024;
const LEASE: Duration = Duration::from_secs(30);
const CAPACITY: usize = 1_000_000;

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| !a.starts_with("--"));
    let deliveries: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(50_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    let dir = std::env::temp_dir().join(format!("hookwarden-bench-sqlite-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let per = |cpu: Duration| cpu.as_secs_f64() * 1e6 / deliveries as f64;
    let (mut memory, mut sqlite) = (Runs::default(), Runs::default());
    for round in 0..rounds {
        let cpu = process_cpu();
        let inbox = Arc::new(MemoryInbox::with_capacity(CAPACITY));
        let rates = runtime.block_on(run(inbox, deliveries));
        let cpu = per(process_cpu() - cpu);
        println!(
            "round {round} memory {:7.0} deliveries/s, {:7.0} accepts/s  cpu {cpu:5.1} us/delivery",
            rates.done, rates.accepted
        );
        memory.push(rates, cpu, 0.0);

        let path: PathBuf = dir.join(format!("inbox-{round}.db"));
        let inbox = SqliteInbox::builder(&path).capacity(CAPACITY).open().unwrap();
        let cpu = process_cpu();
        let rates = runtime.block_on(run(Arc::new(inbox.clone()), deliveries));
        let (cpu, writer) = (per(process_cpu() - cpu), per(writer_cpu()));
        let stats = inbox.commit_stats();
        let SqliteCommitStats { commits, ops, largest, .. } = stats;
        drop(inbox);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        println!(
            "round {round} sqlite {:7.0} deliveries/s, {:7.0} accepts/s  cpu {cpu:5.1} us/delivery \
             (writer {writer:5.1})  commits {commits}, ops {ops}, mean {:.1}, largest {largest}, \
             file {} KiB",
            rates.done,
            rates.accepted,
            stats.mean(),
            size / 1024
        );
        sqlite.push(rates, cpu, writer);
    }
    let _ = std::fs::remove_dir_all(&dir);

    let (memory, sqlite) = (memory.medians(), sqlite.medians());
    println!(
        "median: memory {:.0} deliveries/s, {:.0} accepts/s ({:.1} us cpu); \
         sqlite {:.0} deliveries/s, {:.0} accepts/s ({:.1} us cpu, writer {:.1}); \
         ratio {:.2} (deliveries), {:.2} (accepts)",
        memory[0],
        memory[1],
        memory[2],
        sqlite[0],
        sqlite[1],
        sqlite[2],
        sqlite[3],
        sqlite[0] / memory[0],
        sqlite[1] / memory[1],
    );
}

/// How fast one run went: deliveries done per second, and accepted per
/// second (until the last accept was answered).
struct Rates {
    done: f64,
    accepted: f64,
}

/// Rates and CPU times per delivery, one of each per run.
#[derive(Default)]
struct Runs([Vec<f64>; 4]);

impl Runs {
    fn push(&mut self, rates: Rates, cpu: f64, writer: f64) {
        for (values, value) in self.0.iter_mut().zip([rates.done, rates.accepted, cpu, writer]) {
            values.push(value);
        }
    }

    /// Deliveries per second, accepts per second, CPU and writer CPU per
    /// delivery.
    fn medians(self) -> [f64; 4] {
        self.0.map(median)
    }
}

/// The CPU time (user and system) this process has used, all its threads,
/// counted in clock ticks of 10 ms (zero where `/proc` is missing).
fn process_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // The fields after the command name, which is in parentheses: utime
    // and stime are the 14th and 15th of the line.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = rest.split(' ').collect();
    let ticks: u64 = [12, 13].iter().filter_map(|&i| fields.get(i)?.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

/// The CPU time the running SQLite writer thread has used (zero if none).
fn writer_cpu() -> Duration {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return Duration::ZERO };
    for task in tasks.flatten() {
        let comm = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        // Thread names are cut to 15 bytes.
        if comm.trim_end().starts_with("hookwarden-sqli") {
            let stat = std::fs::read_to_string(task.path().join("schedstat")).unwrap_or_default();
            let ns = stat.split(' ').next().and_then(|n| n.parse().ok()).unwrap_or(0);
            return Duration::from_nanos(ns);
        }
    }
    Duration::ZERO
}

/// Accepts `deliveries` fresh deliveries and has them leased and
/// completed.
async fn run(inbox: Arc<dyn Inbox>, deliveries: u64) -> Rates {
    let template: Bytes = (0..BODY_BYTES).map(|i| b"{\"data\":0123456789abcdef}"[i % 25]).collect();
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let wake = Arc::new(Notify::new());
    let start = Instant::now();
    let mut acceptors = JoinSet::new();
    for _ in 0..ACCEPTORS {
        let (inbox, next, wake, template) =
            (inbox.clone(), next.clone(), wake.clone(), template.clone());
        acceptors.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= deliveries {
                    return;
                }
                // A fresh buffer per request, as a receiver reads one.
                let body = Bytes::copy_from_slice(&template);
                let delivery = Arc::new(
                    Delivery::new(format!("msg_{i:016x}"), "invoice.paid", "1", body)
                        .with_timestamp(Some(1_700_000_000))
                        .with_client_ip(Some([127, 0, 0, 1].into())),
                );
                loop {
                    match inbox.accept(&delivery).await.expect("accept") {
                        Accept::Accepted => break,
                        Accept::Full => tokio::time::sleep(Duration::from_millis(1)).await,
                        other => panic!("{other:?}"),
                    }
                }
                wake.notify_one();
            }
        });
    }
    let mut workers = JoinSet::new();
    for _ in 0..WORKERS {
        let (inbox, done, wake) = (inbox.clone(), done.clone(), wake.clone());
        workers.spawn(async move {
            while done.load(Ordering::Relaxed) < deliveries {
                let notified = wake.notified();
                let leased = inbox.lease(1, LEASE).await.expect("lease");
                if leased.is_empty() {
                    let _ = tokio::time::timeout(Duration::from_millis(5), notified).await;
                    continue;
                }
                for one in leased {
                    let ran = Duration::from_micros(200);
                    let handled = AttemptRecord::new(one.attempt, AttemptOutcome::Handled, ran);
                    assert!(inbox.complete(&one.lease, &handled).await.expect("complete"));
                    done.fetch_add(1, Ordering::Relaxed);
                }
            }
            // Let the other idle workers see the end.
            wake.notify_waiters();
        });
    }
    while let Some(joined) = acceptors.join_next().await {
        joined.unwrap();
    }
    let accepted = deliveries as f64 / start.elapsed().as_secs_f64();
    while let Some(joined) = workers.join_next().await {
        joined.unwrap();
    }
    Rates { done: deliveries as f64 / start.elapsed().as_secs_f64(), accepted }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
