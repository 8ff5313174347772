//! A delivery sent through `VerifyLayer` and the scheme's own
//! `EnvelopeLayer`, to a handler that echoes the envelope it sees.

use std::convert::Infallible;

use bytes::Bytes;
use hookwarden::clock::FixedClock;
use hookwarden::envelope::{Envelope, EnvelopeLayer};
use hookwarden::scheme::Scheme;
use hookwarden::{VerifyLayer, testing};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use tower::{ServiceBuilder, ServiceExt, service_fn};

async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let envelope = request.extensions().get::<Envelope>().expect("an envelope");
    let body = json!({
        "scheme": envelope.scheme(),
        "id": envelope.id(),
        "id_signed": envelope.id_is_signed(),
        "type": envelope.event_type(),
        "version": envelope.version(),
        "timestamp": envelope.timestamp(),
        "key": envelope.dedupe_key(),
    });
    Ok(Response::new(Full::new(Bytes::from(body.to_string()))))
}

/// What came back: the status, the content type and the body (the echoed
/// envelope when the delivery got through, else the rejection).
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Value,
}

/// Sends `body` to `uri` (path and query) at `now`, through verification
/// and the envelope the scheme configures.
pub(crate) async fn deliver<S: Scheme + Clone>(
    scheme: &S,
    uri: &str,
    headers: HeaderMap,
    body: &[u8],
    now: u64,
) -> Answer {
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::new(scheme.clone()).clock(FixedClock::new(now)))
        .layer(EnvelopeLayer::for_scheme(scheme))
        .service(service_fn(echo));
    let request = testing::request(uri, headers, body.to_vec());
    let response = service.oneshot(request).await.expect("the service answers");
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let bytes = response.into_body().collect().await.expect("a body").to_bytes();
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes).expect("a JSON answer")
    };
    Answer { status, content_type, body }
}
