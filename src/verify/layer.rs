use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use tokio::sync::Semaphore;
use tower_layer::Layer;

use super::Verify;
use super::tenants::Tenants;
use crate::clock::{Clock, SystemClock};
use crate::scheme::Scheme;

/// The default body limit: 1 MiB.
pub const DEFAULT_MAX_BODY: usize = 1024 * 1024;
/// The default deadline for receiving the whole body.
pub const DEFAULT_BODY_TIMEOUT: Duration = Duration::from_secs(10);
/// The default tolerance for signed timestamps, in both directions.
pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(300);
/// The default number of bodies waited for at once: with the default body limit,
/// at most 64 MiB buffered by requests not yet verified.
pub const DEFAULT_MAX_INFLIGHT: usize = 64;
/// The default `Retry-After` of a 503 `overloaded`.
pub const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Who verifies: one scheme, or each tenant's.
#[derive(Clone)]
pub(crate) enum Schemes {
    One(Arc<dyn Scheme>),
    Tenants(Arc<Tenants>),
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) scheme: Schemes,
    pub(crate) max_body: usize,
    pub(crate) body_timeout: Duration,
    pub(crate) tolerance: Duration,
    pub(crate) clock: Arc<dyn Clock>,
    /// One permit per body being read, shared by every clone.
    pub(crate) inflight: Arc<Semaphore>,
    pub(crate) max_inflight: usize,
    pub(crate) retry_after: Duration,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "scheme",
                &match &self.scheme {
                    Schemes::One(scheme) => scheme.name(),
                    Schemes::Tenants(_) => "per tenant",
                },
            )
            .field("max_body", &self.max_body)
            .field("body_timeout", &self.body_timeout)
            .field("tolerance", &self.tolerance)
            .field("max_inflight", &self.max_inflight)
            .field("retry_after", &self.retry_after)
            .finish_non_exhaustive()
    }
}

/// Applies [`Verify`] to a service: reads the body (bounded in size and
/// time, and in how many are read at once) and lets only requests with a
/// valid signature through.
///
/// `B` is the body type the inner service receives, built from the exact
/// received bytes; the default, `Full<Bytes>`, is accepted by every axum
/// route and handler. See [`with_body`](Self::with_body) for another.
pub struct VerifyLayer<B = Full<Bytes>> {
    config: Arc<Config>,
    _body: PhantomData<fn() -> B>,
}

impl VerifyLayer {
    /// Verifies with `scheme`; 1 MiB body limit, 10 s body deadline, 300 s
    /// timestamp tolerance, 64 bodies waited for at once, the system clock.
    pub fn new(scheme: impl Scheme) -> Self {
        Self::from_shared(Arc::new(scheme))
    }

    /// Like [`new`](Self::new), for a scheme chosen at run time.
    pub fn from_shared(scheme: Arc<dyn Scheme>) -> Self {
        Self::with_schemes(Schemes::One(scheme))
    }

    /// Verifies each request with the scheme of the tenant it names; see
    /// [`Tenants`].
    pub fn tenants(tenants: Tenants) -> Self {
        Self::with_schemes(Schemes::Tenants(Arc::new(tenants)))
    }

    fn with_schemes(scheme: Schemes) -> Self {
        Self {
            config: Arc::new(Config {
                scheme,
                max_body: DEFAULT_MAX_BODY,
                body_timeout: DEFAULT_BODY_TIMEOUT,
                tolerance: DEFAULT_TOLERANCE,
                clock: Arc::new(SystemClock),
                inflight: Arc::new(Semaphore::new(DEFAULT_MAX_INFLIGHT)),
                max_inflight: DEFAULT_MAX_INFLIGHT,
                retry_after: DEFAULT_RETRY_AFTER,
            }),
            _body: PhantomData,
        }
    }
}

impl<B> VerifyLayer<B> {
    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Verifies with each tenant's scheme instead, keeping the other
    /// settings.
    pub(crate) fn with_tenants(mut self, tenants: Tenants) -> Self {
        self.config_mut().scheme = Schemes::Tenants(Arc::new(tenants));
        self
    }

    /// The largest body accepted, in bytes; larger ones get 413.
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.config_mut().max_body = bytes;
        self
    }

    /// How long the whole body may take to arrive; slower ones get 408.
    pub fn body_timeout(mut self, deadline: Duration) -> Self {
        self.config_mut().body_timeout = deadline;
        self
    }

    /// How far a signed timestamp may be from now, in the past or the
    /// future (whole seconds count).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.config_mut().tolerance = tolerance;
        self
    }

    /// How many bodies may be waited for at once (default
    /// [`DEFAULT_MAX_INFLIGHT`], at least 1), across every clone of this
    /// layer and of the services it makes: memory held by requests waiting
    /// for their body stays below `max_inflight` × [`max_body`](Self::max_body).
    ///
    /// A body that arrived whole with its headers needs no slot: it is
    /// verified at once. A request whose body must be waited for takes a
    /// slot once its headers pass the scheme's
    /// [`precheck`](crate::scheme::Scheme::precheck) (so one without a
    /// signature, or with a stale timestamp, never takes one), and gives it
    /// back as soon as its signature is checked. Past the cap it is answered
    /// at once, without waiting for its body: 503 `overloaded` with
    /// `Retry-After` (see [`retry_after`](Self::retry_after)), never queued.
    ///
    /// ```
    /// use hookwarden::scheme::GitHub;
    /// use hookwarden::verify::VerifyLayer;
    ///
    /// // At most 16 × 256 KiB of unverified bodies in memory.
    /// let verify = VerifyLayer::new(GitHub::new(["It's a Secret to Everybody"]).unwrap())
    ///     .max_body(256 * 1024)
    ///     .max_inflight(16);
    /// # let _ = verify;
    /// ```
    pub fn max_inflight(mut self, bodies: usize) -> Self {
        let bodies = bodies.clamp(1, Semaphore::MAX_PERMITS);
        let config = self.config_mut();
        config.max_inflight = bodies;
        config.inflight = Arc::new(Semaphore::new(bodies));
        self
    }

    /// The `Retry-After` of a 503 `overloaded`, sent past
    /// [`max_inflight`](Self::max_inflight) (default 5 s; whole seconds, at
    /// least 1).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.config_mut().retry_after = retry_after;
        self
    }

    /// The clock timestamps are compared with (for tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.config_mut().clock = Arc::new(clock);
        self
    }

    /// Hands the inner service another body type, built from the received
    /// bytes (e.g. `axum::body::Body`).
    pub fn with_body<B2: From<Bytes>>(self) -> VerifyLayer<B2> {
        VerifyLayer { config: self.config, _body: PhantomData }
    }
}

impl<B> Clone for VerifyLayer<B> {
    fn clone(&self) -> Self {
        Self { config: self.config.clone(), _body: PhantomData }
    }
}

impl<B> fmt::Debug for VerifyLayer<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyLayer").field("config", &self.config).finish()
    }
}

impl<S, B> Layer<S> for VerifyLayer<B> {
    type Service = Verify<S, B>;

    fn layer(&self, inner: S) -> Self::Service {
        Verify::from_parts(inner, self.config.clone())
    }
}
