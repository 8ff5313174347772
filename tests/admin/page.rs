//! The admin page in Debian's headless Chromium, driven by
//! `browser/page.mjs` (Playwright's core library, no browser download):
//! it signs in, finds the dead letter, saves a screenshot and presses
//! Replay; the delivery is then attempted again.
//!
//! Needs `/usr/bin/chromium` (or `HOOKWARDEN_CHROMIUM`), Node.js, and
//! `npm ci` run in `tests/admin/browser`; says `skipped: …` otherwise. The
//! screenshot goes to the target directory; with
//! `HOOKWARDEN_UPDATE_SCREENSHOT=1` it also replaces `docs/admin.png`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hookwarden::testing;
use http::StatusCode;

use crate::common::skip;
use crate::harness::{self, FAILS, SLOW, TOKEN, deliver, forge, serve, until, until_state};

fn browser_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/admin/browser")
}

/// What the page test needs, or why it cannot run.
fn prerequisites() -> Result<PathBuf, String> {
    let chromium = std::env::var_os("HOOKWARDEN_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.exists() {
        return Err(format!("{} not found (apt-get install chromium)", chromium.display()));
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        return Err("node is not installed".to_owned());
    }
    if !browser_dir().join("node_modules/playwright-core").exists() {
        return Err("playwright-core is not installed (run `npm ci` in tests/admin/browser)".into());
    }
    Ok(chromium)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_lists_a_dead_letter_and_its_replay_button_replays_it() {
    let chromium = match prerequisites() {
        Ok(chromium) => chromium,
        Err(reason) => return skip(&format!("the admin page test: {reason}")),
    };
    let served = serve(None).await;
    let webhooks = served.webhooks;
    // What a receiver has seen after a while: handled events, two dead
    // letters, one still running.
    for n in 1..=9 {
        let event_type = ["user.registered", "order.paid", "customer.updated"][n % 3];
        assert_eq!(
            deliver(webhooks, &format!("evt_ok_{n}"), event_type).await,
            StatusCode::ACCEPTED
        );
    }
    let dead = "evt_2Zk9QeVx7mB3";
    assert_eq!(deliver(webhooks, dead, FAILS).await, StatusCode::ACCEPTED);
    assert_eq!(deliver(webhooks, "evt_2Zk9R1c8LpT0", FAILS).await, StatusCode::ACCEPTED);
    assert_eq!(deliver(webhooks, "evt_report_1", SLOW).await, StatusCode::ACCEPTED);
    until_state(served.admin, dead, "dead").await;
    until_state(served.admin, "evt_2Zk9R1c8LpT0", "dead").await;

    // Traffic while the page watches: deliveries, and refusals of three
    // kinds for the rejections chart.
    let running = Arc::new(AtomicBool::new(true));
    let traffic = tokio::spawn({
        let running = running.clone();
        async move {
            let mut n = 0usize;
            while running.load(Ordering::Relaxed) {
                n += 1;
                let event_type = ["order.paid", "user.registered", "customer.updated"][n % 3];
                deliver(webhooks, &format!("evt_live_{n}"), event_type).await;
                forge(webhooks, &format!("evt_forged_{n}")).await;
                if n.is_multiple_of(2) {
                    unsigned(webhooks).await;
                }
                if n.is_multiple_of(3) {
                    stale(webhooks, n).await;
                }
                tokio::time::sleep(Duration::from_millis(400)).await;
            }
        }
    });

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("admin.png");
    let run = tokio::process::Command::new("node")
        .arg("page.mjs")
        .current_dir(browser_dir())
        .env("ADMIN_URL", format!("http://{}", served.admin))
        .env("ADMIN_TOKEN", TOKEN)
        .env("DEAD_ID", dead)
        .env("SCREENSHOT", &screenshot)
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the page script finishes within two minutes")
        .unwrap();
    running.store(false, Ordering::Relaxed);
    traffic.await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "page.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(report["ok"], true);
    assert_eq!(report["dead"], "2", "{report}");

    // The Replay button replayed it: attempted a second time.
    until("the replayed dead letter to be attempted again", async || served.calls(dead) == 2).await;
    assert_eq!(served.calls("evt_2Zk9R1c8LpT0"), 1, "the other dead letter stays");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000, "a screenshot was saved");
    if std::env::var_os("HOOKWARDEN_UPDATE_SCREENSHOT").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/admin.png");
        std::fs::create_dir_all(docs.parent().unwrap()).unwrap();
        std::fs::copy(&screenshot, &docs).unwrap();
    }
}

/// A delivery without a signature: 401 `missing_signature`.
async fn unsigned(addr: std::net::SocketAddr) {
    let body = harness::body("order.paid", "evt_unsigned");
    harness::send(addr, testing::request("/webhooks", http::HeaderMap::new(), body)).await;
}

/// A delivery signed an hour ago: 401 `timestamp_out_of_tolerance`.
async fn stale(addr: std::net::SocketAddr, n: usize) {
    let id = format!("evt_stale_{n}");
    let body = harness::body("order.paid", &id);
    let then = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs() - 3600;
    let headers = testing::standard_webhooks(harness::SECRET, &id, then, body.as_bytes());
    harness::send(addr, testing::request("/webhooks", headers, body)).await;
}
