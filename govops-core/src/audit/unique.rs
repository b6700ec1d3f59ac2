//! Duplicate keys: a line whose JSON holds one key twice in one object is not a record.
//!
//! A record's hash covers its text, so a line with two `cost_usd` keys can be intact, yet readers
//! disagree on it (serde takes neither, many JSON libraries take the last, some the first): one
//! auditor would see the cost and another a free call. The writer never writes one, so such a line
//! is refused wherever a record is read.

use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

/// Checks that no object in the JSON `text` holds a key twice (keys compared after unescaping, so
/// `"cost_usd"` and `"cost\u005fusd"` are the same key). Nothing is kept but the keys of the
/// objects being walked.
///
/// # Errors
///
/// What is wrong, as a sentence naming the key and its column: a duplicate key, or JSON that does
/// not parse.
pub(crate) fn check_unique_keys(text: &[u8]) -> Result<(), String> {
    let mut de = serde_json::Deserializer::from_slice(text);
    UniqueKeys
        .deserialize(&mut de)
        .and_then(|()| de.end())
        .map_err(|e| {
            // The text is one line: its column is what locates the key.
            let message = e.to_string();
            match message.rsplit_once(" at line 1 column ") {
                Some((what, column)) => format!("{what} (column {column})"),
                None => message,
            }
        })
}

struct UniqueKeys;

impl<'de> DeserializeSeed<'de> for UniqueKeys {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
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
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(UniqueKeys)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut keys = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if keys.contains(&key) {
                let shown: String = key.chars().take(64).collect();
                let cut = if shown.len() < key.len() { "…" } else { "" };
                return Err(de::Error::custom(format!(
                    "key {shown:?}{cut} appears twice in one object: readers would disagree on its value"
                )));
            }
            map.next_value_seed(UniqueKeys)?;
            keys.insert(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_twice_in_any_object_is_named_with_its_column() {
        assert_eq!(
            check_unique_keys(br#"{"a":1,"b":[{"a":2}],"c":{"a":3}}"#),
            Ok(())
        );
        let err = check_unique_keys(br#"{"cost_usd":"5","cost_usd":"0"}"#).unwrap_err();
        assert!(err.contains("key \"cost_usd\" appears twice"), "{err}");
        assert!(err.contains("(column "), "{err}");
        let nested = check_unique_keys(br#"{"x":[{"s":1,"s":2}]}"#).unwrap_err();
        assert!(nested.contains("\"s\""), "{nested}");
        let escaped = check_unique_keys(br#"{"ab":1,"a\u0062":2}"#).unwrap_err();
        assert!(escaped.contains("\"ab\""), "{escaped}");
        assert!(check_unique_keys(b"{\"a\":1} x").is_err());
    }
}
