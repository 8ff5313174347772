//! Turning a verified request into an [`Envelope`], as a config says.

use std::borrow::Cow;
use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, Uri};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use super::probe::{Found, Paths, ProbeError, unix_seconds};
use super::{Batched, Envelope};
use crate::rejection::Rejection;
use crate::scheme::{AckStyle, BodyFormat, DedupeKey, EnvelopeConfig, Source, Verified};

/// Ids longer than this, or with control characters, are hashed into the
/// dedupe key: shared stores have key limits (PostgreSQL cannot index
/// much more than 2 KiB, nor store a NUL in text).
const MAX_PLAIN_ID: usize = 200;

/// At most this many events are read from one batch body.
pub(crate) const MAX_BATCH: usize = 1000;

/// The type of the envelope around a batch.
pub(crate) const BATCH_TYPE: &str = "batch";

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
    pub(crate) default_version: Arc<str>,
    default_type: Option<Arc<str>>,
    numeric_versions: bool,
    pub(crate) dedupe_key: DedupeKey,
    body: BodyFormat,
    pub(crate) ack: AckStyle,
}

/// Where one event's fields are: the request, and the event's own bytes
/// (the whole body, or one element of a batch).
struct Input<'a> {
    headers: &'a HeaderMap,
    uri: &'a Uri,
    verified: &'a Verified,
    body: &'a [u8],
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
            default_version: config.default_version.as_ref().into(),
            default_type: config.default_type.as_deref().map(Into::into),
            numeric_versions: config.numeric_versions,
            dedupe_key: config.dedupe_key,
            body: config.body,
            ack: config.ack,
        }
    }

    pub(crate) fn extract(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        verified: &Verified,
    ) -> Result<Envelope, Malformed> {
        let whole = verified.body();
        let input = Input { headers, uri, verified, body: whole };
        match self.body {
            BodyFormat::Json => {
                let found = self.paths.probe(whole).map_err(Malformed::from)?;
                self.read(&input, &found)
            }
            BodyFormat::Form => {
                let found = self.paths.probe_form(whole).map_err(Malformed::from)?;
                self.read(&input, &found)
            }
            BodyFormat::JsonBatch => self.read_batch(input, whole),
        }
    }

    /// A batch: one envelope per element, inside an envelope for the whole
    /// body (its id and key the body digest).
    fn read_batch(&self, input: Input<'_>, whole: &Bytes) -> Result<Envelope, Malformed> {
        let elements: Vec<&RawValue> = serde_json::from_slice(whole)
            .map_err(|_| Malformed("the body is not a JSON array of events"))?;
        if elements.is_empty() {
            return Err(Malformed("the batch is empty"));
        }
        if elements.len() > MAX_BATCH {
            return Err(Malformed("the batch has too many events"));
        }
        let mut events = Vec::with_capacity(elements.len());
        for element in elements {
            let body = whole.slice_ref(element.get().as_bytes());
            let found = self.paths.probe(&body).map_err(Malformed::from)?;
            let envelope = self.read(&Input { body: &body, ..input }, &found)?;
            events.push(Batched { envelope, body });
        }
        let prefix = key_prefix(input.verified);
        let digest = hex_sha256(whole);
        Ok(Envelope {
            scheme: input.verified.scheme(),
            tenant: input.verified.tenant().map(Into::into),
            dedupe_key: dedupe_key(&prefix, "sha256", &digest),
            id: digest.into(),
            id_signed: true,
            event_type: BATCH_TYPE.into(),
            version: self.default_version.clone(),
            timestamp: None,
            batch: Some(events.into()),
        })
    }

    /// One event's envelope from its probed fields.
    fn read(&self, input: &Input<'_>, found: &[Option<Found>]) -> Result<Envelope, Malformed> {
        let body = input.body;
        let mut cached_digest = None;
        let mut digest =
            || cached_digest.get_or_insert_with(|| Arc::<str>::from(hex_sha256(body))).clone();

        let text =
            |steps, digest: &mut dyn FnMut() -> Arc<str>| first_text(steps, input, found, digest);

        let event_type = match text(&self.event_type, &mut digest)? {
            Some((event_type, _)) => event_type,
            None => self.default_type.clone().ok_or(Malformed("the event has no type"))?,
        };
        let Some((id, id_step)) = text(&self.id, &mut digest)? else {
            return Err(Malformed("the event has no id"));
        };
        let version = match text(&self.version, &mut digest)? {
            Some((version, _)) if self.numeric_versions => numeric_version(version),
            Some((version, _)) => version,
            None => self.default_version.clone(),
        };
        let timestamp = self.timestamp.iter().find_map(|step| match step {
            Step::SignedTimestamp => input.verified.timestamp(),
            Step::Body(slot) => found[*slot].as_ref().and_then(Found::as_unix_seconds),
            Step::Header(name) => {
                input.headers.get(name).and_then(|v| unix_seconds(v.to_str().ok()?.trim()))
            }
            Step::BodyDigest | Step::SignedId | Step::Query(_) => None,
        });

        let prefix = key_prefix(input.verified);
        // `None`: key on the body digest.
        let key_id: Option<Arc<str>> = match self.dedupe_key {
            DedupeKey::Id if !matches!(id_step, Step::BodyDigest) => Some(id.clone()),
            DedupeKey::Id | DedupeKey::BodyDigest => None,
            DedupeKey::SignedIdOrDigest if matches!(id_step, Step::BodyDigest) => None,
            DedupeKey::SignedIdOrDigest if id_step.is_signed() => Some(id.clone()),
            // The id came from an unsigned header: the first signed source
            // present instead, else the digest.
            DedupeKey::SignedIdOrDigest => {
                let signed: Vec<Step> = self
                    .id
                    .iter()
                    .filter(|step| step.is_signed() && !matches!(step, Step::BodyDigest))
                    .cloned()
                    .collect();
                first_text(&signed, input, found, &mut digest)?.map(|(id, _)| id)
            }
        };
        let dedupe_key = match key_id {
            None => dedupe_key(&prefix, "sha256", &digest()),
            Some(id) if id.len() <= MAX_PLAIN_ID && !id.chars().any(char::is_control) => {
                dedupe_key(&prefix, "id", &id)
            }
            Some(id) => dedupe_key(&prefix, "id-sha256", &hex_sha256(id.as_bytes())),
        };
        Ok(Envelope {
            scheme: input.verified.scheme(),
            tenant: input.verified.tenant().map(Into::into),
            id_signed: id_step.is_signed(),
            id,
            event_type,
            version,
            timestamp,
            dedupe_key,
            batch: None,
        })
    }
}

