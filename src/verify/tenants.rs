//! Many tenants of one sender on one route: each request's scheme (with
//! that tenant's secrets) looked up asynchronously and cached.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::HeaderName;
use http::request::Parts;
use tokio::time::Instant;

use crate::error::ConfigError;
use crate::future::BoxFuture;
use crate::rejection::Rejection;
use crate::scheme::Scheme;

/// The longest tenant name accepted; longer ones are refused unlooked-up.
pub const MAX_TENANT_LEN: usize = 128;

/// Where a request names its tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TenantKey {
    /// A header, such as `X-Account-Id` (sent once, visible ASCII).
    Header(HeaderName),
    /// The path segment at this index, counted from 0 after the leading
    /// `/`: `1` in `/webhooks/acme` is `acme`. Use it when each tenant was
    /// given its own URL.
    PathSegment(usize),
}

impl TenantKey {
    /// A header key, from its name.
    pub fn header(name: &str) -> Result<Self, ConfigError> {
        HeaderName::try_from(name)
            .map(Self::Header)
            .map_err(|_| ConfigError::InvalidHeaderName { name: name.to_owned() })
    }

    /// The tenant this request names: non-empty, at most
    /// [`MAX_TENANT_LEN`] bytes of visible ASCII.
    fn of<'a>(&self, parts: &'a Parts) -> Option<&'a str> {
        let name = match self {
            TenantKey::Header(header) => {
                let mut values = parts.headers.get_all(header).iter();
                let first = values.next()?;
                if values.next().is_some() {
                    return None;
                }
                first.to_str().ok()?
            }
            TenantKey::PathSegment(index) => {
                parts.uri.path().strip_prefix('/')?.split('/').nth(*index)?
            }
        };
        let valid = !name.is_empty()
            && name.len() <= MAX_TENANT_LEN
            && name.bytes().all(|b| b.is_ascii_graphic());
        valid.then_some(name)
    }
}

/// Why a tenant's scheme could not be looked up (the request gets 503
/// `store_unavailable`, so the sender retries). Its message is logged; it
/// must never hold a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LookupError(pub String);

type Lookup = dyn Fn(String) -> BoxFuture<'static, Result<Option<Arc<dyn Scheme>>, LookupError>>
    + Send
    + Sync;

/// A tenant's scheme, and the tenant.
pub(crate) type Resolved = (Arc<dyn Scheme>, Box<str>);

/// What the cache remembers of a tenant: its scheme, or that it has none.
#[derive(Clone)]
struct Entry {
    scheme: Option<Arc<dyn Scheme>>,
    until: Instant,
}

/// The schemes of many tenants of one sender, for
/// [`VerifyLayer::tenants`](super::VerifyLayer::tenants): one receiver for
/// every account of a provider, each with its own secrets.
///
/// Each request names its tenant ([`TenantKey`]); the tenant's scheme is
/// looked up with your async function (a database, a secrets manager) and
/// cached for a TTL, known and unknown tenants alike, so a flood of
/// requests for made-up tenants costs one lookup per name per TTL. The
/// lookup happens before the body is read. Rotation works as for one
/// scheme: build the tenant's scheme with every active secret.
///
/// | the request | answer |
/// | --- | --- |
/// | names no tenant, or an invalid name | 401 `invalid_signature` |
/// | names a tenant the lookup does not know | 401 `invalid_signature` |
/// | the lookup fails | 503 `store_unavailable` + `Retry-After` |
/// | otherwise | verified with the tenant's scheme |
///
/// The tenant is recorded in [`Verified::tenant`](crate::Verified::tenant)
/// and is part of every dedupe key, so two tenants' identical deliveries
/// are not duplicates of each other.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use hookwarden::scheme::{GitHub, Scheme};
/// use hookwarden::verify::{LookupError, TenantKey, Tenants, VerifyLayer};
///
/// // Each customer's GitHub App posts to /webhooks/<customer>.
/// let tenants = Tenants::new(TenantKey::PathSegment(1), |tenant: String| async move {
///     // Look the secrets up wherever they are kept.
///     let secrets: Vec<String> = match tenant.as_str() {
///         "acme" => vec!["acme-secret".into()],
///         _ => return Ok(None),
///     };
///     let scheme = GitHub::new(secrets).map_err(|e| LookupError(e.to_string()))?;
///     Ok(Some(Arc::new(scheme) as Arc<dyn Scheme>))
/// })
/// .ttl(Duration::from_secs(60));
/// let layer = VerifyLayer::tenants(tenants);
/// # let _ = layer;
/// ```
pub struct Tenants {
    key: TenantKey,
    lookup: Arc<Lookup>,
    ttl: Duration,
    max_cached: usize,
    retry_after: Duration,
    cache: Mutex<HashMap<Box<str>, Entry>>,
}

