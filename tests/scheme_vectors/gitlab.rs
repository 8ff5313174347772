//! GitLab: `X-Gitlab-Token`, the webhook's secret token sent as is (not a
//! signature: nothing covers the body).
//!
//! Headers and payload: GitLab's docs. gitlabhq/gitlabhq at
//! 88d3e50d6971e1cf4ab52c1d44eebf0ca852baf5,
//! `doc/user/project/integrations/webhook_events.md` ("Push events":
//! `X-Gitlab-Event: Push Hook` and its payload example, shortened to its
//! first commit) and `doc/user/project/integrations/webhooks.md`
//! ("Delivery headers": the example values of `X-Gitlab-Event-UUID`,
//! `X-Gitlab-Webhook-UUID`, `X-Gitlab-Instance`, `Idempotency-Key`).

use hookwarden::scheme::GitLab;
use hookwarden::testing;
use http::StatusCode;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::layers::send_to;
use super::*;

const PUSH: &[u8] = br#"{"object_kind":"push","event_name":"push","before":"95790bf891e76fee5e1747ab589903a6a1f80f22","after":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","ref":"refs/heads/master","ref_protected":true,"checkout_sha":"da1560886d4f094c3e6c9ef40349f7d38b5d27d7","user_id":4,"user_name":"John Smith","user_username":"jsmith","project_id":15,"project":{"id":15,"name":"Diaspora","web_url":"http://example.com/mike/diaspora","path_with_namespace":"mike/diaspora","default_branch":"master"},"commits":[{"id":"b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327","message":"Update Catalan translation to e38cb41.","timestamp":"2011-12-12T14:27:31+02:00","url":"http://example.com/mike/diaspora/commit/b6568db1bc1dcd7f8b4d5a946b0b91f9dacd7327","author":{"name":"Jordi Mallach","email":"jordi@softcatala.org"},"added":["CHANGELOG"],"modified":["app/controller/application.rb"],"removed":[]}],"total_commits_count":4}"#;
const EVENT_UUID: &str = "13792a34-cac6-4fda-95a8-c58e00a3954e";
const WEBHOOK_UUID: &str = "02affd2d-2cba-4033-917d-ec22d5dc4b38";
const IDEMPOTENCY_KEY: &str = "f5e5f430-f57b-4e6e-9fac-d9128cd7232f";
const TOKEN: &str = "glwt-example-secret-token";
const OTHER_TOKEN: &str = "glwt-previous-secret-token";
const HEADER: &str = "x-gitlab-token";

fn scheme() -> GitLab {
    GitLab::new([TOKEN]).unwrap()
}

/// A push as GitLab sends it, with `token` in `X-Gitlab-Token`.
fn delivery(token: &str) -> HeaderMap {
    headers(&[
        ("user-agent", "GitLab/17.4.0"),
        ("x-gitlab-event", "Push Hook"),
        ("x-gitlab-instance", "https://gitlab.com"),
        ("x-gitlab-webhook-uuid", WEBHOOK_UUID),
        ("x-gitlab-event-uuid", EVENT_UUID),
        ("idempotency-key", IDEMPOTENCY_KEY),
        (HEADER, token),
    ])
}

