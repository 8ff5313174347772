//! Crash and restart, with real processes: a receiver on a durable inbox
//! (SQLite, PostgreSQL, Redis) is killed with SIGKILL under load and started
//! again on the same inbox while the senders keep retrying; another is
//! stopped gracefully with work still waiting, and started again.
//!
//! The receivers are real child processes: this test binary re-runs itself
//! with `--ignored --exact child_receiver`, and the child serves a
//! `Receiver` on 127.0.0.1, printing `PORT n`, one `HANDLED id attempt` line
//! per handled event, and `STOPPED left n` after a graceful stop. The
//! PostgreSQL and Redis tests read `HOOKWARDEN_TEST_POSTGRES_URL` and
//! `HOOKWARDEN_TEST_REDIS_URL` and say they were skipped without them.

// Built without some inbox, the child's branch for it is unreachable.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "redis", feature = "postgres")),
    allow(dead_code, unused_imports, unreachable_code, unused_variables)
)]

mod common;
#[path = "common/inbox_url.rs"]
mod inbox_url;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::inbox::{AttemptOutcome, State};
use hookwarden::testing;
use http::StatusCode;
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn unique(what: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("{what}-{}-{nanos:x}", std::process::id())
}

/// What a child printed: a handled event, or how many deliveries a
/// graceful stop left in the inbox.
#[derive(Debug)]
enum Line {
    Handled { generation: u32, id: String, attempt: u32 },
    Stopped { left: u64 },
}

/// A child receiver process; killed (SIGKILL) when dropped.
struct ChildReceiver {
    child: Child,
    port: u16,
}

impl Drop for ChildReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How the child receiver runs.
#[derive(Clone)]
struct Config {
    inbox: String,
    namespace: String,
    workers: usize,
    handler_ms: u64,
}

fn spawn(config: &Config, generation: u32, lines: mpsc::Sender<Line>) -> ChildReceiver {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "child_receiver", "--nocapture", "--test-threads=1"])
        .env("HOOKWARDEN_CHILD_INBOX", &config.inbox)
        .env("HOOKWARDEN_CHILD_NAMESPACE", &config.namespace)
        .env("HOOKWARDEN_CHILD_WORKERS", config.workers.to_string())
        .env("HOOKWARDEN_CHILD_HANDLER_MS", config.handler_ms.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("re-run the test binary");
    let stdout = child.stdout.take().unwrap();
    let (port_tx, port_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            // libtest prints `test child_receiver ... ` before the first line.
            if let Some((_, port)) = line.split_once("PORT ") {
                let _ = port_tx.send(port.trim().parse::<u16>().unwrap());
            } else if let Some((_, rest)) = line.split_once("HANDLED ") {
                let (id, attempt) = rest.trim().split_once(' ').unwrap();
                let attempt = attempt.parse().unwrap();
                let _ = lines.send(Line::Handled { generation, id: id.to_owned(), attempt });
            } else if let Some((_, left)) = line.split_once("STOPPED left ") {
                let _ = lines.send(Line::Stopped { left: left.trim().parse().unwrap() });
            }
        }
    });
    let mut receiver = ChildReceiver { child, port: 0 };
    receiver.port =
        port_rx.recv_timeout(Duration::from_secs(60)).expect("the child receiver starts");
    receiver
}

