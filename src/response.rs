//! The JSON answers that are not refusals.

use bytes::Bytes;
use http::header::{CONTENT_TYPE, HeaderValue};
use http::{Response, StatusCode};

/// `{"id":…,"status":…}` (`accepted`, `duplicate`), the same bytes as
/// `json!` would give (keys in order), written directly: this is the answer
/// to nearly every delivery.
pub(crate) fn status<B: From<Bytes>>(
    status: StatusCode,
    word: &'static str,
    id: &str,
) -> Response<B> {
    // Exactly the length when the id needs no escaping: a `Vec` with spare
    // capacity becomes `Bytes` only with a second allocation.
    let mut body = Vec::with_capacity(id.len() + word.len() + 21);
    body.extend_from_slice(b"{\"id\":");
    serde_json::to_writer(&mut body, id).expect("writing a string to a Vec cannot fail");
    body.extend_from_slice(b",\"status\":\"");
    body.extend_from_slice(word.as_bytes());
    body.extend_from_slice(b"\"}");
    json(status, body)
}

/// `204 No Content`.
pub(crate) fn no_content<B: From<Bytes>>() -> Response<B> {
    let mut response = Response::new(B::from(Bytes::new()));
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

/// A JSON body with its status and content type.
pub(crate) fn json<B: From<Bytes>>(status: StatusCode, body: Vec<u8>) -> Response<B> {
    let mut response = Response::new(B::from(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[tokio::test]
    async fn status_bodies_match_json_macro() {
        for (word, id) in [("accepted", "evt_1"), ("duplicate", "a \"quoted\" \\ id\n\u{1}é")] {
            let response: Response<Full<Bytes>> = status(StatusCode::ACCEPTED, word, id);
            let expected = serde_json::json!({ "status": word, "id": id }).to_string();
            let body = http_body_util::BodyExt::collect(response.into_body()).await.unwrap();
            let body = body.to_bytes();
            assert_eq!(std::str::from_utf8(&body).unwrap(), expected);
            if !id.contains(['"', '\\', '\n', '\u{1}']) {
                assert_eq!(body.len(), id.len() + word.len() + 21, "the capacity reserved");
            }
        }
    }
}
