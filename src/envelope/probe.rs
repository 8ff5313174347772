//! Reading a few fields out of a JSON body in one pass, without building a
//! whole `serde_json::Value`: the paths wanted are laid out as a small tree,
//! the walk descends only into those branches and skips everything else
//! with `IgnoredAny` (which still checks the syntax, so the whole body must
//! be valid JSON).

use std::fmt;
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::scheme::JsonPointer;

/// A value found at one of the wanted paths.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Found {
    /// A string (shared: it becomes an envelope field as it is).
    Str(Arc<str>),
    /// A non-negative integer.
    Unsigned(u64),
    /// Any other number, as JSON would print it.
    Number(String),
    /// `true`, `false`, an object or an array.
    Other,
}

impl Found {
    /// The value as text: strings as they are, numbers printed.
    pub(crate) fn text(&self) -> Option<Arc<str>> {
        match self {
            Found::Str(s) => Some(s.clone()),
            Found::Unsigned(n) => Some(n.to_string().into()),
            Found::Number(n) => Some(n.as_str().into()),
            Found::Other => None,
        }
    }

    /// The value as Unix seconds: a non-negative integer, or a string of
    /// digits.
    pub(crate) fn as_unix_seconds(&self) -> Option<u64> {
        match self {
            Found::Unsigned(n) => Some(*n),
            Found::Str(s) => unix_seconds(s),
            _ => None,
        }
    }
}

/// Unix seconds written as ASCII digits only (no sign, no spaces).
pub(crate) fn unix_seconds(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Why a body could not be probed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeError {
    /// Not JSON, or not a JSON object.
    NotJsonObject,
    /// A wanted path occurs twice (duplicate keys): which one would the
    /// sender mean?
    Ambiguous,
}

/// The wanted paths as a tree; each path ends at a slot.
#[derive(Debug, Clone, Default)]
pub(crate) struct Paths {
    root: Node,
    slots: usize,
}

#[derive(Debug, Clone, Default)]
struct Node {
    slot: Option<usize>,
    children: Vec<(Box<str>, Node)>,
}

impl Paths {
    /// Adds a path; returns its slot (the same slot for the same path).
    pub(crate) fn add(&mut self, pointer: &JsonPointer) -> usize {
        let mut node = &mut self.root;
        for token in pointer.tokens() {
            let index = match node.children.iter().position(|(t, _)| **t == **token) {
                Some(index) => index,
                None => {
                    node.children.push((token.clone(), Node::default()));
                    node.children.len() - 1
                }
            };
            node = &mut node.children[index].1;
        }
        *node.slot.get_or_insert_with(|| {
            self.slots += 1;
            self.slots - 1
        })
    }

    /// Walks `body` once, filling one entry per slot (`None`: absent or
    /// `null`).
    pub(crate) fn probe(&self, body: &[u8]) -> Result<Vec<Option<Found>>, ProbeError> {
        let mut found = vec![None; self.slots];
        let mut ambiguous = false;
        let mut de = serde_json::Deserializer::from_slice(body);
        let walk = Walk { node: &self.root, found: &mut found, ambiguous: &mut ambiguous };
        de::Deserializer::deserialize_map(&mut de, Root(walk))
            .and_then(|()| de.end())
            .map_err(|_| ProbeError::NotJsonObject)?;
        if ambiguous {
            return Err(ProbeError::Ambiguous);
        }
        Ok(found)
    }
}

impl Paths {
    /// Reads the wanted top-level fields of an
    /// `application/x-www-form-urlencoded` body (percent-decoded; deeper
    /// paths are never found).
    pub(crate) fn probe_form(&self, body: &[u8]) -> Result<Vec<Option<Found>>, ProbeError> {
        let mut found = vec![None; self.slots];
        for (key, value) in form_urlencoded::parse(body) {
            let Some(slot) = self
                .root
                .children
                .iter()
                .find(|(token, _)| **token == *key)
                .and_then(|(_, node)| node.slot)
            else {
                continue;
            };
            match &found[slot] {
                Some(Found::Str(earlier)) if **earlier != *value => {
                    return Err(ProbeError::Ambiguous);
                }
                Some(_) => {}
                None => found[slot] = Some(Found::Str(value.as_ref().into())),
            }
        }
        Ok(found)
    }
}

/// The top level: an object, nothing else.
struct Root<'a>(Walk<'a>);

impl<'de> Visitor<'de> for Root<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        self.0.visit_map(map)
    }
}

/// One position in the tree of wanted paths.
struct Walk<'a> {
    node: &'a Node,
    found: &'a mut Vec<Option<Found>>,
    ambiguous: &'a mut bool,
}

