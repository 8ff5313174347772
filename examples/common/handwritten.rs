//! The receiver people write by hand, as the benchmark's yardstick: about
//! sixty lines of axum with `hmac`, `sha2` and `subtle`, a `Mutex<HashSet>`
//! of seen ids, serde into the same struct as the pipeline's handler, and
//! `tokio::spawn` for the work. It checks Standard Webhooks signatures the
//! way a careful person would (constant-time, timestamp window), but keeps
//! its ids forever, in memory only, and loses what it acknowledged if the
//! process stops.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderMap, StatusCode};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The benchmark's event, as both handlers decode it.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct Ping {
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) data: PingData,
}

/// The benchmark's payload.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct PingData {
    pub(crate) id: String,
    pub(crate) seq: u64,
    pub(crate) pad: String,
}

/// The handwritten receiver's state.
pub(crate) struct Handwritten {
    key: Hmac<Sha256>,
    seen: Mutex<HashSet<String>>,
    /// Events decoded and counted by the spawned tasks.
    pub(crate) handled: AtomicU64,
}

impl Handwritten {
    /// For a `whsec_…` secret.
    pub(crate) fn new(secret: &str) -> Arc<Self> {
        let raw = STANDARD.decode(secret.trim_start_matches("whsec_")).expect("a whsec_ secret");
        Arc::new(Self {
            key: Hmac::new_from_slice(&raw).expect("any key length"),
            seen: Mutex::new(HashSet::new()),
            handled: AtomicU64::new(0),
        })
    }
}

/// POST /webhooks.
pub(crate) async fn receive(
    State(state): State<Arc<Handwritten>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (Some(id), Some(ts), Some(signatures)) =
        (header("webhook-id"), header("webhook-timestamp"), header("webhook-signature"))
    else {
        return StatusCode::BAD_REQUEST;
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
    match ts.parse::<u64>() {
        Ok(sent) if sent.abs_diff(now) <= 300 => {}
        _ => return StatusCode::UNAUTHORIZED,
    }
    let mut mac = state.key.clone();
    for part in [id.as_bytes(), b".", ts.as_bytes(), b".", &body] {
        mac.update(part);
    }
    let expected = mac.finalize().into_bytes();
    let valid = signatures.split(' ').filter_map(|s| s.strip_prefix("v1,")).any(|signature| {
        let mut decoded = [0u8; 32];
        matches!(STANDARD.decode_slice(signature, &mut decoded), Ok(32))
            && bool::from(decoded.ct_eq(expected.as_slice()))
    });
    if !valid {
        return StatusCode::UNAUTHORIZED;
    }
    if !state.seen.lock().unwrap().insert(id.to_owned()) {
        return StatusCode::OK;
    }
    tokio::spawn(async move {
        if let Ok(event) = serde_json::from_slice::<Ping>(&body) {
            let _ = (&event.kind, &event.data.id, event.data.seq, &event.data.pad);
            state.handled.fetch_add(1, Ordering::Relaxed);
        }
    });
    StatusCode::ACCEPTED
}
