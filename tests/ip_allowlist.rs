//! The IP allowlist layer, in process: decisions, the trust model for
//! forwarding headers, configuration errors, provider lists and run-time
//! swaps.

#[allow(dead_code)] // used without some features
mod common;

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::body::Body;
use axum::extract::connect_info::MockConnectInfo;
use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use hookwarden::ip::{ClientIp, ClientIpSource, IpAllowlistLayer, IpRanges, PeerAddr, providers};
use hookwarden::{ConfigError, Rejection};
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use proptest::prelude::*;
use tower::{Layer, Service, ServiceBuilder, ServiceExt};

const ALLOWED: &str = "192.0.2.10";
const DENIED: &str = "203.0.113.9";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn sock(s: &str) -> SocketAddr {
    match s.parse::<SocketAddr>() {
        Ok(addr) => addr,
        Err(_) => SocketAddr::new(ip(s), 40000),
    }
}

// ---------------------------------------------------------------------------
// axum, in process, with MockConnectInfo
// ---------------------------------------------------------------------------

async fn echo_client(Extension(ClientIp(ip)): Extension<ClientIp>) -> String {
    ip.to_string()
}

fn axum_app(layer: IpAllowlistLayer, peer: Option<&str>) -> Router {
    let layer = layer.peer_addr_from(|mock: &MockConnectInfo<SocketAddr>| mock.0.ip());
    let app = Router::new().route("/webhooks", post(echo_client)).layer(layer);
    match peer {
        Some(peer) => app.layer(MockConnectInfo(sock(peer))),
        None => app,
    }
}

