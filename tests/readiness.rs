//! Readiness by tower's contract, with `tower-test`'s mock service inside
//! each layer: a layer is ready only when the service it wraps is, passes
//! on the inner service's readiness error, and calls the very service that
//! was polled ready (the mock panics otherwise). Then the whole Receiver:
//! always ready, because a full inbox is answered 503 `overloaded` with
//! `Retry-After` rather than waited for.

use std::net::SocketAddr;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use hookwarden::clock::FixedClock;
use hookwarden::dedupe::DedupeLayer;
use hookwarden::envelope::{Envelope, EnvelopeLayer};
use hookwarden::event::Event;
use hookwarden::https::{RequireHttpsLayer, TlsConnection};
use hookwarden::inbox::MemoryInbox;
use hookwarden::ip::{ClientIp, IpAllowlistLayer, PeerAddr};
use hookwarden::router::EventRouter;
use hookwarden::scheme::StandardWebhooks;
use hookwarden::store::MemoryStore;
use hookwarden::{Receiver, ReceiverService, Verified, VerifyLayer, testing};
use http::header::RETRY_AFTER;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tokio::sync::Notify;
use tower::{Layer, Service};
use tower_test::mock::{self, Handle, Mock, Spawn};

const NOW: u64 = 1_700_000_000;
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

type Req = Request<Full<Bytes>>;
type Res = Response<Full<Bytes>>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn signed(id: &str) -> Req {
    let body = format!(r#"{{"type":"invoice.paid","data":{{"id":"{id}"}}}}"#);
    let headers = testing::standard_webhooks(WHSEC, id, NOW, body.as_bytes());
    let mut request = testing::request("/webhooks", headers, body);
    request.extensions_mut().insert(PeerAddr("127.0.0.1:40000".parse::<SocketAddr>().unwrap()));
    request
}

fn envelope() -> EnvelopeLayer {
    EnvelopeLayer::for_scheme(&StandardWebhooks::new([WHSEC]).unwrap())
}

/// The whole Receiver's readiness, with its request type named.
fn receiver_ready(service: &mut Spawn<ReceiverService>) -> bool {
    matches!(service.poll_ready::<Req>(), Poll::Ready(Ok(())))
}

fn verify() -> VerifyLayer {
    VerifyLayer::new(StandardWebhooks::new([WHSEC]).unwrap()).clock(FixedClock::new(NOW))
}

/// Drives one layer around the mock through the readiness contract:
/// not ready while the mock is not, woken and ready once it is, the
/// request reaches the mock (where `seen` checks what the layer added),
/// and the readiness is spent by the call.
async fn holds_back_until_inner_is_ready<S>(
    mut service: Spawn<S>,
    mut handle: Handle<Req, Res>,
    request: Req,
    seen: impl FnOnce(&Req),
) where
    S: Service<Req, Response = Res, Error = BoxError>,
    S::Future: Send + 'static,
{
    handle.allow(0);
    assert!(service.poll_ready().is_pending(), "ready although the inner service is not");
    handle.allow(1);
    assert!(service.is_woken(), "not woken when the inner service became ready");
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));

    // The mock panics if the layer calls a service that was not polled ready.
    let answer = tokio::spawn(service.call(request));
    // A layer that called an unpolled service panicked in the task: the
    // request never arrives.
    let (forwarded, respond) = tokio::time::timeout(Duration::from_secs(5), handle.next_request())
        .await
        .map_err(|_| answer_panic(&answer))
        .expect("the request reached the mock in time")
        .expect("the request reached the mock");
    seen(&forwarded);
    respond.send_response(
        Response::builder().status(StatusCode::IM_A_TEAPOT).body(Full::default()).unwrap(),
    );
    let response = answer.await.unwrap().expect("the mock's answer");
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT, "the inner answer passed through");

    // The one permit was spent by the call: the layer must wait again.
    assert!(service.poll_ready().is_pending(), "still ready after the readiness was used");
    handle.allow(1);
    assert!(matches!(service.poll_ready(), Poll::Ready(Ok(()))));
}

fn answer_panic<T>(answer: &tokio::task::JoinHandle<T>) -> &'static str {
    if answer.is_finished() {
        "the layer's call failed (did it call a service not polled ready?)"
    } else {
        "no request"
    }
}

