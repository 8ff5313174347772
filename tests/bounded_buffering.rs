//! Bounded buffering: a request the headers already condemn is answered
//! without waiting for its body, and at most `max_inflight` bodies are
//! waited for at once; past that a request is answered 503 `overloaded` at
//! once. A body that arrived whole with its headers is verified at once and
//! needs no slot.
//!
//! In process, the body is one that never ends and counts how often it was
//! polled; over real HTTP on 127.0.0.1, the slow-sender attack of issue 11:
//! connections that send their headers and then trickle a body.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use bytes::Bytes;
use hookwarden::clock::FixedClock;
use hookwarden::event::Event;
use hookwarden::router::EventRouter;
use hookwarden::scheme::{
    GenericHmac, GitHub, GitLab, Intercom, Linear, Logto, Mailgun, Paddle, Scheme, Shopify, Slack,
    Square, StandardWebhooks, Stripe, Twilio, Twitch, Zoom,
};
use hookwarden::verify::{LookupError, TenantKey, Tenants, VerifyLayer};
use hookwarden::{Receiver, testing};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedReadHalf;
use tokio::task::JoinHandle;
use tower::{Layer, Service, ServiceExt};

#[allow(dead_code)] // the hang-up sender is for the fault tests
#[path = "common/sender.rs"]
mod sender;

const SECRET: &str = "an ordinary shared secret";
const WHSEC: &str = sender::SECRET;
/// When every timestamped request below was signed: 2023-07-19T10:11:12Z.
const T0: u64 = 1_689_761_472;
const T0_RFC3339: &str = "2023-07-19T10:11:12Z";
/// The body limit the slow senders claim to fill.
const MIB: usize = 1024 * 1024;

/// A body whose sender has gone quiet: never a byte, and a count of how
/// often it was polled.
struct Stalled(Arc<AtomicUsize>);

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Poll::Pending
    }
}

/// How often a stalled body was polled. The receiver takes what has
/// already arrived (one poll: here, nothing); only a receiver that waited
/// for the rest polls it again (when its deadline wakes it, at the
/// latest).
#[derive(Clone)]
struct Polls(Arc<AtomicUsize>);

impl Polls {
    fn waited_for(&self) -> bool {
        self.0.load(Ordering::SeqCst) > 1
    }
}

/// A request with these headers and a stalled body, and its poll count.
fn stalled_request(headers: HeaderMap) -> (Request<Stalled>, Polls) {
    let polls = Arc::new(AtomicUsize::new(0));
    let mut request = Request::post("/webhooks")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Stalled(polls.clone()))
        .unwrap();
    request.headers_mut().extend(headers);
    (request, Polls(polls))
}

/// A whole body that is not there at the first poll (it comes right
/// after): it is waited for, so it needs a slot.
struct Late(Option<Bytes>, bool);

impl http_body::Body for Late {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if !self.1 {
            self.1 = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        Poll::Ready(self.0.take().map(|data| Ok(Frame::data(data))))
    }
}

fn late_request(headers: HeaderMap, body: &'static [u8]) -> Request<Late> {
    let mut request = Request::post("/webhooks")
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Late(Some(Bytes::from_static(body)), false))
        .unwrap();
    request.headers_mut().extend(headers);
    request
}

async fn ok(_: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"handled"))))
}

/// The status and error code of a response.
async fn status_and_code(response: Response<Full<Bytes>>) -> (StatusCode, String) {
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    (status, json["error"].as_str().unwrap_or_default().to_owned())
}

/// Sends a stalled request through `verify`: the answer, and whether the
/// body was waited for. With the paused clock a body waited for ends in
/// 408.
async fn through(verify: VerifyLayer, headers: HeaderMap) -> ((StatusCode, String), bool) {
    let (request, polls) = stalled_request(headers);
    let response = verify.layer(tower::service_fn(ok)).oneshot(request).await.unwrap();
    (status_and_code(response).await, polls.waited_for())
}

/// One built-in scheme, and headers it signed at [`T0`] when its signed
/// timestamp is in the headers.
struct Case {
    scheme: Arc<dyn Scheme>,
    signed_at_t0: Option<HeaderMap>,
}

