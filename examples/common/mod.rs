//! What the `receiver` and `send` examples share: the demo secret, the
//! scheme names, and a small command-line parser.

#![allow(dead_code)] // each example uses a part

pub(crate) mod admin;
pub(crate) mod demo;

use std::sync::Arc;

use hookwarden::ConfigError;
use hookwarden::inbox::{Inbox, MemoryInbox};
use hookwarden::ip::ClientIpSource;
use hookwarden::scheme::{
    GenericHmac, GitHub, GitLab, Intercom, Linear, Logto, Mailgun, Paddle, Scheme, Shopify, Slack,
    Square, StandardWebhooks, Stripe, Twilio, Twitch, Zoom,
};

/// The demo secret, valid for every HMAC scheme (Standard Webhooks reads
/// the base64 after `whsec_`; the others use the whole string).
pub(crate) const DEMO_SECRET: &str = "whsec_aG9va3dhcmRlbi1kZW1vLXNlY3JldC0zMi1ieXRlcyE=";

/// The demo Discord signing key (an ed25519 seed, hex): `send` signs with
/// it, and `receiver` verifies with its public key unless given
/// `--public-key`.
pub(crate) const DEMO_DISCORD_KEY: &str =
    "686f6f6b77617264656e2d64656d6f2d646973636f72642d7365656421212121";

/// The demo SendGrid private key (a P-256 scalar, hex), used the same way.
pub(crate) const DEMO_SENDGRID_KEY: &str =
    "686f6f6b77617264656e2d64656d6f2d73656e64677269642d6b657921212121";

/// The schemes the examples know, by command-line name.
pub(crate) const SCHEMES: &str = "standard | github | stripe | slack | shopify | logto | hmac | \
     discord | zoom | twitch | paddle | gitlab | linear | square | twilio | mailgun | sendgrid | \
     intercom";

/// What the command line says about the scheme.
pub(crate) struct SchemeArgs<'a> {
    /// `--scheme`.
    pub(crate) name: &'a str,
    /// `--secret`, repeatable (rotation).
    pub(crate) secrets: &'a [String],
    /// `--public-key`, repeatable: discord (hex ed25519), sendgrid (base64
    /// DER P-256), standard (`whpk_`, the v1a keys).
    pub(crate) public_keys: &'a [String],
    /// `--public-url`: the URL the sender was configured with (square,
    /// twilio).
    pub(crate) public_url: &'a str,
}

/// Builds the scheme the command line names.
pub(crate) fn scheme(args: &SchemeArgs<'_>) -> Result<Arc<dyn Scheme>, String> {
    fn shared(scheme: impl Scheme) -> Arc<dyn Scheme> {
        Arc::new(scheme)
    }
    let secrets = args.secrets;
    let built: Result<Arc<dyn Scheme>, ConfigError> = match args.name {
        "standard" if !args.public_keys.is_empty() => standard_v1a(secrets, args.public_keys),
        "standard" => StandardWebhooks::new(secrets).map(shared),
        "github" => GitHub::new(secrets).map(shared),
        "stripe" => Stripe::new(secrets).map(shared),
        "slack" => Slack::new(secrets).map(shared),
        "shopify" => Shopify::new(secrets).map(shared),
        "logto" => Logto::new(secrets).map(shared),
        "hmac" => {
            secrets.iter().fold(GenericHmac::builder(), |b, s| b.secret(s)).build().map(shared)
        }
        "discord" => discord(args.public_keys),
        "sendgrid" => sendgrid(args.public_keys),
        "zoom" => Zoom::new(secrets).map(shared),
        "twitch" => Twitch::new(secrets).map(shared),
        "paddle" => Paddle::new(secrets).map(shared),
        "gitlab" => GitLab::new(secrets).map(shared),
        "linear" => Linear::new(secrets).map(shared),
        "square" => Square::new(secrets, args.public_url).map(shared),
        "twilio" => Twilio::new(secrets, origin(args.public_url)).map(shared),
        "mailgun" => Mailgun::new(secrets).map(shared),
        "intercom" => Intercom::new(secrets).map(shared),
        other => return Err(format!("unknown scheme {other:?}; expected one of: {SCHEMES}")),
    };
    built.map_err(|e| e.to_string())
}

