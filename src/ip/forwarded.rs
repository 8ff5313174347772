//! RFC 7239 `Forwarded`: its elements, read from the right, and the
//! parameters hookwarden believes from trusted proxies (`for=`, `proto=`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use http::HeaderMap;
use http::header::FORWARDED;

/// Why a header was refused (for the DEBUG log line).
pub(crate) type Refusal = &'static str;

/// The elements of every `Forwarded` line, the rightmost (written by the
/// nearest proxy) first, so a walk reads only as far as it goes. A line
/// that is not ASCII yields an error in its place.
pub(crate) fn elements_from_right(
    headers: &HeaderMap,
) -> impl Iterator<Item = Result<&str, Refusal>> + '_ {
    headers.get_all(FORWARDED).iter().rev().flat_map(|line| {
        let (elements, refusal) = match line.to_str() {
            Ok(line) => (Some(QuotedRSplit::new(line, b',').map(Ok)), None),
            Err(_) => (None, Some(Err("Forwarded is not ASCII"))),
        };
        elements.into_iter().flatten().chain(refusal)
    })
}

/// The parameters of one element that hookwarden reads, unescaped.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Element {
    /// The `for=` node: who the proxy that wrote this element heard from.
    pub(crate) node: Option<String>,
    /// The `proto=` value: the protocol that request arrived over.
    pub(crate) proto: Option<String>,
}

impl Element {
    /// Parses one element (`for=192.0.2.60;proto=http;by=203.0.113.43`).
    /// A parameter given twice, a bad name or value is refused.
    pub(crate) fn parse(element: &str) -> Result<Self, Refusal> {
        let mut parsed = Self::default();
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
            let slot = if key.eq_ignore_ascii_case("for") {
                &mut parsed.node
            } else if key.eq_ignore_ascii_case("proto") {
                &mut parsed.proto
            } else {
                continue;
            };
            if slot.is_some() {
                return Err("Forwarded element with a parameter given twice");
            }
            *slot = Some(value);
        }
        Ok(parsed)
    }

    /// The address of the `for=` node; an element without one is refused.
    pub(crate) fn client(&self) -> Result<IpAddr, Refusal> {
        parse_node(self.node.as_deref().ok_or("Forwarded element without `for=`")?)
    }
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
pub(crate) fn parse_node(node: &str) -> Result<IpAddr, Refusal> {
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
        let parse = |element: &str| Element::parse(element).and_then(|e| e.client());
        assert_eq!(parse("for=192.0.2.60;proto=http;by=203.0.113.43"), Ok(ip("192.0.2.60")));
        assert_eq!(parse("proto=https; For=\"[2001:db8::1]:443\""), Ok(ip("2001:db8::1")));
        assert_eq!(parse("for=\"192.0.2.1\";host=\"a;b,c\""), Ok(ip("192.0.2.1")));
        assert!(parse("by=203.0.113.43").is_err());
        assert!(parse("for=192.0.2.1;for=192.0.2.2").is_err());
        assert!(parse("for=[2001:db8::1]").is_err(), "an unquoted `[` is not a token");
        assert!(parse("for=\"192.0.2.1").is_err());
        assert!(parse("for").is_err());
        assert!(parse("for=").is_err());
        assert!(Element::parse("proto=https;PROTO=http").is_err());
    }

    #[test]
    fn forwarded_protos() {
        let proto = |element: &str| Element::parse(element).map(|e| e.proto);
        assert_eq!(proto("for=192.0.2.60;proto=https"), Ok(Some("https".to_owned())));
        assert_eq!(proto("Proto=\"HTTPS\""), Ok(Some("HTTPS".to_owned())));
        assert_eq!(proto("for=192.0.2.60"), Ok(None));
        assert!(proto("proto=").is_err());
    }

    #[test]
    fn elements_come_from_the_right_across_lines() {
        let mut headers = HeaderMap::new();
        headers.append(FORWARDED, "for=a, for=b".parse().unwrap());
        headers.append(FORWARDED, "for=c".parse().unwrap());
        let elements: Vec<_> = elements_from_right(&headers).collect();
        assert_eq!(elements, [Ok("for=c"), Ok(" for=b"), Ok("for=a")]);
        headers.append(FORWARDED, http::HeaderValue::from_bytes(b"for=\xff").unwrap());
        assert!(elements_from_right(&headers).next().unwrap().is_err());
    }

    #[test]
    fn quoted_splits() {
        let line = r#"for=a;x="1,2", for="b\"," ,for=c"#;
        let right: Vec<_> = QuotedRSplit::new(line, b',').collect();
        assert_eq!(right, [r#"for=c"#, r#" for="b\"," "#, r#"for=a;x="1,2""#]);
        let left: Vec<_> = QuotedSplit::new(r#"for=a;x="1;2";y"#, b';').collect();
        assert_eq!(left, ["for=a", r#"x="1;2""#, "y"]);
    }
}
