//! Where each sender puts the envelope fields: presets and sources.

use std::fmt;

use http::HeaderName;

use crate::ConfigError;

/// The default version of events that do not say theirs.
pub const DEFAULT_VERSION: &str = "1";

/// A JSON pointer (RFC 6901) into the body, such as `/data/object/id`.
///
/// ```
/// use hookwarden::envelope::JsonPointer;
///
/// assert!(JsonPointer::new("/event/type").is_ok());
/// assert!(JsonPointer::new("/a~1b").is_ok(), "`~1` is a `/` inside a key");
/// assert!(JsonPointer::new("type").is_err(), "a pointer starts with `/`");
/// assert!(JsonPointer::new("").is_err(), "the whole body is not a field");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct JsonPointer {
    text: Box<str>,
    tokens: Box<[Box<str>]>,
}

impl JsonPointer {
    /// Parses a pointer; it must start with `/` and may only escape `~0`
    /// (`~`) and `~1` (`/`).
    pub fn new(pointer: &str) -> Result<Self, ConfigError> {
        let invalid = |reason: &str| ConfigError::Invalid {
            what: "JSON pointer",
            reason: format!("{pointer:?}: {reason}"),
        };
        let Some(rest) = pointer.strip_prefix('/') else {
            return Err(invalid("must start with `/` (the whole body is not a field)"));
        };
        let tokens = rest
            .split('/')
            .map(|token| {
                let mut out = String::with_capacity(token.len());
                let mut chars = token.chars();
                while let Some(c) = chars.next() {
                    match c {
                        '~' => match chars.next() {
                            Some('0') => out.push('~'),
                            Some('1') => out.push('/'),
                            _ => return Err(invalid("`~` must be followed by 0 or 1")),
                        },
                        c => out.push(c),
                    }
                }
                Ok(out.into_boxed_str())
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { text: pointer.into(), tokens })
    }

    /// The pointer as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The unescaped reference tokens.
    pub(crate) fn tokens(&self) -> &[Box<str>] {
        &self.tokens
    }
}

impl fmt::Debug for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonPointer({:?})", self.text)
    }
}

impl fmt::Display for JsonPointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Where an envelope field is read from.
///
/// Each field has a list of sources, tried in order; the first one present
/// (and not `null` or empty) wins.
///
/// | source | id | type, version | timestamp | covered by the signature? |
/// | --- | --- | --- | --- | --- |
/// | [`Header`](Self::Header) | ✓ | ✓ | ✓ | no (only Standard Webhooks signs a header, its id: use [`SignedId`](Self::SignedId)) |
/// | [`JsonPointer`](Self::JsonPointer) | ✓ | ✓ | ✓ | yes: every built-in scheme signs the whole body |
/// | [`BodyDigest`](Self::BodyDigest) | ✓ | | | yes |
/// | [`SignedId`](Self::SignedId) | ✓ | | | yes |
/// | [`SignedTimestamp`](Self::SignedTimestamp) | | | ✓ | yes |
/// | [`Query`](Self::Query) | | ✓ | | no (the URL you gave the sender) |
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Source {
    /// A request header (it must appear once, or repeated with the same
    /// value, and be visible ASCII).
    Header(HeaderName),
    /// A field of the JSON body: a string, or a number (printed as JSON
    /// prints it; timestamps must be non-negative integers or strings of
    /// digits).
    JsonPointer(JsonPointer),
    /// The SHA-256 of the exact body bytes, in lowercase hex: for senders
    /// that send no id, or whose id is not signed.
    BodyDigest,
    /// The id the scheme's signature covers
    /// ([`Verified::signed_id`](crate::Verified::signed_id)).
    SignedId,
    /// The timestamp the scheme's signature covers
    /// ([`Verified::timestamp`](crate::Verified::timestamp)).
    SignedTimestamp,
    /// A parameter of the request URL's query string, such as `version` in
    /// `/webhooks?version=2`: for senders configured with one URL per
    /// version. Taken as written (no percent-decoding); a parameter given
    /// twice with different values is malformed.
    Query(Box<str>),
}

impl Source {
    /// A header source, from its name.
    pub fn header(name: &str) -> Result<Self, ConfigError> {
        HeaderName::try_from(name)
            .map(Self::Header)
            .map_err(|_| ConfigError::InvalidHeaderName { name: name.to_owned() })
    }

