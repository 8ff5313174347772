//! A webhook sender over real HTTP on 127.0.0.1, for the fault tests:
//! Standard Webhooks deliveries of `order.paid`, each on a fresh
//! connection, and one that hangs up before the answer. Included by path
//! where needed.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hookwarden::testing;
use http::StatusCode;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::AsyncWriteExt;

/// The secret every delivery is signed with.
pub(crate) const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The body of the delivery with this id.
pub(crate) fn event(id: &str) -> String {
    format!(r#"{{"type":"order.paid","data":{{"order":"{id}"}}}}"#)
}

/// The signed request, for POST /webhooks at `addr`.
pub(crate) fn signed(addr: SocketAddr, id: &str) -> http::Request<Full<Bytes>> {
    let body = event(id);
    let mut request = testing::request(
        "/webhooks",
        testing::standard_webhooks(SECRET, id, now(), body.as_bytes()),
        body,
    );
    request.headers_mut().insert(http::header::HOST, addr.to_string().parse().unwrap());
    request
}

/// One delivery on a fresh connection: the status, and the body's error or
/// status word (or the body itself).
pub(crate) async fn deliver(addr: SocketAddr, id: &str) -> (StatusCode, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(signed(addr, id)).await.unwrap();
    let status = response.status();
    let bytes: Bytes = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
    let word = json["error"].as_str().or(json["status"].as_str()).map(str::to_owned);
    (status, word.unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned()))
}

/// Sends the whole request, then hangs up after 200 ms, before the answer.
pub(crate) async fn deliver_and_hang_up(addr: SocketAddr, id: &str) {
    let request = signed(addr, id);
    let mut raw = "POST /webhooks HTTP/1.1\r\n".to_owned();
    for (name, value) in request.headers() {
        raw.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    raw.push_str("\r\n");
    raw.push_str(&event(id));
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw.as_bytes()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(stream);
}
