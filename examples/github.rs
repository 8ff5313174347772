//! Typed GitHub webhooks: `ping`, `push` and `issues`, each with its own
//! handler.
//!
//! ```sh
//! cargo run --example github -- --secret "$GITHUB_WEBHOOK_SECRET"
//! ```
//!
//! GitHub names the event in `X-GitHub-Event` and the delivery in
//! `X-GitHub-Delivery`; it sends no version, so every event is version "1".
//! It signs neither the delivery id nor a timestamp: this receiver dedupes
//! on the delivery id, as GitHub's own redeliveries reuse it.

mod common;

use hookwarden::Receiver;
use hookwarden::event::{Event, EventType};
use hookwarden::router::EventRouter;
use hookwarden::scheme::GitHub;
use serde::Deserialize;

use common::Args;

const USAGE: &str = "usage: cargo run --example github -- --secret S [--listen ADDR]";

#[derive(Debug, Deserialize)]
struct Ping {
    zen: String,
    hook_id: u64,
}

impl EventType for Ping {
    const TYPE: &'static str = "ping";
    const VERSION: &'static str = "1";
}

#[derive(Debug, Deserialize)]
struct Push {
    #[serde(rename = "ref")]
    git_ref: String,
    repository: Repository,
    #[serde(default)]
    commits: Vec<Commit>,
}

impl EventType for Push {
    const TYPE: &'static str = "push";
    const VERSION: &'static str = "1";
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct Commit {
    id: String,
    message: String,
}

#[derive(Debug, Deserialize)]
struct Issues {
    action: String,
    issue: Issue,
    repository: Repository,
}

impl EventType for Issues {
    const TYPE: &'static str = "issues";
    const VERSION: &'static str = "1";
}

#[derive(Debug, Deserialize)]
struct Issue {
    number: u64,
    title: String,
}

async fn ping(event: Event<Ping>) -> Result<(), String> {
    println!("ping from hook {}: {}", event.hook_id, event.zen);
    Ok(())
}

async fn push(event: Event<Push>) -> Result<(), String> {
    println!(
        "{} pushed to {} ({} commits)",
        event.repository.full_name,
        event.git_ref,
        event.commits.len()
    );
    for commit in &event.commits {
        let short = commit.id.get(..7).unwrap_or(&commit.id);
        println!("  {short} {}", commit.message.lines().next().unwrap_or_default());
    }
    Ok(())
}

async fn issues(event: Event<Issues>) -> Result<(), String> {
    println!(
        "{}#{} {}: {}",
        event.repository.full_name, event.issue.number, event.action, event.issue.title
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    common::init_logging("info");
    let args = Args::parse(&["secret", "listen"], &[], USAGE);
    let secrets = args.all("secret");
    if secrets.is_empty() {
        common::fail(
            USAGE,
            "--secret is required: the secret set in the webhook's settings on GitHub",
        );
    }
    let receiver = Receiver::builder(GitHub::new(&secrets)?)
        .router(EventRouter::new().on(ping).on(push).on(issues))
        .build()?;

    let listen = args.get("listen").unwrap_or_else(|| "127.0.0.1:3000".to_owned());
    common::serve(&receiver, "/webhooks/github", &listen).await?;
    Ok(())
}
