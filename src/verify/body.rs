//! Reading the body: bounded in size and in time.

use std::future::Future as _;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::HeaderMap;
use http::header::CONTENT_LENGTH;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tokio::time::Sleep;

use crate::Rejection;

/// Whether a declared `Content-Length` is already over the limit, so the
/// request can be refused before a byte of the body is read.
pub(crate) fn declared_too_large(headers: &HeaderMap, limit: usize) -> bool {
    headers
        .get_all(CONTENT_LENGTH)
        .iter()
        .filter_map(|v| v.to_str().ok()?.trim().parse::<u64>().ok())
        .any(|declared| declared > limit as u64)
}

/// Collects the whole body, refusing it past `limit` bytes (413) or when it
/// has not all arrived within `deadline` (408).
///
/// Nothing is pre-allocated from the sender's claims: chunks are kept as
/// they arrive and joined once, at most `limit` bytes in all (a body of one
/// chunk is not copied at all).
pub(crate) async fn collect<B>(
    body: B,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut collecting = std::pin::pin!(Limited::new(body, limit).collect());
    // A small body has usually arrived with the headers: then it is read
    // at the first poll, and neither the clock nor a timer is needed. The
    // timer is boxed, so a future that never needs it stays small.
    let mut timer: Option<Pin<Box<Sleep>>> = None;
    let collected = std::future::poll_fn(|cx| {
        if let Poll::Ready(collected) = collecting.as_mut().poll(cx) {
            return Poll::Ready(Ok(collected));
        }
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
        timer.as_mut().poll(cx).map(|()| Err(Rejection::BodyTimeout))
    })
    .await?;
    match collected {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(error) if error.is::<LengthLimitError>() => Err(Rejection::PayloadTooLarge),
        Err(_) => Err(Rejection::BodyUnreadable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::Full;

    #[test]
    fn declared_length_over_the_limit_is_caught_before_reading() {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_LENGTH, "11".parse().unwrap());
        assert!(declared_too_large(&headers, 10));
        assert!(!declared_too_large(&headers, 11));
        headers.insert(CONTENT_LENGTH, "99999999999999999999999".parse().unwrap());
        assert!(!declared_too_large(&headers, 10), "unparsable lengths are left to the server");
    }

    #[tokio::test]
    async fn a_body_past_the_limit_is_refused() {
        let body = Full::new(Bytes::from(vec![0u8; 11]));
        assert_eq!(
            collect(body, 10, Duration::from_secs(5)).await,
            Err(Rejection::PayloadTooLarge)
        );
        let body = Full::new(Bytes::from(vec![0u8; 10]));
        assert_eq!(collect(body, 10, Duration::from_secs(5)).await.unwrap().len(), 10);
    }

    /// A body whose sender has gone quiet.
    struct Silent;

    impl Body for Silent {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            std::task::Poll::Pending
        }
    }

    /// A body that arrives in one piece after `after`.
    struct Late {
        after: Pin<Box<Sleep>>,
        sent: bool,
    }

    impl Late {
        fn after(delay: Duration) -> Self {
            Self { after: Box::pin(tokio::time::sleep(delay)), sent: false }
        }
    }

    impl Body for Late {
        type Data = Bytes;
        type Error = std::io::Error;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
            if self.sent {
                return Poll::Ready(None);
            }
            std::task::ready!(self.after.as_mut().poll(cx));
            self.sent = true;
            Poll::Ready(Some(Ok(http_body::Frame::data(Bytes::from_static(b"late")))))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_was_not_there_at_first_is_waited_for_until_the_deadline() {
        let body = collect(Late::after(Duration::from_secs(4)), 10, Duration::from_secs(5)).await;
        assert_eq!(body.unwrap(), Bytes::from_static(b"late"));
        let body = collect(Late::after(Duration::from_secs(6)), 10, Duration::from_secs(5)).await;
        assert_eq!(body, Err(Rejection::BodyTimeout));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_times_out() {
        assert_eq!(collect(Silent, 10, Duration::from_secs(5)).await, Err(Rejection::BodyTimeout));
    }
}
