//! The admin API over a SQLite inbox, across a restart: what the first
//! process dead-lettered, the second lists, shows and replays.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hookwarden::inbox::SqliteInbox;
use http::{Method, StatusCode};

use crate::harness::{self, FAILS, admin, call, deliver, serve, until, until_state};

/// A database file, deleted with its WAL files when dropped.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm", "-journal"] {
            let mut path = self.0.clone().into_os_string();
            path.push(suffix);
            let _ = std::fs::remove_file(path);
        }
    }
}

#[tokio::test]
async fn list_get_and_replay_work_after_a_restart_on_sqlite() {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos();
    let db = TempDb(
        std::env::temp_dir()
            .join(format!("hookwarden-admin-restart-{}-{nanos:x}.db", std::process::id())),
    );

    // The first process: one dead letter, one handled delivery.
    let first = serve(Some(Arc::new(SqliteInbox::open(&db.0).unwrap()))).await;
    assert_eq!(deliver(first.webhooks, "evt_sq_dead", FAILS).await, StatusCode::ACCEPTED);
    assert_eq!(deliver(first.webhooks, "evt_sq_done", "order.paid").await, StatusCode::ACCEPTED);
    until_state(first.admin, "evt_sq_dead", "dead").await;
    until_state(first.admin, "evt_sq_done", "done").await;
    first.stop().await;

    // The second, on the same file.
    let second = serve(Some(Arc::new(SqliteInbox::open(&db.0).unwrap()))).await;
    let refused = call(second.admin, Method::GET, "/admin/api/deliveries?state=dead", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);

    let stats = admin(second.admin, Method::GET, "/admin/api/stats").await.json();
    assert_eq!(stats["durable"], true);
    assert_eq!(stats["dead"], 1);
    assert_eq!(stats["accepted"], 0, "counters are this process's");

    let dead = admin(second.admin, Method::GET, "/admin/api/deliveries?state=dead").await.json();
    let listed = dead["deliveries"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], "evt_sq_dead");
    assert_eq!(listed[0]["attempts"], 1);
    assert_eq!(listed[0]["last_error"], "billing service answered 503 Service Unavailable");
    let done = admin(second.admin, Method::GET, "/admin/api/deliveries?state=done").await.json();
    assert_eq!(done["deliveries"][0]["id"], "evt_sq_done");

    let one = admin(second.admin, Method::GET, "/admin/api/deliveries/evt_sq_dead").await;
    assert_eq!(one.status, StatusCode::OK);
    assert_eq!(one.json()["body"], harness::body(FAILS, "evt_sq_dead"));
    assert_eq!(one.json()["body_encoding"], "utf-8");
    // The attempt log survived the restart.
    assert_eq!(one.json()["attempt_log"][0]["outcome"], "failed");

    let unknown =
        admin(second.admin, Method::POST, "/admin/api/deliveries/evt_sq_nope/replay").await;
    assert_eq!(
        (unknown.status, unknown.json()["error"].clone()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    let not_dead =
        admin(second.admin, Method::POST, "/admin/api/deliveries/evt_sq_done/replay").await;
    assert_eq!(
        (not_dead.status, not_dead.json()["error"].clone()),
        (StatusCode::CONFLICT, "not_dead".into())
    );

    let replayed =
        admin(second.admin, Method::POST, "/admin/api/deliveries/evt_sq_dead/replay").await;
    assert_eq!(replayed.status, StatusCode::ACCEPTED);
    assert_eq!(replayed.json()["status"], "replayed");
    until("the second process to attempt the replayed delivery", async || {
        second.calls("evt_sq_dead") == 1
    })
    .await;
    until_state(second.admin, "evt_sq_dead", "dead").await;
    second.stop().await;
}
