//! What verification costs beyond the HMAC itself.
//!
//! For each scheme and body size, two measurements over the same bytes:
//!
//! * `bare_hmac`: a pre-keyed HMAC-SHA256 state, cloned and fed exactly the
//!   pieces the scheme signs, then finalised: the floor no verifier can beat;
//! * `verify`: [`Scheme::verify`] on a correctly signed request, including
//!   header lookup, parsing, decoding and the constant-time comparison.
//!
//! The ratio `verify / bare_hmac` is the overhead of the scheme. Run with
//! `cargo bench --bench verify`.

use std::hint::black_box;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_main};
use hmac::{Hmac, Mac as _};
use hookwarden::scheme::{GitHub, Scheme, SignedRequest, StandardWebhooks};
use hookwarden::testing;
use sha2::Sha256;

const SIZES: [(usize, &str); 3] = [(1024, "1KiB"), (64 * 1024, "64KiB"), (1024 * 1024, "1MiB")];

const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const TS: u64 = 1_614_265_330;
const TS_STR: &str = "1614265330";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";
const TOLERANCE: Duration = Duration::from_secs(300);

/// A JSON-looking body of exactly `len` bytes.
fn body(len: usize) -> Vec<u8> {
    let mut body = br#"{"type":"bench.event","data":""#.to_vec();
    let filler = b"abcdefghijklmnopqrstuvwxyz0123456789";
    while body.len() + 2 < len {
        body.push(filler[body.len() % filler.len()]);
    }
    body.extend_from_slice(b"\"}");
    body.truncate(len);
    body
}

fn standard_webhooks(c: &mut Criterion) {
    let scheme = StandardWebhooks::new([WHSEC]).expect("a valid secret");
    let key = STANDARD.decode(WHSEC.strip_prefix("whsec_").unwrap()).expect("base64");
    let keyed = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");

    let mut group = c.benchmark_group("standard_webhooks");
    for (len, label) in SIZES {
        let body = body(len);
        let headers = testing::standard_webhooks(WHSEC, ID, TS, &body);
        group.throughput(Throughput::Bytes(len as u64));

        group.bench_with_input(BenchmarkId::new("bare_hmac", label), &body, |b, body| {
            b.iter(|| {
                let mut mac = black_box(&keyed).clone();
                mac.update(ID.as_bytes());
                mac.update(b".");
                mac.update(TS_STR.as_bytes());
                mac.update(b".");
                mac.update(black_box(body));
                mac.finalize().into_bytes()
            });
        });

        group.bench_with_input(BenchmarkId::new("verify", label), &body, |b, body| {
            b.iter(|| {
                let request =
                    SignedRequest::new(black_box(&headers), black_box(body), TS, TOLERANCE);
                scheme.verify(&request).expect("a correctly signed request")
            });
        });
    }
    group.finish();
}

fn github(c: &mut Criterion) {
    let scheme = GitHub::new([GITHUB_SECRET]).expect("a valid secret");
    let keyed = Hmac::<Sha256>::new_from_slice(GITHUB_SECRET.as_bytes()).expect("any key length");

    let mut group = c.benchmark_group("github");
    for (len, label) in SIZES {
        let body = body(len);
        let headers = testing::github(GITHUB_SECRET, &body);
        group.throughput(Throughput::Bytes(len as u64));

        group.bench_with_input(BenchmarkId::new("bare_hmac", label), &body, |b, body| {
            b.iter(|| {
                let mut mac = black_box(&keyed).clone();
                mac.update(black_box(body));
                mac.finalize().into_bytes()
            });
        });

        group.bench_with_input(BenchmarkId::new("verify", label), &body, |b, body| {
            b.iter(|| {
                let request =
                    SignedRequest::new(black_box(&headers), black_box(body), 0, TOLERANCE);
                scheme.verify(&request).expect("a correctly signed request")
            });
        });
    }
    group.finish();
}

// The macro defines an undocumented `pub fn benches`.
#[allow(missing_docs)]
mod group {
    criterion::criterion_group!(benches, super::standard_webhooks, super::github);
}
criterion_main!(group::benches);
