//! JSON that a user or an attacker writes: one value per key.
//!
//! `serde_json`, like most readers, keeps the last of two equal keys in an object without a word.
//! In a price table that silently changes a rate; in an audit line a second `cost_usd` can hide a
//! tampering from a reader that takes the last while the hash covers both. [`unique_keys`] walks
//! a JSON text once, holding no values, and names the first key that appears twice.
//!
//! ```
//! use govops_core::json::unique_keys;
//! assert!(unique_keys(r#"{"a": {"b": 1, "c": 2}}"#).is_ok());
//! let err = unique_keys(r#"{"gpt-4o": {"input_cost_per_token": 1e-6, "input_cost_per_token": 0}}"#)
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "duplicate key \"input_cost_per_token\" in gpt-4o");
//! ```

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt::{self, Write as _};

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

/// How deep objects and arrays may nest before the text is refused (serde_json's own limit is
/// 128; this names it).
const MAX_DEPTH: usize = 128;

/// A JSON text that is not valid, or that repeats a key in one object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JsonKeyError {
    /// The key `key` appears twice in the object at `path` (`$` for the top level, then the keys
    /// that lead to it, joined by `.`).
    #[error("duplicate key {key:?} in {path}")]
    Duplicate {
        /// The repeated key.
        key: String,
        /// Where the object is.
        path: String,
    },
    /// The text is not JSON (serde_json's message: line and column, never the text).
    #[error("{0}")]
    Invalid(String),
}

/// Checks that no object in `text` repeats a key.
///
/// # Errors
/// [`JsonKeyError::Duplicate`] for the first repeated key, [`JsonKeyError::Invalid`] when the
/// text is not one JSON value.
pub fn unique_keys(text: &str) -> Result<(), JsonKeyError> {
    let mut found = None;
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let mut path = Vec::new();
    let outcome = Walk {
        path: &mut path,
        found: &mut found,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    path.clear();
    match (found, outcome) {
        // A key given twice, or nesting too deep.
        (Some(error), _) => Err(error),
        (None, Ok(())) => Ok(()),
        // serde_json's own depth limit, met before this walk's: no slower walk would pass it.
        (None, Err(e)) if e.to_string().starts_with("recursion limit exceeded") => {
            Err(nested_too_deep())
        }
        // serde_json refuses a number an f64 cannot hold (`1e400`) where JSON allows it: walk the
        // text again as raw members, which reads numbers past without converting them.
        (None, Err(e)) => match serde_json::from_str::<&RawValue>(text) {
            Ok(raw) => raw_walk(raw, &mut path),
            Err(_) => Err(JsonKeyError::Invalid(e.to_string())),
        },
    }
}

/// The path of the first key given twice in one object of `text`, with the key last: `key`,
/// `key.inner`, `list[2].key`; `None` when every key is given once (or the text is not JSON).
pub(crate) fn repeated_key(text: &str) -> Option<String> {
    match unique_keys(text) {
        Err(JsonKeyError::Duplicate { key, path }) if path == "$" => Some(key),
        Err(JsonKeyError::Duplicate { key, path }) => Some(format!("{path}.{key}")),
        _ => None,
    }
}

/// The slow walk: each object and array read as raw members, only its objects and arrays read
/// further.
fn raw_walk<'de>(raw: &'de RawValue, path: &mut Vec<Segment<'de>>) -> Result<(), JsonKeyError> {
    if path.len() >= MAX_DEPTH {
        return Err(nested_too_deep());
    }
    let text = raw.get();
    let invalid = |e: serde_json::Error| JsonKeyError::Invalid(e.to_string());
    let children: Vec<(Segment<'de>, &'de RawValue)> = if text.starts_with('{') {
        let mut members = serde_json::from_str::<Members<'_>>(text).map_err(invalid)?;
        if let Some(key) = members.repeated().first() {
            return Err(JsonKeyError::Duplicate {
                key: (*key).to_owned(),
                path: joined(path),
            });
        }
        members
            .members
            .drain(..)
            .map(|(k, v)| (Segment::Key(k), v))
            .collect()
    } else if text.starts_with('[') {
        serde_json::from_str::<Vec<&RawValue>>(text)
            .map_err(invalid)?
            .into_iter()
            .enumerate()
            .map(|(i, v)| (Segment::Index(i), v))
            .collect()
    } else {
        return Ok(());
    };
    for (segment, child) in children {
        path.push(segment);
        let walked = raw_walk(child, path);
        path.pop();
        walked?;
    }
    Ok(())
}

