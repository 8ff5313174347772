//! Who the client is: the peer, or what trusted proxies say about it.

use std::fmt;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use http::HeaderMap;
use http::header::HeaderName;

use super::IpRanges;
use super::forwarded::{self, Element, Refusal};
use crate::ConfigError;

/// The default bound on the forwarding entries examined per request.
pub const DEFAULT_MAX_HOPS: usize = 20;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The client address the [`IpAllowlist`](super::IpAllowlist) layer
/// resolved and allowed, in the request's extensions for later layers,
/// handlers and logs.
///
/// It is the TCP peer, unless the peer is a trusted proxy: then it is the
/// address the proxies reported. IPv4-mapped IPv6 addresses are given as
/// IPv4.
///
/// ```
/// # use axum::{Extension, routing::post, Router};
/// use hookwarden::ip::ClientIp;
///
/// async fn handler(Extension(ClientIp(ip)): Extension<ClientIp>) -> String {
///     format!("hello, {ip}")
/// }
/// # let _: Router = Router::new().route("/", post(handler));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientIp(pub IpAddr);

impl fmt::Display for ClientIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where trusted proxies report the client address. Which one to believe
/// is configuration: it must be the header your proxy sets (and overwrites
/// or appends to), never a guess.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientIpSource {
    /// `X-Forwarded-For`: all its header lines, in order, walked from the
    /// right; trusted hops are skipped and the first untrusted address is
    /// the client.
    XForwardedFor,
    /// RFC 7239 `Forwarded`, walked from the right like `X-Forwarded-For`,
    /// using each element's `for=` node. Obfuscated identifiers (`_hidden`)
    /// and `unknown` are refused.
    Forwarded,
    /// A header holding one address that the proxy sets itself and
    /// overwrites, such as `X-Real-IP` or `CF-Connecting-IP`. Present more
    /// than once, or not an address: refused.
    Header(HeaderName),
}

impl ClientIpSource {
    /// A single-address header, by name ([`ClientIpSource::Header`]).
    pub fn header(name: &str) -> Result<Self, ConfigError> {
        HeaderName::try_from(name)
            .map(Self::Header)
            .map_err(|_| ConfigError::InvalidHeaderName { name: name.to_owned() })
    }
}

/// The trusted proxies and where they report the client.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    pub(crate) proxies: IpRanges,
    pub(crate) source: ClientIpSource,
    pub(crate) max_hops: usize,
}

/// Resolves the client address from the peer and, when the peer is a
/// trusted proxy, the forwarding headers. The answer is canonical (an
/// IPv4-mapped address is given as IPv4).
pub(crate) fn resolve(
    peer: IpAddr,
    trust: Option<&Trust>,
    headers: &HeaderMap,
) -> Result<IpAddr, Refusal> {
    let peer = peer.to_canonical();
    let Some(trust) = trust else { return Ok(peer) };
    if !trust.proxies.contains(peer) {
        // Anyone can send forwarding headers; only trusted proxies are heard.
        return Ok(peer);
    }
    let mut walk = Walk { trust, client: peer, seen: 0 };
    match &trust.source {
        ClientIpSource::XForwardedFor => {
            for line in headers.get_all(X_FORWARDED_FOR).iter().rev() {
                let line = line.to_str().map_err(|_| "X-Forwarded-For is not ASCII")?;
                for entry in line.rsplit(',') {
                    if let Some(done) = walk.hop(parse_x_forwarded_for(entry)) {
                        return done;
                    }
                }
            }
            Ok(walk.client)
        }
        ClientIpSource::Forwarded => {
            for element in forwarded::elements_from_right(headers) {
                let client = element.and_then(Element::parse).and_then(|e| e.client());
                if let Some(done) = walk.hop(client) {
                    return done;
                }
            }
            Ok(walk.client)
        }
        ClientIpSource::Header(name) => {
            let mut values = headers.get_all(name).iter();
            let Some(value) = values.next() else { return Ok(peer) };
            if values.next().is_some() {
                return Err("the client address header is repeated");
            }
            let value = value.to_str().map_err(|_| "the client address header is not ASCII")?;
            let ip = value.trim().parse::<IpAddr>().map_err(|_| "unparsable client address")?;
            Ok(ip.to_canonical())
        }
    }
}

/// The walk from the right through forwarding entries.
struct Walk<'a> {
    trust: &'a Trust,
    /// The leftmost trusted address seen so far: the client if every entry
    /// turns out to be trusted.
    client: IpAddr,
    seen: usize,
}

impl Walk<'_> {
    /// Takes the next entry to the left; `Some` when the walk is over.
    fn hop(&mut self, entry: Result<IpAddr, Refusal>) -> Option<Result<IpAddr, Refusal>> {
        if self.seen == self.trust.max_hops {
            return Some(Err("too many forwarding hops"));
        }
        self.seen += 1;
        let ip = match entry {
            Ok(ip) => ip.to_canonical(),
            Err(refusal) => return Some(Err(refusal)),
        };
        if self.trust.proxies.contains(ip) {
            self.client = ip;
            None
        } else {
            Some(Ok(ip))
        }
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port
/// (`192.0.2.1:4711`, `[2001:db8::1]:4711`) as some proxies add.
fn parse_x_forwarded_for(entry: &str) -> Result<IpAddr, Refusal> {
    let entry = entry.trim_matches([' ', '\t']);
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Ok(ip);
    }
    if let Ok(addr) = entry.parse::<SocketAddr>() {
        return Ok(addr.ip());
    }
    if let Some(inner) = entry.strip_prefix('[').and_then(|e| e.strip_suffix(']'))
        && let Ok(ip) = inner.parse::<Ipv6Addr>()
    {
        return Ok(ip.into());
    }
    Err("unparsable X-Forwarded-For entry")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn x_forwarded_for_entries() {
        assert_eq!(parse_x_forwarded_for(" 192.0.2.1 "), Ok(ip("192.0.2.1")));
        assert_eq!(parse_x_forwarded_for("192.0.2.1:80"), Ok(ip("192.0.2.1")));
        assert_eq!(parse_x_forwarded_for("2001:db8::1"), Ok(ip("2001:db8::1")));
        assert_eq!(parse_x_forwarded_for("[2001:db8::1]:80"), Ok(ip("2001:db8::1")));
        assert_eq!(parse_x_forwarded_for("[2001:db8::1]"), Ok(ip("2001:db8::1")));
        for bad in ["", " ", "unknown", "1.2.3", "1.2.3.4.5", "fe80::1%eth0", "_x"] {
            assert!(parse_x_forwarded_for(bad).is_err(), "{bad:?}");
        }
    }
}
