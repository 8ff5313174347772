use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use tower_layer::Layer;

use super::client_ip::{DEFAULT_MAX_HOPS, Trust};
use super::peer::PeerSources;
use super::{ClientIpSource, IpAllowlist, IpRanges};
use crate::ConfigError;

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) allow: Arc<ArcSwap<IpRanges>>,
    pub(crate) trust: Option<Trust>,
    max_hops: usize,
    pub(crate) peers: PeerSources,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("allow", &**self.allow.load())
            .field("trust", &self.trust)
            .field("peers", &self.peers)
            .finish()
    }
}

/// Applies [`IpAllowlist`] to a service: only clients whose address is in
/// the allowlist get through; see the [module documentation](crate::ip).
///
/// Clones share one allowlist: an [`AllowlistHandle`] from any of them
/// updates all.
#[derive(Clone)]
pub struct IpAllowlistLayer {
    config: Arc<Config>,
}

impl IpAllowlistLayer {
    /// Allows the given CIDRs and single addresses.
    ///
    /// Fails on an unparsable entry ([`ConfigError::InvalidCidr`]) or an
    /// empty list ([`ConfigError::Empty`]): allowing nobody is never what
    /// was meant.
    pub fn new<I>(cidrs: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        Self::from_ranges(IpRanges::parse(cidrs)?)
    }

    /// Allows `ranges` (e.g. from a [provider document](super::providers)).
    /// Fails when `ranges` is empty.
    pub fn from_ranges(ranges: IpRanges) -> Result<Self, ConfigError> {
        if ranges.is_empty() {
            return Err(ConfigError::Empty { what: "the IP allowlist" });
        }
        Ok(Self::from_ranges_unchecked(ranges))
    }

    /// Allows every address. The layer still resolves the client (and puts
    /// [`ClientIp`](super::ClientIp) in the extensions) and still refuses
    /// requests without a peer address; the list can be narrowed later
    /// through a [`handle`](Self::handle).
    pub fn allow_any() -> Self {
        Self::from_ranges_unchecked(IpRanges::any())
    }

    fn from_ranges_unchecked(ranges: IpRanges) -> Self {
        Self {
            config: Arc::new(Config {
                allow: Arc::new(ArcSwap::from_pointee(ranges)),
                trust: None,
                max_hops: DEFAULT_MAX_HOPS,
                peers: PeerSources::new("IpAllowlist"),
            }),
        }
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Believes `source` when, and only when, the TCP peer is in `proxies`.
    ///
    /// For `X-Forwarded-For` and `Forwarded`, list every proxy on the path
    /// whose entries should be skipped; the first address from the right
    /// that is not a trusted proxy is the client. Fails on an unparsable or
    /// empty list.
    pub fn trust_proxies<I>(
        mut self,
        proxies: I,
        source: ClientIpSource,
    ) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let proxies = IpRanges::parse(proxies)?;
        if proxies.is_empty() {
            return Err(ConfigError::Empty { what: "the trusted proxy list" });
        }
        let config = self.config_mut();
        config.trust = Some(Trust { proxies, source, max_hops: config.max_hops });
        Ok(self)
    }

    /// How many forwarding entries are examined at most (default 20, at
    /// least 1). A request whose chain of trusted hops is longer is refused.
    pub fn max_hops(mut self, hops: usize) -> Self {
        let config = self.config_mut();
        config.max_hops = hops.max(1);
        if let Some(trust) = &mut config.trust {
            trust.max_hops = config.max_hops;
        }
        self
    }

    /// Also reads the peer address from the request extension `T`, such as
    /// axum's `ConnectInfo<SocketAddr>`:
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use axum::extract::ConnectInfo;
    /// use hookwarden::ip::IpAllowlistLayer;
    ///
    /// let layer = IpAllowlistLayer::new(["192.0.2.0/24"])?
    ///     .peer_addr_from(|info: &ConnectInfo<SocketAddr>| info.ip());
    /// # let _ = layer;
    /// # Ok::<(), hookwarden::ConfigError>(())
    /// ```
    ///
    /// A [`PeerAddr`](super::PeerAddr) extension is always read first, then (with the `axum`
    /// feature) axum's `ConnectInfo<SocketAddr>` and `MockConnectInfo`;
    /// sources added here are tried after those, in the order they were
    /// added.
    pub fn peer_addr_from<T, F>(mut self, get: F) -> Self
    where
        T: Send + Sync + 'static,
        F: Fn(&T) -> IpAddr + Send + Sync + 'static,
    {
        self.config_mut().peers.add(get);
        self
    }

    /// A handle that replaces the allowlist at run time, for this layer,
    /// its clones and every service they made.
    pub fn handle(&self) -> AllowlistHandle {
        AllowlistHandle { allow: self.config.allow.clone() }
    }
}

impl fmt::Debug for IpAllowlistLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpAllowlistLayer").field("config", &self.config).finish()
    }
}

impl<S> Layer<S> for IpAllowlistLayer {
    type Service = IpAllowlist<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IpAllowlist::from_parts(inner, self.config.clone())
    }
}

/// Replaces the allowlist of running [`IpAllowlist`] services, atomically:
/// each request is decided against the old list or the new one, never a
/// mix, and readers never wait for a lock.
///
/// ```
/// use hookwarden::ip::{IpAllowlistLayer, IpRanges};
///
/// let layer = IpAllowlistLayer::new(["192.0.2.0/24"])?;
/// let handle = layer.handle();
/// // Later, when the provider publishes new ranges:
/// handle.replace(IpRanges::parse(["198.51.100.0/24"])?)?;
/// assert!(handle.current().contains("198.51.100.7".parse().unwrap()));
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct AllowlistHandle {
    allow: Arc<ArcSwap<IpRanges>>,
}

impl AllowlistHandle {
    /// Swaps in `ranges`. An empty set is refused (the current list stays),
    /// so a truncated download cannot lock every sender out; use
    /// [`IpRanges::any`] to allow everyone.
    pub fn replace(&self, ranges: IpRanges) -> Result<(), ConfigError> {
        if ranges.is_empty() {
            return Err(ConfigError::Empty { what: "the IP allowlist" });
        }
        self.allow.store(Arc::new(ranges));
        Ok(())
    }

    /// The list in force now.
    pub fn current(&self) -> Arc<IpRanges> {
        self.allow.load_full()
    }
}

impl fmt::Debug for AllowlistHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AllowlistHandle").field("current", &**self.allow.load()).finish()
    }
}
