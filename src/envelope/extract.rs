//! Turning a verified request into an [`Envelope`], as a config says.

use std::fmt::Write as _;

use http::{HeaderMap, HeaderName, Uri};
use sha2::{Digest, Sha256};

use super::Envelope;
use super::config::{DedupeKey, EnvelopeConfig, Source};
use super::probe::{Found, Paths, ProbeError, unix_seconds};
use crate::Rejection;
use crate::scheme::Verified;

/// Ids longer than this, or with control characters, are hashed into the
/// dedupe key: shared stores have key limits (PostgreSQL cannot index
/// much more than 2 KiB, nor store a NUL in text).
const MAX_PLAIN_ID: usize = 200;

/// A source, with JSON pointers resolved to probe slots.
#[derive(Debug, Clone)]
enum Step {
    Header(HeaderName),
    Query(Box<str>),
    Body(usize),
    BodyDigest,
    SignedId,
    SignedTimestamp,
}

impl Step {
    fn is_signed(&self) -> bool {
        !matches!(self, Step::Header(_) | Step::Query(_))
    }
}

/// A compiled [`EnvelopeConfig`].
#[derive(Debug, Clone)]
pub(crate) struct Extractor {
    paths: Paths,
    id: Vec<Step>,
    event_type: Vec<Step>,
    version: Vec<Step>,
    timestamp: Vec<Step>,
    pub(crate) default_version: Box<str>,
    pub(crate) dedupe_key: DedupeKey,
    handshakes: Vec<Box<str>>,
}

impl Extractor {
    pub(crate) fn new(config: &EnvelopeConfig) -> Self {
        let mut paths = Paths::default();
        let mut steps = |sources: &[Source]| -> Vec<Step> {
            sources
                .iter()
                .map(|source| match source {
                    Source::Header(name) => Step::Header(name.clone()),
                    Source::Query(name) => Step::Query(name.clone()),
                    Source::JsonPointer(pointer) => Step::Body(paths.add(pointer)),
                    Source::BodyDigest => Step::BodyDigest,
                    Source::SignedId => Step::SignedId,
                    Source::SignedTimestamp => Step::SignedTimestamp,
                })
                .collect()
        };
        let id = steps(&config.id);
        let event_type = steps(&config.event_type);
        let version = steps(&config.version);
        let timestamp = steps(&config.timestamp);
        Self {
            paths,
            id,
            event_type,
            version,
            timestamp,
            default_version: config.default_version.clone(),
            dedupe_key: config.dedupe_key,
            handshakes: config.handshakes.clone(),
        }
    }

    pub(crate) fn extract(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        verified: &Verified,
    ) -> Result<Envelope, Malformed> {
        let body = verified.body();
        let found = match self.paths.probe(body) {
            Ok(found) => found,
            Err(ProbeError::NotJsonObject) => {
                return Err(Malformed("the body is not a JSON object"));
            }
            Err(ProbeError::Ambiguous) => return Err(Malformed("an envelope field is repeated")),
        };
        let mut cached_digest = None;
        let mut digest = || cached_digest.get_or_insert_with(|| hex_sha256(body)).clone();

        let text = |steps, digest: &mut dyn FnMut() -> String| {
            first_text(steps, headers, uri, verified, &found, digest)
        };

        let Some((event_type, _)) = text(&self.event_type, &mut digest)? else {
            return Err(Malformed("the event has no type"));
        };
        let handshake = self.handshakes.iter().any(|h| **h == *event_type);
        let id = text(&self.id, &mut digest)?;
        if id.is_none() && !handshake {
            return Err(Malformed("the event has no id"));
        }
        let version = text(&self.version, &mut digest)?
            .map_or_else(|| self.default_version.clone(), |(v, _)| v.into_boxed_str());
        let timestamp = self.timestamp.iter().find_map(|step| match step {
            Step::SignedTimestamp => verified.timestamp(),
            Step::Body(slot) => found[*slot].as_ref().and_then(Found::as_unix_seconds),
            Step::Header(name) => {
                headers.get(name).and_then(|v| unix_seconds(v.to_str().ok()?.trim()))
            }
            Step::BodyDigest | Step::SignedId | Step::Query(_) => None,
        });

        let scheme = verified.scheme();
        let dedupe_key = id.as_ref().map(|(id, step)| {
            let by_digest = match self.dedupe_key {
                DedupeKey::Id => matches!(step, Step::BodyDigest),
                DedupeKey::BodyDigest => true,
                DedupeKey::SignedIdOrDigest => {
                    matches!(step, Step::BodyDigest) || !step.is_signed()
                }
            };
            if by_digest {
                format!("{scheme}:sha256:{}", digest())
            } else if id.len() <= MAX_PLAIN_ID && !id.chars().any(char::is_control) {
                format!("{scheme}:id:{id}")
            } else {
                format!("{scheme}:id-sha256:{}", hex_sha256(id.as_bytes()))
            }
        });
        Ok(Envelope {
            scheme,
            id_signed: id.as_ref().is_some_and(|(_, step)| step.is_signed()),
            id: id.map(|(id, _)| id.into_boxed_str()),
            event_type: event_type.into_boxed_str(),
            version,
            timestamp,
            dedupe_key: dedupe_key.map(String::into_boxed_str),
            handshake,
        })
    }
}

