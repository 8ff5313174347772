//! Faults: the server of a shared store stops in the middle of a test. Every
//! call must then fail (never a claim without the server), and once the
//! server is back the same store must work again, without being rebuilt.
//!
//! Each test starts its own private server on a free 127.0.0.1 port, so
//! stopping it disturbs nothing else. They find the binaries through
//! `HOOKWARDEN_TEST_REDIS_SERVER` (the `redis-server` binary) and
//! `HOOKWARDEN_TEST_PG_BIN` (the directory holding `initdb` and `pg_ctl`),
//! which `.ci/services.sh` exports, and say they were skipped without them.

#![cfg_attr(not(any(feature = "redis", feature = "postgres")), allow(dead_code, unused_imports))]

mod common;

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hookwarden::store::{Claim, ClaimToken, IdempotencyStore};
use std::sync::atomic::{AtomicUsize, Ordering};

const HOUR: Duration = Duration::from_secs(3600);
const LEASE: Duration = Duration::from_secs(600);

fn unique(name: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    format!("faults-{name}-{}-{nanos:x}", std::process::id())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_ok() != up {
        assert!(
            Instant::now() < deadline,
            "port {port} never went {}",
            if up { "up" } else { "down" }
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// While the server is down: every call fails, and within its timeout.
async fn assert_down(store: &Arc<dyn IdempotencyStore>, held: &ClaimToken, timeout: Duration) {
    for i in 0..5 {
        let started = Instant::now();
        let key = format!("during-{i}");
        let claim = store.claim(&key, &ClaimToken::random(), LEASE).await;
        match &claim {
            Err(e) if i == 0 => println!("while down: {e}"),
            Err(_) => {}
            Ok(answer) => panic!("a claim answered without the server: {answer:?}"),
        }
        assert!(
            store.complete("before", held, HOUR).await.is_err(),
            "completed without the server"
        );
        assert!(store.release("before", held).await.is_err(), "released without the server");
        // Three calls, each bounded by the timeout (plus scheduling slack).
        assert!(started.elapsed() < timeout * 3 + Duration::from_secs(2), "calls were not bounded");
    }
}

/// After the server came back: the same store claims again, soon.
async fn assert_recovers(store: &Arc<dyn IdempotencyStore>) -> Duration {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(30);
    loop {
        let token = ClaimToken::random();
        match store.claim("after", &token, LEASE).await {
            Ok(Claim::Claimed(_)) => {
                assert!(store.complete("after", &token, HOUR).await.unwrap());
                assert_eq!(store.claim("after", &token, LEASE).await.unwrap(), Claim::Done);
                return started.elapsed();
            }
            Ok(other) => panic!("first claim after the restart: {other:?}"),
            Err(e) if Instant::now() < deadline => {
                eprintln!("not yet: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("the store did not recover within 30 s: {e}"),
        }
    }
}

/// The dedupe layer over `store`, around a handler that counts its calls:
/// the pipeline a user would build (Verify, Envelope, Dedupe).
mod through_the_layer {
    use super::*;
    use bytes::Bytes;
    use hookwarden::dedupe::DedupeLayer;
    use hookwarden::envelope::EnvelopeLayer;
    use hookwarden::scheme::{DedupeKey, GitHub};
    use hookwarden::{VerifyLayer, testing};
    use http::{Request, Response, StatusCode};
    use http_body_util::{BodyExt, Full};
    use tower::{ServiceBuilder, ServiceExt};

    const SECRET: &str = "fault-test-secret";

    pub(crate) struct Pipeline {
        store: Arc<dyn IdempotencyStore>,
        pub(crate) calls: Arc<AtomicUsize>,
    }

    impl Pipeline {
        pub(crate) fn new(store: Arc<dyn IdempotencyStore>) -> Self {
            Self { store, calls: Arc::default() }
        }

        /// Sends a signed GitHub delivery; returns the status and the error
        /// or status word of the body.
        pub(crate) async fn deliver(&self, id: &str) -> (StatusCode, String, bool) {
            let calls = self.calls.clone();
            let service = ServiceBuilder::new()
                .layer(VerifyLayer::new(GitHub::new([SECRET]).unwrap()))
                // Keyed on the delivery id, so each `id` is its own claim.
                .layer(
                    EnvelopeLayer::for_scheme(&GitHub::new([SECRET]).unwrap())
                        .dedupe_key(DedupeKey::Id),
                )
                .layer(DedupeLayer::from_shared(self.store.clone()))
                .service_fn(move |_: Request<Full<Bytes>>| {
                    calls.fetch_add(1, Ordering::SeqCst);
                    async {
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            "ok",
                        ))))
                    }
                });
            let body = format!(r#"{{"zen":"{id}"}}"#);
            let mut headers = testing::github(SECRET, body.as_bytes());
            headers.insert("x-github-delivery", id.parse().unwrap());
            headers.insert("x-github-event", "ping".parse().unwrap());
            let response = service.oneshot(testing::request("/", headers, body)).await.unwrap();
            let status = response.status();
            let retry_after = response.headers().contains_key("retry-after");
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
            let word = json["error"].as_str().or(json["status"].as_str()).unwrap_or("").to_owned();
            (status, word, retry_after)
        }

        /// While the server is down: 503 `store_unavailable` with
        /// `Retry-After`, and the handler is never called.
        pub(crate) async fn assert_down(&self) {
            for i in 0..3 {
                let (status, word, retry_after) = self.deliver(&format!("down-{i}")).await;
                assert_eq!(
                    (status, word.as_str()),
                    (StatusCode::SERVICE_UNAVAILABLE, "store_unavailable")
                );
                assert!(retry_after, "a 503 says when to retry");
            }
            assert_eq!(
                self.calls.load(Ordering::SeqCst),
                0,
                "nothing reached the handler unclaimed"
            );
        }

        /// After the restart, without rebuilding anything: processed once,
        /// then answered as a duplicate.
        pub(crate) async fn assert_recovered(&self) {
            assert_eq!(
                self.deliver("down-0").await.0,
                StatusCode::OK,
                "the sender's retry is processed"
            );
            assert_eq!(self.calls.load(Ordering::SeqCst), 1);
            let (status, word, _) = self.deliver("down-0").await;
            assert_eq!((status, word.as_str()), (StatusCode::OK, "duplicate"));
            assert_eq!(self.calls.load(Ordering::SeqCst), 1);
        }
    }
}

// ---- Redis ----------------------------------------------------------------

#[cfg(feature = "redis")]
mod redis {
    use std::path::PathBuf;

    use super::*;

    /// A private `redis-server`, killed on drop.
    struct RedisServer {
        bin: PathBuf,
        port: u16,
        child: Option<std::process::Child>,
    }

    impl RedisServer {
        fn start(bin: PathBuf, port: u16) -> Self {
            let mut server = Self { bin, port, child: None };
            server.restart();
            server
        }

        fn restart(&mut self) {
            let child = Command::new(&self.bin)
                .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no", "--dir", "/tmp"])
                .stdout(std::process::Stdio::null())
                .spawn()
                .expect("start redis-server");
            self.child = Some(child);
            wait_for_port(self.port, true);
        }

        fn stop(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
            wait_for_port(self.port, false);
        }
    }

    impl Drop for RedisServer {
        fn drop(&mut self) {
            if let Some(mut child) = self.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_stops_and_comes_back() {
        use hookwarden::store::RedisStore;

        let Some(bin) = std::env::var_os("HOOKWARDEN_TEST_REDIS_SERVER") else {
            crate::common::skip("HOOKWARDEN_TEST_REDIS_SERVER not set");
            return;
        };
        let port = free_port();
        let mut server = RedisServer::start(bin.into(), port);
        let timeout = Duration::from_millis(500);
        let store: Arc<dyn IdempotencyStore> = Arc::new(
            RedisStore::builder(format!("redis://127.0.0.1:{port}/"))
                .namespace(unique("redis"))
                .timeout(timeout)
                .connect()
                .await
                .expect("connect"),
        );
        let held = ClaimToken::random();
        let claim = store.claim("before", &held, LEASE).await.unwrap();
        assert_eq!(claim, Claim::Claimed(held.clone()), "a fresh key");

        let pipeline = through_the_layer::Pipeline::new(store.clone());

        server.stop();
        assert_down(&store, &held, timeout).await;
        pipeline.assert_down().await;

        server.restart();
        let took = assert_recovers(&store).await;
        println!("redis: recovered {} ms after the restart", took.as_millis());
        pipeline.assert_recovered().await;
    }
}

// ---- PostgreSQL -----------------------------------------------------------

#[cfg(feature = "postgres")]
mod postgres {
    use std::path::{Path, PathBuf};

    use super::*;

    fn is_root() -> bool {
        Command::new("id").arg("-u").output().is_ok_and(|out| out.stdout.trim_ascii() == b"0")
    }

    /// A private PostgreSQL cluster (run as `postgres` when we are root),
    /// stopped and deleted on drop.
    struct PgCluster {
        bin: PathBuf,
        dir: PathBuf,
        port: u16,
        root: bool,
    }

    impl PgCluster {
        fn create(bin: PathBuf, port: u16) -> Self {
            let dir = std::env::temp_dir().join(unique("pgdata"));
            std::fs::create_dir(&dir).expect("create the data directory");
            let root = is_root();
            let cluster = Self { bin, dir, port, root };
            if root {
                let status = Command::new("chown").arg("postgres:").arg(&cluster.dir).status();
                assert!(status.is_ok_and(|s| s.success()), "chown the data directory to postgres");
            }
            let dir = cluster.dir.to_str().unwrap().to_owned();
            cluster.run(
                "initdb",
                &["-D", &dir, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"],
            );
            cluster
        }

        fn run(&self, tool: &str, args: &[&str]) {
            let exe = self.bin.join(tool);
            let mut cmd = if self.root {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", "postgres", "--"]).arg(&exe);
                cmd
            } else {
                Command::new(&exe)
            };
            let out =
                cmd.args(args).output().unwrap_or_else(|e| panic!("run {}: {e}", exe.display()));
            assert!(
                out.status.success(),
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }

        fn start(&self) {
            let dir = self.dir.to_str().unwrap();
            let options = format!(
                "-c listen_addresses=127.0.0.1 -p {} -c unix_socket_directories={dir} -c fsync=off",
                self.port
            );
            let log = format!("{dir}/server.log");
            self.run("pg_ctl", &["-D", dir, "-l", &log, "-o", &options, "-w", "-t", "60", "start"]);
            wait_for_port(self.port, true);
        }

        /// Stops the server the hard way (as a crash would).
        fn kill(&self) {
            let dir = self.dir.to_str().unwrap();
            self.run("pg_ctl", &["-D", dir, "-m", "immediate", "-w", "stop"]);
            wait_for_port(self.port, false);
        }

        fn url(&self) -> String {
            format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
        }
    }

    impl Drop for PgCluster {
        fn drop(&mut self) {
            if Path::new(&self.dir).join("postmaster.pid").exists() {
                let dir = self.dir.to_str().unwrap_or_default().to_owned();
                let mut cmd = if self.root {
                    let mut cmd = Command::new("runuser");
                    cmd.args(["-u", "postgres", "--"]).arg(self.bin.join("pg_ctl"));
                    cmd
                } else {
                    Command::new(self.bin.join("pg_ctl"))
                };
                let _ = cmd.args(["-D", &dir, "-m", "immediate", "-w", "stop"]).output();
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn server_stops_and_comes_back() {
        use hookwarden::store::PostgresStore;

        let Some(bin) = std::env::var_os("HOOKWARDEN_TEST_PG_BIN") else {
            crate::common::skip("HOOKWARDEN_TEST_PG_BIN not set");
            return;
        };
        let cluster = PgCluster::create(bin.into(), free_port());
        cluster.start();
        let timeout = Duration::from_secs(1);
        let pg = PostgresStore::builder(cluster.url())
            .namespace(unique("postgres"))
            .timeout(timeout)
            .pool_size(4)
            .build()
            .expect("build");
        pg.migrate().await.expect("migrate");
        let store: Arc<dyn IdempotencyStore> = Arc::new(pg);
        let held = ClaimToken::random();
        let claim = store.claim("before", &held, LEASE).await.unwrap();
        assert_eq!(claim, Claim::Claimed(held.clone()), "a fresh key");

        let pipeline = through_the_layer::Pipeline::new(store.clone());

        cluster.kill();
        assert_down(&store, &held, timeout).await;
        pipeline.assert_down().await;

        cluster.start();
        let took = assert_recovers(&store).await;
        println!("postgres: recovered {} ms after the restart", took.as_millis());
        pipeline.assert_recovered().await;

        // The claim made before the crash was committed: it survived.
        let other = ClaimToken::random();
        assert_eq!(store.claim("before", &other, LEASE).await.unwrap(), Claim::InFlight);
        assert!(store.complete("before", &held, HOUR).await.unwrap());
        assert_eq!(store.claim("before", &other, LEASE).await.unwrap(), Claim::Done);
    }
}

#[cfg(not(feature = "redis"))]
mod redis {
    #[test]
    fn server_stops_and_comes_back() {
        crate::common::skip("built without the `redis` feature");
    }
}

#[cfg(not(feature = "postgres"))]
mod postgres {
    #[test]
    fn server_stops_and_comes_back() {
        crate::common::skip("built without the `postgres` feature");
    }
}
