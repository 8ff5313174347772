//! A sender's conventions: where it puts the envelope fields, what dedupe
//! keys on, what its body looks like and how a delivery is acknowledged.
//!
//! Each [`Scheme`](super::Scheme) gives its own [`EnvelopeConfig`] from
//! [`Scheme::envelope`](super::Scheme::envelope); the
//! [`EnvelopeLayer`](crate::envelope::EnvelopeLayer) reads requests as it
//! says.

use std::fmt;

use http::HeaderName;

use crate::error::ConfigError;

/// The default version of events that do not say theirs.
pub const DEFAULT_VERSION: &str = "1";

/// A JSON pointer (RFC 6901) into the body, such as `/data/object/id`.
///
/// ```
/// use hookwarden::scheme::JsonPointer;
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

/// What dedupe keys on: the inbox (or the dedupe layer's store) keeps one
/// delivery per key.
///
/// The key is always prefixed with the scheme name, so senders sharing one
/// store cannot collide: `github:id:<delivery id>` or
/// `github:sha256:<hex digest of the body>`.
///
/// An unsigned id can be changed by anyone who captured one genuine
/// delivery: replaying its body with a fresh id header passes the signature
/// check (GitHub and Shopify sign no timestamp either, so this works
/// forever) and, keyed on the id, would be processed again. So the schemes
/// whose id is unsigned (GitHub, Shopify, Zoom, GitLab, Linear, Square,
/// Twilio, Intercom and the generic scheme without a body id) default to
/// [`SignedIdOrDigest`](Self::SignedIdOrDigest), which keys on the body
/// digest there, at the price of treating two deliveries with
/// byte-identical bodies as one; the header id is still reported as the
/// event's id. The README's schemes table says which id each scheme signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DedupeKey {
    /// The event id, wherever it is read from.
    #[default]
    Id,
    /// The SHA-256 of the exact body bytes, whatever the id.
    BodyDigest,
    /// The first source of the id that the signature covers and that is
    /// present (a signed header, a body field), else the body digest: the
    /// replay-proof choice for senders with unsigned id headers.
    SignedIdOrDigest,
}

/// What a sender's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum BodyFormat {
    /// One JSON object per delivery (the default).
    #[default]
    Json,
    /// `application/x-www-form-urlencoded` fields (Twilio, Slack's slash
    /// commands): a one-token [`JsonPointer`] such as `/MessageSid` names a
    /// field, percent-decoded.
    Form,
    /// A JSON array of event objects (SendGrid): the delivery is
    /// acknowledged as a whole, and each element is an event of its own,
    /// with its own envelope read from the element and its own dedupe key.
    JsonBatch,
}

/// How a kept delivery is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AckStyle {
    /// `202 {"status":"accepted","id":…}`, and `200 {"status":"duplicate",…}`
    /// for a duplicate (the default).
    #[default]
    Json,
    /// `204 No Content` for both (Discord requires it).
    NoContent,
}

/// A sender's conventions: where to read each envelope field, how to key
/// dedupe, what the body is and how to acknowledge.
///
/// Every [`Scheme`](super::Scheme) gives its own from
/// [`Scheme::envelope`](super::Scheme::envelope); change what differs:
///
/// ```
/// use hookwarden::scheme::{DedupeKey, EnvelopeConfig, Source};
///
/// // Our own services: id in a header, type nested in the body.
/// let config = EnvelopeConfig::generic()
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
    pub(crate) default_type: Option<Box<str>>,
    pub(crate) numeric_versions: bool,
    pub(crate) dedupe_key: DedupeKey,
    pub(crate) body: BodyFormat,
    pub(crate) ack: AckStyle,
}

/// A header source, for the built-in conventions.
pub(crate) fn header(name: &'static str) -> Source {
    Source::Header(HeaderName::from_static(name))
}

/// A JSON pointer source, for the built-in conventions.
pub(crate) fn pointer(pointer: &str) -> Source {
    Source::JsonPointer(JsonPointer::new(pointer).expect("a valid built-in pointer"))
}

impl EnvelopeConfig {
    /// The conventions of the generic scheme, and the default of a scheme
    /// that does not give its own:
    ///
    /// - id: the `X-Webhook-Id` header, else body `id`, else the SHA-256 of
    ///   the body;
    /// - type: body `type`, `event` or `event_type`;
    /// - version: the `X-Webhook-Version` header, else body `version`, else
    ///   [`DEFAULT_VERSION`]; a numeric version such as `1.0` is read as `1`
    ///   (see [`numeric_versions`](Self::numeric_versions));
    /// - timestamp: the signed one, if the scheme signs one;
    /// - dedupe on [`DedupeKey::SignedIdOrDigest`]: the body `id` where the
    ///   body has one, else the body digest, never the unsigned header.
    pub fn generic() -> Self {
        Self {
            id: vec![header("x-webhook-id"), pointer("/id"), Source::BodyDigest],
            event_type: vec![pointer("/type"), pointer("/event"), pointer("/event_type")],
            version: vec![header("x-webhook-version"), pointer("/version")],
            timestamp: vec![Source::SignedTimestamp],
            default_version: DEFAULT_VERSION.into(),
            default_type: None,
            numeric_versions: true,
            dedupe_key: DedupeKey::SignedIdOrDigest,
            body: BodyFormat::Json,
            ack: AckStyle::Json,
        }
    }

    /// Conventions with these sources and everything else as in
    /// [`generic`](Self::generic) but plain: versions as written, dedupe on
    /// the id. For the built-in schemes.
    pub(crate) fn fields(
        id: Vec<Source>,
        event_type: Vec<Source>,
        version: Vec<Source>,
        timestamp: Vec<Source>,
    ) -> Self {
        Self {
            id,
            event_type,
            version,
            timestamp,
            numeric_versions: false,
            dedupe_key: DedupeKey::Id,
            ..Self::generic()
        }
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

    /// The type of events that do not say theirs (default: none, such an
    /// event is `malformed_event`). For senders with a single kind of
    /// delivery and no type field.
    pub fn default_type(mut self, event_type: impl Into<Box<str>>) -> Self {
        self.default_type = Some(event_type.into());
        self
    }

    /// Whether a version of digits and dots drops its trailing `.0` parts,
    /// so `1.0` and `1.0.0` route as `1` (and `2.10` stays `2.10`).
    pub fn numeric_versions(mut self, yes: bool) -> Self {
        self.numeric_versions = yes;
        self
    }

    /// What the body is (default JSON): see [`BodyFormat`].
    pub fn body_format(mut self, format: BodyFormat) -> Self {
        self.body = format;
        self
    }

    /// How a kept delivery is acknowledged (default JSON): see [`AckStyle`].
    pub fn ack_style(mut self, style: AckStyle) -> Self {
        self.ack = style;
        self
    }

    /// The configured acknowledgement.
    pub fn ack(&self) -> AckStyle {
        self.ack
    }
}

impl Default for EnvelopeConfig {
    fn default() -> Self {
        Self::generic()
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
        let config = EnvelopeConfig::generic();
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
}