    /// A query-parameter source, from its name.
    pub fn query(name: &str) -> Self {
        Self::Query(name.into())
    }

    /// A body source, from a JSON pointer such as `/data/id`.
    pub fn json_pointer(pointer: &str) -> Result<Self, ConfigError> {
        JsonPointer::new(pointer).map(Self::JsonPointer)
    }
}

/// What the dedupe layer claims in the idempotency store.
///
/// The key is always prefixed with the scheme name, so senders sharing one
/// store cannot collide: `github:id:<delivery id>` or
/// `github:sha256:<hex digest of the body>`.
///
/// Which schemes sign their id:
///
/// | preset | id | signed? |
/// | --- | --- | --- |
/// | Standard Webhooks | `webhook-id` header | yes (part of the signed content) |
/// | Stripe | body `id` | yes (the body is signed) |
/// | Slack | body `event_id` | yes (the body is signed) |
/// | GitHub | `X-GitHub-Delivery` header | **no** |
/// | Shopify | `X-Shopify-Webhook-Id` / `X-Shopify-Event-Id` headers | **no** |
/// | Logto | none sent: the body digest is the id | yes |
/// | generic | body `/id`, else `X-Webhook-Id` header | body yes, header no |
///
/// An unsigned id can be changed by anyone who captured one genuine
/// delivery: replaying its body with a fresh id header passes the signature
/// check (GitHub and Shopify sign no timestamp either, so this works
/// forever) and, keyed on the id, is processed again.
/// [`SignedIdOrDigest`](Self::SignedIdOrDigest) closes that hole at the
/// price of treating two deliveries with byte-identical bodies as one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DedupeKey {
    /// The event id, wherever the preset reads it (the default).
    #[default]
    Id,
    /// The SHA-256 of the exact body bytes, whatever the id.
    BodyDigest,
    /// The id where the signature covers it, else the body digest: the
    /// replay-proof choice for GitHub and Shopify.
    SignedIdOrDigest,
}

/// A sender's conventions for the envelope fields.
///
/// [`Preset::for_scheme`] picks the one for a
/// [`Scheme::name`](crate::Scheme::name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Preset {
    /// Id `webhook-id` (signed), type body `type`, version body `version`,
    /// timestamp `webhook-timestamp` (signed).
    StandardWebhooks,
    /// Id `X-GitHub-Delivery`, type `X-GitHub-Event`; no version, no
    /// timestamp.
    GitHub,
    /// Id body `id`, type body `type`, version body `api_version`,
    /// timestamp body `created` (else the signed `t`).
    Stripe,
    /// Id body `event_id`, type body `type` (`event_callback` for events),
    /// timestamp body `event_time` (else the signed request timestamp). A
    /// `url_verification` handshake has no id.
    Slack,
    /// Id `X-Shopify-Webhook-Id` (else `X-Shopify-Event-Id`), type
    /// `X-Shopify-Topic`, version `X-Shopify-API-Version`; no timestamp.
    Shopify,
    /// No id is sent: the id is the body digest; type body `event`.
    Logto,
    /// Id body `/id` (else the `X-Webhook-Id` header), type body `/type`,
    /// version body `/version`, the signed timestamp if any.
    Generic,
}

impl Preset {
    /// Every preset.
    pub const ALL: [Preset; 7] = [
        Preset::StandardWebhooks,
        Preset::GitHub,
        Preset::Stripe,
        Preset::Slack,
        Preset::Shopify,
        Preset::Logto,
        Preset::Generic,
    ];

    /// The preset for a scheme name (as in
    /// [`Verified::scheme`](crate::Verified::scheme)); unknown names,
    /// including `"hmac"` and your own schemes, get [`Preset::Generic`].
    ///
    /// ```
    /// use hookwarden::envelope::Preset;
    ///
    /// assert_eq!(Preset::for_scheme("github"), Preset::GitHub);
    /// assert_eq!(Preset::for_scheme("hmac"), Preset::Generic);
    /// ```
    pub fn for_scheme(scheme: &str) -> Self {
        match scheme {
            "standard-webhooks" => Self::StandardWebhooks,
            "github" => Self::GitHub,
            "stripe" => Self::Stripe,
            "slack" => Self::Slack,
            "shopify" => Self::Shopify,
            "logto" => Self::Logto,
            _ => Self::Generic,
        }
    }
}

