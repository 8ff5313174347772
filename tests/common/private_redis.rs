//! A private `redis-server` for the tests that stall one: on a free
//! 127.0.0.1 port, with `DEBUG` enabled, killed on drop. Pausing it
//! disturbs no other test. Included by path where needed.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A private `redis-server`; see the [module documentation](self).
pub(crate) struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    /// Starts one from `HOOKWARDEN_TEST_REDIS_SERVER`; without that
    /// variable, says the test was skipped and answers `None`.
    pub(crate) fn start() -> Option<Self> {
        let Ok(bin) = std::env::var("HOOKWARDEN_TEST_REDIS_SERVER") else {
            crate::common::skip("HOOKWARDEN_TEST_REDIS_SERVER not set");
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--enable-debug-command", "yes"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(server)
    }

    /// Its URL.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Pauses the server for `seconds` with `DEBUG SLEEP`, from a thread of
    /// its own (the command blocks the connection that sends it), and
    /// returns once the pause has begun; joined, the thread tells when the
    /// server answered again.
    pub(crate) async fn pause(&self, seconds: f64) -> JoinHandle<Instant> {
        let port = self.port;
        let handle = std::thread::spawn(move || {
            let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let arg = seconds.to_string();
            let command =
                format!("*3\r\n$5\r\nDEBUG\r\n$5\r\nSLEEP\r\n${}\r\n{arg}\r\n", arg.len());
            stream.write_all(command.as_bytes()).unwrap();
            let mut reply = [0u8; 5];
            stream.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"+OK\r\n");
            Instant::now()
        });
        // Let the pause begin before anything else is sent.
        tokio::time::sleep(Duration::from_millis(100)).await;
        handle
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
