//! The address lists webhook providers publish, parsed from a string or a
//! file (fetching them is up to you: this crate makes no network calls).
//!
//! * GitHub: the `hooks` list of the meta document (`GET /meta` on the
//!   GitHub API), CIDRs for IPv4 and IPv6.
//! * Stripe: the `WEBHOOKS` list of Stripe's published webhook address
//!   document (`ips_webhooks.json`), single IPv4 addresses.
//!
//! Every entry must parse; a document with an empty list is refused, so a
//! truncated download never becomes "allow nobody" (or, worse, a fallback
//! to "allow everybody").
//!
//! ```
//! use hookwarden::ip::{IpAllowlistLayer, providers};
//!
//! let meta = r#"{
//!     "verifiable_password_authentication": false,
//!     "hooks": ["192.30.252.0/22", "185.199.108.0/22", "140.82.112.0/20",
//!               "143.55.64.0/20", "2a0a:a440::/29", "2606:50c0::/32"],
//!     "web": ["192.30.252.0/22"]
//! }"#;
//! let stripe = r#"{"WEBHOOKS": ["3.18.12.63", "3.130.192.231", "13.235.14.237"]}"#;
//!
//! let github = providers::github_hooks(meta)?;
//! let both = github.union(&providers::stripe_webhooks(stripe)?);
//! let layer = IpAllowlistLayer::from_ranges(both)?;
//! # let _ = layer;
//! # Ok::<(), hookwarden::ConfigError>(())
//! ```

use std::path::Path;

use serde::Deserialize;

use super::IpRanges;
use crate::ConfigError;

const GITHUB: &str = "GitHub meta document";
const STRIPE: &str = "Stripe webhook address document";

#[derive(Deserialize)]
struct GitHubMeta {
    hooks: Vec<String>,
}

#[derive(Deserialize)]
struct StripeIps {
    #[serde(rename = "WEBHOOKS")]
    webhooks: Vec<String>,
}

/// The `hooks` ranges of GitHub's meta document (JSON text); other fields
/// are ignored.
pub fn github_hooks(json: &str) -> Result<IpRanges, ConfigError> {
    let meta: GitHubMeta = serde_json::from_str(json).map_err(|e| invalid(GITHUB, e))?;
    ranges(meta.hooks, "the `hooks` list of the GitHub meta document")
}

/// [`github_hooks`], reading the document from a file.
pub fn github_hooks_from_file(path: impl AsRef<Path>) -> Result<IpRanges, ConfigError> {
    github_hooks(&read(GITHUB, path.as_ref())?)
}

/// The `WEBHOOKS` addresses of Stripe's webhook address document (JSON
/// text); other fields are ignored.
pub fn stripe_webhooks(json: &str) -> Result<IpRanges, ConfigError> {
    let ips: StripeIps = serde_json::from_str(json).map_err(|e| invalid(STRIPE, e))?;
    ranges(ips.webhooks, "the `WEBHOOKS` list of the Stripe document")
}

/// [`stripe_webhooks`], reading the document from a file.
pub fn stripe_webhooks_from_file(path: impl AsRef<Path>) -> Result<IpRanges, ConfigError> {
    stripe_webhooks(&read(STRIPE, path.as_ref())?)
}

fn ranges(items: Vec<String>, what: &'static str) -> Result<IpRanges, ConfigError> {
    if items.is_empty() {
        return Err(ConfigError::Empty { what });
    }
    IpRanges::parse(items)
}

fn read(what: &'static str, path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|e| invalid(what, format!("{}: {e}", path.display())))
}

fn invalid(what: &'static str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid { what, reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_empty_and_bad_lists_are_refused() {
        assert!(matches!(github_hooks("{}"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(github_hooks("not json"), Err(ConfigError::Invalid { .. })));
        assert!(matches!(github_hooks(r#"{"hooks": []}"#), Err(ConfigError::Empty { .. })));
        assert!(matches!(
            github_hooks(r#"{"hooks": ["192.30.252.0/33"]}"#),
            Err(ConfigError::InvalidCidr { .. })
        ));
        assert!(stripe_webhooks(r#"{"webhooks": ["1.2.3.4"]}"#).is_err());
        assert!(matches!(stripe_webhooks(r#"{"WEBHOOKS": []}"#), Err(ConfigError::Empty { .. })));
        assert!(matches!(
            stripe_webhooks_from_file("/nonexistent/ips.json"),
            Err(ConfigError::Invalid { .. })
        ));
    }

    #[test]
    fn stripe_addresses_are_single_hosts() {
        let ranges = stripe_webhooks(r#"{"WEBHOOKS": ["3.18.12.63", "3.130.192.231"]}"#).unwrap();
        assert!(ranges.contains("3.18.12.63".parse().unwrap()));
        assert!(!ranges.contains("3.18.12.64".parse().unwrap()));
    }
}
