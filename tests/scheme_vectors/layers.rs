//! A scheme driven in-process through `VerifyLayer` and its own
//! `EnvelopeLayer` (`EnvelopeLayer::for_scheme`), with a fixed clock: what a
//! handler behind them would see, and the answers the layers give on their
//! own (handshakes, rejections).

use std::convert::Infallible;

use bytes::Bytes;
use hookwarden::clock::FixedClock;
use hookwarden::envelope::{Envelope, EnvelopeLayer};
use hookwarden::{Scheme, VerifyLayer, testing};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::{ServiceBuilder, ServiceExt, service_fn};

/// What came back.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Answer {
    /// The body as JSON (`Null` when it is not).
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// The envelope the handler saw (its answer is the envelope as JSON).
    pub(crate) fn envelope(&self) -> Value {
        assert!(self.reached_the_handler(), "{} {:?}", self.status, self.body);
        self.json()
    }

    pub(crate) fn content_type(&self) -> Option<&str> {
        self.headers.get(http::header::CONTENT_TYPE).map(|v| v.to_str().unwrap())
    }

    /// Whether the request reached the handler behind the layers.
    pub(crate) fn reached_the_handler(&self) -> bool {
        self.headers.contains_key("x-echo")
    }
}

fn describe(envelope: &Envelope) -> Value {
    json!({
        "scheme": envelope.scheme(),
        "id": envelope.id(),
        "id_signed": envelope.id_is_signed(),
        "type": envelope.event_type(),
        "version": envelope.version(),
        "timestamp": envelope.timestamp(),
        "key": envelope.dedupe_key(),
    })
}

/// The handler behind the layers: echoes the envelope, with a `batch`
/// field listing each event's envelope for a batch body.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let envelope = request.extensions().get::<Envelope>().expect("an envelope");
    let mut body = describe(envelope);
    if let Some(events) = envelope.batch() {
        body["batch"] = events.iter().map(|event| describe(event.envelope())).collect();
    }
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    response.headers_mut().insert("x-echo", http::HeaderValue::from_static("1"));
    Ok(response)
}

/// Sends one delivery to `/webhooks` through `VerifyLayer` and the
/// scheme's envelope layer, at `now`.
pub(crate) async fn send(scheme: impl Scheme, headers: HeaderMap, body: &[u8], now: u64) -> Answer {
    send_to(scheme, "/webhooks", headers, body, now).await
}

/// Like [`send`], to `uri` (path and query): for schemes that sign the URL.
pub(crate) async fn send_to(
    scheme: impl Scheme,
    uri: &str,
    headers: HeaderMap,
    body: &[u8],
    now: u64,
) -> Answer {
    let envelope = EnvelopeLayer::for_scheme(&scheme);
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::new(scheme).clock(FixedClock::new(now)))
        .layer(envelope)
        .service(service_fn(echo));
    let request = testing::request(uri, headers, body.to_vec());
    let response = service.oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer { status: parts.status, headers: parts.headers, body }
}

/// The lowercase hex SHA-256 of `bytes`.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The dedupe key of a body keyed on its digest.
pub(crate) fn digest_key(scheme: &str, body: &[u8]) -> String {
    format!("{scheme}:sha256:{}", sha256_hex(body))
}
