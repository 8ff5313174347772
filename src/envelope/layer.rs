use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::extract::Extractor;
use crate::future::ResponseFuture;
use crate::rejection::Rejection;
use crate::scheme::{AckStyle, DedupeKey, EnvelopeConfig, Scheme, Verified};

/// Applies [`ExtractEnvelope`]: reads the event envelope of verified
/// requests as a scheme's conventions say; see the
/// [module documentation](crate::envelope).
#[derive(Clone)]
pub struct EnvelopeLayer {
    extractor: Arc<Extractor>,
}

impl EnvelopeLayer {
    /// Reads requests as `scheme`'s conventions say
    /// ([`Scheme::envelope`]): put it inside a
    /// [`VerifyLayer`](crate::VerifyLayer) with the same scheme.
    pub fn for_scheme<S: Scheme + ?Sized>(scheme: &S) -> Self {
        Self::with_config(scheme.envelope())
    }

    /// Reads requests with this configuration.
    pub fn with_config(config: EnvelopeConfig) -> Self {
        Self { extractor: Arc::new(Extractor::new(&config)) }
    }

    /// The version of events that do not say theirs (default `"1"`).
    pub fn default_version(mut self, version: impl Into<Box<str>>) -> Self {
        let version: Box<str> = version.into();
        Arc::make_mut(&mut self.extractor).default_version = version.into();
        self
    }

    /// What dedupe keys on (default: the scheme's choice); see
    /// [`DedupeKey`].
    pub fn dedupe_key(mut self, key: DedupeKey) -> Self {
        Arc::make_mut(&mut self.extractor).dedupe_key = key;
        self
    }

    /// How a kept delivery is to be acknowledged, as the conventions say.
    pub(crate) fn ack_style(&self) -> AckStyle {
        self.extractor.ack
    }
}

impl fmt::Debug for EnvelopeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvelopeLayer").finish_non_exhaustive()
    }
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = ExtractEnvelope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExtractEnvelope { inner, extractor: self.extractor.clone() }
    }
}

/// A service that reads the [`Envelope`](super::Envelope) of a verified
/// request into its extensions before calling `S`; see the
/// [module documentation](crate::envelope).
#[derive(Clone)]
pub struct ExtractEnvelope<S> {
    inner: S,
    extractor: Arc<Extractor>,
}

impl<S> ExtractEnvelope<S> {
    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Unwraps the inner service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: fmt::Debug> fmt::Debug for ExtractEnvelope<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExtractEnvelope").field("inner", &self.inner).finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for ExtractEnvelope<S>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        let Some(verified) = request.extensions().get::<Verified>() else {
            tracing::error!(
                target: "hookwarden::envelope",
                "no `Verified` in the request extensions: EnvelopeLayer must run inside \
                 VerifyLayer (order: Verify, then Envelope, then Dedupe)"
            );
            let rejection = Rejection::Misconfigured;
            rejection.log();
            return ResponseFuture::rejected(rejection);
        };
        match self.extractor.extract(request.headers(), request.uri(), verified) {
            Ok(envelope) => {
                tracing::trace!(
                    target: "hookwarden::envelope",
                    scheme = envelope.scheme(),
                    r#type = envelope.event_type(),
                    "envelope read"
                );
                request.extensions_mut().insert(envelope);
                ResponseFuture::inner(self.inner.call(request))
            }
            Err(malformed) => {
                tracing::debug!(
                    target: "hookwarden::envelope",
                    reason = malformed.0,
                    "authentic request is not a readable event"
                );
                let rejection = Rejection::from(malformed);
                rejection.log();
                ResponseFuture::rejected(rejection)
            }
        }
    }
}
