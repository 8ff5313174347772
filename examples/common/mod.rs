//! What the `receiver` and `send` examples share: the demo secret, the
//! scheme names, and a small command-line parser.

#![allow(dead_code)] // each example uses a part

pub(crate) mod demo;

use std::sync::Arc;

use hookwarden::ConfigError;
use hookwarden::inbox::{Inbox, MemoryInbox};
use hookwarden::scheme::{
    GenericHmac, GitHub, Logto, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};

/// The demo secret, valid for every scheme (Standard Webhooks reads the
/// base64 after `whsec_`; the others use the whole string).
pub(crate) const DEMO_SECRET: &str = "whsec_aG9va3dhcmRlbi1kZW1vLXNlY3JldC0zMi1ieXRlcyE=";

/// The schemes the examples know, by command-line name.
pub(crate) const SCHEMES: &str = "standard | github | stripe | slack | shopify | logto | hmac";

/// Builds the scheme named on the command line with these secrets.
pub(crate) fn scheme(name: &str, secrets: &[String]) -> Result<Arc<dyn Scheme>, String> {
    let built: Result<Arc<dyn Scheme>, ConfigError> = match name {
        "standard" => StandardWebhooks::new(secrets).map(|s| Arc::new(s) as _),
        "github" => GitHub::new(secrets).map(|s| Arc::new(s) as _),
        "stripe" => Stripe::new(secrets).map(|s| Arc::new(s) as _),
        "slack" => Slack::new(secrets).map(|s| Arc::new(s) as _),
        "shopify" => Shopify::new(secrets).map(|s| Arc::new(s) as _),
        "logto" => Logto::new(secrets).map(|s| Arc::new(s) as _),
        "hmac" => secrets
            .iter()
            .fold(GenericHmac::builder(), |b, s| b.secret(s))
            .build()
            .map(|s| Arc::new(s) as _),
        other => return Err(format!("unknown scheme {other:?}; expected one of: {SCHEMES}")),
    };
    built.map_err(|e| e.to_string())
}

/// The inbox named by a `--store` URL (`memory`, `sqlite://PATH`,
/// `postgres://…`, `redis://…`), holding at most `capacity` deliveries.
pub(crate) async fn inbox(url: Option<String>, capacity: usize) -> Result<Arc<dyn Inbox>, String> {
    let url = url.unwrap_or_else(|| "memory".to_owned());
    if url == "memory" {
        return Ok(Arc::new(MemoryInbox::with_capacity(capacity)));
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        #[cfg(feature = "sqlite")]
        {
            let inbox = hookwarden::inbox::SqliteInbox::builder(path)
                .capacity(capacity)
                .open()
                .map_err(|e| e.to_string())?;
            return Ok(Arc::new(inbox));
        }
        #[cfg(not(feature = "sqlite"))]
        return Err(format!(
            "this build has no SQLite inbox (for {path:?}): run with `cargo run --features sqlite --example receiver`"
        ));
    }
    if url.starts_with("redis://") || url.starts_with("rediss://") {
        #[cfg(feature = "redis")]
        {
            let inbox = hookwarden::inbox::RedisInbox::builder(url)
                .namespace("receiver")
                .capacity(capacity)
                .connect()
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Arc::new(inbox));
        }
        #[cfg(not(feature = "redis"))]
        return Err("this build has no Redis inbox: run with `cargo run --features redis --example receiver`".into());
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        #[cfg(feature = "postgres")]
        {
            let inbox = hookwarden::inbox::PostgresInbox::builder(url)
                .namespace("receiver")
                .capacity(capacity)
                .build()
                .map_err(|e| e.to_string())?;
            inbox.migrate().await.map_err(|e| e.to_string())?;
            return Ok(Arc::new(inbox));
        }
        #[cfg(not(feature = "postgres"))]
        return Err("this build has no PostgreSQL inbox: run with `cargo run --features postgres --example receiver`".into());
    }
    Err(format!("unknown store {url:?}: expected memory, sqlite://PATH, postgres://… or redis://…"))
}

/// Command-line options: `--name value` or `--name=value`, repeatable, and
/// bare `--flag`s.
pub(crate) struct Args {
    options: Vec<(String, Option<String>)>,
}

impl Args {
    /// Parses the process arguments. `with_value` lists the options that
    /// take a value; anything else unknown is an error.
    pub(crate) fn parse(with_value: &[&str], flags: &[&str], usage: &str) -> Self {
        let mut options = Vec::new();
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            if arg == "-h" || arg == "--help" {
                println!("{usage}");
                std::process::exit(0);
            }
            let Some(name) = arg.strip_prefix("--") else {
                fail(usage, &format!("unexpected argument {arg:?}"))
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
                None => (name.to_owned(), None),
            };
            if with_value.contains(&name.as_str()) {
                let value = inline.or_else(|| args.next());
                let Some(value) = value else { fail(usage, &format!("--{name} needs a value")) };
                options.push((name, Some(value)));
            } else if flags.contains(&name.as_str()) && inline.is_none() {
                options.push((name, None));
            } else {
                fail(usage, &format!("unknown option --{name}"));
            }
        }
        Self { options }
    }

    /// Every value given for `name`, in order.
    pub(crate) fn all(&self, name: &str) -> Vec<String> {
        self.options.iter().filter(|(n, _)| n == name).filter_map(|(_, v)| v.clone()).collect()
    }

    /// The last value given for `name`.
    pub(crate) fn get(&self, name: &str) -> Option<String> {
        self.all(name).pop()
    }

    /// The last value given for `name`, parsed; exits with a message if it
    /// does not parse.
    pub(crate) fn parsed<T: std::str::FromStr>(&self, name: &str, usage: &str) -> Option<T> {
        self.get(name).map(|v| {
            v.parse().unwrap_or_else(|_| fail(usage, &format!("invalid value {v:?} for --{name}")))
        })
    }

    /// Whether the bare flag `name` was given.
    pub(crate) fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|(n, v)| n == name && v.is_none())
    }
}

/// Logs to stderr (colours only on a terminal), at `RUST_LOG` or else
/// `default_level`.
pub(crate) fn init_logging(default_level: &str) {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default_level.into()),
        )
        .init();
}

/// Serves `receiver` at `path` on `listen` until Ctrl-C, then lets its
/// workers drain for up to 10 s.
pub(crate) async fn serve(
    receiver: &hookwarden::Receiver,
    path: &str,
    listen: &str,
) -> std::io::Result<()> {
    let app = axum::Router::new().route_service(path, receiver.service());
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("webhooks on http://{}{path}", listener.local_addr()?);
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    receiver.handle().shutdown(std::time::Duration::from_secs(10)).await;
    Ok(())
}

/// Prints the problem and the usage to stderr and exits with status 2.
pub(crate) fn fail(usage: &str, problem: &str) -> ! {
    eprintln!("error: {problem}\n\n{usage}");
    std::process::exit(2)
}
