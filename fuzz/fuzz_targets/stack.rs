//! The whole receiver on arbitrary requests: IpAllowlist (with a trusted
//! proxy and `X-Forwarded-For`), Verify with every built-in scheme,
//! Envelope, and the Ack into the in-memory inbox, driven with `oneshot`
//! on a current-thread runtime. Every answer must be one the design lists,
//! with the code that belongs to its status; a request the harness signed
//! (`+sign`) must never be refused as unauthentic.
//!
//! Input: selector bytes for the method, the peer and `Content-Length`,
//! then the text request format of the crate docs.

#![no_main]

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use bytes::Bytes;
use hookwarden::clock::FixedClock;
use hookwarden::inbox::MemoryInbox;
use hookwarden::ip::{ClientIpSource, IpAllowlistLayer, PeerAddr};
use hookwarden::{Receiver, Rejection};
use hookwarden_fuzz::{TOLERANCE, parse, schemes, sign};
use http::{Method, Request, StatusCode, header};
use http_body_util::Full;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;

/// The body limit of the receivers under test (small, so 413 is reached).
const MAX_BODY: usize = 64 * 1024;

const PEERS: [Option<IpAddr>; 6] = [
    Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 5))), // allowed
    Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),  // the trusted proxy
    Some(IpAddr::V6(Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0205))), // allowed, mapped
    Some(IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 5))), // allowed
    Some(IpAddr::V4(Ipv4Addr::new(203, 0, 113, 1))), // not allowed
    None,                                          // no peer address
];

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// `% 8`: POST, except 6 (GET) and 7 (PUT).
    method: u8,
    /// `% 6`: an index into `PEERS`.
    peer: u8,
    /// `% 4`: no `Content-Length`, the true one, one past the limit, or
    /// one shorter than the body.
    length: u8,
    text: &'a [u8],
}

struct Under {
    receiver: Receiver,
    clock: FixedClock,
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    static RECEIVERS: RefCell<HashMap<usize, Under>> = RefCell::default();
}

fn receiver(scheme: usize) -> (hookwarden::ReceiverService, FixedClock) {
    RECEIVERS.with_borrow_mut(|receivers| {
        let under = receivers.entry(scheme).or_insert_with(|| {
            let clock = FixedClock::new(0);
            let allowlist = IpAllowlistLayer::new(["192.0.2.0/24", "2001:db8::/32"])
                .unwrap()
                .trust_proxies(["10.0.0.0/8"], ClientIpSource::XForwardedFor)
                .unwrap();
            let entry = &schemes()[scheme];
            let receiver = RUNTIME.with(|rt| {
                let _guard = rt.enter();
                Receiver::builder_shared(std::sync::Arc::from(dyn_clone(scheme)))
                    .allowlist(allowlist)
                    .inbox(MemoryInbox::builder().capacity(64).max_remembered(1024).build())
                    .clock(clock.clone())
                    .tolerance(TOLERANCE)
                    .max_body(MAX_BODY)
                    .retry_after(Duration::from_secs(1))
                    .build()
                    .unwrap_or_else(|e| panic!("{}: {e}", entry.name))
            });
            Under { receiver, clock }
        });
        (under.receiver.service(), under.clock.clone())
    })
}

/// A scheme of the table, owned (the receiver keeps its own).
fn dyn_clone(index: usize) -> Box<dyn hookwarden::Scheme> {
    // The table is 'static: a forwarding wrapper is enough.
    #[derive(Debug)]
    struct Shared(&'static dyn hookwarden::Scheme);
    impl hookwarden::Scheme for Shared {
        fn name(&self) -> &'static str {
            self.0.name()
        }
        fn verify(
            &self,
            request: &hookwarden::scheme::SignedRequest<'_>,
        ) -> Result<hookwarden::Verified, hookwarden::scheme::VerifyError> {
            self.0.verify(request)
        }
        fn envelope(&self) -> hookwarden::scheme::EnvelopeConfig {
            self.0.envelope()
        }
        fn handshake(
            &self,
            request: &hookwarden::scheme::SignedRequest<'_>,
            verified: &hookwarden::Verified,
        ) -> Option<hookwarden::scheme::Handshake> {
            self.0.handshake(request, verified)
        }
    }
    Box::new(Shared(&*schemes()[index].scheme))
}

/// The codes the design lists for each status.
fn codes_for(status: StatusCode) -> &'static [&'static str] {
    match status.as_u16() {
        403 => &["ip_not_allowed"],
        500 => &["peer_address_unknown"],
        405 => &["method_not_allowed"],
        413 => &["payload_too_large"],
        408 => &["body_timeout"],
        401 => &[
            "missing_signature",
            "malformed_signature",
            "invalid_signature",
            "timestamp_out_of_tolerance",
        ],
        400 => &["malformed_event"],
        409 => &["in_progress"],
        503 => &["store_unavailable", "overloaded"],
        _ => &[],
    }
}

fuzz_target!(|input: Input<'_>| {
    let mut text = parse(input.text);
    let entry = &schemes()[text.scheme];
    let mut body = Vec::new();
    let must_verify = if text.sign {
        sign(entry, &mut text, &mut body)
    } else {
        body.extend_from_slice(text.body);
        false
    };
    let method = match input.method % 8 {
        6 => Method::GET,
        7 => Method::PUT,
        _ => Method::POST,
    };
    let peer = PEERS[usize::from(input.peer) % PEERS.len()];
    let (service, clock) = receiver(text.scheme);
    clock.set(text.now);

    let mut request = Request::builder().method(method.clone()).uri(text.uri.clone());
    *request.headers_mut().unwrap() = text.headers.clone();
    let mut request = request.body(Full::new(Bytes::from(body.clone()))).unwrap();
    let headers = request.headers_mut();
    headers.remove(header::CONTENT_LENGTH);
    match input.length % 4 {
        1 => drop(headers.insert(header::CONTENT_LENGTH, body.len().into())),
        2 => drop(headers.insert(header::CONTENT_LENGTH, (MAX_BODY + 1).into())),
        3 => drop(headers.insert(header::CONTENT_LENGTH, body.len().saturating_sub(1).into())),
        _ => {}
    }
    if let Some(peer) = peer {
        request.extensions_mut().insert(PeerAddr(SocketAddr::new(peer, 4711)));
    }

    let response = RUNTIME.with(|rt| rt.block_on(service.oneshot(request))).unwrap();
    let status = response.status();
    match response.extensions().get::<Rejection>() {
        Some(rejection) => {
            assert_eq!(rejection.status(), status);
            assert!(
                codes_for(status).contains(&rejection.code()),
                "{}: {status} {} is not in the design",
                entry.name,
                rejection.code()
            );
            let body: serde_json::Value = serde_json::from_slice(&rejection.body()).unwrap();
            assert_eq!(body["error"], rejection.code());
            if peer.is_some() {
                assert_ne!(rejection.code(), "peer_address_unknown");
            }
            if method != Method::POST {
                assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
            }
            if must_verify && status == StatusCode::UNAUTHORIZED && input.length % 4 != 3 {
                panic!("{}: a signed request is refused: {}", entry.name, rejection.code());
            }
        }
        None => {
            assert!(
                matches!(status.as_u16(), 200 | 202 | 204),
                "{}: unexpected status {status}",
                entry.name
            );
            assert_eq!(method, Method::POST);
            assert!(peer.is_some());
        }
    }
});
