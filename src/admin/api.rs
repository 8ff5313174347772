//! The admin API's handlers: stats, deliveries by state, one delivery,
//! replay, bulk replay; and its error answers.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use http::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use http::{StatusCode, Uri};
use serde_json::{Value, json};

use crate::admin::Shared;
use crate::admin::views;
use crate::background::dispatch::ReplayError;
use crate::background::inbox::{Cursor, State as DeliveryState};
use crate::rejection::Rejection;

const TARGET: &str = "hookwarden::admin";

/// Deliveries listed per page by default, and at most.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// Recent deliveries shown by default (the dispatcher remembers 100).
const DEFAULT_RECENT: usize = 20;

/// Dead letters one bulk replay looks at, at most; call again for more.
const MAX_BULK: usize = 10_000;

/// Why an admin request failed: `{"error": code, "message": text}`.
#[derive(Debug)]
pub(super) enum ApiError {
    /// A query parameter is missing or invalid (400 `bad_request`).
    BadRequest(String),
    /// No delivery has this id (404 `not_found`).
    NotFound,
    /// No such route (404 `not_found`).
    NoRoute,
    /// The route exists, not with this method (405 `method_not_allowed`).
    MethodNotAllowed,
    /// The delivery is not a dead letter (409 `not_dead`).
    NotDead,
    /// The inbox could not answer (503 `store_unavailable`).
    StoreUnavailable,
    /// No Prometheus exporter is installed (503 `metrics_unavailable`).
    MetricsUnavailable,
}

impl ApiError {
    pub(super) fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Self::BadRequest(message) => (StatusCode::BAD_REQUEST, "bad_request", message),
            Self::NotFound => {
                (StatusCode::NOT_FOUND, "not_found", "no delivery has this id".to_owned())
            }
            Self::NoRoute => {
                (StatusCode::NOT_FOUND, "not_found", "no such admin route".to_owned())
            }
            Self::MethodNotAllowed => {
                let rejection = Rejection::MethodNotAllowed;
                (rejection.status(), rejection.code(), "this route takes another method".to_owned())
            }
            Self::NotDead => (
                StatusCode::CONFLICT,
                "not_dead",
                "the delivery is not a dead letter; only dead letters are replayed".to_owned(),
            ),
            Self::StoreUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "store_unavailable",
                "the inbox is unavailable; retry later".to_owned(),
            ),
            Self::MetricsUnavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "metrics_unavailable",
                "no Prometheus exporter is installed (another metrics recorder was installed first)"
                    .to_owned(),
            ),
        };
        let mut response = json(status, &json!({ "error": code, "message": message }));
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(RETRY_AFTER, HeaderValue::from(5));
        }
        response
    }
}

