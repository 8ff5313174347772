//! The IP allowlist over real sockets on loopback: a dual-stack listener,
//! and a refusal that does not wait for the body.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use hookwarden::VerifyLayer;
use hookwarden::ip::{ClientIp, IpAllowlistLayer, PeerAddr};
use hookwarden::scheme::GitHub;
use http::{Request, Response};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceBuilder;

/// Reads one HTTP/1.1 response (status line, headers, `Content-Length`
/// body) and returns the status code and body.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let length = head
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0usize);
            if buf.len() >= end + 4 + length {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                let body = String::from_utf8_lossy(&buf[end + 4..end + 4 + length]).to_string();
                return (status, body);
            }
        }
        let n = stream.read(&mut chunk).await.expect("read");
        assert!(
            n > 0,
            "connection closed before a full response: {:?}",
            String::from_utf8_lossy(&buf)
        );
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn post_small(to: SocketAddr) -> (u16, String) {
    let mut stream = TcpStream::connect(to).await.expect("connect");
    let request = "POST /webhooks HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}";
    stream.write_all(request.as_bytes()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), read_response(&mut stream))
        .await
        .expect("response in time")
}

async fn report(
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Extension(ClientIp(client)): Extension<ClientIp>,
) -> String {
    format!("{} {client}", peer.ip())
}

#[tokio::test]
async fn a_dual_stack_listener_reached_via_127_0_0_1() {
    let listener = match TcpListener::bind("[::]:0").await {
        Ok(listener) => listener,
        Err(error) => {
            common::skip(&format!("this machine cannot listen on [::] ({error})"));
            return;
        }
    };
    let port = listener.local_addr().unwrap().port();
    let allowlist = IpAllowlistLayer::new(["127.0.0.1/32"])
        .unwrap()
        .peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip());
    let app = Router::new().route("/webhooks", post(report)).layer(allowlist);
    tokio::spawn(async move {
        axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
            .await
            .unwrap();
    });

    // The listener sees ::ffff:127.0.0.1; the IPv4 rule matches it, and the
    // handler gets the plain IPv4 address.
    let (status, body) = post_small(SocketAddr::from(([127, 0, 0, 1], port))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "::ffff:127.0.0.1 127.0.0.1");

    // ::1 is not on the list.
    match TcpStream::connect(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))).await {
        Ok(mut stream) => {
            let request = "POST /webhooks HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
            stream.write_all(request.as_bytes()).await.unwrap();
            let (status, body) = read_response(&mut stream).await;
            assert_eq!(status, 403);
            assert!(body.contains("ip_not_allowed"), "{body}");
        }
        Err(error) => common::skip(&format!("the ::1 check: cannot connect to [::1] ({error})")),
    }
}

#[tokio::test]
async fn a_refusal_is_answered_while_a_50_mb_body_is_still_owed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let called = Arc::new(AtomicBool::new(false));

    let allowlist = IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap();
    let verify = VerifyLayer::new(GitHub::new(["It's a Secret to Everybody"]).unwrap());
    let handler_called = called.clone();
    tokio::spawn(async move {
        loop {
            let (stream, remote) = listener.accept().await.unwrap();
            let called = handler_called.clone();
            // A plain hyper server: the peer address goes in per connection.
            let service = ServiceBuilder::new()
                .layer(PeerAddr(remote))
                .layer(allowlist.clone())
                .layer(verify.clone())
                .service_fn(move |_: Request<Full<Bytes>>| {
                    called.store(true, Ordering::SeqCst);
                    async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("ok")))) }
                });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await;
            });
        }
    });

    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = "POST /webhooks HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
                Content-Length: 52428800\r\n\r\n";
    stream.write_all(head.as_bytes()).await.unwrap();
    // Not a byte of the body is sent, and the connection stays open.
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut stream))
        .await
        .expect("the 403 must not wait for the body");
    assert_eq!(status, 403, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "ip_not_allowed");
    assert!(!called.load(Ordering::SeqCst));
}