/// Posts one signed delivery; `Err` when the receiver is not there.
async fn post(port: u16, id: &str) -> Result<StatusCode, String> {
    let body = format!(r#"{{"type":"order.paid","data":{{"order":"{id}"}}}}"#);
    let mut request = testing::request(
        "/webhooks",
        testing::standard_webhooks(SECRET, id, now(), body.as_bytes()),
        body,
    );
    request.headers_mut().insert(http::header::HOST, format!("127.0.0.1:{port}").parse().unwrap());
    let stream =
        tokio::net::TcpStream::connect(("127.0.0.1", port)).await.map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let response = sender.send_request(request).await.map_err(|e| e.to_string())?;
    let status = response.status();
    let _: Bytes = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
    Ok(status)
}

/// Sends `id` until it gets a 2xx (a sender's retries); returns the status.
async fn deliver_until_acknowledged(port: &AtomicU16, id: &str, deadline: Instant) -> StatusCode {
    loop {
        match post(port.load(Ordering::Acquire), id).await {
            Ok(status) if status.is_success() => return status,
            Ok(status) => assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{id}"),
            Err(_) => {} // the receiver is down: retry
        }
        assert!(Instant::now() < deadline, "{id} never acknowledged");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Collects `Handled` lines until every id in `expected` was handled at
/// least once, then for `quiet` longer (a late second handling would show).
fn collect_handled(
    lines: &mpsc::Receiver<Line>,
    into: &mut HashMap<String, Vec<(u32, u32)>>,
    expected: &HashSet<String>,
    quiet: Duration,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !expected.iter().all(|id| into.contains_key(id)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left).expect("every acknowledged event is handled") {
            Line::Handled { generation, id, attempt } => {
                into.entry(id).or_default().push((generation, attempt))
            }
            Line::Stopped { .. } => {}
        }
    }
    while let Ok(line) = lines.recv_timeout(quiet) {
        if let Line::Handled { generation, id, attempt } = line {
            into.entry(id).or_default().push((generation, attempt));
        }
    }
}

/// 200 events from 8 senders that retry until acknowledged; the receiver is
/// killed with SIGKILL once a third were acknowledged, and started again on
/// the same inbox.
async fn killed_under_load_loses_nothing(inbox: String) {
    const EVENTS: usize = 200;
    const SENDERS: usize = 8;
    const WORKERS: usize = 4;
    let config = Config { inbox, namespace: unique("crash"), workers: WORKERS, handler_ms: 5 };
    let (tx, rx) = mpsc::channel();
    let first = spawn(&config, 1, tx.clone());
    let port = Arc::new(AtomicU16::new(first.port));
    let next = Arc::new(AtomicUsize::new(0));
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let deadline = Instant::now() + Duration::from_secs(90);

    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        let (port, next, acknowledged) = (port.clone(), next.clone(), acknowledged.clone());
        senders.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= EVENTS {
                    return;
                }
                let id = format!("evt_{i}");
                deliver_until_acknowledged(&port, &id, deadline).await;
                acknowledged.lock().unwrap().insert(id);
            }
        });
    }
    while acknowledged.lock().unwrap().len() < EVENTS / 3 {
        assert!(Instant::now() < deadline, "the first receiver acknowledges");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let at_kill = acknowledged.lock().unwrap().len();
    drop(first); // SIGKILL, then wait for it
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = spawn(&config, 2, tx);
    port.store(second.port, Ordering::Release);
    while let Some(done) = senders.join_next().await {
        done.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), EVENTS, "every sender got its 2xx in the end");

    let mut handled = HashMap::new();
    collect_handled(&rx, &mut handled, &acknowledged, Duration::from_millis(500));
    let twice: Vec<_> = handled.iter().filter(|(_, runs)| runs.len() > 1).collect();
    assert!(
        twice.len() <= WORKERS,
        "only deliveries in flight at the kill (at most {WORKERS}) may run twice: {twice:?}"
    );
    for (id, runs) in &twice {
        assert_eq!(runs.len(), 2, "{id}: {runs:?}");
        assert!(runs[0].0 == 1 && runs[1].0 == 2, "{id}: once before the kill, once after");
    }
    let by_second = handled.values().filter(|runs| runs.iter().any(|r| r.0 == 2)).count();

    // Redeliveries after the restart are duplicates and never run again.
    for id in &acknowledged {
        assert_eq!(post(second.port, id).await.unwrap(), StatusCode::OK, "{id}");
    }
    let mut late = HashMap::new();
    collect_handled(&rx, &mut late, &HashSet::new(), Duration::from_millis(800));
    assert!(late.is_empty(), "redeliveries ran again: {late:?}");
    drop(second);
    let lost = check_records(&config, &handled, AttemptOutcome::Lost).await;
    assert!(lost >= twice.len(), "{lost} logged a lost attempt; {} ran twice", twice.len());
    println!(
        "{EVENTS} acknowledged ({at_kill} before the kill); each handled, {} twice, \
         {by_second} by the restarted receiver; {lost} records show a lost attempt",
        twice.len()
    );
}

