//! The whole pipeline in one service: IpAllowlist → Verify → Envelope →
//! Ack into the inbox, and a handle for shutdown, dead letters and replay.
//!
//! ```no_run
//! use axum::{Router, routing::get};
//! use hookwarden::event::{Event, EventType};
//! use hookwarden::router::EventRouter;
//! use hookwarden::scheme::StandardWebhooks;
//! use hookwarden::Receiver;
//! use serde::Deserialize;
//! use std::time::Duration;
//!
//! #[derive(Deserialize)]
//! struct UserRegistered { email: String }
//!
//! impl EventType for UserRegistered {
//!     const TYPE: &'static str = "user.registered";
//!     const VERSION: &'static str = "1";
//! }
//!
//! async fn welcome(event: Event<UserRegistered>) -> Result<(), std::io::Error> {
//!     println!("welcome {}", event.email);
//!     Ok(())
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let receiver = Receiver::builder(StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])?)
//!     .router(EventRouter::new().payload_at("data").on(welcome))
//!     .build()?;
//! let app = Router::new()
//!     .route_service("/webhooks", receiver.service())
//!     .route("/healthz", get(|| async { "ok" }));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! axum::serve(listener, app).with_graceful_shutdown(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! let report = receiver.handle().shutdown(Duration::from_secs(10)).await;
//! eprintln!("{} deliveries left unfinished", report.left);
//! # Ok(()) }
//! ```
//!
//! Without an allowlist every address may deliver and no peer address is
//! needed; with one, the server must provide the peer address (see
//! [`ip`](crate::ip)). [`ReceiverBuilder::require_https`] refuses
//! deliveries that did not arrive over HTTPS (see [`https`](crate::https)).

use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::Full;
use tower_layer::Layer;
use tower_service::Service;

use crate::background::ack::Ack;
use crate::background::dispatch::{
    DeadLetter, Dispatcher, DispatcherBuilder, ReplayError, RetryPolicy, ShutdownReport, Stats,
};
use crate::background::inbox::{Inbox, InboxError};
use crate::background::router::EventRouter;
use crate::clock::Clock;
use crate::envelope::{EnvelopeLayer, ExtractEnvelope};
use crate::future::BoxFuture;
use crate::https::RequireHttpsLayer;
use crate::ip::{AllowlistHandle, IpAllowlist, IpAllowlistLayer};
use crate::scheme::{DedupeKey, EnvelopeConfig, Scheme};
use crate::telemetry;
use crate::verify::{Tenants, Verify, VerifyLayer};
use crate::{ConfigError, Rejection};

type Pipeline = Verify<ExtractEnvelope<Ack>>;

/// Configures a [`Receiver`]; start with [`Receiver::builder`].
pub struct ReceiverBuilder {
    verify: VerifyLayer,
    envelope: EnvelopeConfig,
    default_version: Option<Box<str>>,
    dedupe_key: Option<DedupeKey>,
    allowlist: Option<IpAllowlistLayer>,
    https: Option<RequireHttpsLayer>,
    dispatcher: DispatcherBuilder,
    retry_after: Duration,
    unknown_status: StatusCode,
}

impl ReceiverBuilder {
    /// The handlers (default: none, so every event is `ignored`).
    pub fn router(mut self, router: EventRouter) -> Self {
        self.dispatcher = self.dispatcher.router(router);
        self
    }

    /// Only these clients may deliver (default: any address).
    pub fn allowlist(mut self, allowlist: IpAllowlistLayer) -> Self {
        self.allowlist = Some(allowlist);
        self
    }

