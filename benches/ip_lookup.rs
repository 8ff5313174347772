//! One allow/deny decision against 10, 1,000 and 100,000 CIDRs (mixed
//! IPv4 and IPv6), and the whole layer decision (peer address, trusted
//! proxy walk, lookup) on top of it.

use std::convert::Infallible;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, criterion_main};
use hookwarden::ip::{ClientIpSource, IpAllowlistLayer, IpRanges, PeerAddr};
use http::{Request, Response};
use http_body_util::Full;
use ipnet::IpNet;
use tower::{Service, ServiceBuilder};

/// Probe addresses per set (a power of two: the index wraps with a mask).
const PROBES: usize = 1024;

/// A deterministic generator (xorshift), so every run measures the same sets.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` CIDRs, half IPv4 (/16../32) and half IPv6 (/32../64).
fn nets(n: usize, rng: &mut Rng) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let r = rng.next();
            if i % 2 == 0 {
                let addr = Ipv4Addr::from((r >> 32) as u32);
                IpNet::new(addr.into(), 16 + (r % 17) as u8).unwrap().trunc()
            } else {
                let addr = Ipv6Addr::from((u128::from(rng.next()) << 64) | u128::from(r));
                IpNet::new(addr.into(), 32 + (r % 33) as u8).unwrap().trunc()
            }
        })
        .collect()
}

/// Probe addresses: a quarter inside a range, the rest random, v4 and v6.
fn probes(nets: &[IpNet], rng: &mut Rng) -> Vec<IpAddr> {
    (0..PROBES)
        .map(|i| {
            let r = rng.next();
            match i % 4 {
                0 => nets[(r as usize) % nets.len()].network(),
                1 => Ipv4Addr::from((r >> 32) as u32).into(),
                2 => Ipv6Addr::from(u128::from(r) << 64).into(),
                _ => Ipv4Addr::from(r as u32).to_ipv6_mapped().into(),
            }
        })
        .collect()
}

fn lookup(c: &mut Criterion) {
    let mut group = c.benchmark_group("ip_lookup");
    for n in [10, 1_000, 100_000] {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d ^ n as u64);
        let nets = nets(n, &mut rng);
        let ranges = IpRanges::from_nets(nets.iter().copied());
        let probes = probes(&nets, &mut rng);
        let mut i = 0;
        group.bench_with_input(BenchmarkId::new("contains", n), &ranges, |b, ranges| {
            b.iter(|| {
                i = (i + 1) & (PROBES - 1);
                ranges.contains(black_box(probes[i]))
            })
        });
    }
    group.finish();
}

fn layer_decision(c: &mut Criterion) {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let ranges = IpRanges::from_nets(nets(100_000, &mut rng));
    let layer = IpAllowlistLayer::from_ranges(ranges)
        .unwrap()
        .trust_proxies(["10.0.0.0/8"], ClientIpSource::XForwardedFor)
        .unwrap();
    let peer: SocketAddr = "10.1.2.3:40000".parse().unwrap();
    let mut service = ServiceBuilder::new().layer(PeerAddr(peer)).layer(layer).service_fn(
        |_: Request<()>| async { Ok::<_, Infallible>(Response::new(Full::<Bytes>::default())) },
    );
    c.bench_function("ip_allowlist_call/100000/xff_2_hops", |b| {
        b.iter(|| {
            let request = Request::builder()
                .header("x-forwarded-for", "198.51.100.7, 10.9.9.9")
                .body(())
                .unwrap();
            // The decision is made in `call`; the future is ready at once.
            black_box(service.call(request))
        })
    });
}

// `criterion_group!` makes an undocumented `pub fn`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::lookup, super::layer_decision);
}
criterion_main!(group::benches);