/// `scheme://host[:port]` of a URL: Twilio joins it with the request's own
/// path and query.
pub(crate) fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

#[cfg(feature = "ed25519")]
fn standard_v1a(secrets: &[String], keys: &[String]) -> Result<Arc<dyn Scheme>, ConfigError> {
    let mut scheme = StandardWebhooks::with_public_keys(keys)?;
    if !secrets.is_empty() {
        scheme = StandardWebhooks::new(secrets)?;
        for key in keys {
            scheme = scheme.public_key(key)?;
        }
    }
    Ok(Arc::new(scheme))
}

#[cfg(not(feature = "ed25519"))]
fn standard_v1a(_: &[String], _: &[String]) -> Result<Arc<dyn Scheme>, ConfigError> {
    Err(rebuild("standard --public-key", "ed25519"))
}

#[cfg(feature = "ed25519")]
fn discord(keys: &[String]) -> Result<Arc<dyn Scheme>, ConfigError> {
    let demo = [hookwarden::testing::discord_public_key(DEMO_DISCORD_KEY)];
    let keys = if keys.is_empty() { &demo[..] } else { keys };
    Ok(Arc::new(hookwarden::scheme::Discord::new(keys)?))
}

#[cfg(not(feature = "ed25519"))]
fn discord(_: &[String]) -> Result<Arc<dyn Scheme>, ConfigError> {
    Err(rebuild("discord", "ed25519"))
}

#[cfg(feature = "p256")]
fn sendgrid(keys: &[String]) -> Result<Arc<dyn Scheme>, ConfigError> {
    let demo = [hookwarden::testing::sendgrid_public_key(DEMO_SENDGRID_KEY)];
    let keys = if keys.is_empty() { &demo[..] } else { keys };
    Ok(Arc::new(hookwarden::scheme::SendGrid::new(keys)?))
}

#[cfg(not(feature = "p256"))]
fn sendgrid(_: &[String]) -> Result<Arc<dyn Scheme>, ConfigError> {
    Err(rebuild("sendgrid", "p256"))
}

#[cfg(not(all(feature = "ed25519", feature = "p256")))]
fn rebuild(what: &str, feature: &str) -> ConfigError {
    ConfigError::Invalid {
        what: "scheme",
        reason: format!(
            "{what} needs the `{feature}` feature: run with `cargo run --features {feature} --example …`"
        ),
    }
}

/// The header named by `--client-ip-header`: `xff` (X-Forwarded-For),
/// `forwarded` (RFC 7239), or the name of a header holding one address.
pub(crate) fn client_ip_source(name: &str) -> Result<ClientIpSource, String> {
    match name.to_ascii_lowercase().as_str() {
        "xff" | "x-forwarded-for" => Ok(ClientIpSource::XForwardedFor),
        "forwarded" => Ok(ClientIpSource::Forwarded),
        _ => ClientIpSource::header(name).map_err(|e| {
            format!("--client-ip-header: {e}; expected xff, forwarded or a header name such as X-Real-IP")
        }),
    }
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

/// Unix seconds as RFC 3339 UTC (`2026-12-02T16:19:13Z`), as Twitch writes
/// its timestamps.
pub(crate) fn rfc3339(unix: u64) -> String {
    let (days, seconds) = (unix / 86_400, unix % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        seconds / 3_600,
        seconds % 3_600 / 60,
        seconds % 60
    )
}

/// Prints the problem and the usage to stderr and exits with status 2.
pub(crate) fn fail(usage: &str, problem: &str) -> ! {
    eprintln!("error: {problem}\n\n{usage}");
    std::process::exit(2)
}
