//! Who the client is: the peer, or what trusted proxies say about it.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use http::HeaderMap;
use http::header::{FORWARDED, HeaderName};

use super::IpRanges;
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

/// Why the forwarding headers were refused (for the DEBUG log line).
pub(crate) type Refusal = &'static str;

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
            for line in headers.get_all(FORWARDED).iter().rev() {
                let line = line.to_str().map_err(|_| "Forwarded is not ASCII")?;
                for element in QuotedRSplit::new(line, b',') {
                    if let Some(done) = walk.hop(parse_forwarded_element(element)) {
                        return done;
                    }
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

/// One RFC 7239 element (`for=192.0.2.60;proto=http;by=203.0.113.43`): the
/// address of its single `for=` node.
fn parse_forwarded_element(element: &str) -> Result<IpAddr, Refusal> {
    let mut node = None;
    for pair in QuotedSplit::new(element, b';') {
        let pair = pair.trim_matches([' ', '\t']);
        if pair.is_empty() {
            continue;
        }
        let (key, value) = pair.split_once('=').ok_or("Forwarded pair without `=`")?;
        let key = key.trim_matches([' ', '\t']);
        if key.is_empty() || !key.bytes().all(is_tchar) {
            return Err("Forwarded pair with a bad name");
        }
        let value = unquote(value.trim_matches([' ', '\t']))?;
        if key.eq_ignore_ascii_case("for") {
            if node.is_some() {
                return Err("Forwarded element with two `for=`");
            }
            node = Some(value);
        }
    }
    parse_node(&node.ok_or("Forwarded element without `for=`")?)
}

/// A `token` or a `quoted-string`, unescaped.
fn unquote(value: &str) -> Result<String, Refusal> {
    let Some(inner) = value.strip_prefix('"') else {
        return if !value.is_empty() && value.bytes().all(is_tchar) {
            Ok(value.to_owned())
        } else {
            Err("Forwarded value is not a token")
        };
    };
    let inner = inner.strip_suffix('"').ok_or("unterminated quoted string")?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().ok_or("dangling escape")?),
            '"' => return Err("stray quote"),
            c => out.push(c),
        }
    }
    Ok(out)
}

/// An RFC 7239 node: `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::17]`,
/// `[2001:db8::17]:4711`. `unknown` and obfuscated (`_x`) identifiers say
/// nothing about the client, so they are refused, not skipped.
fn parse_node(node: &str) -> Result<IpAddr, Refusal> {
    if node.eq_ignore_ascii_case("unknown") {
        return Err("Forwarded node is `unknown`");
    }
    if node.starts_with('_') {
        return Err("Forwarded node is obfuscated");
    }
    let (ip, port) = if let Some(rest) = node.strip_prefix('[') {
        let (inner, rest) = rest.split_once(']').ok_or("unterminated IPv6 node")?;
        let ip = inner.parse::<Ipv6Addr>().map_err(|_| "unparsable IPv6 node")?;
        let port = match rest {
            "" => None,
            rest => Some(rest.strip_prefix(':').ok_or("junk after IPv6 node")?),
        };
        (IpAddr::V6(ip), port)
    } else {
        let (ip, port) = match node.split_once(':') {
            Some((ip, port)) => (ip, Some(port)),
            None => (node, None),
        };
        // IPv6 must be bracketed: a bare one fails here.
        (IpAddr::V4(ip.parse::<Ipv4Addr>().map_err(|_| "unparsable IPv4 node")?), port)
    };
    match port {
        None => Ok(ip),
        Some(port) if port.parse::<u16>().is_ok() && port.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(ip)
        }
        Some(port)
            if port.len() > 1
                && port.starts_with('_')
                && port.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) =>
        {
            Ok(ip)
        }
        Some(_) => Err("bad port in Forwarded node"),
    }
}

/// RFC 7230 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Splits on `sep` outside quoted strings, left to right.
struct QuotedSplit<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> QuotedSplit<'a> {
    fn new(text: &'a str, sep: u8) -> Self {
        Self { rest: Some(text), sep }
    }
}