    /// Refuses deliveries that did not arrive over HTTPS with 403
    /// `https_required`, before the allowlist (default: any transport).
    ///
    /// ```
    /// use hookwarden::https::{ForwardedProto, RequireHttpsLayer};
    /// use hookwarden::scheme::StandardWebhooks;
    /// use hookwarden::Receiver;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), hookwarden::ConfigError> {
    /// let receiver = Receiver::builder(StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])?)
    ///     // Served with `hookwarden::tls::serve`, or behind the proxy at 10.0.0.5.
    ///     .require_https(
    ///         RequireHttpsLayer::new().trust_proxies(["10.0.0.5"], ForwardedProto::XForwardedProto)?,
    ///     )
    ///     .build()?;
    /// # let _ = receiver; Ok(()) }
    /// ```
    pub fn require_https(mut self, layer: RequireHttpsLayer) -> Self {
        self.https = Some(layer);
        self
    }

    /// Where acknowledged deliveries are kept, and deduped (default: an
    /// in-memory inbox, which dedupes within this process and loses what is
    /// not yet handled when the process exits; see [`inbox`](crate::inbox)
    /// for the durable ones).
    pub fn inbox(mut self, inbox: impl Inbox) -> Self {
        self.dispatcher = self.dispatcher.inbox(inbox);
        self
    }

    /// Like [`inbox`](Self::inbox), for an inbox chosen at run time.
    pub fn shared_inbox(mut self, inbox: Arc<dyn Inbox>) -> Self {
        self.dispatcher = self.dispatcher.shared_inbox(inbox);
        self
    }

    /// Where to read id, type and version, and what dedupe keys on
    /// (default: the scheme's conventions, [`Scheme::envelope`]).
    pub fn envelope(mut self, config: EnvelopeConfig) -> Self {
        self.envelope = config;
        self
    }

    /// Serves many tenants of the sender: each delivery is verified with
    /// the scheme of the tenant it names (see [`Tenants`]); the scheme
    /// given to [`Receiver::builder`] then only gives the conventions (any
    /// tenant's will do, built with a placeholder secret).
    pub fn tenants(mut self, tenants: Tenants) -> Self {
        self.verify = self.verify.with_tenants(tenants);
        self
    }

    /// What the inbox dedupes on (default: the scheme's choice, the body
    /// digest for schemes whose id is not signed); see [`DedupeKey`].
    pub fn dedupe_key(mut self, key: DedupeKey) -> Self {
        self.dedupe_key = Some(key);
        self
    }

    /// The version of events that do not say theirs (default `"1"`).
    pub fn default_version(mut self, version: impl Into<Box<str>>) -> Self {
        self.default_version = Some(version.into());
        self
    }

