//! What several integration tests share.

/// Says plainly that a test was skipped, and why: written straight to the
/// terminal's stderr, past the test harness's output capture, so it shows
/// in an ordinary `cargo test` run.
///
/// With `HOOKWARDEN_REQUIRE_ALL=1` (which `.ci/run` sets) a skip is a
/// failure: in CI a server that did not start, a missing program or a
/// missing feature must never look green.
pub(crate) fn skip(reason: &str) {
    use std::io::Write as _;
    if std::env::var_os("HOOKWARDEN_REQUIRE_ALL").is_some_and(|v| v == "1") {
        panic!("skipped, but HOOKWARDEN_REQUIRE_ALL=1 requires every test to run: {reason}");
    }
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}