async fn post_to(app: Router, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut request = Request::post("/webhooks");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = app.oneshot(request.body(Body::from("{}")).unwrap()).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

fn allowlist() -> IpAllowlistLayer {
    IpAllowlistLayer::new(["192.0.2.0/24", "2001:db8:1::/48"]).unwrap()
}

#[tokio::test]
async fn an_allowed_client_gets_through_with_its_address_in_the_extensions() {
    let (status, body) = post_to(axum_app(allowlist(), Some("192.0.2.10:5000")), &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "192.0.2.10");
}

#[tokio::test]
async fn a_client_not_on_the_list_gets_403() {
    let app = axum_app(allowlist(), Some("203.0.113.9:5000"));
    let response = app.oneshot(Request::post("/webhooks").body(Body::empty()).unwrap());
    let response = response.await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(response.extensions().get::<Rejection>(), Some(&Rejection::IpNotAllowed));
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(json["error"], "ip_not_allowed");
}

#[tokio::test]
async fn ipv6_clients_are_matched_against_ipv6_ranges() {
    let (status, body) = post_to(axum_app(allowlist(), Some("[2001:db8:1::7]:5000")), &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "2001:db8:1::7"));
    let (status, _) = post_to(axum_app(allowlist(), Some("[2001:db8:2::7]:5000")), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn ipv4_mapped_peers_and_rules_are_normalised() {
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d.
    let (status, body) =
        post_to(axum_app(allowlist(), Some("[::ffff:192.0.2.10]:5000")), &[]).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "192.0.2.10"));
    let (status, _) = post_to(axum_app(allowlist(), Some("[::ffff:203.0.113.9]:5000")), &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // A rule written as a mapped range matches the plain IPv4 client.
    let mapped_rule = IpAllowlistLayer::new(["::ffff:198.51.100.0/120"]).unwrap();
    let (status, _) = post_to(axum_app(mapped_rule, Some("198.51.100.20:5000")), &[]).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn no_peer_address_is_a_500_and_never_a_pass() {
    let (status, body) = post_to(axum_app(allowlist(), None), &[]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(json["error"], "peer_address_unknown");
    // Not even with an allow-everything list, nor with forwarding headers.
    let trusting = IpAllowlistLayer::allow_any()
        .trust_proxies(["0.0.0.0/0", "::/0"], ClientIpSource::XForwardedFor)
        .unwrap();
    let (status, _) = post_to(axum_app(trusting, None), &[("x-forwarded-for", ALLOWED)]).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn peer_addr_extension_is_read_without_axum() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let service = ServiceBuilder::new()
        .layer(PeerAddr(sock("192.0.2.99:1")))
        .layer(allowlist())
        .service_fn(move |request: Request<Full<Bytes>>| {
            counted.fetch_add(1, Ordering::SeqCst);
            let client = request.extensions().get::<ClientIp>().copied();
            async move {
                assert_eq!(client, Some(ClientIp(ip("192.0.2.99"))));
                Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
            }
        });
    let response = service.oneshot(Request::new(Full::default())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

/// A log sink for one test.
#[derive(Clone, Default)]
struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_missing_peer_address_is_logged_once_at_error_with_the_fix() {
    let captured = Captured::default();
    let sink = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || sink.clone())
        .finish();
    let layer = allowlist();
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..3 {
            let service = layer.clone().layer(tower::service_fn(|_: Request<()>| async {
                Ok::<_, Infallible>(Response::new(Full::<Bytes>::default()))
            }));
            let response = block_on_ready(service.oneshot(Request::new(()))).unwrap();
            assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        }
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let errors: Vec<&str> = logs.lines().filter(|line| line.contains("ERROR")).collect();
    assert_eq!(errors.len(), 1, "{logs}");
    for hint in ["ConnectInfo", "PeerAddr", "peer_address_unknown"] {
        assert!(errors[0].contains(hint), "{hint} missing from {}", errors[0]);
    }
    // Each refusal is still recorded, quietly, under the rejection target.
    let debug = logs.lines().filter(|line| line.contains("DEBUG hookwarden::rejection")).count();
    assert_eq!(debug, 3, "{logs}");
}

// ---------------------------------------------------------------------------
// The trust model
// ---------------------------------------------------------------------------

/// Sends one request from `peer` with `headers` (repeated names become
/// several header lines) and returns the client the layer let through, or
/// the refusal's status.
fn decide(
    layer: &IpAllowlistLayer,
    peer: &str,
    headers: &[(&str, &str)],
) -> Result<IpAddr, StatusCode> {
    let mut service = ServiceBuilder::new()
        .layer(PeerAddr(sock(peer)))
        .layer(layer.clone())
        .service_fn(|request: Request<()>| async move {
            let ClientIp(ip) = *request.extensions().get::<ClientIp>().expect("ClientIp is set");
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(ip.to_string()))))
        });
    let mut request = Request::builder();
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    block_on_ready(std::future::poll_fn(|cx| service.poll_ready(cx))).unwrap();
    let future = service.call(request.body(()).unwrap());
    // The decision is taken in `call`: the future is ready at once.
    let response = block_on_ready(future).unwrap();
    if response.status() != StatusCode::OK {
        return Err(response.status());
    }
    let body = block_on_ready(response.into_body().collect()).unwrap().to_bytes();
    Ok(ip(std::str::from_utf8(&body).unwrap()))
}

/// Polls a future that must complete without waiting.
fn block_on_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => panic!("the layer waited for something"),
    }
}

/// GitHub-like allowlist behind proxies in 10.0.0.0/8 that append to
/// `source`.
fn behind_proxies(source: ClientIpSource) -> IpAllowlistLayer {
    IpAllowlistLayer::new(["192.0.2.0/24", "2001:db8:1::/48"])
        .unwrap()
        .trust_proxies(["10.0.0.0/8", "fd00::/8"], source)
        .unwrap()
}

const PROXY: &str = "10.0.0.1";

#[test]
fn forwarding_headers_from_an_untrusted_peer_are_ignored() {
    let layer = behind_proxies(ClientIpSource::XForwardedFor);
    // The attacker claims an allowed address: the peer decides, and it is denied.
    assert_eq!(decide(&layer, DENIED, &[("x-forwarded-for", ALLOWED)]), Err(StatusCode::FORBIDDEN));
    // An allowed peer's header does not change who the client is.
    assert_eq!(decide(&layer, ALLOWED, &[("x-forwarded-for", DENIED)]), Ok(ip(ALLOWED)));
    let forwarded = behind_proxies(ClientIpSource::Forwarded);
    assert_eq!(
        decide(&forwarded, DENIED, &[("forwarded", "for=192.0.2.10")]),
        Err(StatusCode::FORBIDDEN)
    );
}

