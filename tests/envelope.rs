//! The envelope layer behind real verification: each scheme's conventions
//! read the right fields from realistic, correctly signed deliveries;
//! authentic but unreadable deliveries are 400 `malformed_event`.

use std::convert::Infallible;

use bytes::Bytes;
use hookwarden::clock::FixedClock;
use hookwarden::envelope::{Envelope, EnvelopeLayer};
use hookwarden::scheme::{
    DedupeKey, EnvelopeConfig, GenericHmac, GitHub, Logto, Scheme, Shopify, Slack, Source,
    StandardWebhooks, Stripe,
};
use hookwarden::{VerifyLayer, testing};
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tower::{Layer, ServiceBuilder, ServiceExt, service_fn};

const NOW: u64 = 1_700_000_000;
const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SECRET: &str = "It's a Secret to Everybody";

/// Echoes the envelope the handler sees as JSON.
async fn echo(request: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let envelope = request.extensions().get::<Envelope>().expect("an envelope");
    let body = json!({
        "scheme": envelope.scheme(),
        "id": envelope.id(),
        "id_signed": envelope.id_is_signed(),
        "type": envelope.event_type(),
        "version": envelope.version(),
        "timestamp": envelope.timestamp(),
        "key": envelope.dedupe_key(),
    });
    Ok(Response::new(Full::new(Bytes::from(body.to_string()))))
}

/// The scheme's own conventions.
fn own(scheme: &dyn Scheme) -> EnvelopeLayer {
    EnvelopeLayer::for_scheme(scheme)
}

async fn send(
    scheme: impl Scheme,
    envelope: impl FnOnce(&dyn Scheme) -> EnvelopeLayer,
    headers: HeaderMap,
    body: &[u8],
) -> (StatusCode, Value) {
    let envelope = envelope(&scheme);
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::new(scheme).clock(FixedClock::new(NOW)))
        .layer(envelope)
        .service(service_fn(echo));
    let request = testing::request("/webhooks", headers, body.to_vec());
    let response = service.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).expect("a JSON answer"))
}

fn sha256_hex(body: &[u8]) -> String {
    Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect()
}

fn assert_malformed((status, body): (StatusCode, Value)) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"], "malformed_event");
}

