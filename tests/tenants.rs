//! Many tenants of one sender on one route: each request verified with its
//! tenant's secrets, looked up asynchronously and cached; unknown tenants
//! and failed lookups refused before the body is read.

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hookwarden::envelope::{Envelope, EnvelopeLayer};
use hookwarden::scheme::{GitHub, Scheme};
use hookwarden::verify::{LookupError, MAX_TENANT_LEN, TenantKey, Tenants, VerifyLayer};
use hookwarden::{Receiver, testing};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};

const PUSH: &[u8] = br#"{"ref":"refs/heads/main","repository":{"full_name":"octo-org/octo-repo"}}"#;

/// Tenants `acme` (two active secrets: a rotation) and `globex`; `broken`
/// fails its lookup. Counts lookups.
fn tenants(key: TenantKey, lookups: Arc<AtomicUsize>) -> Tenants {
    Tenants::new(key, move |tenant: String| {
        let lookups = lookups.clone();
        async move {
            lookups.fetch_add(1, Ordering::SeqCst);
            let secrets = match tenant.as_str() {
                "acme" => vec!["acme-old", "acme-new"],
                "globex" => vec!["globex-secret"],
                "broken" => return Err(LookupError("the secrets database is down".into())),
                _ => return Ok(None),
            };
            let scheme = GitHub::new(secrets).map_err(|e| LookupError(e.to_string()))?;
            Ok(Some(Arc::new(scheme) as Arc<dyn Scheme>))
        }
    })
    .ttl(Duration::from_secs(60))
}

async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let envelope = request.extensions().get::<Envelope>().expect("an envelope");
    let body = json!({"tenant": envelope.tenant(), "key": envelope.dedupe_key()});
    Ok(Response::new(Full::new(Bytes::from(body.to_string()))))
}

fn service(
    tenants: Tenants,
) -> impl tower::Service<
    Request<Full<Bytes>>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    let conventions = GitHub::new(["placeholder"]).unwrap();
    ServiceBuilder::new()
        .layer(VerifyLayer::tenants(tenants))
        .layer(EnvelopeLayer::for_scheme(&conventions))
        .service(service_fn(echo))
}

fn push(uri: &str, secret: &str) -> Request<Full<Bytes>> {
    let mut headers: HeaderMap = testing::github(secret, PUSH);
    headers.insert("x-github-event", "push".parse().unwrap());
    headers.insert("x-github-delivery", "d-1".parse().unwrap());
    testing::request(uri, headers, PUSH)
}

async fn answer(
    service: impl tower::Service<
        Request<Full<Bytes>>,
        Response = Response<Full<Bytes>>,
        Error = Infallible,
    >,
    request: Request<Full<Bytes>>,
) -> (StatusCode, HeaderMap, Value) {
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    (parts.status, parts.headers, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn each_tenant_is_verified_with_its_own_secrets() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let service = service(tenants(TenantKey::PathSegment(1), lookups.clone()));
    let digest = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(PUSH))
    };

    // Both of acme's secrets verify (rotation); the key names the tenant.
    for secret in ["acme-old", "acme-new"] {
        let (status, _, body) = answer(service.clone(), push("/webhooks/acme", secret)).await;
        assert_eq!(status, StatusCode::OK, "{secret}: {body}");
        assert_eq!(body, json!({"tenant": "acme", "key": format!("github@acme:sha256:{digest}")}));
    }
    let (status, _, body) =
        answer(service.clone(), push("/webhooks/globex", "globex-secret")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["key"], format!("github@globex:sha256:{digest}"), "no collision with acme");

    // Another tenant's secret on acme's URL is a forgery.
    let (status, _, body) = answer(service.clone(), push("/webhooks/acme", "globex-secret")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_signature");
    assert_eq!(lookups.load(Ordering::SeqCst), 2, "one lookup per tenant, then the cache");
}