impl Tenants {
    /// Tenants named by `key`, looked up with `lookup` (`Ok(None)`: no such
    /// tenant); cached for 60 s, at most 10 000 names.
    pub fn new<F, Fut>(key: TenantKey, lookup: F) -> Self
    where
        F: Fn(String) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Option<Arc<dyn Scheme>>, LookupError>> + Send + 'static,
    {
        Self {
            key,
            lookup: Arc::new(move |tenant| Box::pin(lookup(tenant))),
            ttl: Duration::from_secs(60),
            max_cached: 10_000,
            retry_after: Duration::from_secs(5),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// How long a lookup's answer is kept (default 60 s): a rotated secret
    /// is picked up within this time.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// How many tenants' answers are kept at most (default 10 000); past
    /// it, expired answers are dropped, then the cache starts over.
    pub fn max_cached(mut self, max: usize) -> Self {
        self.max_cached = max.max(1);
        self
    }

    /// The `Retry-After` sent when a lookup fails (default 5 s).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// The scheme for the tenant `parts` names, and the tenant.
    pub(crate) fn resolve(
        self: &Arc<Self>,
        parts: &Parts,
    ) -> BoxFuture<'static, Result<Resolved, Rejection>> {
        let Some(tenant) = self.key.of(parts) else {
            tracing::debug!(target: "hookwarden::verify", "the request names no valid tenant");
            return Box::pin(std::future::ready(Err(Rejection::InvalidSignature)));
        };
        let tenant: Box<str> = tenant.into();
        let cached = self.cached(&tenant);
        let this = self.clone();
        Box::pin(async move {
            let scheme = match cached {
                Some(scheme) => scheme,
                None => {
                    let found = (this.lookup)(tenant.to_string()).await.map_err(|error| {
                        tracing::warn!(target: "hookwarden::verify", %error, "tenant lookup failed");
                        Rejection::StoreUnavailable { retry_after: this.retry_after }
                    })?;
                    this.remember(&tenant, found.clone());
                    found
                }
            };
            match scheme {
                Some(scheme) => Ok((scheme, tenant)),
                None => {
                    tracing::debug!(target: "hookwarden::verify", "unknown tenant");
                    Err(Rejection::InvalidSignature)
                }
            }
        })
    }

    /// `Some(answer)` while a fresh answer is cached.
    fn cached(&self, tenant: &str) -> Option<Option<Arc<dyn Scheme>>> {
        let cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        cache.get(tenant).filter(|entry| entry.until > Instant::now()).map(|e| e.scheme.clone())
    }

    fn remember(&self, tenant: &str, scheme: Option<Arc<dyn Scheme>>) {
        let now = Instant::now();
        let mut cache = self.cache.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if cache.len() >= self.max_cached && !cache.contains_key(tenant) {
            cache.retain(|_, entry| entry.until > now);
            if cache.len() >= self.max_cached {
                cache.clear();
            }
        }
        cache.insert(tenant.into(), Entry { scheme, until: now + self.ttl });
    }
}

impl fmt::Debug for Tenants {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cached = self.cache.lock().map(|cache| cache.len()).unwrap_or_default();
        f.debug_struct("Tenants")
            .field("key", &self.key)
            .field("ttl", &self.ttl)
            .field("cached", &cached)
            .finish_non_exhaustive()
    }
}