/// The inner service's readiness error comes out of the layer's
/// `poll_ready` as it is.
fn passes_on_readiness_errors<S>(mut service: Spawn<S>, mut handle: Handle<Req, Res>)
where
    S: Service<Req, Response = Res, Error = BoxError>,
{
    handle.send_error("inner service failed");
    match service.poll_ready() {
        Poll::Ready(Err(error)) => assert_eq!(error.to_string(), "inner service failed"),
        Poll::Ready(Ok(())) => panic!("ready although the inner service failed"),
        Poll::Pending => panic!("pending although the inner service failed"),
    }
}

fn spawn<L>(layer: L) -> (Spawn<L::Service>, Handle<Req, Res>)
where
    L: Layer<Mock<Req, Res>>,
{
    mock::spawn_layer(layer)
}

#[tokio::test]
async fn allowlist_waits_for_its_inner_service() {
    let layer = IpAllowlistLayer::new(["127.0.0.0/8"]).unwrap();
    let (service, handle) = spawn(layer.clone());
    holds_back_until_inner_is_ready(service, handle, signed("evt_1"), |seen| {
        let client = seen.extensions().get::<ClientIp>().expect("the client recorded");
        assert_eq!(client.0, "127.0.0.1".parse::<std::net::IpAddr>().unwrap());
    })
    .await;
    let (service, handle) = spawn(layer);
    passes_on_readiness_errors(service, handle);
}

#[tokio::test]
async fn verify_waits_for_its_inner_service_and_calls_the_one_polled() {
    // Verify keeps a clone for the next request and calls the polled one:
    // a mock clone starts unready, so calling the wrong one would panic.
    let (service, handle) = spawn(verify());
    holds_back_until_inner_is_ready(service, handle, signed("evt_1"), |seen| {
        assert!(seen.extensions().get::<Verified>().is_some(), "verified before forwarding");
    })
    .await;
    let (service, handle) = spawn(verify());
    passes_on_readiness_errors(service, handle);
}

