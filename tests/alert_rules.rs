//! The shipped Prometheus alert rules (`deploy/prometheus/`) read only
//! metrics that `src/telemetry.rs` documents, and those are the names it
//! records: renaming a metric on one side breaks this test until the other
//! follows. Every alert has a promtool unit test (`.ci/alert-rules.sh`
//! runs them).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const TELEMETRY: &str = include_str!("../src/telemetry.rs");

/// The files under `deploy/prometheus/`: the rules first, then the tests.
fn rule_files() -> (PathBuf, Vec<PathBuf>) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    let mut tests: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("deploy/prometheus exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.to_string_lossy().ends_with(".test.yml"))
        .collect();
    tests.sort();
    assert!(!tests.is_empty(), "no promtool test files in {}", dir.display());
    (dir.join("hookwarden.rules.yml"), tests)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every `hookwarden_[a-z_]+` in `text` that does not continue another
/// name (alert names are CamelCase, log targets `hookwarden::…`).
fn metric_names(text: &str) -> BTreeSet<&str> {
    let mut names = BTreeSet::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("hookwarden_") {
        let start = from + found;
        let len =
            text[start..].bytes().take_while(|b| b.is_ascii_lowercase() || *b == b'_').count();
        let continues = text[..start]
            .bytes()
            .next_back()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':');
        if !continues {
            names.insert(&text[start..start + len]);
        }
        from = start + len;
    }
    names
}

/// The table in telemetry.rs's module doc: name → kind.
fn documented() -> BTreeMap<String, String> {
    TELEMETRY
        .lines()
        .filter_map(|line| line.strip_prefix("//! | `"))
        .filter_map(|row| {
            let (name, rest) = row.split_once('`')?;
            let kind = rest.split('|').nth(1)?.trim();
            name.starts_with("hookwarden_").then(|| (name.to_owned(), kind.to_owned()))
        })
        .collect()
}

/// The names telemetry.rs's code records (outside its comments).
fn recorded() -> BTreeSet<String> {
    let code: Vec<&str> =
        TELEMETRY.lines().filter(|line| !line.trim_start().starts_with("//")).collect();
    metric_names(&code.join("\n")).into_iter().map(str::to_owned).collect()
}

/// `name` is documented, or is a series Prometheus derives from a
/// documented histogram (`_count`, `_sum`, `_bucket`).
fn is_documented(name: &str, documented: &BTreeMap<String, String>) -> bool {
    documented.contains_key(name)
        || ["_count", "_sum", "_bucket"].iter().any(|suffix| {
            name.strip_suffix(suffix)
                .is_some_and(|base| documented.get(base).is_some_and(|kind| kind == "histogram"))
        })
}

#[test]
fn telemetry_documents_exactly_the_names_it_records() {
    let documented = documented();
    assert!(documented.len() >= 8, "the table was not found: {documented:?}");
    let documented_names: BTreeSet<String> = documented.keys().cloned().collect();
    assert_eq!(documented_names, recorded(), "telemetry.rs's table and its code differ");
    for (name, kind) in &documented {
        assert!(
            ["counter", "gauge", "histogram"].contains(&kind.as_str()),
            "{name}: kind {kind:?}"
        );
        if kind == "counter" {
            assert!(name.ends_with("_total"), "counter {name} should end with _total");
        }
    }
}

#[test]
fn the_rules_and_their_tests_use_only_documented_metrics() {
    let documented = documented();
    let (rules, tests) = rule_files();
    let mut used = BTreeSet::new();
    for path in std::iter::once(&rules).chain(&tests) {
        let text = read(path);
        let names = metric_names(&text);
        let unknown: Vec<_> =
            names.iter().filter(|name| !is_documented(name, &documented)).collect();
        assert!(
            unknown.is_empty(),
            "{} uses metrics src/telemetry.rs does not document: {unknown:?}",
            path.display()
        );
        if *path == rules {
            used.extend(names.into_iter().map(str::to_owned));
        }
    }
    // The scan sees what the rules read, so the check above is not vacuous.
    for name in [
        "hookwarden_deliveries_total",
        "hookwarden_verify_failures_total",
        "hookwarden_dead_letters_total",
        "hookwarden_handler_duration_seconds_count",
        "hookwarden_oldest_pending_age_seconds",
        "hookwarden_inbox_up",
    ] {
        assert!(used.contains(name), "the rules no longer read {name}");
    }
}

#[test]
fn every_alert_has_a_promtool_test() {
    let (rules, tests) = rule_files();
    let rules = read(&rules);
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("- alert:"))
        .map(str::trim)
        .collect();
    assert!(alerts.len() >= 6, "alerts not found: {alerts:?}");
    let tests: String = tests.iter().map(|path| read(path)).collect();
    for alert in alerts {
        let tested = tests.lines().filter(|line| line.trim() == format!("alertname: {alert}"));
        assert!(
            tested.count() >= 2,
            "{alert}: evaluate it at least twice in the tests, silent and firing"
        );
        let body = rules.split(&format!("- alert: {alert}\n")).nth(1).unwrap();
        let body = body.split("- alert:").next().unwrap();
        for key in ["severity:", "summary:", "description:", "runbook:"] {
            assert!(body.contains(key), "{alert} has no {key}");
        }
    }
}
