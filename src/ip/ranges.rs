//! A set of address ranges with fast membership tests.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

use crate::ConfigError;

/// `::ffff:0.0.0.0`, the first IPv4-mapped IPv6 address.
const MAPPED_START: u128 = 0xffff_0000_0000;
/// `::ffff:255.255.255.255`, the last one.
const MAPPED_END: u128 = 0xffff_ffff_ffff;

/// A set of IPv4 and IPv6 ranges (CIDRs and single addresses).
///
/// The ranges are kept as sorted, merged intervals per address family, so
/// [`contains`](Self::contains) is a binary search: a few dozen nanoseconds
/// even with hundreds of thousands of ranges.
///
/// IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are the IPv4 address they
/// carry, both in the ranges and in lookups: `::ffff:10.0.0.0/104` is
/// `10.0.0.0/8`, and a client seen as `::ffff:10.1.2.3` on a dual-stack
/// listener matches `10.0.0.0/8`. An IPv6 range wider than `::ffff:0:0/96`
/// (such as `::/0`) matches IPv6 clients only: write the IPv4 range too.
///
/// ```
/// use hookwarden::ip::IpRanges;
///
/// let ranges = IpRanges::parse(["192.30.252.0/22", "2a0a:a440::/29", "203.0.113.7"])?;
/// assert!(ranges.contains("192.30.253.1".parse().unwrap()));
/// assert!(ranges.contains("::ffff:192.30.253.1".parse().unwrap()));
/// assert!(ranges.contains("2a0a:a441::1".parse().unwrap()));
/// assert!(!ranges.contains("203.0.113.8".parse().unwrap()));
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct IpRanges {
    v4: Intervals<u32>,
    v6: Intervals<u128>,
}

impl IpRanges {
    /// Parses CIDRs (`10.0.0.0/8`, `2001:db8::/32`) and single addresses
    /// (`203.0.113.7`, `2001:db8::1`). Host bits below the prefix are
    /// ignored (`10.1.2.3/8` is `10.0.0.0/8`).
    ///
    /// An empty input gives an empty set; the layer refuses an empty
    /// allowlist.
    pub fn parse<I>(items: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let nets = items
            .into_iter()
            .map(|item| parse_net(item.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::from_nets(nets))
    }

    /// Builds the set from already parsed networks.
    pub fn from_nets<I: IntoIterator<Item = IpNet>>(nets: I) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in nets {
            match net.trunc() {
                IpNet::V4(net) => v4.push((u32::from(net.network()), u32::from(net.broadcast()))),
                IpNet::V6(net) => {
                    let (start, end) = (u128::from(net.network()), u128::from(net.broadcast()));
                    if start >= MAPPED_START && end <= MAPPED_END {
                        // Inside ::ffff:0:0/96: an IPv4 range in disguise.
                        v4.push(((start - MAPPED_START) as u32, (end - MAPPED_START) as u32));
                    } else {
                        v6.push((start, end));
                    }
                }
            }
        }
        Self { v4: Intervals::build(v4), v6: Intervals::build(v6) }
    }

    /// Every address, IPv4 and IPv6 (`0.0.0.0/0` and `::/0`).
    pub fn any() -> Self {
        Self {
            v4: Intervals::build(vec![(0, u32::MAX)]),
            v6: Intervals::build(vec![(0, u128::MAX)]),
        }
    }