fn cases() -> Vec<Case> {
    let body: &[u8] = br#"{"type":"order.paid","id":"evt_1"}"#;
    let timestamped_hmac = GenericHmac::builder()
        .secret(SECRET)
        .timestamp_header("X-Webhook-Timestamp")
        .build()
        .unwrap();
    #[cfg_attr(not(any(feature = "ed25519", feature = "p256")), allow(unused_mut))]
    let mut cases = vec![
        Case {
            scheme: Arc::new(StandardWebhooks::new([WHSEC]).unwrap()),
            signed_at_t0: Some(testing::standard_webhooks(WHSEC, "msg_1", T0, body)),
        },
        Case {
            scheme: Arc::new(Stripe::new([SECRET]).unwrap()),
            signed_at_t0: Some(testing::stripe(SECRET, T0, body)),
        },
        Case {
            scheme: Arc::new(Slack::new([SECRET]).unwrap()),
            signed_at_t0: Some(testing::slack(SECRET, T0, body)),
        },
        Case {
            scheme: Arc::new(Zoom::new([SECRET]).unwrap()),
            signed_at_t0: Some(testing::zoom(SECRET, T0, body)),
        },
        Case {
            scheme: Arc::new(Twitch::new([SECRET]).unwrap()),
            signed_at_t0: Some(testing::twitch(SECRET, "msg_1", T0_RFC3339, body)),
        },
        Case {
            scheme: Arc::new(Paddle::new([SECRET]).unwrap()),
            signed_at_t0: Some(testing::paddle(SECRET, T0, body)),
        },
        Case {
            signed_at_t0: Some(testing::generic_hmac(&timestamped_hmac, T0, body)),
            scheme: Arc::new(timestamped_hmac),
        },
        Case {
            scheme: Arc::new(GenericHmac::builder().secret(SECRET).build().unwrap()),
            signed_at_t0: None,
        },
        Case { scheme: Arc::new(GitHub::new([SECRET]).unwrap()), signed_at_t0: None },
        Case { scheme: Arc::new(Shopify::new([SECRET]).unwrap()), signed_at_t0: None },
        Case { scheme: Arc::new(Logto::new([SECRET]).unwrap()), signed_at_t0: None },
        Case { scheme: Arc::new(GitLab::new([SECRET]).unwrap()), signed_at_t0: None },
        Case { scheme: Arc::new(Linear::new([SECRET]).unwrap()), signed_at_t0: None },
        Case { scheme: Arc::new(Intercom::new([SECRET]).unwrap()), signed_at_t0: None },
        Case {
            scheme: Arc::new(Square::new([SECRET], "https://example.com/webhooks").unwrap()),
            signed_at_t0: None,
        },
        Case {
            scheme: Arc::new(Twilio::new([SECRET], "https://example.com").unwrap()),
            signed_at_t0: None,
        },
    ];
    #[cfg(feature = "ed25519")]
    {
        let seed = "11".repeat(32);
        cases.push(Case {
            scheme: Arc::new(
                hookwarden::scheme::Discord::new([testing::discord_public_key(&seed)]).unwrap(),
            ),
            signed_at_t0: Some(testing::discord(&seed, T0, body)),
        });
    }
    #[cfg(feature = "p256")]
    {
        // The P-256 private key of RFC 6979, appendix A.2.5.
        let key = "c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721";
        cases.push(Case {
            scheme: Arc::new(
                hookwarden::scheme::SendGrid::new([testing::sendgrid_public_key(key)]).unwrap(),
            ),
            signed_at_t0: Some(testing::sendgrid(key, T0, body)),
        });
    }
    cases
}

