#![doc = include_str!("../docs/admin.md")]

mod api;
mod auth;
mod page;
mod prometheus;
mod token;
mod views;

use std::fmt;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};

pub use metrics_exporter_prometheus::PrometheusHandle;
pub use prometheus::install_prometheus;
pub use token::{AdminToken, MIN_TOKEN_LEN};

use crate::receiver::ReceiverHandle;

/// The admin router for `handle`'s receiver, behind `token`, with the
/// Prometheus exporter installed by [`install_prometheus`]; shorthand for
/// `Admin::new(handle, token).into_router()`.
///
/// Serve it on its own listener, never on the webhook listener.
pub fn router(handle: ReceiverHandle, token: AdminToken) -> Router {
    Admin::new(handle, token).into_router()
}

/// Configures the admin router; [`router`] is the short way.
pub struct Admin {
    handle: ReceiverHandle,
    token: AdminToken,
    metrics: Option<PrometheusHandle>,
}

/// What every handler shares.
struct Shared {
    handle: ReceiverHandle,
    metrics: Option<PrometheusHandle>,
}

impl Admin {
    /// The admin of `handle`'s receiver, behind `token`.
    pub fn new(handle: ReceiverHandle, token: AdminToken) -> Self {
        Self { handle, token, metrics: None }
    }

    /// Serves `/metrics` from this exporter (one you installed yourself)
    /// instead of installing one.
    pub fn prometheus(mut self, handle: PrometheusHandle) -> Self {
        self.metrics = Some(handle);
        self
    }

    /// The router: every route behind the token.
    ///
    /// Without [`prometheus`](Self::prometheus), installs the exporter
    /// with [`install_prometheus`]; if another `metrics` recorder was
    /// installed first, says so in one WARN line and `/metrics` answers
    /// 503 `metrics_unavailable`.
    pub fn into_router(self) -> Router {
        let metrics = self.metrics.or_else(|| match install_prometheus() {
            Ok(handle) => Some(handle),
            Err(error) => {
                tracing::warn!(target: "hookwarden::admin", %error, "GET /metrics is unavailable");
                None
            }
        });
        let shared = Arc::new(Shared { handle: self.handle, metrics });
        Router::new()
            .route("/admin", get(page::page))
            .route("/admin/", get(page::page))
            .route("/admin/api/stats", get(api::stats))
            .route("/admin/api/deliveries", get(api::deliveries))
            .route("/admin/api/deliveries/{id}", get(api::delivery))
            .route("/admin/api/deliveries/{id}/replay", post(api::replay))
            .route("/admin/api/dead-letters/replay", post(api::replay_dead_letters))
            .route("/admin/api/recent", get(api::recent))
            .route("/metrics", get(prometheus::metrics))
            .fallback(api::no_route)
            .method_not_allowed_fallback(api::wrong_method)
            .with_state(shared)
            .layer(axum::middleware::from_fn_with_state(Arc::new(self.token), auth::require_token))
    }
}

impl fmt::Debug for Admin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Admin")
            .field("handle", &self.handle)
            .field("token", &self.token)
            .field("prometheus", &self.metrics.is_some())
            .finish()
    }
}