#[test]
fn a_spoofed_leftmost_entry_is_never_the_client() {
    let layer = behind_proxies(ClientIpSource::XForwardedFor);
    // The client 203.0.113.9 wrote "192.0.2.10" itself; the proxy appended
    // what it saw.
    let xff = format!("{ALLOWED}, {DENIED}");
    assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", &xff)]), Err(StatusCode::FORBIDDEN));
    let xff = format!("{DENIED}, {ALLOWED}");
    assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", &xff)]), Ok(ip(ALLOWED)));
}

#[test]
fn several_trusted_hops_are_skipped() {
    let layer = behind_proxies(ClientIpSource::XForwardedFor);
    let xff = format!("{DENIED}, {ALLOWED}, 10.0.0.2, fd00::3, 10.0.0.4");
    assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", &xff)]), Ok(ip(ALLOWED)));
    // Mapped addresses of trusted hops are trusted hops.
    let xff = format!("{ALLOWED}, ::ffff:10.0.0.2");
    assert_eq!(
        decide(&layer, "[::ffff:10.0.0.1]:9", &[("x-forwarded-for", &xff)]),
        Ok(ip(ALLOWED))
    );
    // Every entry trusted: the leftmost trusted hop is the client (and it is
    // not on the allowlist).
    let xff = "10.0.0.9, 10.0.0.2";
    assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", xff)]), Err(StatusCode::FORBIDDEN));
    // No header from a trusted proxy: the proxy itself is the client.
    assert_eq!(decide(&layer, PROXY, &[]), Err(StatusCode::FORBIDDEN));
    let proxy_allowed = IpAllowlistLayer::new(["10.0.0.9"])
        .unwrap()
        .trust_proxies(["10.0.0.0/8"], ClientIpSource::XForwardedFor)
        .unwrap();
    assert_eq!(decide(&proxy_allowed, PROXY, &[("x-forwarded-for", xff)]), Ok(ip("10.0.0.9")));
}

#[test]
fn multiple_x_forwarded_for_lines_are_one_list_in_order() {
    let layer = behind_proxies(ClientIpSource::XForwardedFor);
    let lines = [("x-forwarded-for", DENIED), ("x-forwarded-for", ALLOWED)];
    assert_eq!(decide(&layer, PROXY, &lines), Ok(ip(ALLOWED)));
    let lines = [("x-forwarded-for", ALLOWED), ("x-forwarded-for", DENIED)];
    assert_eq!(decide(&layer, PROXY, &lines), Err(StatusCode::FORBIDDEN));
    let lines = [
        ("x-forwarded-for", "198.51.100.1"),
        ("x-forwarded-for", "192.0.2.10, 10.0.0.7"),
        ("x-forwarded-for", "10.0.0.8"),
    ];
    assert_eq!(decide(&layer, PROXY, &lines), Ok(ip(ALLOWED)));
}

#[test]
fn x_forwarded_for_variants() {
    let layer = behind_proxies(ClientIpSource::XForwardedFor);
    for xff in [
        "192.0.2.10",
        " 192.0.2.10 ,10.0.0.2",
        "192.0.2.10:4711, 10.0.0.2",
        "::ffff:192.0.2.10",
        "garbage, 192.0.2.10",
    ] {
        assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", xff)]), Ok(ip(ALLOWED)), "{xff:?}");
    }
    for xff in ["2001:db8:1::5", "[2001:db8:1::5]:443", "[2001:db8:1::5]"] {
        assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", xff)]), Ok(ip("2001:db8:1::5")));
    }
}

