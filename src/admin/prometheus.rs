//! `GET /metrics`: the `metrics` facade's values in Prometheus text
//! format, rendered by `metrics-exporter-prometheus` (no listener of its
//! own: the admin router serves it).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use http::StatusCode;
use http::header::{CONTENT_TYPE, HeaderValue};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::admin::Shared;
use crate::admin::api::ApiError;
use crate::error::ConfigError;
use crate::telemetry;

/// Histogram buckets for handler attempts, in seconds.
const HANDLER_BUCKETS: [f64; 14] =
    [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

/// How often histogram samples are folded into their buckets when nobody
/// scrapes, so memory stays bounded.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

static INSTALLED: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();

/// Installs a Prometheus recorder as this process's global `metrics`
/// recorder, once, and returns its handle (the same handle on every call).
///
/// [`router`](super::router) calls it. It fails when another recorder was
/// installed first: then install the exporter yourself and give its handle
/// to [`Admin::prometheus`](super::Admin::prometheus).
///
/// `hookwarden_handler_duration_seconds` is exported as a histogram
/// (buckets from 1 ms to 60 s), so it can be aggregated across replicas.
pub fn install_prometheus() -> Result<PrometheusHandle, ConfigError> {
    INSTALLED
        .get_or_init(|| {
            let handle = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("hookwarden_handler_duration_seconds".to_owned()),
                    &HANDLER_BUCKETS,
                )
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())?;
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("hookwarden-metrics-upkeep".to_owned())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(error) = spawned {
                // Each scrape folds the samples in too.
                tracing::warn!(%error, "no upkeep thread for the Prometheus exporter");
            }
            telemetry::describe();
            Ok(handle)
        })
        .clone()
        .map_err(|reason| ConfigError::Invalid {
            what: "prometheus exporter",
            reason: format!(
                "{reason}; install your own exporter and pass its handle to Admin::prometheus"
            ),
        })
}

/// `GET /metrics`.
pub(super) async fn metrics(State(admin): State<Arc<Shared>>) -> Response {
    let Some(handle) = &admin.metrics else {
        return ApiError::MetricsUnavailable.into_response();
    };
    let mut response = Response::new(Body::from(handle.render()));
    *response.status_mut() = StatusCode::OK;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}
