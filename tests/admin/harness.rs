//! A receiver and its admin router, each on its own listener on
//! 127.0.0.1, and an HTTP client for both.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::admin::{self, AdminToken};
use hookwarden::dispatch::RetryPolicy;
use hookwarden::event::Event;
use hookwarden::inbox::Inbox;
use hookwarden::router::EventRouter;
use hookwarden::scheme::StandardWebhooks;
use hookwarden::{Receiver, testing};
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;

pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub(crate) const TOKEN: &str = "test-admin-token-8f3a1c9e5b7d";

/// The event type whose handler always fails: with one attempt allowed,
/// each delivery of it becomes a dead letter.
pub(crate) const FAILS: &str = "invoice.finalized";
/// The event type whose handler takes a minute: it stays leased.
pub(crate) const SLOW: &str = "report.generate";

/// Handler calls so far, by event id.
pub(crate) type Calls = Arc<Mutex<HashMap<String, u32>>>;

pub(crate) struct Served {
    pub(crate) webhooks: SocketAddr,
    pub(crate) admin: SocketAddr,
    pub(crate) receiver: Receiver,
    pub(crate) calls: Calls,
    servers: Vec<JoinHandle<()>>,
}

impl Served {
    /// Handler calls for `id` so far.
    pub(crate) fn calls(&self, id: &str) -> u32 {
        self.calls.lock().unwrap().get(id).copied().unwrap_or(0)
    }

    /// Stops both listeners and the workers; a durable inbox keeps what
    /// it holds.
    pub(crate) async fn stop(mut self) {
        for server in self.servers.drain(..) {
            server.abort();
            let _ = server.await;
        }
        self.receiver.handle().shutdown(Duration::from_secs(5)).await;
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        for server in &self.servers {
            server.abort();
        }
    }
}

/// A receiver with one attempt per delivery (so a failure is a dead letter
/// at once), on the given inbox or an in-memory one, served on one
/// listener and its admin router on another.
pub(crate) async fn serve(inbox: Option<Arc<dyn Inbox>>) -> Served {
    // Installed before the receiver starts, so its first queue-depth
    // gauge is recorded.
    admin::install_prometheus().expect("the only recorder in this test binary");
    let calls: Calls = Arc::default();
    let counted = calls.clone();
    let router = EventRouter::new().catch_all(move |event: Event<serde_json::Value>| {
        *counted.lock().unwrap().entry(event.id().to_owned()).or_default() += 1;
        let event_type = event.event_type().to_owned();
        async move {
            match event_type.as_str() {
                FAILS => Err("billing service answered 503 Service Unavailable"),
                SLOW => {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    Ok(())
                }
                _ => Ok(()),
            }
        }
    });
    let mut builder = Receiver::builder(StandardWebhooks::new([SECRET]).unwrap())
        .router(router)
        .retry(RetryPolicy::default().with_max_attempts(1))
        .poll_interval(Duration::from_millis(50));
    if let Some(inbox) = inbox {
        builder = builder.shared_inbox(inbox);
    }
    let receiver = builder.build().unwrap();
    let webhooks_app = axum::Router::new().route_service("/webhooks", receiver.service());
    let admin_app = admin::router(receiver.handle(), AdminToken::new(TOKEN).unwrap());
    let (webhooks, webhooks_server) = listen(webhooks_app).await;
    let (admin, admin_server) = listen(admin_app).await;
    Served { webhooks, admin, receiver, calls, servers: vec![webhooks_server, admin_server] }
}

async fn listen(app: axum::Router) -> (SocketAddr, JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (addr, server)
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The body of an event of `event_type`.
pub(crate) fn body(event_type: &str, id: &str) -> String {
    format!(r#"{{"type":"{event_type}","data":{{"ref":"{id}","note":"café ☕"}}}}"#)
}

/// Delivers a signed event; returns the status.
pub(crate) async fn deliver(addr: SocketAddr, id: &str, event_type: &str) -> StatusCode {
    let body = body(event_type, id);
    let headers = testing::standard_webhooks(SECRET, id, now(), body.as_bytes());
    send(addr, testing::request("/webhooks", headers, body)).await.status
}

/// Delivers an event with a wrong signature: 401 `invalid_signature`.
pub(crate) async fn forge(addr: SocketAddr, id: &str) -> StatusCode {
    let body = body("order.paid", id);
    let headers = testing::standard_webhooks(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        id,
        now(),
        body.as_bytes(),
    );
    send(addr, testing::request("/webhooks", headers, body)).await.status
}

/// An answer: status, headers and body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends `request` to `addr` on a fresh connection.
pub(crate) async fn send(addr: SocketAddr, mut request: Request<Full<Bytes>>) -> Answer {
    request.headers_mut().insert(http::header::HOST, addr.to_string().parse().unwrap());
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// `method path` on the admin listener, with `Authorization: <authorization>`
/// when given.
pub(crate) async fn call(
    addr: SocketAddr,
    method: Method,
    path: &str,
    authorization: Option<&str>,
) -> Answer {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(value) = authorization {
        request = request.header(http::header::AUTHORIZATION, value);
    }
    send(addr, request.body(Full::default()).unwrap()).await
}

/// `method path` with the right token.
pub(crate) async fn admin(addr: SocketAddr, method: Method, path: &str) -> Answer {
    call(addr, method, path, Some(&format!("Bearer {TOKEN}"))).await
}

/// Waits up to 10 s for `done`.
pub(crate) async fn until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until the delivery `id` is in `state`, per the admin API.
pub(crate) async fn until_state(addr: SocketAddr, id: &str, state: &str) {
    until(&format!("{id} to be {state}"), async || {
        let answer = admin(addr, Method::GET, &format!("/admin/api/deliveries/{id}")).await;
        answer.status == StatusCode::OK && answer.json()["state"] == state
    })
    .await;
}