impl Walk<'_> {
    fn child<'b>(&'b mut self, index: usize) -> Walk<'b> {
        Walk { node: &self.node.children[index].1, found: self.found, ambiguous: self.ambiguous }
    }

    fn record(self, value: Found) {
        if let Some(slot) = self.node.slot {
            if self.found[slot].is_some() {
                *self.ambiguous = true;
            }
            self.found[slot] = Some(value);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        if self.node.slot.is_some() {
            self.record(Found::Str(v.into()));
        }
        Ok(())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.record(Found::Str(v.into()));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.record(Found::Unsigned(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.record(Found::Number(v.to_string()));
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.record(Found::Number(v.to_string()));
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.record(Found::Other);
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // `null` counts as absent.
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key_seed(ChildKey(self.node))? {
            match key {
                Some(index) => map.next_value_seed(self.child(index))?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        self.record(Found::Other);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut position = 0usize;
        loop {
            let index = self.node.children.iter().position(|(t, _)| is_index(t, position));
            let more = match index {
                Some(index) => seq.next_element_seed(self.child(index))?.is_some(),
                None => seq.next_element::<IgnoredAny>()?.is_some(),
            };
            if !more {
                break;
            }
            position += 1;
        }
        self.record(Found::Other);
        Ok(())
    }
}

/// Whether a pointer token names array element `position` (no leading
/// zeros, as RFC 6901 says).
fn is_index(token: &str, position: usize) -> bool {
    token.parse::<usize>().is_ok_and(|i| i == position) && (token == "0" || !token.starts_with('0'))
}

/// Reads an object key and tells which child of the node it leads to,
/// without keeping the key.
struct ChildKey<'a>(&'a Node);

impl<'de> DeserializeSeed<'de> for ChildKey<'_> {
    type Value = Option<usize>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for ChildKey<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(self.0.children.iter().position(|(t, _)| **t == *v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(pointers: &[&str]) -> Paths {
        let mut paths = Paths::default();
        for p in pointers {
            paths.add(&JsonPointer::new(p).unwrap());
        }
        paths
    }

    #[test]
    fn finds_nested_values_in_one_pass() {
        let paths = paths(&["/id", "/event/type", "/list/1", "/a~1b", "/n"]);
        let body = br#"{"skip":{"id":"no"},"id":"ev_1","event":{"type":"push","x":[1,2]},
            "list":["a","b","c"],"a/b":-3,"n":null}"#;
        let found = paths.probe(body).unwrap();
        assert_eq!(
            found,
            vec![
                Some(Found::Str("ev_1".into())),
                Some(Found::Str("push".into())),
                Some(Found::Str("b".into())),
                Some(Found::Number("-3".into())),
                None,
            ]
        );
    }

    #[test]
    fn the_same_path_shares_a_slot() {
        let mut paths = Paths::default();
        let a = paths.add(&JsonPointer::new("/type").unwrap());
        let b = paths.add(&JsonPointer::new("/type").unwrap());
        assert_eq!(a, b);
    }

    #[test]
    fn anything_but_a_json_object_is_refused() {
        let paths = paths(&["/id"]);
        for body in [&b""[..], b"id=1&type=x", b"[1]", b"\"id\"", b"{\"id\":1", b"{\"id\":1} x"] {
            assert_eq!(paths.probe(body), Err(ProbeError::NotJsonObject), "{body:?}");
        }
        assert_eq!(paths.probe(b" {} ").unwrap(), vec![None]);
    }

    #[test]
    fn skipped_parts_must_still_be_valid_json() {
        let paths = paths(&["/id"]);
        assert_eq!(paths.probe(br#"{"id":"1","x":[1,}"#), Err(ProbeError::NotJsonObject));
    }

    #[test]
    fn a_duplicate_wanted_key_is_ambiguous() {
        let paths = paths(&["/id"]);
        assert_eq!(paths.probe(br#"{"id":"1","id":"2"}"#), Err(ProbeError::Ambiguous));
        let found = paths.probe(br#"{"x":1,"x":2,"id":"1"}"#).unwrap();
        assert_eq!(found, vec![Some(Found::Str("1".into()))]);
    }

    #[test]
    fn timestamps_are_digits_only() {
        assert_eq!(unix_seconds("1700000000"), Some(1_700_000_000));
        for bad in ["", "+1", "-1", " 1", "1.5", "99999999999999999999999"] {
            assert_eq!(unix_seconds(bad), None, "{bad:?}");
        }
        assert_eq!(Found::Number("-1".into()).as_unix_seconds(), None);
    }

    #[test]
    fn leading_zeros_are_not_indexes() {
        assert!(is_index("0", 0));
        assert!(is_index("12", 12));
        assert!(!is_index("01", 1));
        assert!(!is_index("-1", 0));
    }

    #[test]
    fn deep_nesting_is_skipped_without_recursion() {
        // Skipped values are walked iteratively, and the walk itself only
        // recurses along the wanted paths: no stack overflow.
        let paths = paths(&["/id", "/x/0/0"]);
        let body = format!("{{\"x\":{}{},\"id\":\"1\"}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(paths.probe(body.as_bytes()).unwrap()[0], Some(Found::Str("1".into())));
    }
}