/// Where to read each envelope field, and how to key dedupe.
///
/// Start from a [`Preset`] and override what differs:
///
/// ```
/// use hookwarden::envelope::{DedupeKey, EnvelopeConfig, Preset, Source};
///
/// // Our own services: id in a header, type nested in the body.
/// let config = EnvelopeConfig::preset(Preset::Generic)
///     .id([Source::header("X-Event-Id")?])?
///     .event_type([Source::json_pointer("/event/kind")?])?
///     .default_version("2023-10-16")
///     .dedupe_key(DedupeKey::SignedIdOrDigest);
/// # let _ = config;
/// # Ok::<(), hookwarden::ConfigError>(())
/// ```
#[derive(Debug, Clone)]
pub struct EnvelopeConfig {
    pub(crate) id: Vec<Source>,
    pub(crate) event_type: Vec<Source>,
    pub(crate) version: Vec<Source>,
    pub(crate) timestamp: Vec<Source>,
    pub(crate) default_version: Box<str>,
    pub(crate) dedupe_key: DedupeKey,
    pub(crate) handshakes: Vec<Box<str>>,
}

fn header(name: &'static str) -> Source {
    Source::Header(HeaderName::from_static(name))
}

fn pointer(pointer: &str) -> Source {
    Source::JsonPointer(JsonPointer::new(pointer).expect("a valid built-in pointer"))
}

impl EnvelopeConfig {
    /// The settings of a preset; default version [`DEFAULT_VERSION`],
    /// dedupe on the id.
    pub fn preset(preset: Preset) -> Self {
        let mut config = Self {
            id: Vec::new(),
            event_type: vec![pointer("/type")],
            version: Vec::new(),
            timestamp: vec![Source::SignedTimestamp],
            default_version: DEFAULT_VERSION.into(),
            dedupe_key: DedupeKey::Id,
            handshakes: Vec::new(),
        };
        match preset {
            Preset::StandardWebhooks => {
                config.id = vec![Source::SignedId];
                config.version = vec![pointer("/version")];
            }
            Preset::GitHub => {
                config.id = vec![header("x-github-delivery")];
                config.event_type = vec![header("x-github-event")];
            }
            Preset::Stripe => {
                config.id = vec![pointer("/id")];
                config.version = vec![pointer("/api_version")];
                config.timestamp = vec![pointer("/created"), Source::SignedTimestamp];
            }
            Preset::Slack => {
                config.id = vec![pointer("/event_id")];
                config.timestamp = vec![pointer("/event_time"), Source::SignedTimestamp];
                config.handshakes = vec!["url_verification".into()];
            }
            Preset::Shopify => {
                config.id = vec![header("x-shopify-webhook-id"), header("x-shopify-event-id")];
                config.event_type = vec![header("x-shopify-topic")];
                config.version = vec![header("x-shopify-api-version")];
            }
            Preset::Logto => {
                config.id = vec![Source::BodyDigest];
                config.event_type = vec![pointer("/event")];
            }
            Preset::Generic => {
                config.id = vec![pointer("/id"), header("x-webhook-id")];
                config.version = vec![pointer("/version")];
            }
        }
        config
    }

    /// Where the event id is read from, in order of preference (any
    /// source but [`SignedTimestamp`](Source::SignedTimestamp) and
    /// [`Query`](Source::Query)).
    pub fn id(mut self, sources: impl IntoIterator<Item = Source>) -> Result<Self, ConfigError> {
        self.id =
            collect("id", sources, |s| !matches!(s, Source::SignedTimestamp | Source::Query(_)))?;
        Ok(self)
    }

    /// Where the event type is read from, in order of preference (headers,
    /// JSON pointers and query parameters).
    pub fn event_type(
        mut self,
        sources: impl IntoIterator<Item = Source>,
    ) -> Result<Self, ConfigError> {
        self.event_type = collect("event type", sources, is_text)?;
        Ok(self)
    }