#[test]
fn garbage_the_walk_reaches_is_refused() {
    let layer = behind_proxies(ClientIpSource::XForwardedFor);
    for xff in [
        "192.0.2.10, garbage",
        "192.0.2.10, garbage, 10.0.0.2",
        "192.0.2.10,,10.0.0.2",
        "",
        "unknown",
        "192.0.2.10 10.0.0.2",
        "192.0.2.10;10.0.0.2",
        "fe80::1%eth0",
        "192.0.2.256",
    ] {
        assert_eq!(
            decide(&layer, PROXY, &[("x-forwarded-for", xff)]),
            Err(StatusCode::FORBIDDEN),
            "{xff:?}"
        );
    }
}

#[test]
fn forwarded_variants() {
    let layer = behind_proxies(ClientIpSource::Forwarded);
    let allowed = [
        "for=192.0.2.10",
        "for=192.0.2.10;proto=https;by=10.0.0.1",
        "proto=https;For=192.0.2.10",
        "for=\"192.0.2.10:4711\"",
        "for=192.0.2.60;proto=http, for=192.0.2.10",
        "for=203.0.113.9, for=192.0.2.10, for=10.0.0.2;by=10.0.0.1",
        "for=192.0.2.10;host=\"example.com\", for=\"[fd00::2]:8080\"",
        "for=\"192.0.2.10\";note=\"a, b; c\"",
        "for=\"_hidden\", for=192.0.2.10",
    ];
    for value in allowed {
        assert_eq!(decide(&layer, PROXY, &[("forwarded", value)]), Ok(ip(ALLOWED)), "{value:?}");
    }
    for value in
        ["for=\"[2001:db8:1::17]:4711\"", "for=\"[2001:db8:1::17]\"", "FOR=\"[2001:db8:1::17]\""]
    {
        assert_eq!(
            decide(&layer, PROXY, &[("forwarded", value)]),
            Ok(ip("2001:db8:1::17")),
            "{value:?}"
        );
    }
    // Several header lines are one list, in order.
    let lines = [("forwarded", "for=192.0.2.10"), ("forwarded", "for=10.0.0.3")];
    assert_eq!(decide(&layer, PROXY, &lines), Ok(ip(ALLOWED)));
    let lines = [("forwarded", "for=192.0.2.10"), ("forwarded", "for=203.0.113.9")];
    assert_eq!(decide(&layer, PROXY, &lines), Err(StatusCode::FORBIDDEN));
    // A spoofed element on the left is never reached.
    let value = "for=192.0.2.10, for=203.0.113.9";
    assert_eq!(decide(&layer, PROXY, &[("forwarded", value)]), Err(StatusCode::FORBIDDEN));
}

#[test]
fn forwarded_unknown_obfuscated_and_garbage_are_refused() {
    let layer = behind_proxies(ClientIpSource::Forwarded);
    for value in [
        "for=unknown",
        "for=192.0.2.10, for=unknown",
        "for=_hidden",
        "for=\"_SEVKISEK\"",
        "for=192.0.2.10, for=_gazonk;by=10.0.0.1",
        "proto=https",
        "for=192.0.2.10, by=10.0.0.1",
        "for=192.0.2.10;for=192.0.2.11",
        "for=2001:db8:1::17",
        "for=[2001:db8:1::17]",
        "for=\"[2001:db8:1::17\"",
        "for=\"192.0.2.10",
        "for=192.0.2.10:99999",
        "for=",
        "192.0.2.10",
        "for=example.com",
        "",
    ] {
        assert_eq!(
            decide(&layer, PROXY, &[("forwarded", value)]),
            Err(StatusCode::FORBIDDEN),
            "{value:?}"
        );
    }
    // A trusted proxy that forwards X-Forwarded-For only is not read.
    assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", ALLOWED)]), Err(StatusCode::FORBIDDEN));
}