#[tokio::test]
async fn standard_webhooks_reads_the_signed_id_and_body_type() {
    let body = br#"{"type":"invoice.paid","timestamp":"2023-11-14T22:13:20Z","data":{"id":"in_1","amount":2500}}"#;
    let headers = testing::standard_webhooks(WHSEC, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", NOW, body);
    let scheme = StandardWebhooks::new([WHSEC]).unwrap();
    let (status, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        envelope,
        json!({
            "scheme": "standard-webhooks",
            "id": "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
            "id_signed": true,
            "type": "invoice.paid",
            "version": "1",
            "timestamp": NOW,
            "key": "standard-webhooks:id:msg_2KWPBgLlAfxdpx2AI54pPJ85f4W",
        })
    );

    let body = br#"{"type":"user.created","version":"2","data":{"id":"u_1"}}"#;
    let headers = testing::standard_webhooks(WHSEC, "msg_2", NOW, body);
    let scheme = StandardWebhooks::new([WHSEC]).unwrap();
    let (_, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(envelope["version"], "2");
    assert_eq!(envelope["type"], "user.created");
}

#[tokio::test]
async fn the_default_version_is_configurable() {
    let body = br#"{"type":"user.created","data":{}}"#;
    let headers = testing::standard_webhooks(WHSEC, "msg_3", NOW, body);
    let scheme = StandardWebhooks::new([WHSEC]).unwrap();
    let layer = |s: &dyn Scheme| own(s).default_version("2024-01-01");
    let (_, envelope) = send(scheme, layer, headers, body).await;
    assert_eq!(envelope["version"], "2024-01-01");
}

fn github_headers(body: &[u8], delivery: &str, event: &str) -> HeaderMap {
    let mut headers = testing::github(SECRET, body);
    headers.insert("x-github-delivery", delivery.parse().unwrap());
    headers.insert("x-github-event", event.parse().unwrap());
    headers.insert("x-github-hook-id", "292430182".parse().unwrap());
    headers
}

const GITHUB_PUSH: &[u8] = br#"{"ref":"refs/heads/main","before":"6113728f27ae82c7b1a177c8d03f9e96e0adf246","after":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5","repository":{"id":186853002,"full_name":"octo-org/octo-repo"},"pusher":{"name":"octocat"},"head_commit":{"id":"59b20b8d5c6ff8d09518454d4dd8b7b30f095ab5","message":"Update README.md"}}"#;

#[tokio::test]
async fn github_reads_its_headers_and_keys_on_the_body() {
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let headers = github_headers(GITHUB_PUSH, delivery, "push");
    let scheme = GitHub::new([SECRET]).unwrap();
    let (status, envelope) = send(scheme, own, headers, GITHUB_PUSH).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope["id"], delivery);
    assert_eq!(envelope["id_signed"], false, "GitHub does not sign X-GitHub-Delivery");
    assert_eq!(envelope["type"], "push");
    assert_eq!(envelope["version"], "1");
    assert_eq!(envelope["timestamp"], Value::Null);
    assert_eq!(
        envelope["key"],
        format!("github:sha256:{}", sha256_hex(GITHUB_PUSH)),
        "the delivery id is unsigned: the key is the body digest"
    );

    // Keying on the unsigned id is still possible, when asked for.
    let headers = github_headers(GITHUB_PUSH, delivery, "push");
    let scheme = GitHub::new([SECRET]).unwrap();
    let layer = |s: &dyn Scheme| own(s).dedupe_key(DedupeKey::Id);
    let (_, envelope) = send(scheme, layer, headers, GITHUB_PUSH).await;
    assert_eq!(envelope["id"], delivery);
    assert_eq!(envelope["key"], format!("github:id:{delivery}"));
}

#[tokio::test]
async fn github_without_its_headers_is_malformed() {
    let scheme = GitHub::new([SECRET]).unwrap();
    let mut headers = github_headers(GITHUB_PUSH, "72d3162e", "push");
    headers.remove("x-github-event");
    assert_malformed(send(scheme, own, headers, GITHUB_PUSH).await);

    let scheme = GitHub::new([SECRET]).unwrap();
    let mut headers = github_headers(GITHUB_PUSH, "72d3162e", "push");
    headers.remove("x-github-delivery");
    assert_malformed(send(scheme, own, headers, GITHUB_PUSH).await);
}

#[tokio::test]
async fn stripe_reads_the_event_object() {
    let body = br#"{
  "id": "evt_1NG8Du2eZvKYlo2CUI79vXWy",
  "object": "event",
  "api_version": "2022-11-15",
  "created": 1686089970,
  "data": {"object": {"id": "seti_1NG8Du2eZvKYlo2C9XMqbR0x", "object": "setup_intent", "status": "succeeded"}},
  "livemode": false,
  "pending_webhooks": 0,
  "request": {"id": null, "idempotency_key": null},
  "type": "setup_intent.created"
}"#;
    let headers = testing::stripe("whsec_test_secret", NOW, body);
    let scheme = Stripe::new(["whsec_test_secret"]).unwrap();
    let (status, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope["id"], "evt_1NG8Du2eZvKYlo2CUI79vXWy");
    assert_eq!(envelope["id_signed"], true, "the id is in the signed body");
    assert_eq!(envelope["type"], "setup_intent.created");
    assert_eq!(envelope["version"], "2022-11-15");
    assert_eq!(envelope["timestamp"], 1_686_089_970);
    assert_eq!(envelope["key"], "stripe:id:evt_1NG8Du2eZvKYlo2CUI79vXWy");
}