    /// Whether `ip` is in one of the ranges. An IPv4-mapped IPv6 address is
    /// looked up as the IPv4 address it carries.
    #[inline]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip.to_canonical() {
            IpAddr::V4(ip) => self.v4.contains(u32::from(ip)),
            IpAddr::V6(ip) => self.v6.contains(u128::from(ip)),
        }
    }

    /// The union of both sets.
    pub fn union(&self, other: &Self) -> Self {
        let v4 = self.v4.pairs().chain(other.v4.pairs()).collect();
        let v6 = self.v6.pairs().chain(other.v6.pairs()).collect();
        Self { v4: Intervals::build(v4), v6: Intervals::build(v6) }
    }

    /// Whether the set is empty (matches nothing).
    pub fn is_empty(&self) -> bool {
        self.v4.starts.is_empty() && self.v6.starts.is_empty()
    }

    /// The number of disjoint ranges left after overlapping and adjacent
    /// ones were merged.
    pub fn len(&self) -> usize {
        self.v4.starts.len() + self.v6.starts.len()
    }

    /// The ranges, as inclusive `(first, last)` address pairs: IPv4 first,
    /// then IPv6, each in ascending order.
    pub fn iter(&self) -> impl Iterator<Item = (IpAddr, IpAddr)> + '_ {
        let v4 = self.v4.pairs().map(|(s, e)| (Ipv4Addr::from(s).into(), Ipv4Addr::from(e).into()));
        let v6 = self.v6.pairs().map(|(s, e)| (Ipv6Addr::from(s).into(), Ipv6Addr::from(e).into()));
        v4.chain(v6)
    }
}

impl FromIterator<IpNet> for IpRanges {
    fn from_iter<I: IntoIterator<Item = IpNet>>(iter: I) -> Self {
        Self::from_nets(iter)
    }
}

impl fmt::Debug for IpRanges {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpRanges")
            .field("v4_ranges", &self.v4.starts.len())
            .field("v6_ranges", &self.v6.starts.len())
            .finish()
    }
}

/// Parses one CIDR or single address.
pub(crate) fn parse_net(input: &str) -> Result<IpNet, ConfigError> {
    let text = input.trim();
    let invalid = |reason: String| ConfigError::InvalidCidr { input: input.to_owned(), reason };
    if text.contains('/') {
        text.parse::<IpNet>().map_err(|e| invalid(e.to_string()))
    } else {
        text.parse::<IpAddr>().map(IpNet::from).map_err(|e| invalid(e.to_string()))
    }
}

/// An unsigned integer that can be the bound of an interval.
trait Bound: Copy + Ord {
    fn succ(self) -> Option<Self>;
}

impl Bound for u32 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

impl Bound for u128 {
    fn succ(self) -> Option<Self> {
        self.checked_add(1)
    }
}

/// Sorted, disjoint, non-adjacent inclusive intervals, starts and ends in
/// separate vectors so the binary search touches only the starts.
#[derive(Clone, Default, PartialEq, Eq)]
struct Intervals<T> {
    starts: Vec<T>,
    ends: Vec<T>,
}

impl<T: Bound> Intervals<T> {
    fn build(mut pairs: Vec<(T, T)>) -> Self {
        pairs.sort_unstable();
        let mut starts: Vec<T> = Vec::with_capacity(pairs.len());
        let mut ends: Vec<T> = Vec::with_capacity(pairs.len());
        for (start, end) in pairs {
            if let Some(last) = ends.last_mut() {
                // Overlapping or adjacent: extend the previous interval.
                if last.succ().is_none_or(|next| start <= next) {
                    *last = (*last).max(end);
                    continue;
                }
            }
            starts.push(start);
            ends.push(end);
        }
        starts.shrink_to_fit();
        ends.shrink_to_fit();
        Self { starts, ends }
    }

    #[inline]
    fn contains(&self, x: T) -> bool {
        // The number of intervals starting at or before `x`; the last of
        // them is the only one that can hold it.
        let i = self.starts.partition_point(|&start| start <= x);
        i > 0 && x <= self.ends[i - 1]
    }