#[tokio::test]
async fn verify_refusals_do_not_need_the_inner_service() {
    // A forged delivery is refused by Verify itself: its answer does not
    // wait for, nor reach, the inner service.
    let (mut service, mut handle) = spawn(verify());
    handle.allow(1);
    assert!(matches!(service.poll_ready::<Req>(), Poll::Ready(Ok(()))));
    let mut forged = signed("evt_1");
    *forged.body_mut() = Full::new(Bytes::from_static(br#"{"type":"invoice.paid","forged":1}"#));
    forged.headers_mut().remove(http::header::CONTENT_LENGTH);
    let response = service.call(forged).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // Nothing reached the mock, so its permit is still there.
    assert!(matches!(service.poll_ready::<Req>(), Poll::Ready(Ok(()))));
    drop(service);
    assert!(handle.next_request().await.is_none(), "a forged request reached the inner service");
}

#[tokio::test]
async fn envelope_waits_for_its_inner_service() {
    let (service, handle) = mock::spawn_with(|mock| verify().layer(envelope().layer(mock)));
    holds_back_until_inner_is_ready(service, handle, signed("evt_1"), |seen| {
        let envelope = seen.extensions().get::<Envelope>().expect("the envelope read");
        assert_eq!((envelope.id(), envelope.event_type()), ("evt_1", "invoice.paid"));
    })
    .await;
    let (service, handle) = mock::spawn_with(|mock| verify().layer(envelope().layer(mock)));
    passes_on_readiness_errors(service, handle);
}

#[tokio::test]
async fn dedupe_waits_for_its_inner_service_and_calls_the_one_polled() {
    let store = Arc::new(MemoryStore::new());
    let stack = |mock| {
        verify().layer(envelope().layer(DedupeLayer::from_shared(store.clone()).layer(mock)))
    };
    let (service, handle) = mock::spawn_with(stack);
    holds_back_until_inner_is_ready(service, handle, signed("evt_1"), |seen| {
        assert!(seen.extensions().get::<Envelope>().is_some());
    })
    .await;
    let (service, handle) = mock::spawn_with(stack);
    passes_on_readiness_errors(service, handle);
}

#[tokio::test]
async fn require_https_waits_for_its_inner_service() {
    let (service, handle) = spawn(RequireHttpsLayer::new());
    let mut request = signed("evt_1");
    request.extensions_mut().insert(TlsConnection);
    holds_back_until_inner_is_ready(service, handle, request, |seen| {
        assert!(seen.extensions().get::<TlsConnection>().is_some());
    })
    .await;
    let (service, handle) = spawn(RequireHttpsLayer::new());
    passes_on_readiness_errors(service, handle);
}

#[tokio::test]
async fn peer_addr_waits_for_its_inner_service() {
    let peer: SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let (service, handle) = spawn(PeerAddr(peer));
    let request = testing::request("/webhooks", http::HeaderMap::new(), "{}");
    holds_back_until_inner_is_ready(service, handle, request, |seen| {
        assert_eq!(seen.extensions().get::<PeerAddr>().map(|p| p.0), Some(peer));
    })
    .await;
    let (service, handle) = spawn(PeerAddr(peer));
    passes_on_readiness_errors(service, handle);
}

async fn json(response: Res) -> Value {
    serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap()
}

#[tokio::test]
async fn the_receiver_is_ready_and_answers_a_full_inbox_with_503() {
    // One worker held inside the handler and room for one more delivery:
    // the third is refused at once with 503 `overloaded` and `Retry-After`,
    // and the service stays ready all along (backpressure is an answer, not
    // a wait that would hold the sender's connection).
    let (entered, proceed) = (Arc::new(Notify::new()), Arc::new(Notify::new()));
    let (e, p) = (entered.clone(), proceed.clone());
    let router = EventRouter::new().catch_all(move |_: Event<Value>| {
        let (e, p) = (e.clone(), p.clone());
        async move {
            e.notify_one();
            p.notified().await;
            Ok::<_, String>(())
        }
    });
    let receiver = Receiver::builder(StandardWebhooks::new([WHSEC]).unwrap())
        .clock(FixedClock::new(NOW))
        .allowlist(IpAllowlistLayer::new(["127.0.0.0/8"]).unwrap())
        .inbox(MemoryInbox::builder().capacity(2).build())
        .workers(1)
        .retry_after(Duration::from_secs(7))
        .router(router)
        .build()
        .unwrap();
    let mut service = Spawn::new(receiver.service());

    assert!(receiver_ready(&mut service));
    let first = service.call(signed("evt_1")).await.unwrap();
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    entered.notified().await;

    assert!(receiver_ready(&mut service));
    let second = service.call(signed("evt_2")).await.unwrap();
    assert_eq!(second.status(), StatusCode::ACCEPTED);

    assert!(receiver_ready(&mut service), "ready with a full inbox");
    let third = service.call(signed("evt_3")).await.unwrap();
    assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(third.headers().get(RETRY_AFTER).unwrap(), "7");
    assert_eq!(json(third).await["error"], "overloaded");

    // Room again once the held deliveries are handled: the refused one,
    // retried by its sender, is accepted.
    proceed.notify_one();
    entered.notified().await;
    proceed.notify_one();
    let mut accepted = false;
    for _ in 0..200 {
        assert!(receiver_ready(&mut service));
        let retry = service.call(signed("evt_3")).await.unwrap();
        if retry.status() == StatusCode::ACCEPTED {
            accepted = true;
            break;
        }
        assert_eq!(retry.status(), StatusCode::SERVICE_UNAVAILABLE);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(accepted, "the retried delivery was never accepted after room was made");
    entered.notified().await;
    proceed.notify_one();
    let report = receiver.handle().shutdown(Duration::from_secs(5)).await;
    assert!(report.drained, "{report:?}");
}

#[tokio::test]
async fn a_receiver_answers_other_methods_without_spending_readiness() {
    let receiver = Receiver::builder(StandardWebhooks::new([WHSEC]).unwrap())
        .clock(FixedClock::new(NOW))
        .build()
        .unwrap();
    let mut service = Spawn::new(receiver.service());
    assert!(receiver_ready(&mut service));
    let get = Request::get("/webhooks").body(Full::<Bytes>::default()).unwrap();
    assert_eq!(service.call(get).await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
    // The readiness is still there for the delivery that follows.
    let answer = service.call(signed("evt_1")).await.unwrap();
    assert_eq!(answer.status(), StatusCode::ACCEPTED);
}