/// The first of `steps` that gives a non-empty text, and the step that
/// gave it.
fn first_text<'s>(
    steps: &'s [Step],
    headers: &HeaderMap,
    uri: &Uri,
    verified: &Verified,
    found: &[Option<Found>],
    digest: &mut dyn FnMut() -> String,
) -> Result<Option<(String, &'s Step)>, Malformed> {
    for step in steps {
        let value = match step {
            Step::Header(name) => header(headers, name)?,
            Step::Query(name) => query_parameter(uri, name)?,
            Step::Body(slot) => match found[*slot].clone() {
                None => None,
                Some(value) => Some(
                    value
                        .into_text()
                        .ok_or(Malformed("an envelope field is neither a string nor a number"))?,
                ),
            },
            Step::BodyDigest => Some(digest()),
            Step::SignedId => verified.signed_id().map(str::to_owned),
            Step::SignedTimestamp => None,
        };
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            return Ok(Some((value, step)));
        }
    }
    Ok(None)
}

/// Why an authentic request is not a readable event (logged at DEBUG; the
/// sender only sees `malformed_event`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed(pub(crate) &'static str);

impl From<Malformed> for Rejection {
    fn from(_: Malformed) -> Self {
        Rejection::MalformedEvent
    }
}

/// A query parameter that must appear once (or repeated with the same
/// value); `name` alone or `name=` counts as absent.
fn query_parameter(uri: &Uri, name: &str) -> Result<Option<String>, Malformed> {
    let mut found: Option<&str> = None;
    for pair in uri.query().unwrap_or_default().split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if key != name {
            continue;
        }
        if found.is_some_and(|earlier| earlier != value) {
            return Err(Malformed("a query parameter is repeated with different values"));
        }
        found = Some(value);
    }
    Ok(found.map(str::to_owned))
}

/// A header that must appear once (or repeated with the same value) and be
/// visible ASCII; empty counts as absent.
fn header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<String>, Malformed> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.any(|other| other != first) {
        return Err(Malformed("an envelope header is repeated with different values"));
    }
    let value = first.to_str().map_err(|_| Malformed("an envelope header is not visible ASCII"))?;
    Ok(Some(value.trim().to_owned()))
}

fn hex_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(64);
    for byte in digest {
        let _ = write!(out, "{byte:02x}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::config::Preset;

    fn verified(scheme: &'static str, body: &'static [u8]) -> Verified {
        Verified::new(scheme).with_body(bytes::Bytes::from_static(body))
    }

    #[test]
    fn the_digest_is_sha256_hex() {
        assert_eq!(
            hex_sha256(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn long_or_odd_ids_are_hashed_into_the_key() {
        let extractor = Extractor::new(&EnvelopeConfig::preset(Preset::Stripe));
        let long = format!(r#"{{"id":"{}","type":"t"}}"#, "x".repeat(201));
        let body: &'static [u8] = Box::leak(long.into_bytes().into_boxed_slice());
        let envelope = extractor
            .extract(&HeaderMap::new(), &Uri::from_static("/"), &verified("stripe", body))
            .unwrap();
        assert!(envelope.dedupe_key().unwrap().starts_with("stripe:id-sha256:"));
        assert_eq!(envelope.id().unwrap().len(), 201);

        let body = br#"{"id":"a\u0000b","type":"t"}"#;
        let envelope = extractor
            .extract(&HeaderMap::new(), &Uri::from_static("/"), &verified("stripe", body))
            .unwrap();
        assert!(envelope.dedupe_key().unwrap().starts_with("stripe:id-sha256:"));
    }

    #[test]
    fn fields_of_the_wrong_kind_are_malformed() {
        let extractor = Extractor::new(&EnvelopeConfig::preset(Preset::Stripe));
        for body in [
            &br#"{"id":{"x":1},"type":"t"}"#[..],
            br#"{"id":"1","type":true}"#,
            br#"{"id":"1","type":"t","api_version":[]}"#,
        ] {
            let body: &'static [u8] = Box::leak(body.to_vec().into_boxed_slice());
            assert!(
                extractor
                    .extract(&HeaderMap::new(), &Uri::from_static("/"), &verified("stripe", body))
                    .is_err()
            );
        }
        // `null` and "" are absent; numbers are printed.
        let body = br#"{"id":42,"type":"t","api_version":null,"created":"17"}"#;
        let envelope = extractor
            .extract(&HeaderMap::new(), &Uri::from_static("/"), &verified("stripe", body))
            .unwrap();
        assert_eq!(envelope.id(), Some("42"));
        assert_eq!(envelope.version(), "1");
        assert_eq!(envelope.timestamp(), Some(17));
    }
}
