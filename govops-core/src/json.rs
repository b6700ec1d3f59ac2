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

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

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
    let outcome = Walk {
        path: &mut Vec::new(),
        found: &mut found,
    }
    .deserialize(&mut deserializer)
    .and_then(|()| deserializer.end());
    match (found, outcome) {
        (Some(duplicate), _) => Err(duplicate),
        (None, Ok(())) => Ok(()),
        (None, Err(e)) => Err(JsonKeyError::Invalid(e.to_string())),
    }
}

struct Walk<'a> {
    path: &'a mut Vec<String>,
    found: &'a mut Option<JsonKeyError>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
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
            return Err(de::Error::custom(format!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                let path = if self.path.is_empty() {
                    "$".to_owned()
                } else {
                    self.path.join(".")
                };
                *self.found = Some(JsonKeyError::Duplicate { key, path });
                return Err(de::Error::custom("duplicate key"));
            }
            self.path.push(key);
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
            return Err(de::Error::custom(format!(
                "nested deeper than {MAX_DEPTH} levels"
            )));
        }
        let mut index = 0usize;
        loop {
            self.path.push(format!("[{index}]"));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duplicate_is_named_with_its_path_at_any_depth() {
        let err = unique_keys(r#"{"a": [{"x": 1}, {"y": {"k": 1, "k": 2}}]}"#).err();
        assert_eq!(
            err,
            Some(JsonKeyError::Duplicate {
                key: "k".into(),
                path: "a.[1].y".into()
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
}