/// A JSON answer.
fn json(status: StatusCode, value: &Value) -> Response {
    let mut response = Response::new(Body::from(value.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The last value of each query parameter.
fn param(uri: &Uri, name: &str) -> Option<String> {
    let query = uri.query()?;
    form_urlencoded::parse(query.as_bytes())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .last()
}

fn limit(uri: &Uri, default: usize, max: usize) -> Result<usize, ApiError> {
    match param(uri, "limit") {
        None => Ok(default),
        Some(text) => {
            text.parse::<usize>().ok().filter(|n| (1..=max).contains(n)).ok_or_else(|| {
                ApiError::BadRequest(format!("limit must be a number from 1 to {max}"))
            })
        }
    }
}

fn unavailable(error: impl std::fmt::Display) -> ApiError {
    tracing::warn!(target: TARGET, %error, "the inbox cannot answer an admin request");
    ApiError::StoreUnavailable
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(id)| id)
        .map_err(|_| ApiError::BadRequest("the delivery id is not valid UTF-8".to_owned()))
}

/// `GET /admin/api/stats`.
pub(super) async fn stats(State(admin): State<Arc<Shared>>) -> Response {
    let inbox = admin.handle.inbox();
    let counts = inbox.stats().await.map_err(|error| {
        tracing::warn!(target: TARGET, %error, "the inbox cannot count its deliveries");
        error.to_string()
    });
    let view = views::stats(&admin.handle.stats(), counts, inbox.is_durable(), Rejection::counts());
    json(StatusCode::OK, &view)
}

/// `GET /admin/api/deliveries?state=S&limit=N&cursor=C`: oldest first;
/// `next` is the cursor of the following page, or `null`.
pub(super) async fn deliveries(State(admin): State<Arc<Shared>>, uri: Uri) -> Response {
    let result = async {
        let state: DeliveryState = param(&uri, "state")
            .ok_or_else(|| ApiError::BadRequest(state_expected("state is required")))?
            .parse()
            .map_err(|_| ApiError::BadRequest(state_expected("unknown state")))?;
        let limit = limit(&uri, DEFAULT_LIMIT, MAX_LIMIT)?;
        let cursor = param(&uri, "cursor").map(Cursor::new);
        let page =
            admin.handle.inbox().list(state, limit, cursor.as_ref()).await.map_err(unavailable)?;
        let deliveries: Vec<Value> =
            page.records.iter().map(|record| Value::Object(views::summary(record))).collect();
        let next = page.next.as_ref().map(Cursor::as_str);
        Ok(json!({ "deliveries": deliveries, "next": next }))
    };
    respond(result.await)
}

fn state_expected(problem: &str) -> String {
    format!("{problem}: expected pending, leased, retrying, dead or done")
}

/// `GET /admin/api/recent?limit=N`: the deliveries this process accepted
/// most recently, newest first, each in its current state.
pub(super) async fn recent(State(admin): State<Arc<Shared>>, uri: Uri) -> Response {
    let result = async {
        let limit = limit(&uri, DEFAULT_RECENT, 100)?;
        let inbox = admin.handle.inbox();
        let mut deliveries = Vec::with_capacity(limit);
        for id in admin.handle.dispatcher().recent_ids().into_iter().take(limit) {
            // A delivery purged since is left out.
            if let Some(record) = inbox.get(&id).await.map_err(unavailable)? {
                deliveries.push(Value::Object(views::summary(&record)));
            }
        }
        Ok(json!({ "deliveries": deliveries }))
    };
    respond(result.await)
}

/// `GET /admin/api/deliveries/{id}`.
pub(super) async fn delivery(
    State(admin): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let result = async {
        let id = path_id(path)?;
        let record = admin.handle.inbox().get(&id).await.map_err(unavailable)?;
        record.map(|record| views::detail(&record)).ok_or(ApiError::NotFound)
    };
    respond(result.await)
}

/// `POST /admin/api/deliveries/{id}/replay`: 202 `{"status":"replayed"}`.
pub(super) async fn replay(
    State(admin): State<Arc<Shared>>,
    path: Result<Path<String>, PathRejection>,
) -> Response {
    let result = async {
        let id = path_id(path)?;
        match admin.handle.replay(&id).await {
            Ok(()) => Ok(json!({ "status": "replayed", "id": id })),
            Err(ReplayError::NotFound(_)) => Err(ApiError::NotFound),
            Err(ReplayError::NotDead(_)) => Err(ApiError::NotDead),
            Err(error) => Err(unavailable(error)),
        }
    };
    respond_with(StatusCode::ACCEPTED, result.await)
}

/// `POST /admin/api/dead-letters/replay?type=T`: replays every dead
/// letter of event type `T` (up to 10,000 per call: `truncated` says to
/// call again). 202 `{"status":"replayed","type":T,"replayed":N,
/// "skipped":N,"truncated":bool}`; `skipped` counts those that stopped
/// being dead letters meanwhile.
pub(super) async fn replay_dead_letters(State(admin): State<Arc<Shared>>, uri: Uri) -> Response {
    let result = async {
        let event_type = param(&uri, "type").filter(|t| !t.is_empty()).ok_or_else(|| {
            ApiError::BadRequest("type is required: the event type to replay".into())
        })?;
        let inbox = admin.handle.inbox();
        let mut ids = Vec::new();
        let mut cursor: Option<Cursor> = None;
        let mut seen = 0;
        let truncated = loop {
            let page = inbox
                .list(DeliveryState::Dead, MAX_LIMIT, cursor.as_ref())
                .await
                .map_err(unavailable)?;
            seen += page.records.len();
            ids.extend(
                page.records
                    .iter()
                    .filter(|record| record.delivery.event_type() == event_type)
                    .map(|record| record.delivery.id().to_owned()),
            );
            match page.next {
                Some(next) if seen < MAX_BULK => cursor = Some(next),
                Some(_) => break true,
                None => break false,
            }
        };
        let (mut replayed, mut skipped) = (0u64, 0u64);
        for id in &ids {
            match admin.handle.replay(id).await {
                Ok(()) => replayed += 1,
                Err(ReplayError::NotFound(_) | ReplayError::NotDead(_)) => skipped += 1,
                Err(error) => return Err(unavailable(error)),
            }
        }
        tracing::info!(target: TARGET, r#type = %event_type, replayed, skipped, "bulk replay");
        Ok(json!({
            "status": "replayed",
            "type": event_type,
            "replayed": replayed,
            "skipped": skipped,
            "truncated": truncated,
        }))
    };
    respond_with(StatusCode::ACCEPTED, result.await)
}

/// Any other path.
pub(super) async fn no_route() -> Response {
    ApiError::NoRoute.into_response()
}

/// A known path with another method.
pub(super) async fn wrong_method() -> Response {
    ApiError::MethodNotAllowed.into_response()
}

fn respond(result: Result<Value, ApiError>) -> Response {
    respond_with(StatusCode::OK, result)
}

fn respond_with(status: StatusCode, result: Result<Value, ApiError>) -> Response {
    match result {
        Ok(value) => json(status, &value),
        Err(error) => error.into_response(),
    }
}