/// One step of the path to a value: a key (borrowed from the text unless it holds an escape) or an
/// index. Nothing is formatted unless a duplicate is found.
enum Segment<'de> {
    Key(Cow<'de, str>),
    Index(usize),
}

/// `$` for the top level, else the segments joined by `.`, with no dot before an index.
fn joined(path: &[Segment<'_>]) -> String {
    if path.is_empty() {
        return "$".to_owned();
    }
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(key);
            }
            Segment::Index(i) => {
                let _ = write!(out, "[{i}]");
            }
        }
    }
    out
}

/// The refusal of a text nested past [`MAX_DEPTH`].
fn nested_too_deep() -> JsonKeyError {
    JsonKeyError::Invalid(format!("nested deeper than {MAX_DEPTH} levels"))
}

/// Above this many keys an object's keys are checked with a hash set; below, a scan is cheaper.
const SCAN_KEYS: usize = 16;

struct Walk<'a, 'de> {
    path: &'a mut Vec<Segment<'de>>,
    found: &'a mut Option<JsonKeyError>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_i128<E>(self, _: i128) -> Result<(), E> {
        Ok(())
    }
    fn visit_u128<E>(self, _: u128) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        if self.path.len() >= MAX_DEPTH {
            return Err(too_deep(self.found));
        }
        // Keys are borrowed from the text; a large object's go into a set with a fast hasher (the
        // keys come from the text, but a duplicate only costs this walk, so flooding gains nothing).
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        let mut many: Option<HashSet<Cow<'de, str>, foldhash::fast::RandomState>> = None;
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            let repeated = match &mut many {
                Some(set) => !set.insert(key.clone()),
                None if seen.contains(&key) => true,
                None => {
                    seen.push(key.clone());
                    if seen.len() > SCAN_KEYS {
                        many = Some(seen.drain(..).collect());
                    }
                    false
                }
            };
            if repeated {
                let path = joined(self.path);
                *self.found = Some(JsonKeyError::Duplicate {
                    key: key.into_owned(),
                    path,
                });
                return Err(de::Error::custom("duplicate key"));
            }
            self.path.push(Segment::Key(key));
            let walked = map.next_value_seed(Walk {
                path: self.path,
                found: self.found,
            });
            self.path.pop();
            walked?;
        }
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.path.len() >= MAX_DEPTH {
            return Err(too_deep(self.found));
        }
        let mut index = 0usize;
        loop {
            self.path.push(Segment::Index(index));
            let next = seq.next_element_seed(Walk {
                path: self.path,
                found: self.found,
            });
            self.path.pop();
            if next?.is_none() {
                return Ok(());
            }
            index += 1;
        }
    }
}

/// The error for a text nested past [`MAX_DEPTH`], kept in `found` so that [`unique_keys`] does
/// not walk the text again the slow way: that walk would read the deep part once per level (128
/// passes: 20 s for a 30 MB price table nested five million deep) only to refuse it too.
fn too_deep<E: de::Error>(found: &mut Option<JsonKeyError>) -> E {
    let error = nested_too_deep();
    let message = error.to_string();
    *found = Some(error);
    E::custom(message)
}

/// An object key, borrowed from the text unless it holds an escape.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// The members of one JSON object, every one kept, sorted by key (equal keys in text order).
pub(crate) struct Members<'a> {
    members: Vec<(Cow<'a, str>, &'a RawValue)>,
}

impl<'de> Deserialize<'de> for Members<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MembersVisitor;
        impl<'de> Visitor<'de> for MembersVisitor {
            type Value = Members<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut members = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some(Key(key)) = map.next_key()? {
                    members.push((key, map.next_value::<&'de RawValue>()?));
                }
                // Stable: of two equal keys, the first given comes first.
                members.sort_by(|a, b| a.0.cmp(&b.0));
                Ok(Members { members })
            }
        }
        deserializer.deserialize_map(MembersVisitor)
    }
}

