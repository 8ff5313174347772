//! The example receiver with `--admin-listen`: the admin router answers on
//! its own listener only; the webhook listener has no admin route.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use http::{Method, StatusCode};

use crate::harness::{self, TOKEN, admin, call, deliver, until};

/// The example binary, built by `cargo test` beside the test binaries.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = dir.join("examples").join("receiver");
    assert!(binary.exists(), "{} is built by `cargo test`", binary.display());
    binary
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
}

struct Example(Child);

impl Drop for Example {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn admin_routes_answer_on_the_admin_listener_only() {
    let (listen, admin_listen) = (free_port(), free_port());
    let mut child = Command::new(example_binary())
        .args(["--secret", harness::SECRET, "--listen", &listen.to_string()])
        .args(["--admin-listen", &admin_listen.to_string(), "--admin-token", TOKEN])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = String::new();
    for line in stderr.by_ref() {
        let line = line.unwrap();
        said.push_str(&line);
        said.push('\n');
        if line.contains("listening on") {
            break;
        }
    }
    std::thread::spawn(move || stderr.for_each(drop));
    let _example = Example(child);
    assert!(said.contains(&format!("admin on http://{admin_listen}/admin")), "{said}");
    assert!(!said.contains(TOKEN), "the token is never printed");

    assert_eq!(deliver(listen, "evt_example_1", "order.paid").await, StatusCode::ACCEPTED);

    // The webhook listener knows no admin route, token or not.
    let bearer = format!("Bearer {TOKEN}");
    for (method, path) in [
        (Method::GET, "/admin"),
        (Method::GET, "/admin/api/stats"),
        (Method::GET, "/admin/api/deliveries?state=done"),
        (Method::GET, "/admin/api/deliveries/evt_example_1"),
        (Method::POST, "/admin/api/deliveries/evt_example_1/replay"),
        (Method::POST, "/admin/api/dead-letters/replay?type=order.paid"),
        (Method::GET, "/admin/api/recent"),
        (Method::GET, "/metrics"),
    ] {
        for authorization in [None, Some(bearer.as_str())] {
            let answer = call(listen, method.clone(), path, authorization).await;
            assert_eq!(
                answer.status,
                StatusCode::NOT_FOUND,
                "{method} {path} on the webhook listener"
            );
        }
    }

    // The admin listener: everything behind the token, the webhook route
    // not there at all.
    let refused = call(admin_listen, Method::GET, "/admin/api/stats", None).await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    until("the event to be handled", async || {
        admin(admin_listen, Method::GET, "/admin/api/stats").await.json()["handled"] == 1
    })
    .await;
    let recent = admin(admin_listen, Method::GET, "/admin/api/recent").await.json();
    assert_eq!(recent["deliveries"][0]["id"], "evt_example_1");
    let page = admin(admin_listen, Method::GET, "/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    let metrics = admin(admin_listen, Method::GET, "/metrics").await;
    assert!(metrics.text().contains("hookwarden_deliveries_total"), "{}", metrics.text());
    let webhooks = admin(admin_listen, Method::POST, "/webhooks").await;
    assert_eq!(webhooks.status, StatusCode::NOT_FOUND);
}

#[test]
fn the_admin_listener_needs_a_long_enough_token() {
    let run = |args: &[&str]| {
        let output = Command::new(example_binary())
            .args([
                "--listen",
                &free_port().to_string(),
                "--admin-listen",
                &free_port().to_string(),
            ])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let (code, stderr) = run(&[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--admin-listen needs --admin-token"), "{stderr}");
    let (code, stderr) = run(&["--admin-token", "hunter2"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("admin token") && !stderr.contains("hunter2"), "{stderr}");
}
