//! The guard in front of every admin route: a valid bearer token, or 401.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::header::{
    ACCEPT, AUTHORIZATION, CACHE_CONTROL, HeaderMap, HeaderValue, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};

use crate::admin::page;
use crate::admin::token::AdminToken;
use crate::rejection::Rejection;

/// Lets the request through only with `Authorization: Bearer <token>`;
/// marks every answer, refusals included, as not to be cached.
pub(super) async fn require_token(
    State(token): State<Arc<AdminToken>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = if presents(&token, request.headers()) {
        next.run(request).await
    } else {
        refuse(&request)
    };
    let headers = response.headers_mut();
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// Whether the request carries exactly one `Authorization` header, of the
/// `Bearer` scheme (any case), with the token.
fn presents(token: &AdminToken, headers: &HeaderMap) -> bool {
    let mut values = headers.get_all(AUTHORIZATION).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return false;
    };
    let value = value.as_bytes();
    let Some((scheme, credentials)) = value.split_at_checked(7) else {
        return false;
    };
    scheme.eq_ignore_ascii_case(b"bearer ") && token.matches(credentials.trim_ascii())
}

/// 401 `unauthorized`. A browser opening the page gets the page itself as
/// the body of the 401: static HTML with no data, whose sign-in form takes
/// the token (see the module documentation).
fn refuse(request: &Request) -> Response {
    let rejection = Rejection::Unauthorized;
    rejection.log();
    let response: Response<Body> = rejection.into_response();
    if page::is_page(request.uri().path()) && wants_html(request.headers()) {
        let (mut parts, _json) = response.into_parts();
        let (headers, html) = page::render();
        parts.headers.extend(headers);
        return Response::from_parts(parts, html);
    }
    response
}

fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .any(|accept| accept.contains("text/html"))
}