/// Reads every handled delivery's record back from the inbox, once the
/// receivers are gone: each is done, with its scheme and client address,
/// and an attempt log that ends with the run that printed it, every
/// earlier attempt being `earlier` (lost to a kill, say). Returns how many
/// logs have earlier attempts.
async fn check_records(
    config: &Config,
    handled: &HashMap<String, Vec<(u32, u32)>>,
    earlier: AttemptOutcome,
) -> usize {
    let inbox = inbox_url::open(&config.inbox, &config.namespace).await;
    let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    let mut with_earlier = 0;
    for (id, runs) in handled {
        let record = inbox.get(id).await.unwrap().unwrap_or_else(|| panic!("{id} is kept"));
        assert_eq!(record.state, State::Done, "{id}");
        assert_eq!(record.delivery.scheme(), Some("standard-webhooks"), "{id}");
        assert_eq!(record.delivery.client_ip(), Some(loopback), "{id}");
        let log = record.attempt_log();
        let last = log.last().unwrap_or_else(|| panic!("{id} has an attempt log"));
        assert_eq!(last.outcome(), AttemptOutcome::Handled, "{id}: {log:?}");
        assert_eq!(last.attempt(), record.attempts, "{id}: {log:?}");
        assert_eq!(last.attempt(), runs.last().unwrap().1, "{id}: the run that printed it");
        assert!(last.duration().is_some_and(|d| d >= Duration::from_millis(config.handler_ms)));
        assert_eq!(log.len(), record.attempts as usize, "{id}: every attempt logged: {log:?}");
        let before = &log[..log.len() - 1];
        assert!(before.iter().all(|a| a.outcome() == earlier), "{id}: {log:?}");
        with_earlier += usize::from(!before.is_empty());
    }
    with_earlier
}

/// A receiver stopped gracefully while deliveries wait leaves them in the
/// inbox; the next start handles them, none twice.
async fn graceful_stop_leaves_the_rest_for_the_next_start(inbox: String) {
    const EVENTS: usize = 15;
    let config = Config { inbox, namespace: unique("graceful"), workers: 1, handler_ms: 300 };
    let (tx, rx) = mpsc::channel();
    let first = spawn(&config, 1, tx.clone());
    let mut ids = HashSet::new();
    for i in 0..EVENTS {
        let id = format!("evt_{i}");
        assert_eq!(post(first.port, &id).await.unwrap(), StatusCode::ACCEPTED);
        ids.insert(id);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let status = Command::new("kill")
        .args(["-INT", &first.child.id().to_string()])
        .status()
        .expect("kill -INT");
    assert!(status.success());
    let mut handled: HashMap<String, Vec<(u32, u32)>> = HashMap::new();
    let left = loop {
        match rx.recv_timeout(Duration::from_secs(30)).expect("the receiver stops") {
            Line::Stopped { left } => break left,
            Line::Handled { generation, id, attempt } => {
                handled.entry(id).or_default().push((generation, attempt))
            }
        }
    };
    let before_stop = handled.len();
    assert!(left > 0, "the stop left work behind (else this test shows nothing)");
    assert_eq!(before_stop as u64 + left, EVENTS as u64, "handled + left = accepted");
    drop(first);
    let second = spawn(&config, 2, tx);
    collect_handled(&rx, &mut handled, &ids, Duration::from_millis(800));
    for (id, runs) in &handled {
        assert_eq!(runs.len(), 1, "{id} ran {runs:?}");
    }
    assert_eq!(handled.len(), EVENTS);
    let after = handled.values().filter(|runs| runs[0].0 == 2).count() as u64;
    assert_eq!(after, left, "what the stop left is what the restart handled");
    println!("{EVENTS} accepted; {before_stop} handled before the stop, {left} after the restart");
    drop(second);
    // What a graceful stop hands back was never started: nothing is lost
    // or abandoned, and each log is the one attempt that handled it.
    let earlier = check_records(&config, &handled, AttemptOutcome::Abandoned).await;
    assert_eq!(earlier, 0, "a graceful stop logs no attempt it did not run");
}

#[cfg(feature = "sqlite")]
fn sqlite_url(what: &str) -> (String, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!("{}.db", unique(what)));
    (format!("sqlite://{}", path.display()), path)
}

