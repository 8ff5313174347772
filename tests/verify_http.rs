//! The verify layer over real HTTP on 127.0.0.1: in an axum router, as a
//! route service, and in a plain hyper server; body limits and deadlines
//! seen from the wire.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use hookwarden::scheme::{GitHub, StandardWebhooks, Verified};
use hookwarden::{VerifyLayer, testing};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SECRET: &str = "It's a Secret to Everybody";

async fn serve_axum(app: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// Sends raw bytes and reads until the server closes or `deadline`.
async fn exchange(addr: SocketAddr, request: &[u8]) -> (StatusCode, String) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    read_response(&mut stream).await
}

async fn read_response(stream: &mut TcpStream) -> (StatusCode, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
            .await
            .expect("the server answers within 10 s");
        match read {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        if let Some(response) = parse_complete(&buf) {
            return response;
        }
    }
    parse_complete(&buf).expect("a complete HTTP response")
}

/// Parses a response with a `content-length`, once all of it has arrived.
fn parse_complete(buf: &[u8]) -> Option<(StatusCode, String)> {
    let text = std::str::from_utf8(buf).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse::<u16>().ok()?;
    let length = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
        })
        .and_then(|v| v.parse::<usize>().ok())?;
    (body.len() >= length)
        .then(|| (StatusCode::from_u16(status).unwrap(), body[..length].to_owned()))
}

fn github_request(body: &[u8], tamper: bool) -> Vec<u8> {
    let headers = testing::github(SECRET, body);
    let signature = headers["x-hub-signature-256"].to_str().unwrap();
    let mut request = format!(
        "POST /hook HTTP/1.1\r\nhost: test\r\nconnection: close\r\ncontent-type: application/json\r\n\
         x-hub-signature-256: {signature}\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    if tamper {
        *request.last_mut().unwrap() ^= 1;
    }
    request
}

fn error_code(body: &str) -> String {
    let value: serde_json::Value = serde_json::from_str(body).unwrap();
    value["error"].as_str().unwrap().to_owned()
}

async fn echo(Extension(verified): Extension<Verified>, body: Bytes) -> String {
    assert_eq!(&body, verified.body(), "the handler gets the verified bytes");
    format!("{}:{}", verified.scheme(), String::from_utf8_lossy(&body))
}

#[tokio::test]
async fn axum_router_layer_passes_authentic_and_refuses_tampered() {
    let verify = VerifyLayer::new(GitHub::new([SECRET]).unwrap());
    let addr = serve_axum(Router::new().route("/hook", post(echo)).layer(verify)).await;

    let body = br#"{"zen":"Design for failure."}"#;
    let (status, text) = exchange(addr, &github_request(body, false)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, format!("github:{}", std::str::from_utf8(body).unwrap()));

    let (status, text) = exchange(addr, &github_request(body, true)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&text), "invalid_signature");
    assert!(!text.contains(SECRET));
}

#[tokio::test]
async fn axum_route_service_refuses_a_missing_signature() {
    let service = tower::service_fn(|request: Request<Full<Bytes>>| async move {
        let verified = request.extensions().get::<Verified>().cloned().expect("verified");
        Ok::<_, Infallible>(Response::new(axum::body::Body::from(verified.scheme())))
    });
    let verify = VerifyLayer::new(GitHub::new([SECRET]).unwrap());
    let app = Router::new().route_service("/hook", tower::Layer::layer(&verify, service));
    let addr = serve_axum(app).await;

    let (status, text) = exchange(addr, &github_request(b"{}", false)).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "github"));

    let unsigned =
        b"POST /hook HTTP/1.1\r\nhost: t\r\nconnection: close\r\ncontent-length: 2\r\n\r\n{}";
    let (status, text) = exchange(addr, unsigned).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(error_code(&text), "missing_signature");
}

