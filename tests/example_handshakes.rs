//! The example receiver, run as a process the way a user runs it, answers
//! every sender's handshake over HTTP on 127.0.0.1, and keeps none of them
//! as an event (no JSON line on stdout).

#[path = "../examples/common/mod.rs"]
#[allow(unused_imports)]
mod example;

#[allow(dead_code)] // used without some features
mod common;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use hookwarden::testing;
use http::{HeaderMap, StatusCode};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;

const SECRET: &str = "handshake-test-secret";

/// The example binary, built by `cargo test` beside the test binaries.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = dir.join("examples").join("receiver");
    assert!(binary.exists(), "{} is built by `cargo test`", binary.display());
    binary
}

/// The example receiver for `scheme`, listening on a free port.
struct Receiver {
    child: Child,
    addr: SocketAddr,
}

impl Receiver {
    fn start(scheme: &str) -> Self {
        let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let mut child = Command::new(example_binary())
            .args(["--scheme", scheme, "--secret", SECRET, "--listen", &addr.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // Read stderr to its end (the receiver logs there), and wait until
        // it says it listens.
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        for line in stderr.by_ref() {
            if line.unwrap().contains("listening on") {
                break;
            }
        }
        std::thread::spawn(move || stderr.for_each(drop));
        Self { child, addr }
    }

    async fn post(&self, headers: HeaderMap, body: &[u8]) -> (StatusCode, HeaderMap, Bytes) {
        let mut request = testing::request("/webhooks", headers, body.to_vec());
        request.headers_mut().insert(http::header::HOST, self.addr.to_string().parse().unwrap());
        let stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        (parts.status, parts.headers, body.collect().await.unwrap().to_bytes())
    }

    /// Stops the receiver and returns what it printed on stdout: one line
    /// per handled event.
    fn stop(mut self) -> String {
        self.child.kill().unwrap();
        let output = self.child.wait_with_output().unwrap();
        String::from_utf8(output.stdout).unwrap()
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers.get(http::header::CONTENT_TYPE).map(|v| v.to_str().unwrap())
}

fn json(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body).unwrap()
}

#[tokio::test]
async fn slack_url_verification() {
    let receiver = Receiver::start("slack");
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let (status, headers, answer) = receiver.post(testing::slack(SECRET, now(), body), body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), Some("application/json"));
    assert_eq!(
        json(&answer),
        serde_json::json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"})
    );
    // Unsigned, it is a forgery.
    let (status, _, _) = receiver.post(testing::slack("another", now(), body), body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(receiver.stop(), "", "a handshake is never an event");
}

#[tokio::test]
async fn zoom_endpoint_url_validation() {
    let receiver = Receiver::start("zoom");
    let body = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
    let (status, headers, answer) = receiver.post(testing::zoom(SECRET, now(), body), body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), Some("application/json"));
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    mac.update(b"qgg8vlvZRS6UYooatFL8Aw");
    assert_eq!(
        json(&answer),
        serde_json::json!({
            "plainToken": "qgg8vlvZRS6UYooatFL8Aw",
            "encryptedToken": hex::encode(mac.finalize().into_bytes()),
        })
    );
    assert_eq!(receiver.stop(), "");
}

#[tokio::test]
async fn twitch_challenge_and_revocation() {
    let receiver = Receiver::start("twitch");
    let stamp = |kind: &str, body: &[u8]| {
        // Stamped now: Twitch's messages older than 10 minutes are refused.
        let at = example::rfc3339(now());
        let mut headers =
            testing::twitch(SECRET, "e76c6bd4-55c9-4987-8304-da1588d8988b", &at, body);
        headers.insert("twitch-eventsub-message-type", kind.parse().unwrap());
        headers
    };
    let body = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo","subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"webhook_callback_verification_pending","type":"channel.follow","version":"2","cost":1,"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
    let (status, headers, answer) =
        receiver.post(stamp("webhook_callback_verification", body), body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), Some("text/plain; charset=utf-8"));
    assert_eq!(&answer[..], b"pogchamp-kappa-360noscope-vohiyo");

    let body = br#"{"subscription":{"id":"f1c2a387-161a-49f9-a165-0f21d7a4e1c4","status":"authorization_revoked","type":"channel.follow","version":"2","cost":1,"condition":{"broadcaster_user_id":"12826"},"transport":{"method":"webhook","callback":"https://example.com/webhooks/callback"},"created_at":"2019-11-16T10:11:12.634234626Z"}}"#;
    let (status, _, answer) = receiver.post(stamp("revocation", body), body).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(answer.is_empty());
    assert_eq!(receiver.stop(), "");
}

#[cfg(not(feature = "ed25519"))]
#[test]
fn discord_pings() {
    common::skip("Discord's pings: built without the `ed25519` feature");
}

#[cfg(feature = "ed25519")]
#[tokio::test]
async fn discord_pings() {
    let receiver = Receiver::start("discord");
    let sign = |body: &[u8]| testing::discord(example::DEMO_DISCORD_KEY, now(), body);
    // A webhook-events PING: 204, no body.
    let body = br#"{"version":1,"application_id":"1234560123453231555","type":0}"#;
    let (status, _, answer) = receiver.post(sign(body), body).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(answer.is_empty());
    // An interactions PING: `{"type":1}`.
    let body = br#"{"id":"787053080478613555","token":"ThisIsATokenFromDiscordThatIsVeryLong","type":1,"version":1,"application_id":"1234560123453231555"}"#;
    let (status, headers, answer) = receiver.post(sign(body), body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type(&headers), Some("application/json"));
    assert_eq!(json(&answer), serde_json::json!({"type": 1}));
    assert_eq!(receiver.stop(), "");
}