#[tokio::test]
async fn slack_reads_event_callbacks_and_verify_answers_the_handshake() {
    let body = br#"{"token":"XXYYZZ","team_id":"T123ABC456","api_app_id":"A123ABC456","event":{"type":"app_mention","user":"U123ABC456","text":"<@U0LAN0Z89> hi","ts":"1515449522.000016","channel":"C123ABC456"},"type":"event_callback","event_id":"Ev123ABC456","event_time":1515449522}"#;
    let headers = testing::slack("8f742231b10e8888abcd99yyyzzz85a5", NOW, body);
    let scheme = Slack::new(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
    let (status, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope["id"], "Ev123ABC456");
    assert_eq!(envelope["type"], "event_callback");
    assert_eq!(envelope["timestamp"], 1_515_449_522);
    assert_eq!(envelope["key"], "slack:id:Ev123ABC456");

    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let headers = testing::slack("8f742231b10e8888abcd99yyyzzz85a5", NOW, body);
    let scheme = Slack::new(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
    let (status, answer) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        answer,
        json!({"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}),
        "answered by VerifyLayer: the handler never saw it"
    );

    // Unsigned, it is refused like any forgery.
    let headers = testing::slack("another-secret", NOW, body);
    let scheme = Slack::new(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
    let (status, answer) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"], "invalid_signature");
}

#[tokio::test]
async fn slack_slash_commands_are_not_events() {
    let body = b"token=gIkuvaNzQIHg97ATvDxqgjtO&team_id=T0001&command=%2Fweather&text=94070&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2F1234%2F5678&trigger_id=13345224609.738474920.8088930838d88f008e0";
    let headers = testing::slack("8f742231b10e8888abcd99yyyzzz85a5", NOW, body);
    let scheme = Slack::new(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
    assert_malformed(send(scheme, own, headers, body).await);
}

const SHOPIFY_ORDER: &[u8] = br#"{"id":820982911946154508,"email":"jon@example.com","created_at":"2024-01-01T12:00:00-05:00","total_price":"403.00","line_items":[{"id":866550311766439020,"quantity":1}]}"#;

fn shopify_headers(webhook_id: Option<&str>, event_id: Option<&str>) -> HeaderMap {
    let mut headers = testing::shopify(SECRET, SHOPIFY_ORDER);
    headers.insert("x-shopify-topic", "orders/create".parse().unwrap());
    headers.insert("x-shopify-api-version", "2024-01".parse().unwrap());
    headers.insert("x-shopify-shop-domain", "example.myshopify.com".parse().unwrap());
    if let Some(id) = webhook_id {
        headers.insert("x-shopify-webhook-id", id.parse().unwrap());
    }
    if let Some(id) = event_id {
        headers.insert("x-shopify-event-id", id.parse().unwrap());
    }
    headers
}

#[tokio::test]
async fn shopify_reads_its_headers_with_the_event_id_as_fallback() {
    let headers = shopify_headers(
        Some("b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"),
        Some("98880550-7158-44d4-b7cd-2c97c8a091b5"),
    );
    let scheme = Shopify::new([SECRET]).unwrap();
    let (status, envelope) = send(scheme, own, headers, SHOPIFY_ORDER).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope["id"], "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043");
    assert_eq!(envelope["id_signed"], false);
    assert_eq!(envelope["type"], "orders/create");
    assert_eq!(envelope["version"], "2024-01");

    let headers = shopify_headers(None, Some("98880550-7158-44d4-b7cd-2c97c8a091b5"));
    let scheme = Shopify::new([SECRET]).unwrap();
    let (_, envelope) = send(scheme, own, headers, SHOPIFY_ORDER).await;
    assert_eq!(envelope["id"], "98880550-7158-44d4-b7cd-2c97c8a091b5");
    assert_eq!(
        envelope["key"],
        format!("shopify:sha256:{}", sha256_hex(SHOPIFY_ORDER)),
        "the id headers are unsigned: the key is the body digest"
    );

    let headers = shopify_headers(None, None);
    let scheme = Shopify::new([SECRET]).unwrap();
    assert_malformed(send(scheme, own, headers, SHOPIFY_ORDER).await);
}

#[tokio::test]
async fn logto_keys_on_the_body_digest() {
    let body = br#"{"hookId":"hook_1","event":"PostRegister","createdAt":"2024-01-01T00:00:00.000Z","sessionId":"s_1","userAgent":"Mozilla/5.0","userId":"u_1","user":{"id":"u_1","username":"alice"}}"#;
    let headers = testing::logto(SECRET, body);
    let scheme = Logto::new([SECRET]).unwrap();
    let (status, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::OK);
    let digest = sha256_hex(body);
    assert_eq!(envelope["id"], digest);
    assert_eq!(envelope["id_signed"], true);
    assert_eq!(envelope["type"], "PostRegister");
    assert_eq!(envelope["version"], "1");
    assert_eq!(envelope["key"], format!("logto:sha256:{digest}"));
}

#[tokio::test]
async fn generic_reads_the_id_header_then_body_fields() {
    let scheme = GenericHmac::builder().secret("s3cr3t").build().unwrap();
    let body = br#"{"id":"ord_7","type":"order.shipped","version":3,"data":{}}"#;
    let headers = testing::generic_hmac(&scheme, NOW, body);
    let (status, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope["scheme"], "hmac");
    assert_eq!(envelope["id"], "ord_7");
    assert_eq!(envelope["version"], "3", "numbers are printed");
    assert_eq!(envelope["key"], "hmac:id:ord_7");

    let scheme = GenericHmac::builder().secret("s3cr3t").build().unwrap();
    let body = br#"{"type":"order.shipped","data":{}}"#;
    let mut headers = testing::generic_hmac(&scheme, NOW, body);
    headers.insert("x-webhook-id", "hdr_1".parse().unwrap());
    let (_, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(envelope["id"], "hdr_1");
    assert_eq!(envelope["id_signed"], false);
    assert_eq!(envelope["key"], format!("hmac:sha256:{}", sha256_hex(body)));

    // The header id is reported, the signed body id keys dedupe.
    let scheme = GenericHmac::builder().secret("s3cr3t").build().unwrap();
    let body = br#"{"id":"ord_8","type":"order.shipped"}"#;
    let mut headers = testing::generic_hmac(&scheme, NOW, body);
    headers.insert("x-webhook-id", "hdr_2".parse().unwrap());
    let (_, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(envelope["id"], "hdr_2");
    assert_eq!(envelope["key"], "hmac:id:ord_8");
}

#[tokio::test]
async fn generic_sources_are_configurable() {
    let config = EnvelopeConfig::generic()
        .id([Source::json_pointer("/meta/event_id").unwrap()])
        .unwrap()
        .event_type([Source::header("X-Event-Kind").unwrap()])
        .unwrap()
        .version([Source::json_pointer("/meta/schema").unwrap()])
        .unwrap()
        .timestamp([Source::json_pointer("/meta/at").unwrap()])
        .unwrap();
    let scheme = GenericHmac::builder().secret("s3cr3t").build().unwrap();
    let body = br#"{"meta":{"event_id":"e-9","schema":"v2","at":1699999999},"payload":[1,2,3]}"#;
    let mut headers = testing::generic_hmac(&scheme, NOW, body);
    headers.insert("x-event-kind", "thing.happened".parse().unwrap());
    let (status, envelope) =
        send(scheme, |_: &dyn Scheme| EnvelopeLayer::with_config(config), headers, body).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(envelope["id"], "e-9");
    assert_eq!(envelope["type"], "thing.happened");
    assert_eq!(envelope["version"], "v2");
    assert_eq!(envelope["timestamp"], 1_699_999_999);
}

#[tokio::test]
async fn another_schemes_conventions_can_be_used() {
    // A generic scheme speaking Stripe's envelope.
    let scheme = GenericHmac::builder().secret("s3cr3t").build().unwrap();
    let body = br#"{"id":"evt_1","type":"charge.succeeded","api_version":"2023-10-16"}"#;
    let headers = testing::generic_hmac(&scheme, NOW, body);
    let (_, envelope) =
        send(scheme, |_: &dyn Scheme| own(&Stripe::new(["whsec_x"]).unwrap()), headers, body).await;
    assert_eq!(envelope["version"], "2023-10-16");
}

#[tokio::test]
async fn authentic_but_unreadable_deliveries_are_malformed() {
    for body in [
        &b"not json"[..],
        b"",
        b"[]",
        br#"{"type":"user.created""#,
        br#"{"data":{}}"#,
        br#"{"type":""}"#,
        br#"{"type":{"name":"user.created"}}"#,
        br#"{"type":"a","type":"b"}"#,
    ] {
        let headers = testing::standard_webhooks(WHSEC, "msg_1", NOW, body);
        let scheme = StandardWebhooks::new([WHSEC]).unwrap();
        assert_malformed(send(scheme, own, headers, body).await);
    }
    // Stripe: no id.
    let body = br#"{"object":"event","type":"charge.succeeded"}"#;
    let headers = testing::stripe("whsec_test_secret", NOW, body);
    let scheme = Stripe::new(["whsec_test_secret"]).unwrap();
    assert_malformed(send(scheme, own, headers, body).await);
    // GitHub: headers complete, but the body is form-encoded.
    let body = b"payload=%7B%22zen%22%3A%22hi%22%7D";
    let headers = github_headers(body, "72d3162e", "ping");
    let scheme = GitHub::new([SECRET]).unwrap();
    assert_malformed(send(scheme, own, headers, body).await);
}

#[tokio::test]
async fn forged_deliveries_never_reach_the_envelope() {
    let body = br#"{"type":"invoice.paid"}"#;
    let headers =
        testing::standard_webhooks("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "msg_1", NOW, body);
    let scheme = StandardWebhooks::new([WHSEC]).unwrap();
    let (status, answer) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer["error"], "invalid_signature");
}

#[tokio::test]
async fn without_verification_the_envelope_layer_refuses() {
    let service = own(&StandardWebhooks::new([WHSEC]).unwrap()).layer(service_fn(echo));
    let request = testing::request("/webhooks", HeaderMap::new(), &br#"{"id":"1","type":"t"}"#[..]);
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let body: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(body["error"], "misconfigured");
}

#[tokio::test]
async fn the_version_can_come_from_the_url() {
    let config = StandardWebhooks::new([WHSEC])
        .unwrap()
        .envelope()
        .version([Source::query("version"), Source::json_pointer("/version").unwrap()])
        .unwrap();
    assert!(
        EnvelopeConfig::generic().id([Source::query("id")]).is_err(),
        "ids are not read from URLs"
    );
    let body = br#"{"type":"user.created","version":"1"}"#;
    let answer = |uri: &'static str| {
        let config = config.clone();
        async move {
            let service = ServiceBuilder::new()
                .layer(
                    VerifyLayer::new(StandardWebhooks::new([WHSEC]).unwrap())
                        .clock(FixedClock::new(NOW)),
                )
                .layer(EnvelopeLayer::with_config(config))
                .service(service_fn(echo));
            let request = testing::request(
                uri,
                testing::standard_webhooks(WHSEC, "msg_1", NOW, body),
                body.to_vec(),
            );
            let response = service.oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            (status, serde_json::from_slice::<Value>(&bytes).unwrap())
        }
    };
    assert_eq!(answer("/webhooks?x=1&version=3").await.1["version"], "3");
    assert_eq!(answer("/webhooks?version=3&version=3").await.1["version"], "3");
    assert_eq!(answer("/webhooks").await.1["version"], "1", "falls back to the body");
    assert_eq!(answer("/webhooks?version=").await.1["version"], "1", "empty counts as absent");
    assert_malformed(answer("/webhooks?version=3&version=4").await);
}

#[tokio::test]
async fn form_bodies_are_read_field_by_field() {
    use hookwarden::scheme::BodyFormat;
    let config = EnvelopeConfig::generic()
        .body_format(BodyFormat::Form)
        .id([Source::json_pointer("/MessageSid").unwrap()])
        .unwrap()
        .event_type([Source::json_pointer("/MessageStatus").unwrap()])
        .unwrap()
        .default_type("sms");
    let scheme = GenericHmac::builder().secret("s3cr3t").envelope(config.clone()).build().unwrap();
    let body = b"AccountSid=AC123&MessageSid=SM%2F1&MessageStatus=delivered&Body=Hello+world";
    let headers = testing::generic_hmac(&scheme, NOW, body);
    let (status, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(status, StatusCode::OK, "{envelope}");
    assert_eq!(envelope["id"], "SM/1", "percent-decoded");
    assert_eq!(envelope["type"], "delivered");
    assert_eq!(envelope["key"], "hmac:id:SM/1", "the form is signed");

    // No type field: the default type.
    let scheme = GenericHmac::builder().secret("s3cr3t").envelope(config.clone()).build().unwrap();
    let body = b"MessageSid=SM2&Body=hi";
    let headers = testing::generic_hmac(&scheme, NOW, body);
    let (_, envelope) = send(scheme, own, headers, body).await;
    assert_eq!(envelope["type"], "sms");

    // A field given twice with different values is ambiguous.
    let scheme = GenericHmac::builder().secret("s3cr3t").envelope(config).build().unwrap();
    let body = b"MessageSid=SM3&MessageSid=SM4";
    let headers = testing::generic_hmac(&scheme, NOW, body);
    assert_malformed(send(scheme, own, headers, body).await);
}

#[tokio::test]
async fn a_batch_gets_one_envelope_per_event() {
    use hookwarden::scheme::BodyFormat;
    async fn batch_echo(
        request: Request<Full<Bytes>>,
    ) -> Result<Response<Full<Bytes>>, Infallible> {
        let envelope = request.extensions().get::<Envelope>().expect("an envelope");
        let events: Vec<Value> = envelope
            .batch()
            .expect("a batch")
            .iter()
            .map(|event| {
                json!({
                    "id": event.envelope().id(),
                    "type": event.envelope().event_type(),
                    "key": event.envelope().dedupe_key(),
                    "timestamp": event.envelope().timestamp(),
                    "body": String::from_utf8_lossy(event.body()),
                })
            })
            .collect();
        let body =
            json!({"type": envelope.event_type(), "key": envelope.dedupe_key(), "events": events});
        Ok(Response::new(Full::new(Bytes::from(body.to_string()))))
    }
    let config = EnvelopeConfig::generic()
        .body_format(BodyFormat::JsonBatch)
        .id([Source::json_pointer("/sg_event_id").unwrap()])
        .unwrap()
        .timestamp([Source::json_pointer("/timestamp").unwrap()])
        .unwrap();
    let scheme = GenericHmac::builder().secret("s3cr3t").envelope(config).build().unwrap();
    let body = br#"[{"email":"a@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"ev-1"},
 {"email":"b@example.com","timestamp":1700000001,"event":"open","sg_event_id":"ev-2"}]"#;
    let headers = testing::generic_hmac(&scheme, NOW, body);
    let service = ServiceBuilder::new()
        .layer(VerifyLayer::new(scheme.clone()).clock(FixedClock::new(NOW)))
        .layer(own(&scheme))
        .service(service_fn(batch_echo));
    let response = service.oneshot(testing::request("/w", headers, body.to_vec())).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let answer: Value =
        serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes()).unwrap();
    assert_eq!(answer["type"], "batch");
    assert_eq!(answer["key"], format!("hmac:sha256:{}", sha256_hex(body)));
    assert_eq!(
        answer["events"],
        json!([
            {"id": "ev-1", "type": "delivered", "key": "hmac:id:ev-1", "timestamp": 1_700_000_000,
             "body": r#"{"email":"a@example.com","timestamp":1700000000,"event":"delivered","sg_event_id":"ev-1"}"#},
            {"id": "ev-2", "type": "open", "key": "hmac:id:ev-2", "timestamp": 1_700_000_001,
             "body": r#"{"email":"b@example.com","timestamp":1700000001,"event":"open","sg_event_id":"ev-2"}"#},
        ]),
        "each event's bytes are exactly its element's"
    );

    // Not an array, an empty one, or an element without an id.
    for bad in
        [&br#"{"sg_event_id":"ev-1","event":"open"}"#[..], b"[]", br#"[{"event":"open"}]"#, b"[1]"]
    {
        let config = EnvelopeConfig::generic()
            .body_format(BodyFormat::JsonBatch)
            .id([Source::json_pointer("/sg_event_id").unwrap()])
            .unwrap();
        let scheme = GenericHmac::builder().secret("s3cr3t").envelope(config).build().unwrap();
        let headers = testing::generic_hmac(&scheme, NOW, bad);
        assert_malformed(send(scheme, own, headers, bad).await);
    }
}