#[tokio::test]
async fn plain_hyper_server() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let verify = VerifyLayer::new(StandardWebhooks::new([secret]).unwrap());
    let service = tower::Layer::layer(
        &verify,
        tower::service_fn(|request: Request<Full<Bytes>>| async move {
            let id = request
                .extensions()
                .get::<Verified>()
                .and_then(|v| v.signed_id().map(str::to_owned));
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(id.unwrap_or_default()))))
        }),
    );
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper_util::service::TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });

    let body = br#"{"type":"user.registered"}"#;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut request = testing::request(
        &format!("http://{addr}/"),
        testing::standard_webhooks(secret, "msg_1", now, body),
        &body[..],
    );
    request.headers_mut().insert(http::header::HOST, addr.to_string().parse().unwrap());

    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.into_body().collect().await.unwrap().to_bytes(), "msg_1");

    let mut stale = testing::request(
        "/",
        testing::standard_webhooks(secret, "msg_2", now - 301, body),
        &body[..],
    );
    stale.headers_mut().insert(http::header::HOST, addr.to_string().parse().unwrap());
    let response = sender.send_request(stale).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(error_code(std::str::from_utf8(&text).unwrap()), "timestamp_out_of_tolerance");
}

#[tokio::test]
async fn huge_declared_length_gets_413_before_any_body_is_sent() {
    let verify = VerifyLayer::new(GitHub::new([SECRET]).unwrap()).max_body(1024 * 1024);
    let addr = serve_axum(Router::new().route("/hook", post(echo)).layer(verify)).await;
    let head = b"POST /hook HTTP/1.1\r\nhost: t\r\n\
          x-hub-signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\n\
          content-length: 50000000\r\n\r\n";
    let (status, text) = exchange(addr, head).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&text), "payload_too_large");
}

#[tokio::test]
async fn streamed_oversize_body_gets_413() {
    let verify = VerifyLayer::new(GitHub::new([SECRET]).unwrap()).max_body(64 * 1024);
    let addr = serve_axum(Router::new().route("/hook", post(echo)).layer(verify)).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // A well-formed (wrong) signature: a malformed one is refused before
    // the body is read.
    stream
        .write_all(b"POST /hook HTTP/1.1\r\nhost: t\r\n\
          x-hub-signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\n\
          transfer-encoding: chunked\r\n\r\n")
        .await
        .unwrap();
    // 80 chunks of 1 KiB: past the 64 KiB limit without declaring a length.
    let chunk = [b'a'; 1024];
    for _ in 0..80 {
        let mut frame = b"400\r\n".to_vec();
        frame.extend_from_slice(&chunk);
        frame.extend_from_slice(b"\r\n");
        if stream.write_all(&frame).await.is_err() {
            break; // the server answered and closed: fine
        }
    }
    let (status, text) = read_response(&mut stream).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&text), "payload_too_large");
}

#[tokio::test]
async fn trickling_body_gets_408() {
    let verify =
        VerifyLayer::new(GitHub::new([SECRET]).unwrap()).body_timeout(Duration::from_millis(300));
    let addr = serve_axum(Router::new().route("/hook", post(echo)).layer(verify)).await;
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    // A well-formed (wrong) signature: a malformed one is refused before
    // the body is read.
    writer
        .write_all(b"POST /hook HTTP/1.1\r\nhost: t\r\n\
          x-hub-signature-256: sha256=0000000000000000000000000000000000000000000000000000000000000000\r\n\
          content-length: 100\r\n\r\n")
        .await
        .unwrap();
    // One byte every 100 ms: the whole body would take 10 s.
    let trickle = tokio::spawn(async move {
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b"a").await.is_err() {
                break;
            }
        }
    });
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    let response = loop {
        let n = tokio::time::timeout(Duration::from_secs(5), reader.read(&mut chunk))
            .await
            .expect("answered long before the body would be complete")
            .unwrap();
        assert!(n > 0, "closed without a response");
        buf.extend_from_slice(&chunk[..n]);
        if let Some(response) = parse_complete(&buf) {
            break response;
        }
    };
    trickle.abort();
    assert_eq!(response.0, StatusCode::REQUEST_TIMEOUT);
    assert_eq!(error_code(&response.1), "body_timeout");
    assert!(started.elapsed() < Duration::from_secs(5));
}