    fn pairs(&self) -> impl Iterator<Item = (T, T)> + '_ {
        self.starts.iter().copied().zip(self.ends.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn overlapping_and_adjacent_ranges_merge() {
        let ranges =
            IpRanges::parse(["10.0.0.0/9", "10.128.0.0/9", "10.1.0.0/16", "10.0.0.0/8"]).unwrap();
        assert_eq!(ranges.len(), 1);
        assert!(ranges.contains(ip("10.255.255.255")));
        assert!(!ranges.contains(ip("11.0.0.0")));
        assert!(!ranges.contains(ip("9.255.255.255")));
    }

    #[test]
    fn bounds_are_inclusive() {
        let ranges = IpRanges::parse(["192.0.2.0/24", "2001:db8::/126"]).unwrap();
        assert!(ranges.contains(ip("192.0.2.0")));
        assert!(ranges.contains(ip("192.0.2.255")));
        assert!(!ranges.contains(ip("192.0.3.0")));
        assert!(!ranges.contains(ip("192.0.1.255")));
        assert!(ranges.contains(ip("2001:db8::3")));
        assert!(!ranges.contains(ip("2001:db8::4")));
    }

    #[test]
    fn extremes_do_not_overflow() {
        let ranges =
            IpRanges::parse(["255.255.255.255", "0.0.0.0", "ffff::/16", "::/128"]).unwrap();
        assert!(ranges.contains(ip("255.255.255.255")));
        assert!(ranges.contains(ip("0.0.0.0")));
        assert!(!ranges.contains(ip("0.0.0.1")));
        assert!(ranges.contains(ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        assert!(ranges.contains(ip("::")));
        let any = IpRanges::any();
        assert!(any.contains(ip("1.2.3.4")) && any.contains(ip("2001:db8::1")));
        assert_eq!(any.len(), 2);
    }

    #[test]
    fn mapped_rules_become_ipv4() {
        let ranges = IpRanges::parse(["::ffff:10.0.0.0/104"]).unwrap();
        assert!(ranges.contains(ip("10.20.30.40")));
        assert!(ranges.contains(ip("::ffff:10.20.30.40")));
        assert!(!ranges.contains(ip("11.0.0.0")));
        // A wide IPv6 rule is about IPv6 clients.
        let v6_only = IpRanges::parse(["::/0"]).unwrap();
        assert!(!v6_only.contains(ip("10.0.0.1")));
        assert!(!v6_only.contains(ip("::ffff:10.0.0.1")));
        assert!(v6_only.contains(ip("2001:db8::1")));
    }

    #[test]
    fn host_bits_are_ignored_and_garbage_refused() {
        let ranges = IpRanges::parse(["10.1.2.3/8"]).unwrap();
        assert!(ranges.contains(ip("10.200.0.1")));
        for bad in ["10.0.0.0/33", "10.0.0/8", "example.com", "", "2001:db8::/129", "1.2.3.4/"] {
            let err = IpRanges::parse([bad]).unwrap_err();
            assert!(matches!(err, ConfigError::InvalidCidr { .. }), "{bad:?}: {err}");
        }
    }

    #[test]
    fn union_and_iter() {
        let a = IpRanges::parse(["10.0.0.0/24"]).unwrap();
        let b = IpRanges::parse(["10.0.1.0/24", "2001:db8::/32"]).unwrap();
        let both = a.union(&b);
        assert_eq!(both.len(), 2);
        let pairs: Vec<_> = both.iter().collect();
        assert_eq!(pairs[0], (ip("10.0.0.0"), ip("10.0.1.255")));
        assert_eq!(pairs[1], (ip("2001:db8::"), ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff")));
    }

    #[test]
    fn agrees_with_a_linear_scan() {
        // A deterministic pseudo-random mix of v4 and v6 ranges.
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut nets = Vec::new();
        for _ in 0..500 {
            let r = next();
            if r % 2 == 0 {
                let addr = Ipv4Addr::from((r >> 8) as u32);
                nets.push(IpNet::new(addr.into(), 8 + (r % 25) as u8).unwrap().trunc());
            } else {
                let addr = Ipv6Addr::from(((r as u128) << 64) | next() as u128);
                nets.push(IpNet::new(addr.into(), 16 + (r % 113) as u8).unwrap().trunc());
            }
        }
        let ranges = IpRanges::from_nets(nets.clone());
        for _ in 0..20_000 {
            let r = next();
            let probe: IpAddr = if r % 2 == 0 {
                Ipv4Addr::from((r >> 16) as u32).into()
            } else {
                Ipv6Addr::from(((r as u128) << 64) | next() as u128).into()
            };
            let linear = nets.iter().any(|net| net.contains(&probe));
            assert_eq!(ranges.contains(probe), linear, "{probe}");
        }
        // And on every range's first and last address.
        for net in &nets {
            assert!(ranges.contains(net.network()) && ranges.contains(net.broadcast()));
        }
    }
}