impl<'a> Members<'a> {
    /// Each key given more than once, once, in key order.
    pub(crate) fn repeated(&self) -> Vec<&str> {
        let mut repeated: Vec<&str> = self
            .members
            .windows(2)
            .filter(|pair| pair[0].0 == pair[1].0)
            .map(|pair| pair[0].0.as_ref())
            .collect();
        repeated.dedup();
        repeated
    }

    /// The members whose key is given once, in key order.
    pub(crate) fn unique(self) -> impl Iterator<Item = (Cow<'a, str>, &'a RawValue)> {
        let members = self.members;
        let once = |i: usize| {
            let key = &members[i].0;
            (i == 0 || members[i - 1].0 != *key)
                && members.get(i + 1).is_none_or(|next| next.0 != *key)
        };
        let keep: Vec<bool> = (0..members.len()).map(once).collect();
        members
            .into_iter()
            .zip(keep)
            .filter_map(|(member, keep)| keep.then_some(member))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Refused at the first pass: the slow walk (for numbers an f64 cannot hold) must not read a
    /// deep text again once per level.
    #[test]
    fn a_text_nested_too_deep_is_refused_at_once_even_with_a_huge_number() {
        for text in [
            format!("{}1{}", "{\"a\":".repeat(200_000), "}".repeat(200_000)),
            format!(
                "{{\"n\":1e400,\"d\":{}{}}}",
                "[".repeat(200),
                "]".repeat(200)
            ),
        ] {
            assert_eq!(
                unique_keys(&text),
                Err(JsonKeyError::Invalid(
                    "nested deeper than 128 levels".into()
                ))
            );
        }
    }

    #[test]
    fn a_duplicate_is_named_with_its_path_at_any_depth() {
        let err = unique_keys(r#"{"a": [{"x": 1}, {"y": {"k": 1, "k": 2}}]}"#).err();
        assert_eq!(
            err,
            Some(JsonKeyError::Duplicate {
                key: "k".into(),
                path: "a[1].y".into()
            })
        );
        // An escaped key is the same key.
        let err = unique_keys(r#"{"seq": 1, "cost_usd": "1", "cost_\u0075sd": "0"}"#).err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some("duplicate key \"cost_usd\" in $".into())
        );
    }

    #[test]
    fn equal_keys_in_different_objects_and_invalid_text() {
        assert!(unique_keys(r#"{"a": {"k": 1}, "b": {"k": 1}, "k": 0}"#).is_ok());
        assert!(matches!(
            unique_keys("{\"a\": "),
            Err(JsonKeyError::Invalid(_))
        ));
        assert!(matches!(
            unique_keys("{} {}"),
            Err(JsonKeyError::Invalid(_))
        ));
        let deep = "[".repeat(10_000);
        assert!(matches!(unique_keys(&deep), Err(JsonKeyError::Invalid(_))));
    }

    #[test]
    fn a_key_given_twice_is_found_at_any_depth_and_named_by_its_path() {
        let repeated = repeated_key;
        assert_eq!(repeated(r#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#), None);
        assert_eq!(repeated(r#"{"a": 1, "a": 1}"#).as_deref(), Some("a"));
        assert_eq!(
            repeated(r#"{"a": 1, "b": {"c": [1, {"d": 2, "d": 3}]}}"#).as_deref(),
            Some("b.c[1].d")
        );
        assert_eq!(
            repeated(r#"[{"x": 1}, {"x\u0021": 1, "x!": 2}]"#).as_deref(),
            Some("[1].x!")
        );
        // Numbers an f64 cannot hold are read past, not converted.
        assert_eq!(
            repeated(r#"{"a": [1e400, {"b": 1, "b": 2}]}"#).as_deref(),
            Some("a[1].b")
        );
        assert_eq!(repeated(r#"{"a": [1e400, {"b": 1}]}"#), None);
        assert!(unique_keys(r#"{"a": [1e400, {"b": 1}]}"#).is_ok());
        assert_eq!(repeated("12"), None);
    }
}