    /// Timestamp tolerance, both directions (default 300 s).
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.verify = self.verify.tolerance(tolerance);
        self
    }

    /// Body limit in bytes (default 1 MiB).
    pub fn max_body(mut self, bytes: usize) -> Self {
        self.verify = self.verify.max_body(bytes);
        self
    }

    /// How many bodies may be waited for at once (default 64): requests
    /// waiting for their body hold at most `max_inflight` ×
    /// [`max_body`](Self::max_body) bytes; past the cap such a request is
    /// answered 503 `overloaded` with `Retry-After` at once. See
    /// [`VerifyLayer::max_inflight`](crate::verify::VerifyLayer::max_inflight).
    pub fn max_inflight(mut self, bodies: usize) -> Self {
        self.verify = self.verify.max_inflight(bodies);
        self
    }

    /// Deadline for the whole body (default 10 s).
    pub fn body_timeout(mut self, deadline: Duration) -> Self {
        self.verify = self.verify.body_timeout(deadline);
        self
    }

    /// The clock for timestamp checks (for tests).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.verify = self.verify.clock(clock);
        self
    }

    /// How long a worker's lease on a delivery lasts between renewals
    /// (default 30 s): after a crash, its deliveries are handed out again
    /// within this time.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.dispatcher = self.dispatcher.lease(lease);
        self
    }

    /// Capacity of the default in-memory inbox (default 1024); a durable
    /// inbox is given its capacity when it is built.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.dispatcher = self.dispatcher.capacity(capacity);
        self
    }

    /// How many deliveries a worker leases at once (default 1 from the
    /// in-memory inbox, 8 from a durable one; see
    /// [`DispatcherBuilder::lease_batch`]).
    pub fn lease_batch(mut self, deliveries: usize) -> Self {
        self.dispatcher = self.dispatcher.lease_batch(deliveries);
        self
    }

    /// How often idle workers look for retries that fell due and for work
    /// accepted by other replicas (default 500 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.dispatcher = self.dispatcher.poll_interval(interval);
        self
    }

    /// How many handlers run at once (default 4).
    pub fn workers(mut self, workers: usize) -> Self {
        self.dispatcher = self.dispatcher.workers(workers);
        self
    }

    /// How long one handler attempt may take (default 30 s).
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.dispatcher = self.dispatcher.attempt_timeout(timeout);
        self
    }

    /// How failed attempts are retried.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.dispatcher = self.dispatcher.retry(policy);
        self
    }

    /// Called for every new dead letter.
    pub fn on_dead_letter(mut self, hook: impl Fn(&DeadLetter) + Send + Sync + 'static) -> Self {
        self.dispatcher = self.dispatcher.on_dead_letter(hook);
        self
    }

    /// The `Retry-After` sent with 503s (default 5 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.verify = self.verify.retry_after(retry_after);
        self.retry_after = retry_after;
        self
    }

    /// The status for events no handler takes (default 202 `ignored`).
    pub fn unknown_status(mut self, status: StatusCode) -> Self {
        self.unknown_status = status;
        self
    }

    /// Starts the workers and assembles the pipeline.
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime (the workers are spawned on it).
    pub fn build(self) -> Result<Receiver, ConfigError> {
        let dispatcher = self.dispatcher.start();
        telemetry::receiver_built();
        let mut envelope = EnvelopeLayer::with_config(self.envelope);
        if let Some(version) = self.default_version {
            envelope = envelope.default_version(version);
        }
        if let Some(key) = self.dedupe_key {
            envelope = envelope.dedupe_key(key);
        }
        let ack = Ack::new(dispatcher.clone())
            .retry_after(self.retry_after)
            .unknown_status(self.unknown_status)
            .style(envelope.ack_style());
        let pipeline: Pipeline = self.verify.layer(envelope.layer(ack));
        let (stack, allowlist) = match self.allowlist {
            Some(layer) => {
                let handle = layer.handle();
                (Stack::Guarded(layer.layer(pipeline)), Some(handle))
            }
            None => (Stack::Open(pipeline), None),
        };
        Ok(Receiver {
            service: ReceiverService { https: self.https, stack },
            handle: ReceiverHandle { dispatcher, allowlist },
        })
    }
}

impl fmt::Debug for ReceiverBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReceiverBuilder")
            .field("verify", &self.verify)
            .field("dispatcher", &self.dispatcher)
            .finish_non_exhaustive()
    }
}

/// An assembled receiver: its [`service`](Self::service) answers
/// deliveries, its [`handle`](Self::handle) manages the background work.
#[derive(Debug, Clone)]
pub struct Receiver {
    service: ReceiverService,
    handle: ReceiverHandle,
}

impl Receiver {
    /// Configures a receiver for deliveries signed with `scheme`.
    pub fn builder(scheme: impl Scheme) -> ReceiverBuilder {
        Self::builder_shared(Arc::new(scheme))
    }

    /// Like [`builder`](Self::builder), for a scheme chosen at run time.
    pub fn builder_shared(scheme: Arc<dyn Scheme>) -> ReceiverBuilder {
        ReceiverBuilder {
            envelope: scheme.envelope(),
            verify: VerifyLayer::from_shared(scheme),
            default_version: None,
            dedupe_key: None,
            allowlist: None,
            https: None,
            dispatcher: Dispatcher::builder(EventRouter::new()),
            retry_after: crate::verify::DEFAULT_RETRY_AFTER,
            unknown_status: StatusCode::ACCEPTED,
        }
    }

    /// The tower service, for `axum::Router::route_service` or a hyper
    /// server.
    pub fn service(&self) -> ReceiverService {
        self.service.clone()
    }

