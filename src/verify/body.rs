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
/// A body that is all there at the first poll (a small one usually arrives
/// with the headers) is taken at once: no clock reading, no timer. Only if
/// it has to be waited for does `before_waiting` run, and its refusal ends
/// the read (the cheap checks, and taking a slot among the bodies waited
/// for at once); what it gives is returned with the body.
///
/// Nothing is pre-allocated from the sender's claims: chunks are kept as
/// they arrive and joined once, at most `limit` bytes in all (a body of one
/// chunk is not copied at all).
pub(crate) async fn collect<B, T>(
    body: B,
    limit: usize,
    deadline: Duration,
    before_waiting: impl FnOnce() -> Result<T, Rejection>,
) -> Result<(Bytes, Option<T>), Rejection>
where
    B: Body,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut collecting = std::pin::pin!(Limited::new(body, limit).collect());
    let mut before_waiting = Some(before_waiting);
    // What `before_waiting` gave, and the deadline's timer (boxed, so a
    // future that never waits stays small).
    let mut waiting: Option<(T, Pin<Box<Sleep>>)> = None;
    let collected = std::future::poll_fn(|cx| {
        if let Poll::Ready(collected) = collecting.as_mut().poll(cx) {
            return Poll::Ready(Ok(collected));
        }
        if let Some(check) = before_waiting.take() {
            match check() {
                Ok(given) => waiting = Some((given, Box::pin(tokio::time::sleep(deadline)))),
                Err(rejection) => return Poll::Ready(Err(rejection)),
            }
        }
        let (_, timer) = waiting.as_mut().expect("set when the checks passed");
        timer.as_mut().poll(cx).map(|()| Err(Rejection::BodyTimeout))
    })
    .await?;
    let given = waiting.map(|(given, _)| given);
    match collected {
        Ok(collected) => Ok((collected.to_bytes(), given)),
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
            collect(body, 10, Duration::from_secs(5), || Ok(())).await,
            Err(Rejection::PayloadTooLarge)
        );
        let body = Full::new(Bytes::from(vec![0u8; 10]));
        let (body, waited) = collect(body, 10, Duration::from_secs(5), || Ok(())).await.unwrap();
        assert_eq!((body.len(), waited), (10, None), "all there at once: no waiting");
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
        let body = Late::after(Duration::from_secs(4));
        let read = collect(body, 10, Duration::from_secs(5), || Ok("checked")).await;
        assert_eq!(read, Ok((Bytes::from_static(b"late"), Some("checked"))));
        let body = Late::after(Duration::from_secs(6));
        let read = collect(body, 10, Duration::from_secs(5), || Ok("checked")).await;
        assert_eq!(read, Err(Rejection::BodyTimeout));
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_before_waiting_ends_the_read() {
        let body = Late::after(Duration::from_secs(1));
        let read = collect(body, 10, Duration::from_secs(5), || {
            Err::<(), _>(Rejection::Overloaded { retry_after: Duration::from_secs(3) })
        })
        .await;
        assert_eq!(read, Err(Rejection::Overloaded { retry_after: Duration::from_secs(3) }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_never_ends_times_out() {
        let read = collect(Silent, 10, Duration::from_secs(5), || Ok(())).await;
        assert_eq!(read, Err(Rejection::BodyTimeout));
    }
}
