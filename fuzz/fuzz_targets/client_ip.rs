//! `X-Forwarded-For`, RFC 7239 `Forwarded` and single-address headers,
//! through the public `IpAllowlistLayer` with trusted proxies: the
//! parsers are private, and the layer is the only way in, so nothing in
//! the crate is opened up for fuzzing.
//!
//! Input: three selector bytes (source, peer, hop limit), then the header
//! lines, one value per `\n`-separated line.

#![no_main]

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::pin;
use std::sync::LazyLock;
use std::task::{Context, Poll, Waker};

use bytes::Bytes;
use hookwarden::ip::{ClientIp, ClientIpSource, IpAllowlistLayer, PeerAddr};
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt, service_fn};

const TRUSTED: [&str; 4] =
    ["10.0.0.0/8", "192.0.2.0/24", "2001:db8::/32", "::ffff:198.51.100.0/120"];

/// Peers: trusted proxies (plain, IPv6, IPv4-mapped) and untrusted ones.
const PEERS: [IpAddr; 6] = [
    IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 9)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
    IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0209)),
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, 7)),
    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb9, 0, 0, 0, 0, 0, 1)),
];

const X_REAL_IP: &str = "x-real-ip";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// `% 3`: X-Forwarded-For, Forwarded, X-Real-IP.
    source: u8,
    /// `% 6`: an index into `PEERS`.
    peer: u8,
    /// `% 4`: a hop limit of 1, 2, 3 or the default (20).
    hops: u8,
    lines: &'a [u8],
}

/// One layer per (source, hop limit): allow anyone, trust `TRUSTED`.
static LAYERS: LazyLock<Vec<IpAllowlistLayer>> = LazyLock::new(|| {
    let sources = [
        ClientIpSource::XForwardedFor,
        ClientIpSource::Forwarded,
        ClientIpSource::header(X_REAL_IP).unwrap(),
    ];
    let mut layers = Vec::new();
    for source in sources {
        for hops in [Some(1), Some(2), Some(3), None] {
            let layer =
                IpAllowlistLayer::allow_any().trust_proxies(TRUSTED, source.clone()).unwrap();
            layers.push(match hops {
                Some(hops) => layer.max_hops(hops),
                None => layer,
            });
        }
    }
    layers
});

fuzz_target!(|input: Input<'_>| {
    let source = usize::from(input.source % 3);
    let header = match source {
        0 => HeaderName::from_static("x-forwarded-for"),
        1 => http::header::FORWARDED,
        _ => HeaderName::from_static(X_REAL_IP),
    };
    let peer = PEERS[usize::from(input.peer) % PEERS.len()];
    let mut request = Request::new(());
    for line in input.lines.split(|&b| b == b'\n') {
        if let Ok(value) = HeaderValue::from_bytes(line) {
            request.headers_mut().append(header.clone(), value);
        }
    }
    let sent = request.headers().contains_key(&header);
    request.extensions_mut().insert(PeerAddr(SocketAddr::new(peer, 443)));

    let layer = &LAYERS[source * 4 + usize::from(input.hops % 4)];
    let service = layer.layer(service_fn(|request: Request<()>| async move {
        let mut response = Response::new(Full::new(Bytes::new()));
        let client = request.extensions().get::<ClientIp>().copied();
        response.extensions_mut().insert(client.expect("an allowed request has a ClientIp"));
        Ok::<_, Infallible>(response)
    }));
    let mut future = pin!(service.oneshot(request));
    let Poll::Ready(Ok(response)) = future.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    else {
        panic!("the allowlist answers at once");
    };
    match response.status() {
        StatusCode::OK => {
            let ClientIp(client) = response.extensions().get::<ClientIp>().copied().unwrap();
            // IPv4-mapped addresses are given as IPv4.
            assert!(!matches!(client, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some()));
            let trusted = !matches!(peer, IpAddr::V4(v4) if v4.octets()[0] == 203)
                && !matches!(peer, IpAddr::V6(v6) if v6.segments()[1] == 0xdb9);
            if !trusted {
                // An untrusted peer's headers are never read.
                assert_eq!(client, peer.to_canonical());
            }
        }
        StatusCode::FORBIDDEN => assert!(sent, "refused without any forwarding header"),
        status => panic!("unexpected status {status}"),
    }
});
