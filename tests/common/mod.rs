//! What several integration tests share.

/// Says plainly that a test was skipped, and why: written straight to the
/// terminal's stderr, past the test harness's output capture, so it shows
/// in an ordinary `cargo test` run.
pub(crate) fn skip(reason: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr(), "skipped: {reason}");
}
