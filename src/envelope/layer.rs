use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::config::{DedupeKey, EnvelopeConfig, Preset};
use super::extract::Extractor;
use crate::Rejection;
use crate::future::ResponseFuture;
use crate::scheme::Verified;

/// Which extractor applies to a request.
#[derive(Debug, Clone)]
enum Select {
    /// The preset of the scheme that verified the request.
    ByScheme(Vec<(Preset, Extractor)>),
    /// One configuration for every request.
    Fixed(Extractor),
}

impl Select {
    fn extractors_mut(&mut self) -> Box<dyn Iterator<Item = &mut Extractor> + '_> {
        match self {
            Select::ByScheme(all) => Box::new(all.iter_mut().map(|(_, e)| e)),
            Select::Fixed(one) => Box::new(std::iter::once(one)),
        }
    }

    fn for_scheme(&self, scheme: &str) -> &Extractor {
        match self {
            Select::Fixed(one) => one,
            Select::ByScheme(all) => {
                let preset = Preset::for_scheme(scheme);
                &all.iter().find(|(p, _)| *p == preset).expect("every preset is compiled").1
            }
        }
    }
}

/// Applies [`ExtractEnvelope`]: reads the event envelope of verified
/// requests; see the [module documentation](crate::envelope).
#[derive(Clone)]
pub struct EnvelopeLayer {
    select: Arc<Select>,
}

impl EnvelopeLayer {
    /// Reads each request with the [`Preset`] of the scheme that verified
    /// it ([`Preset::for_scheme`]).
    pub fn new() -> Self {
        let all = Preset::ALL
            .iter()
            .map(|&preset| (preset, Extractor::new(&EnvelopeConfig::preset(preset))))
            .collect();
        Self { select: Arc::new(Select::ByScheme(all)) }
    }

    /// Reads every request with one preset, whatever scheme verified it.
    pub fn preset(preset: Preset) -> Self {
        Self::with_config(EnvelopeConfig::preset(preset))
    }

    /// Reads every request with this configuration.
    pub fn with_config(config: EnvelopeConfig) -> Self {
        Self { select: Arc::new(Select::Fixed(Extractor::new(&config))) }
    }

    /// The version of events that do not say theirs (default `"1"`);
    /// applies to every preset.
    pub fn default_version(mut self, version: impl Into<Box<str>>) -> Self {
        let version = version.into();
        for extractor in Arc::make_mut(&mut self.select).extractors_mut() {
            extractor.default_version = version.clone();
        }
        self
    }

    /// What dedupe claims (default: the id); applies to every preset. See
    /// [`DedupeKey`].
    pub fn dedupe_key(mut self, key: DedupeKey) -> Self {
        for extractor in Arc::make_mut(&mut self.select).extractors_mut() {
            extractor.dedupe_key = key;
        }
        self
    }
}

impl Default for EnvelopeLayer {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for EnvelopeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match &*self.select {
            Select::ByScheme(_) => "by scheme",
            Select::Fixed(_) => "fixed",
        };
        f.debug_struct("EnvelopeLayer").field("presets", &mode).finish_non_exhaustive()
    }
}

impl<S> Layer<S> for EnvelopeLayer {
    type Service = ExtractEnvelope<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ExtractEnvelope { inner, select: self.select.clone() }
    }
}

/// A service that reads the [`Envelope`](super::Envelope) of a verified
/// request into its extensions before calling `S`; see the
/// [module documentation](crate::envelope).
#[derive(Clone)]
pub struct ExtractEnvelope<S> {
    inner: S,
    select: Arc<Select>,
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
        let extractor = self.select.for_scheme(verified.scheme());
        match extractor.extract(request.headers(), request.uri(), verified) {
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