/// `{prefix}:{kind}:{value}`, joined on the stack when it fits, so the
/// key costs one allocation (the `Arc`'s), not two.
fn dedupe_key(prefix: &str, kind: &str, value: &str) -> Arc<str> {
    const ON_STACK: usize = 256;
    let parts = [prefix, ":", kind, ":", value];
    let len: usize = parts.iter().map(|part| part.len()).sum();
    if len > ON_STACK {
        return parts.concat().into();
    }
    let mut joined = [0u8; ON_STACK];
    let mut at = 0;
    for part in parts {
        joined[at..at + part.len()].copy_from_slice(part.as_bytes());
        at += part.len();
    }
    std::str::from_utf8(&joined[..len]).expect("strings joined are UTF-8").into()
}

/// What every dedupe key starts with: the scheme, and the tenant when each
/// tenant has its own secrets (`github@acme`), so senders and tenants
/// sharing one inbox never collide.
fn key_prefix(verified: &Verified) -> Cow<'static, str> {
    match verified.tenant() {
        Some(tenant) => format!("{}@{tenant}", verified.scheme()).into(),
        None => verified.scheme().into(),
    }
}

/// `1.0` and `1.0.0` as `1`: trailing zero parts of a version made of
/// digits and dots are dropped; anything else is kept as written.
fn numeric_version(version: Arc<str>) -> Arc<str> {
    let numeric = !version.is_empty()
        && version
            .split('.')
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
    if !numeric || !version.ends_with(".0") {
        return version;
    }
    let mut trimmed = &*version;
    while let Some(rest) = trimmed.strip_suffix(".0") {
        trimmed = rest;
    }
    trimmed.into()
}

