//! A delivery sent through `VerifyLayer` and the scheme's own
//! `EnvelopeLayer`, with a fixed clock: what a handler (or the sender, for
//! a handshake) would see.

use std::convert::Infallible;

use bytes::Bytes;
use hookwarden::clock::FixedClock;
use hookwarden::envelope::EnvelopeLayer;
use hookwarden::scheme::Scheme;
use hookwarden::{Envelope, VerifyLayer, testing};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// What came back: the status, the `content-type`, the body.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The envelope the handler saw (its answer is the envelope as JSON).
    pub(crate) fn envelope(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{:?}", self.body);
        serde_json::from_slice(&self.body).expect("the handler's JSON")
    }
}

/// Echoes the envelope as JSON.
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

/// Sends `body` with `headers` at `now` through verification and the
/// scheme's envelope layer to a handler that echoes the envelope.
pub(crate) async fn send<S: Scheme>(
    scheme: S,
    headers: HeaderMap,
    body: &[u8],
    now: u64,
) -> Answer {
    let envelope = EnvelopeLayer::for_scheme(&scheme);
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::new(scheme).clock(FixedClock::new(now)))
        .layer(envelope)
        .service(service_fn(echo));
    let request = testing::request("/webhooks", headers, body.to_vec());
    let response = service.oneshot(request).await.expect("infallible");
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .map(|v| v.to_str().expect("ASCII").to_owned());
    let body = response.into_body().collect().await.expect("a full body").to_bytes();
    Answer { status, content_type, body }
}

/// The dedupe key of a body keyed on its digest.
pub(crate) fn digest_key(scheme: &str, body: &[u8]) -> String {
    format!("{scheme}:sha256:{}", hex::encode(Sha256::digest(body)))
}