#[test]
fn a_named_single_value_header() {
    let layer = behind_proxies(ClientIpSource::header("CF-Connecting-IP").unwrap());
    assert_eq!(decide(&layer, PROXY, &[("cf-connecting-ip", ALLOWED)]), Ok(ip(ALLOWED)));
    assert_eq!(
        decide(&layer, PROXY, &[("cf-connecting-ip", " 2001:db8:1::1 ")]),
        Ok(ip("2001:db8:1::1"))
    );
    assert_eq!(decide(&layer, PROXY, &[("cf-connecting-ip", DENIED)]), Err(StatusCode::FORBIDDEN));
    // Only from a trusted peer.
    assert_eq!(
        decide(&layer, DENIED, &[("cf-connecting-ip", ALLOWED)]),
        Err(StatusCode::FORBIDDEN)
    );
    // Repeated, a list, or garbage: refused.
    let repeated = [("cf-connecting-ip", ALLOWED), ("cf-connecting-ip", ALLOWED)];
    assert_eq!(decide(&layer, PROXY, &repeated), Err(StatusCode::FORBIDDEN));
    for value in ["192.0.2.10, 10.0.0.2", "nope", ""] {
        assert_eq!(
            decide(&layer, PROXY, &[("cf-connecting-ip", value)]),
            Err(StatusCode::FORBIDDEN)
        );
    }
    // Other forwarding headers are not read.
    assert_eq!(
        decide(&layer, PROXY, &[("x-forwarded-for", ALLOWED), ("x-real-ip", ALLOWED)]),
        Err(StatusCode::FORBIDDEN)
    );
}

#[test]
fn long_chains_are_bounded() {
    let layer = behind_proxies(ClientIpSource::XForwardedFor);
    let hops: Vec<String> = (0..30).map(|i| format!("10.0.1.{i}")).collect();
    let xff = format!("{ALLOWED}, {}", hops.join(", "));
    assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", &xff)]), Err(StatusCode::FORBIDDEN));
    let longer = layer.clone().max_hops(31);
    assert_eq!(decide(&longer, PROXY, &[("x-forwarded-for", &xff)]), Ok(ip(ALLOWED)));
    // A very long attacker prefix costs nothing: the walk stops at the client.
    let prefix = vec!["198.51.100.1"; 50_000].join(",");
    let xff = format!("{prefix}, {ALLOWED}, 10.0.0.2");
    assert_eq!(decide(&layer, PROXY, &[("x-forwarded-for", &xff)]), Ok(ip(ALLOWED)));
}

/// An entry an attacker might prepend: an address (allowed, denied, or a
/// trusted proxy's), or any printable junk.
fn prefix_entry() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(ALLOWED.to_owned()),
        Just("10.0.0.2".to_owned()),
        Just("unknown".to_owned()),
        any::<std::net::Ipv4Addr>().prop_map(|a| a.to_string()),
        any::<std::net::Ipv6Addr>().prop_map(|a| a.to_string()),
        "[ -~]{0,24}",
    ]
}

proptest! {
    #[test]
    fn prepended_x_forwarded_for_entries_never_change_the_answer(
        prefix in prop::collection::vec(prefix_entry(), 0..12),
        client_allowed in any::<bool>(),
        as_lines in any::<bool>(),
    ) {
        let layer = behind_proxies(ClientIpSource::XForwardedFor);
        let client = if client_allowed { ALLOWED } else { DENIED };
        let expected = decide(&layer, PROXY, &[("x-forwarded-for", &format!("{client}, 10.0.0.2"))]);
        let answer = if as_lines {
            let mut lines: Vec<(&str, &str)> =
                prefix.iter().map(|entry| ("x-forwarded-for", entry.as_str())).collect();
            lines.push(("x-forwarded-for", client));
            lines.push(("x-forwarded-for", "10.0.0.2"));
            decide(&layer, PROXY, &lines)
        } else {
            let mut entries = prefix.clone();
            entries.extend([client.to_owned(), "10.0.0.2".to_owned()]);
            decide(&layer, PROXY, &[("x-forwarded-for", &entries.join(","))])
        };
        prop_assert_eq!(answer, expected);
    }

    #[test]
    fn prepended_forwarded_elements_never_change_the_answer(
        prefix in prop::collection::vec(prefix_entry(), 0..12),
        client_allowed in any::<bool>(),
    ) {
        let layer = behind_proxies(ClientIpSource::Forwarded);
        let client = if client_allowed { "for=192.0.2.10" } else { "for=\"[2001:db8:9::1]:80\"" };
        let tail = format!("{client};proto=https, for=10.0.0.2");
        let expected = decide(&layer, PROXY, &[("forwarded", &tail)]);
        // Elements and junk, unbalanced quotes included: the walk reads from
        // the right, so nothing on the left can swallow the proxy's elements.
        let prefix: Vec<String> = prefix
            .iter()
            .map(|entry| if entry.contains('=') { entry.clone() } else { format!("for={entry}") })
            .collect();
        let mut elements = prefix;
        elements.push(tail);
        let answer = decide(&layer, PROXY, &[("forwarded", &elements.join(", "))]);
        prop_assert_eq!(answer, expected);
    }
}

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