impl<'a> Iterator for QuotedSplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        let bytes = text.as_bytes();
        let (mut quoted, mut escaped) = (false, false);
        for (i, &b) in bytes.iter().enumerate() {
            if escaped {
                escaped = false;
            } else if quoted && b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                quoted = !quoted;
            } else if !quoted && b == self.sep {
                self.rest = Some(&text[i + 1..]);
                return Some(&text[..i]);
            }
        }
        self.rest = None;
        Some(text)
    }
}

/// Splits on `sep` outside quoted strings, right to left, so the walk only
/// reads as far into a long header as it goes.
struct QuotedRSplit<'a> {
    rest: Option<&'a str>,
    sep: u8,
}

impl<'a> QuotedRSplit<'a> {
    fn new(text: &'a str, sep: u8) -> Self {
        Self { rest: Some(text), sep }
    }
}

impl<'a> Iterator for QuotedRSplit<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.rest?;
        let bytes = text.as_bytes();
        let mut quoted = false;
        let mut i = bytes.len();
        while i > 0 {
            i -= 1;
            let b = bytes[i];
            if b == b'"' {
                // Inside a quoted string, a quote behind an odd run of
                // backslashes is escaped.
                let backslashes = bytes[..i].iter().rev().take_while(|&&c| c == b'\\').count();
                if !(quoted && backslashes % 2 == 1) {
                    quoted = !quoted;
                }
            } else if !quoted && b == self.sep {
                self.rest = Some(&text[..i]);
                return Some(&text[i + 1..]);
            }
        }
        self.rest = None;
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_nodes() {
        assert_eq!(parse_node("192.0.2.60"), Ok(ip("192.0.2.60")));
        assert_eq!(parse_node("192.0.2.60:4711"), Ok(ip("192.0.2.60")));
        assert_eq!(parse_node("192.0.2.60:_abc"), Ok(ip("192.0.2.60")));
        assert_eq!(parse_node("[2001:db8:cafe::17]"), Ok(ip("2001:db8:cafe::17")));
        assert_eq!(parse_node("[2001:db8:cafe::17]:4711"), Ok(ip("2001:db8:cafe::17")));
        for bad in [
            "unknown",
            "UNKNOWN",
            "_hidden",
            "_SEVKISEK",
            "2001:db8::17",
            "[2001:db8::17",
            "[2001:db8::17]x",
            "192.0.2.60:",
            "192.0.2.60:99999",
            "192.0.2.60:+80",
            "192.0.2.60:_",
            "example.com",
            "",
        ] {
            assert!(parse_node(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn forwarded_elements() {
        let parse = parse_forwarded_element;
        assert_eq!(parse("for=192.0.2.60;proto=http;by=203.0.113.43"), Ok(ip("192.0.2.60")));
        assert_eq!(parse("proto=https; For=\"[2001:db8::1]:443\""), Ok(ip("2001:db8::1")));
        assert_eq!(parse("for=\"192.0.2.1\";host=\"a;b,c\""), Ok(ip("192.0.2.1")));
        assert!(parse("by=203.0.113.43").is_err());
        assert!(parse("for=192.0.2.1;for=192.0.2.2").is_err());
        assert!(parse("for=[2001:db8::1]").is_err(), "an unquoted `[` is not a token");
        assert!(parse("for=\"192.0.2.1").is_err());
        assert!(parse("for").is_err());
        assert!(parse("for=").is_err());
    }

    #[test]
    fn quoted_splits() {
        let line = r#"for=a;x="1,2", for="b\"," ,for=c"#;
        let right: Vec<_> = QuotedRSplit::new(line, b',').collect();
        assert_eq!(right, [r#"for=c"#, r#" for="b\"," "#, r#"for=a;x="1,2""#]);
        let left: Vec<_> = QuotedSplit::new(r#"for=a;x="1;2";y"#, b';').collect();
        assert_eq!(left, ["for=a", r#"x="1;2""#, "y"]);
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
