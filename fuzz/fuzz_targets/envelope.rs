//! The envelope: JSON probing, form bodies and JSON batches, through the
//! public `EnvelopeLayer` over a `VerifyLayer` whose scheme vouches for
//! every request (so any body reaches the envelope).
//!
//! Input: a config selector byte, then the text request format of the
//! crate docs (its scheme line names the sender whose conventions are
//! used; `+sign` is ignored). Selector 0 uses the sender's conventions;
//! otherwise a generic config whose JSON pointers come from the header
//! `x-pointer-id` / `x-pointer-type` (a bad pointer: the defaults).

#![no_main]

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, LazyLock, Mutex};

use bytes::Bytes;
use hookwarden::envelope::{Envelope, EnvelopeLayer};
use hookwarden::scheme::{
    BodyFormat, EnvelopeConfig, Scheme, SignedRequest, Source, Verified, VerifyError,
};
use hookwarden::verify::VerifyLayer;
use hookwarden_fuzz::{TOLERANCE, parse, schemes};
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tower::{Layer, ServiceExt, service_fn};

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    /// `% 5`: the sender's conventions, or generic ones over a JSON body,
    /// a form, a JSON batch, or with the signed id and timestamp.
    config: u8,
    /// The receiver's clock; when odd, also the signed timestamp.
    timestamp: u64,
    text: &'a [u8],
}

/// Vouches for every request, with a signed id from `x-signed-id` and the
/// timestamp the input chose.
#[derive(Debug)]
struct Vouch;

impl Scheme for Vouch {
    fn name(&self) -> &'static str {
        "vouch"
    }

    fn verify(&self, request: &SignedRequest<'_>) -> Result<Verified, VerifyError> {
        let mut verified = Verified::new("vouch");
        if let Some(Ok(id)) = request.headers().get("x-signed-id").map(|v| v.to_str()) {
            verified = verified.with_signed_id(id);
        }
        if request.now() % 2 == 1 {
            verified = verified.with_timestamp(request.now());
        }
        Ok(verified)
    }
}

fn generic(format: BodyFormat, signed: bool, id: &str, kind: &str) -> EnvelopeConfig {
    let base = EnvelopeConfig::generic().body_format(format);
    let custom = || -> Result<EnvelopeConfig, hookwarden::ConfigError> {
        let mut ids = vec![Source::json_pointer(id)?];
        if signed {
            ids.insert(0, Source::SignedId);
        }
        let config = base.clone().id(ids)?.event_type([Source::json_pointer(kind)?])?;
        Ok(if signed { config.timestamp([Source::SignedTimestamp])? } else { config })
    };
    custom().unwrap_or(base)
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
}

/// A layer's configuration: selector, scheme, and the two pointers.
type Key = (u8, usize, String, String);

/// Layers by configuration, built once.
static LAYERS: LazyLock<Mutex<HashMap<Key, EnvelopeLayer>>> = LazyLock::new(Default::default);

fuzz_target!(|input: Input<'_>| {
    let request = parse(input.text);
    let entry = &schemes()[request.scheme];
    let header = |name: &str| {
        request.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
    };
    let (id, kind) = (header("x-pointer-id"), header("x-pointer-type"));
    let selector = input.config % 5;
    let envelope = {
        let mut layers = LAYERS.lock().unwrap();
        if layers.len() > 4096 {
            layers.clear();
        }
        layers
            .entry((selector, request.scheme, id.clone(), kind.clone()))
            .or_insert_with(|| {
                EnvelopeLayer::with_config(match selector {
                    0 => entry.scheme.envelope(),
                    1 => generic(BodyFormat::Json, false, &id, &kind),
                    2 => generic(BodyFormat::Form, false, &id, &kind),
                    3 => generic(BodyFormat::JsonBatch, false, &id, &kind),
                    _ => generic(BodyFormat::Json, true, &id, &kind),
                })
            })
            .clone()
    };
    let clock = hookwarden::clock::FixedClock::new(input.timestamp);
    let verify = VerifyLayer::new(Vouch).clock(clock).tolerance(TOLERANCE);
    let body = Bytes::copy_from_slice(request.body);
    let seen: Arc<Mutex<Option<Envelope>>> = Arc::default();
    let record = seen.clone();
    let service = verify.layer(envelope.layer(service_fn(move |request: Request<Full<Bytes>>| {
        let record = record.clone();
        async move {
            *record.lock().unwrap() = request.extensions().get::<Envelope>().cloned();
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
        }
    })));
    let mut http_request =
        Request::post(request.uri.clone()).body(Full::new(body.clone())).unwrap();
    *http_request.headers_mut() = request.headers.clone();
    http_request.headers_mut().remove(http::header::CONTENT_LENGTH);
    let response = RUNTIME.with(|rt| rt.block_on(service.oneshot(http_request))).unwrap();
    let envelope = seen.lock().unwrap().take();
    match response.status() {
        StatusCode::OK => {
            let envelope = envelope.expect("a passed request has an envelope");
            check(&envelope, &body);
        }
        StatusCode::BAD_REQUEST => assert!(envelope.is_none()),
        StatusCode::PAYLOAD_TOO_LARGE => assert!(body.len() > 1024 * 1024),
        status => panic!("unexpected status {status}"),
    }
});

/// What every envelope promises: a non-empty id and type, a bounded
/// dedupe key, and batch elements that are slices of the verified body.
fn check(envelope: &Envelope, body: &Bytes) {
    assert!(!envelope.id().is_empty(), "empty id");
    assert!(!envelope.event_type().is_empty(), "empty type");
    assert!(!envelope.dedupe_key().is_empty(), "empty dedupe key");
    assert!(envelope.dedupe_key().len() < 512, "dedupe key of {}", envelope.dedupe_key().len());
    if let Some(batch) = envelope.batch() {
        assert!(batch.len() <= 1000, "a batch of {}", batch.len());
        let range = body.as_ptr() as usize..body.as_ptr() as usize + body.len() + 1;
        for event in batch.iter() {
            let start = event.body().as_ptr() as usize;
            assert!(
                event.body().is_empty()
                    || (range.contains(&start) && range.contains(&(start + event.body().len()))),
                "a batch element outside the body"
            );
            check(event.envelope(), body);
        }
    }
}
