//! The admin page: one self-contained HTML file, compiled into the crate.

use axum::body::Body;
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http::header::{
    CONTENT_SECURITY_POLICY, CONTENT_TYPE, HeaderMap, HeaderValue, X_FRAME_OPTIONS,
};

use crate::random::random_u128;

/// The page, with `__NONCE__` where each response puts its script nonce.
const PAGE: &str = include_str!("page.html");

/// The paths the page is served at.
pub(super) fn is_page(path: &str) -> bool {
    matches!(path, "/admin" | "/admin/")
}

/// `GET /admin`.
pub(super) async fn page() -> Response {
    let (headers, body) = render();
    let mut response = Response::new(body);
    response.headers_mut().extend(headers);
    response
}

/// The page's headers and body. Its one inline script and style run under
/// a fresh nonce; the policy allows nothing else: no other script, no
/// request but to this origin, no framing.
pub(super) fn render() -> (HeaderMap, Body) {
    let nonce = STANDARD.encode(random_u128().to_le_bytes());
    let policy = format!(
        "default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; \
         connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'"
    );
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    headers.insert(
        CONTENT_SECURITY_POLICY,
        HeaderValue::try_from(policy).expect("base64 is a valid header value"),
    );
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    (headers, Body::from(PAGE.replace("__NONCE__", &nonce)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_loads_nothing_from_elsewhere() {
        // The SVG namespace is a name, not a request.
        let page = PAGE.replace("\"http://www.w3.org/2000/svg\"", "");
        for external in ["http:", "https:", "//cdn", "@import", "src=", "url("] {
            assert!(!page.contains(external), "the page refers to {external}");
        }
        assert_eq!(PAGE.matches("<script").count(), 1);
        assert!(PAGE.contains("<script nonce=\"__NONCE__\">"));
        assert!(PAGE.contains("<style nonce=\"__NONCE__\">"));
    }
}