#[cfg(feature = "sqlite")]
fn remove_db(path: &std::path::Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_receiver_killed_under_load_loses_nothing() {
    let (url, path) = sqlite_url("crash");
    killed_under_load_loses_nothing(url).await;
    remove_db(&path);
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_graceful_stop_leaves_the_rest_for_the_next_start() {
    let (url, path) = sqlite_url("graceful");
    graceful_stop_leaves_the_rest_for_the_next_start(url).await;
    remove_db(&path);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_receiver_killed_under_load_loses_nothing() {
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") else {
        common::skip("HOOKWARDEN_TEST_POSTGRES_URL not set");
        return;
    };
    killed_under_load_loses_nothing(url).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_graceful_stop_leaves_the_rest_for_the_next_start() {
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_POSTGRES_URL") else {
        common::skip("HOOKWARDEN_TEST_POSTGRES_URL not set");
        return;
    };
    graceful_stop_leaves_the_rest_for_the_next_start(url).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_receiver_killed_under_load_loses_nothing() {
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_REDIS_URL") else {
        common::skip("HOOKWARDEN_TEST_REDIS_URL not set");
        return;
    };
    killed_under_load_loses_nothing(url).await;
}

#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_graceful_stop_leaves_the_rest_for_the_next_start() {
    let Ok(url) = std::env::var("HOOKWARDEN_TEST_REDIS_URL") else {
        common::skip("HOOKWARDEN_TEST_REDIS_URL not set");
        return;
    };
    graceful_stop_leaves_the_rest_for_the_next_start(url).await;
}

#[cfg(not(feature = "sqlite"))]
#[test]
fn sqlite_receiver_killed_under_load_loses_nothing() {
    common::skip("built without the `sqlite` feature");
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_receiver_killed_under_load_loses_nothing() {
    common::skip("built without the `postgres` feature");
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_receiver_killed_under_load_loses_nothing() {
    common::skip("built without the `redis` feature");
}

/// The child process: a receiver on a durable inbox, until killed or
/// interrupted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the crash tests as a child process"]
async fn child_receiver() {
    use hookwarden::Receiver;
    use hookwarden::dispatch::RetryPolicy;
    use hookwarden::event::Event;
    use hookwarden::router::EventRouter;
    use hookwarden::scheme::StandardWebhooks;

    let var = |name: &str| std::env::var(name).expect("started by a crash test");
    let url = var("HOOKWARDEN_CHILD_INBOX");
    let namespace = var("HOOKWARDEN_CHILD_NAMESPACE");
    let workers: usize = var("HOOKWARDEN_CHILD_WORKERS").parse().unwrap();
    let handler_ms: u64 = var("HOOKWARDEN_CHILD_HANDLER_MS").parse().unwrap();
    let inbox = inbox_url::open(&url, &namespace).await;
    let router = EventRouter::new().catch_all(move |event: Event<serde_json::Value>| async move {
        tokio::time::sleep(Duration::from_millis(handler_ms)).await;
        println!("HANDLED {} {}", event.id(), event.attempt());
        Ok::<_, std::convert::Infallible>(())
    });
    let receiver = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
        .router(router)
        .shared_inbox(inbox)
        .workers(workers)
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(50))
        .retry(RetryPolicy::default().initial_backoff(Duration::from_millis(50)))
        .build()
        .unwrap();
    let app = axum::Router::new().route_service("/webhooks", receiver.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    println!("PORT {}", listener.local_addr().unwrap().port());
    axum::serve(listener, app.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .unwrap();
    let report = receiver.handle().shutdown(Duration::from_secs(1)).await;
    println!("STOPPED left {}", report.left);
}

#[cfg(not(feature = "sqlite"))]
#[test]
fn sqlite_graceful_stop_leaves_the_rest_for_the_next_start() {
    common::skip("built without the `sqlite` feature");
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_graceful_stop_leaves_the_rest_for_the_next_start() {
    common::skip("built without the `postgres` feature");
}

#[cfg(not(feature = "redis"))]
#[test]
fn redis_graceful_stop_leaves_the_rest_for_the_next_start() {
    common::skip("built without the `redis` feature");
}