impl From<ProbeError> for Malformed {
    fn from(error: ProbeError) -> Self {
        match error {
            ProbeError::NotJsonObject => Malformed("the body is not a JSON object"),
            ProbeError::Ambiguous => Malformed("an envelope field is repeated"),
        }
    }
}

/// The first of `steps` that gives a non-empty text, and the step that
/// gave it.
fn first_text<'s>(
    steps: &'s [Step],
    input: &Input<'_>,
    found: &[Option<Found>],
    digest: &mut dyn FnMut() -> Arc<str>,
) -> Result<Option<(Arc<str>, &'s Step)>, Malformed> {
    for step in steps {
        let value = match step {
            Step::Header(name) => header(input.headers, name)?,
            Step::Query(name) => query_parameter(input.uri, name)?,
            Step::Body(slot) => match &found[*slot] {
                None => None,
                Some(value) => Some(
                    value
                        .text()
                        .ok_or(Malformed("an envelope field is neither a string nor a number"))?,
                ),
            },
            Step::BodyDigest => Some(digest()),
            Step::SignedId => input.verified.shared_signed_id().cloned(),
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
fn query_parameter(uri: &Uri, name: &str) -> Result<Option<Arc<str>>, Malformed> {
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
    Ok(found.map(Into::into))
}

/// A header that must appear once (or repeated with the same value) and be
/// visible ASCII; empty counts as absent.
fn header(headers: &HeaderMap, name: &HeaderName) -> Result<Option<Arc<str>>, Malformed> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.any(|other| other != first) {
        return Err(Malformed("an envelope header is repeated with different values"));
    }
    let value = first.to_str().map_err(|_| Malformed("an envelope header is not visible ASCII"))?;
    Ok(Some(value.trim().into()))
}

fn hex_sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::Scheme as _;
    use crate::scheme::Stripe;

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
        let extractor = Extractor::new(&Stripe::new(["whsec_x"]).unwrap().envelope());
        let long = format!(r#"{{"id":"{}","type":"t"}}"#, "x".repeat(201));
        let body: &'static [u8] = Box::leak(long.into_bytes().into_boxed_slice());
        let envelope = extractor
            .extract(&HeaderMap::new(), &Uri::from_static("/"), &verified("stripe", body))
            .unwrap();
        assert!(envelope.dedupe_key().starts_with("stripe:id-sha256:"));
        assert_eq!(envelope.id().len(), 201);

        let body = br#"{"id":"a\u0000b","type":"t"}"#;
        let envelope = extractor
            .extract(&HeaderMap::new(), &Uri::from_static("/"), &verified("stripe", body))
            .unwrap();
        assert!(envelope.dedupe_key().starts_with("stripe:id-sha256:"));
    }

    #[test]
    fn fields_of_the_wrong_kind_are_malformed() {
        let extractor = Extractor::new(&Stripe::new(["whsec_x"]).unwrap().envelope());
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
        assert_eq!(envelope.id(), "42");
        assert_eq!(envelope.version(), "1");
        assert_eq!(envelope.timestamp(), Some(17));
    }

    #[test]
    fn dedupe_keys_join_their_parts_whatever_their_length() {
        assert_eq!(&*dedupe_key("github", "id", "d-1"), "github:id:d-1");
        // 15 bytes of prefix: up to 241 of value fit the 256 on the stack.
        for len in [0, 1, 240, 241, 242, 243, 400] {
            let value = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let key = dedupe_key("stripe@acme", "id", &value);
            assert_eq!(*key, format!("stripe@acme:id:{value}"), "{len}");
        }
    }

    #[test]
    fn numeric_versions_drop_trailing_zero_parts() {
        for (raw, read) in [
            ("1", "1"),
            ("1.0", "1"),
            ("1.0.0", "1"),
            ("2.10", "2.10"),
            ("1.05", "1.05"),
            ("0.0", "0"),
            ("v1.0", "v1.0"),
            ("1..0", "1..0"),
            ("2024-06-20", "2024-06-20"),
        ] {
            assert_eq!(&*numeric_version(raw.into()), read, "{raw}");
        }
    }
}