    /// Shutdown, dead letters, replay and counters.
    pub fn handle(&self) -> ReceiverHandle {
        self.handle.clone()
    }
}

#[derive(Clone)]
enum Stack {
    Guarded(IpAllowlist<Pipeline>),
    Open(Pipeline),
}

/// The receiver as one tower `Service`: answers `POST` deliveries (405
/// otherwise); never fails.
#[derive(Clone)]
pub struct ReceiverService {
    https: Option<RequireHttpsLayer>,
    stack: Stack,
}

impl<B> Service<Request<B>> for ReceiverService
where
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Ready when the stack is: each layer asks the one it wraps. Today
        // the innermost stage (acknowledging) is always ready, since a full
        // inbox is answered 503 rather than waited for, but a stage that
        // waits must hold the request back here, not inside `call`.
        match &mut self.stack {
            Stack::Guarded(service) => Service::<Request<B>>::poll_ready(service, cx),
            Stack::Open(service) => Service::<Request<B>>::poll_ready(service, cx),
        }
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        if request.method() != Method::POST {
            let rejection = Rejection::MethodNotAllowed;
            rejection.log();
            telemetry::rejected(rejection.code());
            return Box::pin(std::future::ready(Ok(rejection.into_response())));
        }
        if let Some(https) = &self.https
            && let Err(rejection) = https.check(request.extensions(), request.headers())
        {
            telemetry::rejected(rejection.code());
            return Box::pin(std::future::ready(Ok(rejection.into_response())));
        }
        // The stack was polled ready just before (tower's contract), and a
        // 405 or `https_required` above leaves that readiness unused for the
        // next request, which is allowed. The layers that keep a clone for
        // the next request (verify) swap in the service that was polled.
        let future = match &mut self.stack {
            Stack::Guarded(service) => Box::pin(service.call(request)) as Self::Future,
            Stack::Open(service) => Box::pin(service.call(request)),
        };
        if cfg!(feature = "metrics") {
            // Every refusal, whichever stage made it, counted by its code.
            Box::pin(async move {
                let response = future.await?;
                if let Some(rejection) = response.extensions().get::<Rejection>() {
                    telemetry::rejected(rejection.code());
                }
                Ok(response)
            })
        } else {
            future
        }
    }
}

impl fmt::Debug for ReceiverService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let guarded = matches!(self.stack, Stack::Guarded(_));
        f.debug_struct("ReceiverService")
            .field("https", &self.https)
            .field("allowlist", &guarded)
            .finish_non_exhaustive()
    }
}

/// Manages a receiver's background work; cheap to clone.
#[derive(Debug, Clone)]
pub struct ReceiverHandle {
    dispatcher: Dispatcher,
    allowlist: Option<AllowlistHandle>,
}

impl ReceiverHandle {
    /// Stops accepting (new deliveries get 503 `overloaded`), lets the
    /// workers finish, and reports what `deadline` left unfinished.
    pub async fn shutdown(&self, deadline: Duration) -> ShutdownReport {
        self.dispatcher.shutdown(deadline).await
    }

    /// Up to 1,000 dead letters, oldest first, from the inbox.
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, InboxError> {
        self.dispatcher.dead_letters().await
    }

    /// Makes the dead letter with this id pending again, with fresh
    /// attempts.
    pub async fn replay(&self, id: &str) -> Result<(), ReplayError> {
        self.dispatcher.replay(id).await
    }

    /// The inbox: deliveries by state, one delivery, counts.
    pub fn inbox(&self) -> &Arc<dyn Inbox> {
        self.dispatcher.inbox()
    }

    /// Counters since start.
    pub fn stats(&self) -> Stats {
        self.dispatcher.stats()
    }

    /// Replaces the allowlist at run time, if the receiver has one.
    pub fn allowlist(&self) -> Option<&AllowlistHandle> {
        self.allowlist.as_ref()
    }

    /// The dispatcher (inbox and workers).
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }
}