#[tokio::test(start_paused = true)]
async fn a_missing_signature_is_refused_without_waiting_for_the_body() {
    for case in cases() {
        let name = case.scheme.name();
        let answer = through(VerifyLayer::from_shared(case.scheme), HeaderMap::new()).await;
        assert_eq!(
            answer,
            ((StatusCode::UNAUTHORIZED, "missing_signature".to_owned()), false),
            "{name}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn mailgun_signs_in_the_body_so_its_body_is_waited_for() {
    let mailgun = VerifyLayer::new(Mailgun::new([SECRET]).unwrap());
    let answer = through(mailgun, HeaderMap::new()).await;
    assert_eq!(answer, ((StatusCode::REQUEST_TIMEOUT, "body_timeout".to_owned()), true));
}

#[tokio::test(start_paused = true)]
async fn a_stale_or_future_timestamp_is_refused_without_waiting_for_the_body() {
    let mut timestamped = 0;
    for case in cases() {
        let Some(headers) = case.signed_at_t0 else { continue };
        timestamped += 1;
        let name = case.scheme.name();
        for now in [T0 + 301, T0 - 301] {
            let verify = VerifyLayer::from_shared(case.scheme.clone()).clock(FixedClock::new(now));
            let answer = through(verify, headers.clone()).await;
            let refused = (StatusCode::UNAUTHORIZED, "timestamp_out_of_tolerance".to_owned());
            assert_eq!(answer, (refused, false), "{name} at {now}");
        }
        // In the window, the headers pass and the body is waited for (and,
        // as it never comes, times out).
        let verify = VerifyLayer::from_shared(case.scheme).clock(FixedClock::new(T0));
        let answer = through(verify, headers).await;
        assert_eq!(answer, ((StatusCode::REQUEST_TIMEOUT, "body_timeout".to_owned()), true));
    }
    let expected = 7 + usize::from(cfg!(feature = "ed25519")) + usize::from(cfg!(feature = "p256"));
    assert_eq!(timestamped, expected);
}

#[tokio::test(start_paused = true)]
async fn a_wrong_gitlab_token_is_refused_without_waiting_for_the_body() {
    let gitlab = VerifyLayer::new(GitLab::new([SECRET]).unwrap());
    let answer = through(gitlab.clone(), testing::gitlab("not the token")).await;
    assert_eq!(answer, ((StatusCode::UNAUTHORIZED, "invalid_signature".to_owned()), false));
    let answer = through(gitlab, testing::gitlab(SECRET)).await;
    assert!(answer.1, "the right token: the body is waited for");
}

#[tokio::test(start_paused = true)]
async fn each_tenant_s_scheme_checks_the_headers_before_waiting_for_the_body() {
    let tenants =
        Tenants::new(TenantKey::header("x-tenant").unwrap(), |tenant: String| async move {
            let scheme: Arc<dyn Scheme> = match tenant.as_str() {
                "acme" => Arc::new(GitHub::new([SECRET]).unwrap()),
                _ => return Ok(None),
            };
            Ok::<_, LookupError>(Some(scheme))
        });
    let verify = VerifyLayer::tenants(tenants);
    let named = |tenant: &str, mut headers: HeaderMap| {
        headers.insert("x-tenant", tenant.parse().unwrap());
        headers
    };
    let unsigned = through(verify.clone(), named("acme", HeaderMap::new())).await;
    assert_eq!(unsigned, ((StatusCode::UNAUTHORIZED, "missing_signature".to_owned()), false));
    let another_sender_s = named("acme", testing::stripe(SECRET, T0, b"{}"));
    let answer = through(verify.clone(), another_sender_s).await;
    assert_eq!(answer, ((StatusCode::UNAUTHORIZED, "missing_signature".to_owned()), false));
    let unknown = through(verify.clone(), named("globex", testing::github(SECRET, b"{}"))).await;
    assert_eq!(unknown, ((StatusCode::UNAUTHORIZED, "invalid_signature".to_owned()), false));
    let signed = through(verify, named("acme", testing::github(SECRET, b"{}"))).await;
    assert!(signed.1, "the tenant's signature header is there: the body is waited for");
}

/// Polls `future` once: its output if it is ready.
async fn poll_once<F: Future + Unpin>(future: &mut F) -> Option<F::Output> {
    std::future::poll_fn(|cx| match Pin::new(&mut *future).poll(cx) {
        Poll::Ready(output) => Poll::Ready(Some(output)),
        Poll::Pending => Poll::Ready(None),
    })
    .await
}

/// `service`, ready for a request with a stalled body.
async fn stalled_ready<S>(service: &mut S) -> &mut S
where
    S: Service<Request<Stalled>, Error = Infallible>,
{
    ServiceExt::<Request<Stalled>>::ready(service).await.unwrap()
}

/// Waits for `service` to be ready, then calls it with `request`.
async fn ready_call<S, B>(service: &mut S, request: Request<B>) -> Response<Full<Bytes>>
where
    S: Service<Request<B>, Response = Response<Full<Bytes>>, Error = Infallible>,
{
    ServiceExt::<Request<B>>::ready(service).await.unwrap().call(request).await.unwrap()
}

#[tokio::test]
async fn past_max_inflight_a_request_is_answered_503_without_its_body() {
    let body: &[u8] = br#"{"type":"order.paid"}"#;
    let signed = || testing::github(SECRET, body);
    let verify = VerifyLayer::new(GitHub::new([SECRET]).unwrap())
        .max_inflight(2)
        .retry_after(Duration::from_secs(7));
    let mut service = verify.layer(tower::service_fn(ok));

    // Two slow senders, their headers in: each holds a slot while its body
    // is waited for.
    let (first, _) = stalled_request(signed());
    let mut first = Box::pin(stalled_ready(&mut service).await.call(first));
    assert!(poll_once(&mut first).await.is_none(), "waiting for the body");
    let (second, _) = stalled_request(signed());
    let mut second = Box::pin(stalled_ready(&mut service).await.call(second));
    assert!(poll_once(&mut second).await.is_none(), "waiting for the body");

    // A third is answered at once, its body not waited for.
    let (third, polls) = stalled_request(signed());
    let mut third = Box::pin(stalled_ready(&mut service).await.call(third));
    let response = poll_once(&mut third).await.expect("answered at once").unwrap();
    assert_eq!(response.headers()[http::header::RETRY_AFTER], "7");
    assert_eq!(
        status_and_code(response).await,
        (StatusCode::SERVICE_UNAVAILABLE, "overloaded".to_owned())
    );
    assert!(!polls.waited_for());
    // So is one without a signature: the headers are checked first.
    let (unsigned, _) = stalled_request(HeaderMap::new());
    let response = stalled_ready(&mut service).await.call(unsigned).await.unwrap();
    assert_eq!(status_and_code(response).await.1, "missing_signature");
    // A body that came whole with its headers is verified at once, without
    // a slot: the slow senders cannot keep it out.
    let whole = testing::request("/webhooks", signed(), body);
    let response = ready_call(&mut service, whole).await;
    assert_eq!(response.status(), StatusCode::OK, "a whole delivery needs no slot");
    // One that must be waited for is refused.
    let late = late_request(signed(), body);
    let response = ready_call(&mut service, late).await;
    assert_eq!(status_and_code(response).await.1, "overloaded");

    // A sender that gives up gives its slot back: a delivery waited for is
    // served again; so it is once a verification ends (one slot is free,
    // and two are served one after the other).
    drop(first);
    for _ in 0..2 {
        let response = ready_call(&mut service, late_request(signed(), body)).await;
        assert_eq!(response.status(), StatusCode::OK, "the slot came back");
    }
    drop(second);
}

// ---- Over real HTTP -------------------------------------------------------

async fn serve(receiver: &Receiver) -> SocketAddr {
    let app = Router::new().route_service("/webhooks", receiver.service());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// Standard Webhooks headers that look right (a fresh timestamp, a
/// well-formed signature), signed over a body that is never sent.
fn looks_signed(id: &str) -> HeaderMap {
    testing::standard_webhooks(WHSEC, id, now(), b"a body that never comes")
}

/// What the server answered: status, `Retry-After`, error code.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: Option<String>,
    code: String,
}

/// Reads one answer from `read`, for at most 10 s.
async fn answer(read: &mut OwnedReadHalf) -> Answer {
    let reading = async {
        let mut received = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            let n = read.read(&mut chunk).await.expect("the answer");
            assert!(n > 0, "closed without an answer: {}", String::from_utf8_lossy(&received));
            received.extend_from_slice(&chunk[..n]);
            let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
            let head = String::from_utf8_lossy(&received[..end]).into_owned();
            let header = |name: &str| {
                head.lines().skip(1).find_map(|line| {
                    let (n, v) = line.split_once(':')?;
                    n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
            };
            let length: usize = header("content-length").map_or(0, |v| v.parse().unwrap());
            if received.len() < end + 4 + length {
                continue;
            }
            let body = &received[end + 4..end + 4 + length];
            let json: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
            return Answer {
                status: head.split(' ').nth(1).unwrap().parse().unwrap(),
                retry_after: header("retry-after"),
                code: json["error"].as_str().unwrap_or_default().to_owned(),
            };
        }
    };
    tokio::time::timeout(Duration::from_secs(10), reading).await.expect("an answer within 10 s")
}

/// A slow sender: its headers, declaring a 1 MiB body, then one byte of
/// that body every 50 ms for as long as it is kept.
struct SlowSender {
    read: OwnedReadHalf,
    trickle: JoinHandle<()>,
}

impl SlowSender {
    async fn start(addr: SocketAddr, headers: &HeaderMap) -> Self {
        let (read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
        let mut head = format!(
            "POST /webhooks HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
             content-length: {MIB}\r\n"
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
        }
        head.push_str("\r\n");
        write.write_all(head.as_bytes()).await.unwrap();
        let trickle = tokio::spawn(async move {
            while write.write_all(b" ").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        });
        Self { read, trickle }
    }

    /// Whether anything came back yet (an answer, or the server closing).
    fn answered(&mut self) -> bool {
        let mut byte = [0u8; 1];
        !matches!(self.read.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }
}

impl Drop for SlowSender {
    fn drop(&mut self) {
        self.trickle.abort();
    }
}

/// A whole request, wrongly signed: its body is there with its headers, so
/// it is verified at once, without a slot.
async fn probe(addr: SocketAddr) -> Answer {
    let body = br#"{"type":"probe"}"#;
    let headers = looks_signed("msg_probe");
    let (mut read, mut write) = TcpStream::connect(addr).await.unwrap().into_split();
    let mut raw = format!(
        "POST /webhooks HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n",
        body.len()
    );
    for (name, value) in &headers {
        raw.push_str(&format!("{name}: {}\r\n", value.to_str().unwrap()));
    }
    raw.push_str("\r\n");
    // In one write: the body arrives with the headers.
    let mut whole = raw.into_bytes();
    whole.extend_from_slice(body);
    write.write_all(&whole).await.unwrap();
    answer(&mut read).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_senders_hold_at_most_max_inflight_bodies_while_deliveries_go_on() {
    const CAP: usize = 4;
    let router = EventRouter::new()
        .catch_all(|_: Event<serde_json::Value>| async { Ok::<_, Infallible>(()) });
    let receiver = Receiver::builder(StandardWebhooks::new([WHSEC]).unwrap())
        .router(router)
        .max_inflight(CAP)
        .body_timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let addr = serve(&receiver).await;

    // Senders without a signature, or with a stale one, are answered 401
    // while their bodies have barely begun: they never hold a slot.
    let mut refused = Vec::new();
    for _ in 0..16 {
        refused.push(SlowSender::start(addr, &HeaderMap::new()).await);
    }
    let stale = testing::standard_webhooks(WHSEC, "msg_stale", now() - 3600, b"{}");
    refused.push(SlowSender::start(addr, &stale).await);
    for sender in &mut refused[..16] {
        let refusal = answer(&mut sender.read).await;
        assert_eq!((refusal.status, refusal.code.as_str()), (401, "missing_signature"));
    }
    let refusal = answer(&mut refused[16].read).await;
    assert_eq!((refusal.status, refusal.code.as_str()), (401, "timestamp_out_of_tolerance"));

    // Slow senders that look signed hold a slot each; with one slot left,
    // a real delivery is served during the attack.
    let mut holding = Vec::new();
    for i in 0..CAP - 1 {
        holding.push(SlowSender::start(addr, &looks_signed(&format!("msg_slow_{i}"))).await);
    }
    assert_eq!(
        sender::deliver(addr, "evt_during_the_attack").await,
        (StatusCode::ACCEPTED, "accepted".to_owned())
    );

    // One more takes the last slot; then every further slow sender is
    // turned away at once: 503 `overloaded` with Retry-After, its 1 MiB
    // body unsent, so no more than CAP bodies are ever buffered. (Until
    // the server has seen every holder's headers, a newcomer may take a
    // slot first: it joins the holders, and the holder it beat is turned
    // away.)
    holding.push(SlowSender::start(addr, &looks_signed("msg_slow_last")).await);
    let deadline = Instant::now() + Duration::from_secs(30);
    let overloaded = loop {
        let n = holding.len();
        let mut newcomer = SlowSender::start(addr, &looks_signed(&format!("msg_new_{n}"))).await;
        match tokio::time::timeout(Duration::from_millis(300), answer(&mut newcomer.read)).await {
            Ok(answer) => break answer,
            Err(_still_sending) => holding.push(newcomer),
        }
        assert!(Instant::now() < deadline, "the slow senders never held every slot");
    };
    assert_eq!((overloaded.status, overloaded.code.as_str()), (503, "overloaded"));
    assert_eq!(overloaded.retry_after.as_deref(), Some("5"));
    let still_holding = holding.iter_mut().filter_map(|s| (!s.answered()).then_some(())).count();
    assert_eq!(still_holding, CAP, "exactly CAP bodies are waited for");

    // Whole requests need no slot: a probe (wrongly signed) is answered
    // 401, and a delivery is accepted, while every slot is held.
    let probed = probe(addr).await;
    assert_eq!((probed.status, probed.code.as_str()), (401, "invalid_signature"));
    assert_eq!(
        sender::deliver(addr, "evt_while_every_slot_is_held").await,
        (StatusCode::ACCEPTED, "accepted".to_owned())
    );
    let still_holding = holding.iter_mut().filter_map(|s| (!s.answered()).then_some(())).count();
    assert_eq!(still_holding, CAP, "still holding their slots");

    // The slow senders hang up: their slots come back, and a slow sender
    // is waited for again.
    drop(holding);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut again = SlowSender::start(addr, &looks_signed("msg_after_the_attack")).await;
        match tokio::time::timeout(Duration::from_millis(300), answer(&mut again.read)).await {
            Err(_waited_for) => break,
            Ok(answer) => assert_eq!((answer.status, answer.code.as_str()), (503, "overloaded")),
        }
        assert!(Instant::now() < deadline, "the slots never came back");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