fn digest(body: &[u8]) -> String {
    Sha256::digest(body).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn matching_token_verifies() {
    let verified = verify(&scheme(), &delivery(TOKEN), PUSH, 0);
    assert_eq!(verified.scheme(), "gitlab");
    assert_eq!(verified.timestamp(), None);
    assert_eq!(verified.signed_id(), None, "GitLab signs nothing");
}

#[test]
fn signer_sends_the_token() {
    assert_eq!(testing::gitlab(TOKEN), headers(&[(HEADER, TOKEN)]));
    assert_eq!(outcome(&scheme(), &testing::gitlab(TOKEN), PUSH, 0), Ok(()));
}

#[test]
fn non_matching_tokens_are_invalid() {
    let longer = format!("{TOKEN}x");
    let upper = TOKEN.to_ascii_uppercase();
    for wrong in
        [OTHER_TOKEN, &TOKEN[..TOKEN.len() - 1], &longer, &upper, "x", &format!(" {TOKEN}")]
    {
        assert_eq!(
            outcome(&scheme(), &delivery(wrong), PUSH, 0),
            Err(VerifyError::InvalidSignature),
            "{wrong:?}"
        );
    }
}

#[test]
fn missing_or_empty_token() {
    assert_eq!(
        outcome(&scheme(), &without(&delivery(TOKEN), HEADER), PUSH, 0),
        Err(VerifyError::MissingSignature)
    );
    assert_eq!(outcome(&scheme(), &delivery(""), PUSH, 0), Err(VerifyError::MalformedSignature));
}

#[test]
fn repeated_token_header() {
    let same = repeated(&delivery(TOKEN), HEADER, TOKEN);
    assert_eq!(outcome(&scheme(), &same, PUSH, 0), Ok(()));
    // The right token beside a wrong one is not accepted.
    for other in [OTHER_TOKEN, ""] {
        let twice = repeated(&delivery(TOKEN), HEADER, other);
        assert_eq!(outcome(&scheme(), &twice, PUSH, 0), Err(VerifyError::MalformedSignature));
    }
}

#[test]
fn rotated_tokens() {
    let rotating = GitLab::new([OTHER_TOKEN, TOKEN]).unwrap();
    assert_eq!(outcome(&rotating, &delivery(TOKEN), PUSH, 0), Ok(()));
    assert_eq!(outcome(&rotating, &delivery(OTHER_TOKEN), PUSH, 0), Ok(()));
    let retired = GitLab::new([OTHER_TOKEN]).unwrap();
    assert_eq!(outcome(&retired, &delivery(TOKEN), PUSH, 0), Err(VerifyError::InvalidSignature));
}

#[test]
fn the_body_is_not_covered() {
    // Said plainly: whoever has seen one request can send any body.
    let forged = br#"{"object_kind":"push","ref":"refs/heads/forged"}"#;
    assert_eq!(outcome(&scheme(), &delivery(TOKEN), forged, 0), Ok(()));
    assert_eq!(outcome(&scheme(), &delivery(TOKEN), &reserialised(PUSH), u64::MAX), Ok(()));
}

#[test]
fn debug_hides_the_tokens() {
    assert_debug_hides_secret(&scheme(), TOKEN);
    let both = GitLab::new([OTHER_TOKEN, TOKEN]).unwrap();
    assert_debug_hides_secret(&both, TOKEN);
    assert_debug_hides_secret(&both, OTHER_TOKEN);
    assert_eq!(format!("{both:?}"), "GitLab { tokens: 2, .. }");
}

#[test]
fn configuration_errors() {
    assert!(GitLab::new(Vec::<&str>::new()).is_err());
    assert!(GitLab::new([TOKEN, ""]).is_err());
}

#[tokio::test]
async fn envelope_reads_the_headers_and_keys_on_the_body() {
    let answer = send_to(scheme(), "/webhooks/gitlab", delivery(TOKEN), PUSH, 0).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(
        answer.json(),
        json!({
            "scheme": "gitlab",
            "id": EVENT_UUID,
            "id_signed": false,
            "type": "Push Hook",
            "version": "1",
            "timestamp": null,
            "key": format!("gitlab:sha256:{}", digest(PUSH)),
        })
    );
}

#[tokio::test]
async fn a_fresh_uuid_does_not_make_a_replay_new() {
    let replay =
        with(&delivery(TOKEN), "x-gitlab-event-uuid", "00000000-0000-4000-8000-000000000000");
    let answer = send_to(scheme(), "/webhooks/gitlab", replay, PUSH, 0).await;
    assert_eq!(answer.json()["id"], "00000000-0000-4000-8000-000000000000");
    assert_eq!(answer.json()["key"], format!("gitlab:sha256:{}", digest(PUSH)));
}

#[tokio::test]
async fn without_delivery_headers_the_body_names_the_event() {
    // Older GitLab versions send neither UUID nor Idempotency-Key.
    let bare = headers(&[(HEADER, TOKEN)]);
    let answer = send_to(scheme(), "/webhooks/gitlab", bare, PUSH, 0).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.json());
    assert_eq!(answer.json()["type"], "push");
    assert_eq!(answer.json()["id"], digest(PUSH).as_str());
    let keyed = headers(&[(HEADER, TOKEN), ("idempotency-key", IDEMPOTENCY_KEY)]);
    let answer = send_to(scheme(), "/webhooks/gitlab", keyed, PUSH, 0).await;
    assert_eq!(answer.json()["id"], IDEMPOTENCY_KEY);
}

#[tokio::test]
async fn no_handshake_and_no_token_goes_nowhere() {
    let answer =
        send_to(scheme(), "/webhooks/gitlab", without(&delivery(TOKEN), HEADER), PUSH, 0).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "missing_signature");
    let answer = send_to(scheme(), "/webhooks/gitlab", delivery(OTHER_TOKEN), PUSH, 0).await;
    assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
    assert_eq!(answer.json()["error"], "invalid_signature");
    assert_eq!(answer.content_type(), Some("application/json"));
}