#[test]
fn configuration_errors_are_caught_at_build_time() {
    assert!(matches!(IpAllowlistLayer::new(["10.0.0.0/33"]), Err(ConfigError::InvalidCidr { .. })));
    assert!(matches!(
        IpAllowlistLayer::new(["not an address"]),
        Err(ConfigError::InvalidCidr { .. })
    ));
    assert!(matches!(IpAllowlistLayer::new(Vec::<String>::new()), Err(ConfigError::Empty { .. })));
    assert!(matches!(
        IpAllowlistLayer::from_ranges(IpRanges::default()),
        Err(ConfigError::Empty { .. })
    ));
    let layer = allowlist();
    assert!(matches!(
        layer.clone().trust_proxies(Vec::<&str>::new(), ClientIpSource::XForwardedFor),
        Err(ConfigError::Empty { .. })
    ));
    assert!(matches!(
        layer.clone().trust_proxies(["10.0.0.0/8", "10.0.0.0/99"], ClientIpSource::Forwarded),
        Err(ConfigError::InvalidCidr { .. })
    ));
    assert!(matches!(
        ClientIpSource::header("bad header"),
        Err(ConfigError::InvalidHeaderName { .. })
    ));
    assert!(matches!(layer.handle().replace(IpRanges::default()), Err(ConfigError::Empty { .. })));
}

// ---------------------------------------------------------------------------
// Provider lists
// ---------------------------------------------------------------------------

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");

#[test]
fn github_hooks_behind_one_trusted_proxy() {
    let hooks = providers::github_hooks_from_file(format!("{FIXTURES}/github_meta.json")).unwrap();
    // Only `hooks`: the `actions` ranges are not webhook senders.
    assert!(!hooks.contains(ip("4.148.1.1")));
    let layer = IpAllowlistLayer::from_ranges(hooks)
        .unwrap()
        .trust_proxies(["10.0.0.5"], ClientIpSource::XForwardedFor)
        .unwrap();
    let from_github = [("x-forwarded-for", "140.82.115.1")];
    assert_eq!(decide(&layer, "10.0.0.5", &from_github), Ok(ip("140.82.115.1")));
    let ipv6 = [("x-forwarded-for", "2606:50c0:1::1")];
    assert_eq!(decide(&layer, "10.0.0.5", &ipv6), Ok(ip("2606:50c0:1::1")));
    // Spoofed through the proxy, or straight at the server: refused.
    let spoofed = [("x-forwarded-for", "140.82.115.1, 203.0.113.9")];
    assert_eq!(decide(&layer, "10.0.0.5", &spoofed), Err(StatusCode::FORBIDDEN));
    assert_eq!(decide(&layer, DENIED, &from_github), Err(StatusCode::FORBIDDEN));
    // Another host in the proxy's network is not trusted.
    assert_eq!(decide(&layer, "10.0.0.6", &from_github), Err(StatusCode::FORBIDDEN));
}

#[test]
fn stripe_webhook_addresses_from_a_file() {
    let path = format!("{FIXTURES}/stripe_webhook_ips.json");
    let stripe = providers::stripe_webhooks_from_file(path).unwrap();
    assert_eq!(stripe.len(), 12);
    let layer = IpAllowlistLayer::from_ranges(stripe).unwrap();
    assert_eq!(decide(&layer, "54.187.174.169", &[]), Ok(ip("54.187.174.169")));
    assert_eq!(decide(&layer, "54.187.174.170", &[]), Err(StatusCode::FORBIDDEN));
}