#[tokio::test]
async fn unknown_or_unnamed_tenants_are_refused_and_cached() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let service = service(tenants(TenantKey::PathSegment(1), lookups.clone()));
    for _ in 0..5 {
        let (status, _, body) = answer(service.clone(), push("/webhooks/initech", "x")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["error"], "invalid_signature");
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 1, "an unknown tenant is cached too");

    let long = format!("/webhooks/{}", "a".repeat(MAX_TENANT_LEN + 1));
    for uri in ["/webhooks", "/webhooks/", long.as_str()] {
        let (status, _, body) = answer(service.clone(), push(uri, "acme-new")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}");
        assert_eq!(body["error"], "invalid_signature");
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 1, "invalid names are never looked up");
}

#[tokio::test]
async fn a_failed_lookup_asks_the_sender_to_retry() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let service = service(tenants(TenantKey::header("X-Account").unwrap(), lookups.clone()));
    let mut request = push("/webhooks", "anything");
    request.headers_mut().insert("x-account", "broken".parse().unwrap());
    let (status, headers, body) = answer(service.clone(), request).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body["error"], "store_unavailable");
    assert_eq!(headers["retry-after"], "5");

    // A failure is not cached: the next request asks again.
    let mut request = push("/webhooks", "anything");
    request.headers_mut().insert("x-account", "broken".parse().unwrap());
    answer(service.clone(), request).await;
    assert_eq!(lookups.load(Ordering::SeqCst), 2);

    // The header, sent twice with different tenants, names none.
    let mut request = push("/webhooks", "acme-new");
    request.headers_mut().append("x-account", "acme".parse().unwrap());
    request.headers_mut().append("x-account", "globex".parse().unwrap());
    let (status, _, _) = answer(service.clone(), request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let mut request = push("/webhooks", "acme-new");
    request.headers_mut().insert("x-account", "acme".parse().unwrap());
    let (status, _, body) = answer(service, request).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test(start_paused = true)]
async fn a_rotated_secret_is_picked_up_after_the_ttl() {
    let current = Arc::new(std::sync::Mutex::new("first"));
    let source = current.clone();
    let tenants = Tenants::new(TenantKey::PathSegment(1), move |_tenant: String| {
        let secret = *source.lock().unwrap();
        async move { Ok(Some(Arc::new(GitHub::new([secret]).unwrap()) as Arc<dyn Scheme>)) }
    })
    .ttl(Duration::from_secs(60));
    let service = service(tenants);
    assert_eq!(answer(service.clone(), push("/w/acme", "first")).await.0, StatusCode::OK);
    *current.lock().unwrap() = "second";
    assert_eq!(
        answer(service.clone(), push("/w/acme", "second")).await.0,
        StatusCode::UNAUTHORIZED,
        "still cached"
    );
    tokio::time::advance(Duration::from_secs(61)).await;
    assert_eq!(answer(service.clone(), push("/w/acme", "second")).await.0, StatusCode::OK);
    assert_eq!(answer(service, push("/w/acme", "first")).await.0, StatusCode::UNAUTHORIZED);
}

/// A body that never arrives.
struct Stalled;

impl http_body::Body for Stalled {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

#[tokio::test]
async fn an_unknown_tenant_is_refused_before_its_body_is_read() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::tenants(tenants(TenantKey::PathSegment(1), lookups)))
        .service(service_fn(|_: Request<Full<Bytes>>| async {
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }));
    let request = Request::post("/webhooks/initech").body(Stalled).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(5), service.oneshot(request))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_receiver_keeps_identical_deliveries_of_two_tenants_apart() {
    let lookups = Arc::new(AtomicUsize::new(0));
    let receiver = Receiver::builder(GitHub::new(["placeholder"]).unwrap())
        .tenants(tenants(TenantKey::PathSegment(1), lookups))
        .router(
            hookwarden::router::EventRouter::new()
                .catch_all(|_: hookwarden::event::Event<Value>| async { Ok::<_, Infallible>(()) }),
        )
        .build()
        .unwrap();
    let send = |uri: &'static str, secret: &'static str| {
        let service = receiver.service();
        async move {
            let response = service.oneshot(push(uri, secret)).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    assert_eq!(send("/webhooks/acme", "acme-new").await.0, StatusCode::ACCEPTED);
    assert_eq!(send("/webhooks/globex", "globex-secret").await.0, StatusCode::ACCEPTED);
    let (status, body) = send("/webhooks/acme", "acme-old").await;
    assert_eq!((status, &body["status"]), (StatusCode::OK, &json!("duplicate")));
}