    /// Where the event version is read from, in order of preference
    /// (headers, JSON pointers and query parameters); may be empty: every
    /// event then has the
    /// [default version](Self::default_version).
    pub fn version(
        mut self,
        sources: impl IntoIterator<Item = Source>,
    ) -> Result<Self, ConfigError> {
        self.version = sources.into_iter().collect();
        if let Some(bad) = self.version.iter().find(|s| !is_text(s)) {
            return Err(unsupported("version", bad));
        }
        Ok(self)
    }

    /// Where the timestamp (Unix seconds) is read from, in order of
    /// preference (any source but [`BodyDigest`](Source::BodyDigest),
    /// [`SignedId`](Source::SignedId) and [`Query`](Source::Query)); may be
    /// empty.
    pub fn timestamp(
        mut self,
        sources: impl IntoIterator<Item = Source>,
    ) -> Result<Self, ConfigError> {
        self.timestamp = sources.into_iter().collect();
        if let Some(bad) = self
            .timestamp
            .iter()
            .find(|s| matches!(s, Source::BodyDigest | Source::SignedId | Source::Query(_)))
        {
            return Err(unsupported("timestamp", bad));
        }
        Ok(self)
    }

    /// The version of events that do not say theirs (default
    /// [`DEFAULT_VERSION`], `"1"`).
    pub fn default_version(mut self, version: impl Into<Box<str>>) -> Self {
        self.default_version = version.into();
        self
    }

    /// What dedupe claims: see [`DedupeKey`].
    pub fn dedupe_key(mut self, key: DedupeKey) -> Self {
        self.dedupe_key = key;
        self
    }

    /// Declares an event type that is a handshake: it may come without an
    /// id, is never deduplicated and needs a synchronous answer (Slack's
    /// `url_verification` is declared by its preset).
    pub fn handshake_type(mut self, event_type: impl Into<Box<str>>) -> Self {
        self.handshakes.push(event_type.into());
        self
    }
}

fn is_text(source: &Source) -> bool {
    matches!(source, Source::Header(_) | Source::JsonPointer(_) | Source::Query(_))
}

fn unsupported(field: &'static str, source: &Source) -> ConfigError {
    ConfigError::Invalid {
        what: field,
        reason: format!("{source:?} cannot be a source of the {field}"),
    }
}

fn collect(
    field: &'static str,
    sources: impl IntoIterator<Item = Source>,
    allowed: impl Fn(&Source) -> bool,
) -> Result<Vec<Source>, ConfigError> {
    let sources: Vec<Source> = sources.into_iter().collect();
    if sources.is_empty() {
        return Err(ConfigError::Empty { what: field });
    }
    if let Some(bad) = sources.iter().find(|s| !allowed(s)) {
        return Err(unsupported(field, bad));
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_unescape_tokens() {
        let pointer = JsonPointer::new("/a~1b/c~0d/0/").unwrap();
        let tokens: Vec<&str> = pointer.tokens().iter().map(|t| &**t).collect();
        assert_eq!(tokens, ["a/b", "c~d", "0", ""]);
        assert!(JsonPointer::new("/a~2").is_err());
        assert!(JsonPointer::new("/a~").is_err());
    }

    #[test]
    fn sources_are_checked_per_field() {
        let config = EnvelopeConfig::preset(Preset::Generic);
        assert!(config.clone().id([Source::BodyDigest]).is_ok());
        assert!(config.clone().id([]).is_err());
        assert!(config.clone().id([Source::SignedTimestamp]).is_err());
        assert!(config.clone().event_type([Source::BodyDigest]).is_err());
        assert!(config.clone().version([]).is_ok());
        assert!(config.clone().version([Source::SignedId]).is_err());
        assert!(config.clone().timestamp([Source::SignedTimestamp]).is_ok());
        assert!(config.timestamp([Source::BodyDigest]).is_err());
        assert!(Source::header("bad header").is_err());
    }

    #[test]
    fn scheme_names_map_to_presets() {
        for (name, preset) in [
            ("standard-webhooks", Preset::StandardWebhooks),
            ("github", Preset::GitHub),
            ("stripe", Preset::Stripe),
            ("slack", Preset::Slack),
            ("shopify", Preset::Shopify),
            ("logto", Preset::Logto),
            ("hmac", Preset::Generic),
            ("acme", Preset::Generic),
        ] {
            assert_eq!(Preset::for_scheme(name), preset);
        }
    }
}