// ---------------------------------------------------------------------------
// Run-time swaps
// ---------------------------------------------------------------------------

#[test]
fn a_handle_swaps_the_list() {
    let layer = allowlist();
    let handle = layer.handle();
    assert_eq!(decide(&layer, ALLOWED, &[]), Ok(ip(ALLOWED)));
    handle.replace(IpRanges::parse([DENIED]).unwrap()).unwrap();
    assert_eq!(decide(&layer, ALLOWED, &[]), Err(StatusCode::FORBIDDEN));
    assert_eq!(decide(&layer, DENIED, &[]), Ok(ip(DENIED)));
    // A refused replacement leaves the list as it was.
    assert!(handle.replace(IpRanges::default()).is_err());
    assert_eq!(decide(&layer, DENIED, &[]), Ok(ip(DENIED)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_under_concurrent_load_changes_decisions_without_a_failed_request() {
    let layer = IpAllowlistLayer::new([ALLOWED]).unwrap();
    let handle = layer.handle();
    let app = Router::new()
        .route("/webhooks", post(echo_client))
        .layer(layer.peer_addr_from(|mock: &MockConnectInfo<SocketAddr>| mock.0.ip()));
    let swapped = Arc::new(AtomicBool::new(false));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for task in 0..8 {
        let app =
            app.clone().layer(MockConnectInfo(sock(if task % 2 == 0 { ALLOWED } else { DENIED })));
        let (swapped, stop) = (swapped.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let (mut before, mut after) = (0, 0);
            while !stop.load(Ordering::SeqCst) {
                let started_after_swap = swapped.load(Ordering::SeqCst);
                let request = Request::post("/webhooks").body(Body::from("{}")).unwrap();
                let response = app.clone().oneshot(request).await.expect("infallible");
                let allowed = match response.status() {
                    StatusCode::OK => true,
                    StatusCode::FORBIDDEN => false,
                    other => panic!("unexpected status {other}"),
                };
                // Peers alternate: before the swap only ALLOWED passes; after
                // it only DENIED does.
                let expected_now = (task % 2 == 0) != started_after_swap;
                if started_after_swap {
                    assert_eq!(allowed, expected_now, "a request after the swap saw the old list");
                    after += 1;
                } else {
                    before += 1;
                }
                tokio::task::yield_now().await;
            }
            (before, after)
        }));
    }
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    handle.replace(IpRanges::parse([DENIED]).unwrap()).unwrap();
    swapped.store(true, Ordering::SeqCst);
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        let (before, after) = task.await.unwrap();
        assert!(before > 0 && after > 0, "every task ran on both sides of the swap");
    }
}

#[cfg(not(feature = "axum"))]
#[test]
fn the_axum_feature_reads_connect_info_without_configuration() {
    common::skip("the ConnectInfo check: built without the `axum` feature");
}

/// With the `axum` feature the layer reads `ConnectInfo` by itself.
#[cfg(feature = "axum")]
#[tokio::test]
async fn the_axum_feature_reads_connect_info_without_configuration() {
    use axum::extract::connect_info::MockConnectInfo;
    use tower::ServiceExt as _;

    let layer = hookwarden::ip::IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap();
    let app = axum::Router::new()
        .route("/", axum::routing::post(|| async { "ok" }))
        .layer(layer)
        .layer(MockConnectInfo(std::net::SocketAddr::from(([192, 0, 2, 7], 4000))));
    let request = http::Request::post("/").body(axum::body::Body::empty()).unwrap();
    assert_eq!(app.clone().oneshot(request).await.unwrap().status(), http::StatusCode::OK);

    let app = axum::Router::new()
        .route("/", axum::routing::post(|| async { "ok" }))
        .layer(hookwarden::ip::IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap())
        .layer(MockConnectInfo(std::net::SocketAddr::from(([198, 51, 100, 7], 4000))));
    let request = http::Request::post("/").body(axum::body::Body::empty()).unwrap();
    assert_eq!(app.oneshot(request).await.unwrap().status(), http::StatusCode::FORBIDDEN);
}
