//! The admin API: the token on every route; list, get, replay and their
//! errors; stats; bulk replay.

use base64::Engine as _;
use bytes::Bytes;
use hookwarden::event::Delivery;
use http::{Method, StatusCode};

use crate::harness::{
    self, FAILS, SLOW, TOKEN, admin, call, deliver, forge, serve, until, until_state,
};

/// Every admin path, with its method.
const ROUTES: &[(Method, &str)] = &[
    (Method::GET, "/admin"),
    (Method::GET, "/admin/"),
    (Method::GET, "/admin/api/stats"),
    (Method::GET, "/admin/api/deliveries?state=dead"),
    (Method::GET, "/admin/api/deliveries/evt_1"),
    (Method::POST, "/admin/api/deliveries/evt_1/replay"),
    (Method::POST, "/admin/api/dead-letters/replay?type=order.paid"),
    (Method::GET, "/admin/api/recent"),
    (Method::GET, "/metrics"),
    (Method::GET, "/no/such/route"),
    (Method::DELETE, "/admin/api/stats"),
];

#[tokio::test]
async fn every_route_refuses_a_missing_or_wrong_token() {
    let served = serve(None).await;
    let wrong = [
        None,
        Some("".to_owned()),
        Some("Bearer".to_owned()),
        Some("Bearer ".to_owned()),
        Some("Bearer wrong-token-of-some-length".to_owned()),
        Some(format!("Bearer {TOKEN}x")),
        Some(format!("Bearer {}", &TOKEN[..TOKEN.len() - 1])),
        Some(format!("Basic {TOKEN}")),
        Some(format!("Token {TOKEN}")),
        Some(TOKEN.to_owned()),
    ];
    for (method, path) in ROUTES {
        for authorization in &wrong {
            let answer = call(served.admin, method.clone(), path, authorization.as_deref()).await;
            let case = format!("{method} {path} with {authorization:?}");
            assert_eq!(answer.status, StatusCode::UNAUTHORIZED, "{case}");
            assert_eq!(answer.json()["error"], "unauthorized", "{case}");
            assert_eq!(answer.headers["www-authenticate"], "Bearer", "{case}");
            assert_eq!(answer.headers["cache-control"], "no-store", "{case}");
        }
    }
    let counted = hookwarden::Rejection::counts()["unauthorized"];
    assert!(counted >= (ROUTES.len() * wrong.len()) as u64, "refusals are counted: {counted}");

    // The scheme is case-insensitive; the token is not.
    let lower = format!("bearer {TOKEN}");
    let lower = call(served.admin, Method::GET, "/admin/api/stats", Some(&lower)).await;
    assert_eq!(lower.status, StatusCode::OK);
    let upper = format!("Bearer {}", TOKEN.to_uppercase());
    let upper = call(served.admin, Method::GET, "/admin/api/stats", Some(&upper)).await;
    assert_eq!(upper.status, StatusCode::UNAUTHORIZED);

    // Two Authorization headers, one of them right: refused.
    let request = http::Request::get("/admin/api/stats")
        .header("authorization", "Bearer nope-nope-nope-nope")
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(http_body_util::Full::default())
        .unwrap();
    assert_eq!(harness::send(served.admin, request).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_browser_without_the_token_gets_a_401_whose_body_is_the_sign_in_page() {
    let served = serve(None).await;
    let request = http::Request::get("/admin")
        .header("accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .body(http_body_util::Full::default())
        .unwrap();
    let answer = harness::send(served.admin, request).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert!(answer.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = answer.text();
    assert!(html.contains(r#"id="token""#), "the sign-in field");
    assert!(!html.contains("__NONCE__"));
    let policy = answer.headers["content-security-policy"].to_str().unwrap();
    let nonce = policy.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap();
    assert!(
        html.contains(&format!(r#"<script nonce="{nonce}">"#)),
        "the script runs under the policy's nonce"
    );
    assert!(policy.contains("connect-src 'self'") && policy.contains("frame-ancestors 'none'"));

    // An API client gets JSON, and the page's other paths nothing but 401 JSON.
    let api = call(served.admin, Method::GET, "/admin/api/stats", None).await;
    assert_eq!(api.json()["error"], "unauthorized");

    // With the token the page is a 200, with a fresh nonce.
    let page = admin(served.admin, Method::GET, "/admin").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text().contains(nonce));
}

#[tokio::test]
async fn list_get_and_replay_a_dead_letter() {
    let served = serve(None).await;
    assert_eq!(deliver(served.webhooks, "evt_dead_1", FAILS).await, StatusCode::ACCEPTED);
    assert_eq!(deliver(served.webhooks, "evt_dead_2", FAILS).await, StatusCode::ACCEPTED);
    assert_eq!(deliver(served.webhooks, "evt_done", "order.paid").await, StatusCode::ACCEPTED);
    until_state(served.admin, "evt_dead_1", "dead").await;
    until_state(served.admin, "evt_dead_2", "dead").await;
    until_state(served.admin, "evt_done", "done").await;

    // Listed by state, oldest first, in pages.
    let dead = admin(served.admin, Method::GET, "/admin/api/deliveries?state=dead").await;
    assert_eq!(dead.status, StatusCode::OK);
    let dead = dead.json();
    let listed = dead["deliveries"].as_array().unwrap();
    assert_eq!(listed.len(), 2);
    let first = &listed[0];
    assert_eq!(first["id"], "evt_dead_1");
    assert_eq!(first["type"], FAILS);
    assert_eq!(first["version"], "1");
    assert_eq!(first["state"], "dead");
    assert_eq!(first["attempts"], 1);
    assert_eq!(first["last_error"], "billing service answered 503 Service Unavailable");
    assert!(first["received_at"].as_str().unwrap().ends_with('Z'));
    assert!(first.get("body").is_none(), "lists leave bodies out");
    assert!(dead["next"].is_null());
    let page_1 = admin(served.admin, Method::GET, "/admin/api/deliveries?state=dead&limit=1").await;
    let page_1 = page_1.json();
    assert_eq!(page_1["deliveries"][0]["id"], "evt_dead_1");
    let cursor = page_1["next"].as_str().expect("a cursor to the second page");
    let next = format!(
        "/admin/api/deliveries?state=dead&limit=1&cursor={}",
        form_urlencoded::byte_serialize(cursor.as_bytes()).collect::<String>()
    );
    let page_2 = admin(served.admin, Method::GET, &next).await.json();
    assert_eq!(page_2["deliveries"][0]["id"], "evt_dead_2");
    let done = admin(served.admin, Method::GET, "/admin/api/deliveries?state=done").await.json();
    assert_eq!(done["deliveries"][0]["id"], "evt_done");

    // One delivery, with its body exactly as received.
    let one = admin(served.admin, Method::GET, "/admin/api/deliveries/evt_dead_1").await;
    assert_eq!(one.status, StatusCode::OK);
    let one = one.json();
    assert_eq!(one["body"], harness::body(FAILS, "evt_dead_1"));
    assert_eq!(one["body_encoding"], "utf-8");
    assert_eq!(one["state"], "dead");
    // The delivery record: its scheme and each attempt with its error.
    assert_eq!(one["scheme"], "standard-webhooks");
    let log = one["attempt_log"].as_array().expect("an attempt log");
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["attempt"], 1);
    assert_eq!(log[0]["outcome"], "failed");
    assert_eq!(log[0]["error"], "billing service answered 503 Service Unavailable");
    assert!(log[0]["duration_ms"].as_f64().is_some(), "{log:?}");

    // Replay: unknown, not dead, dead.
    let unknown = admin(served.admin, Method::POST, "/admin/api/deliveries/evt_nope/replay").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.json()["error"], "not_found");
    let missing = admin(served.admin, Method::GET, "/admin/api/deliveries/evt_nope").await;
    assert_eq!(
        (missing.status, missing.json()["error"].clone()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // A delivery whose handler is running is not dead.
    assert_eq!(deliver(served.webhooks, "evt_running", SLOW).await, StatusCode::ACCEPTED);
    until_state(served.admin, "evt_running", "leased").await;
    let not_dead =
        admin(served.admin, Method::POST, "/admin/api/deliveries/evt_running/replay").await;
    assert_eq!(not_dead.status, StatusCode::CONFLICT);
    assert_eq!(not_dead.json()["error"], "not_dead");
    assert_eq!(served.calls("evt_dead_1"), 1);
    let replayed =
        admin(served.admin, Method::POST, "/admin/api/deliveries/evt_dead_1/replay").await;
    assert_eq!(replayed.status, StatusCode::ACCEPTED);
    assert_eq!(replayed.json()["status"], "replayed");
    until("the replayed delivery to be attempted again", async || served.calls("evt_dead_1") == 2)
        .await;
    until_state(served.admin, "evt_dead_1", "dead").await;
    assert_eq!(served.calls("evt_dead_2"), 1, "only the one replayed");

    // Bad queries.
    for (path, problem) in [
        ("/admin/api/deliveries", "state is required"),
        ("/admin/api/deliveries?state=lost", "unknown state"),
        ("/admin/api/deliveries?state=dead&limit=0", "limit"),
        ("/admin/api/deliveries?state=dead&limit=501", "limit"),
        ("/admin/api/deliveries?state=dead&limit=ten", "limit"),
        ("/admin/api/recent?limit=101", "limit"),
    ] {
        let answer = admin(served.admin, Method::GET, path).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{path}");
        let answer = answer.json();
        assert_eq!(answer["error"], "bad_request", "{path}");
        assert!(answer["message"].as_str().unwrap().contains(problem), "{path}: {answer}");
    }
    let wrong_method = admin(served.admin, Method::DELETE, "/admin/api/deliveries/evt_done").await;
    assert_eq!(wrong_method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong_method.json()["error"], "method_not_allowed");
    let no_route = admin(served.admin, Method::GET, "/admin/api/nothing").await;
    assert_eq!(
        (no_route.status, no_route.json()["error"].clone()),
        (StatusCode::NOT_FOUND, "not_found".into())
    );
}

#[tokio::test]
async fn recent_deliveries_are_newest_first_in_their_current_state() {
    let served = serve(None).await;
    for (id, event_type) in [("evt_r1", "order.paid"), ("evt_r2", FAILS), ("evt_r3", "order.paid")]
    {
        assert_eq!(deliver(served.webhooks, id, event_type).await, StatusCode::ACCEPTED);
    }
    until_state(served.admin, "evt_r2", "dead").await;
    until_state(served.admin, "evt_r3", "done").await;
    let recent = admin(served.admin, Method::GET, "/admin/api/recent?limit=2").await.json();
    let recent = recent["deliveries"].as_array().unwrap();
    let seen: Vec<(&str, &str)> =
        recent.iter().map(|d| (d["id"].as_str().unwrap(), d["state"].as_str().unwrap())).collect();
    assert_eq!(seen, [("evt_r3", "done"), ("evt_r2", "dead")]);
    served.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_sent_as_base64() {
    let served = serve(None).await;
    let bytes = Bytes::from_static(b"\xff\xfe{\"type\":\"raw\"}\x00");
    let delivery = Delivery::new("evt_binary", "raw.bytes", "1", bytes.clone());
    served.receiver.handle().inbox().accept(&delivery.into()).await.unwrap();
    let one = admin(served.admin, Method::GET, "/admin/api/deliveries/evt_binary").await.json();
    assert_eq!(one["body_encoding"], "base64");
    assert_eq!(one["body_bytes"], bytes.len());
    let decoded =
        base64::engine::general_purpose::STANDARD.decode(one["body"].as_str().unwrap()).unwrap();
    assert_eq!(decoded, bytes);
}

#[tokio::test]
async fn stats_count_outcomes_handler_times_and_rejections_by_code() {
    let served = serve(None).await;
    let before = hookwarden::Rejection::counts().get("invalid_signature").copied().unwrap_or(0);
    assert_eq!(deliver(served.webhooks, "evt_s1", "order.paid").await, StatusCode::ACCEPTED);
    assert_eq!(deliver(served.webhooks, "evt_s1", "order.paid").await, StatusCode::OK);
    assert_eq!(deliver(served.webhooks, "evt_s2", FAILS).await, StatusCode::ACCEPTED);
    assert_eq!(forge(served.webhooks, "evt_s3").await, StatusCode::UNAUTHORIZED);
    until_state(served.admin, "evt_s2", "dead").await;
    until_state(served.admin, "evt_s1", "done").await;

    let stats = admin(served.admin, Method::GET, "/admin/api/stats").await;
    assert_eq!(stats.status, StatusCode::OK);
    let stats = stats.json();
    assert_eq!(stats["accepted"], 2);
    assert_eq!(stats["duplicates"], 1);
    assert_eq!(stats["handled"], 1);
    assert_eq!(stats["failed_attempts"], 1);
    assert_eq!(stats["dead_lettered"], 1);
    assert_eq!(stats["dead"], 1);
    assert_eq!(stats["pending"], 0);
    assert_eq!(stats["retrying"], 0);
    assert_eq!(stats["durable"], false);
    assert_eq!(stats["handler_ms"]["count"], 2);
    assert!(stats["handler_ms"]["p50"].as_f64().unwrap() >= 0.0);
    assert!(
        stats["handler_ms"]["p99"].as_f64().unwrap()
            >= stats["handler_ms"]["p50"].as_f64().unwrap()
    );
    let rejected = stats["rejected"]["invalid_signature"].as_u64().unwrap();
    assert!(rejected > before, "{stats}");
}

#[tokio::test]
async fn dead_letters_of_one_type_are_replayed_together() {
    let served = serve(None).await;
    for id in ["evt_b1", "evt_b2", "evt_b3"] {
        deliver(served.webhooks, id, FAILS).await;
    }
    // Another type that fails: a payload that is not an object of the
    // handler's type is dead at once.
    let other = Delivery::new("evt_other", "other.type", "1", Bytes::from_static(b"not json"));
    served.receiver.handle().inbox().accept(&other.into()).await.unwrap();
    for id in ["evt_b1", "evt_b2", "evt_b3", "evt_other"] {
        until_state(served.admin, id, "dead").await;
    }
    let path = format!("/admin/api/dead-letters/replay?type={FAILS}");
    let bulk = admin(served.admin, Method::POST, &path).await;
    assert_eq!(bulk.status, StatusCode::ACCEPTED);
    let bulk = bulk.json();
    assert_eq!(bulk["status"], "replayed");
    assert_eq!(bulk["replayed"], 3);
    assert_eq!(bulk["skipped"], 0);
    assert_eq!(bulk["truncated"], false);
    until("all three to be attempted again", async || {
        ["evt_b1", "evt_b2", "evt_b3"].iter().all(|id| served.calls(id) == 2)
    })
    .await;
    let other = admin(served.admin, Method::GET, "/admin/api/deliveries/evt_other").await.json();
    assert_eq!(other["state"], "dead", "another type is left alone");

    let missing = admin(served.admin, Method::POST, "/admin/api/dead-letters/replay").await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let none =
        admin(served.admin, Method::POST, "/admin/api/dead-letters/replay?type=no.such").await;
    assert_eq!(none.json()["replayed"], 0);
}
