//! JSON objects whose keys are each given once.
//!
//! `serde_json` keeps the last of two equal keys in an object and says nothing, so a price table
//! (or any file govops trusts) could carry `"input_cost_per_token"` twice and be read with a
//! value its reviewer did not see. Here every member is kept and a key given twice, at any depth,
//! is found and named by its path (`field.key`, `list[2].key`). Keys are compared unescaped:
//! `"a\u005fb"` is `"a_b"`.

use std::borrow::Cow;
use std::cell::RefCell;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

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

/// The path of the first key given twice in one object, at any depth of `value`, when there is
/// one: `key`, `key.inner`, `list[2].key`.
#[must_use]
pub fn repeated_key(value: &RawValue) -> Option<String> {
    let text = value.get();
    if !text.starts_with(['{', '[']) {
        return None;
    }
    let path = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_str(text);
    match (Walk { path: &path }).deserialize(&mut deserializer) {
        Ok(()) => None,
        Err(_) if path.borrow().is_empty() => repeated_key_slowly(value),
        Err(_) => Some(joined(path.into_inner())),
    }
}

/// The innermost-first segments of a path, joined outermost first.
fn joined(mut segments: Vec<String>) -> String {
    segments.reverse();
    let mut path = String::new();
    for segment in segments {
        if !path.is_empty() && !segment.starts_with('[') {
            path.push('.');
        }
        path.push_str(&segment);
    }
    path
}

/// [`repeated_key`] for a value the one-pass walk could not read (a number beyond what an `f64`
/// holds, which `serde_json` refuses): each object and array is read as raw members and only
/// its objects and arrays are read further, so no number is ever converted.
fn repeated_key_slowly(value: &RawValue) -> Option<String> {
    let text = value.get();
    let inner: Vec<(String, &RawValue)> = if text.starts_with('{') {
        let members: Members<'_> = serde_json::from_str(text).ok()?;
        if let Some(key) = members.repeated().first() {
            return Some((*key).to_owned());
        }
        members.unique().map(|(k, v)| (k.into_owned(), v)).collect()
    } else if text.starts_with('[') {
        let items: Vec<&RawValue> = serde_json::from_str(text).ok()?;
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("[{i}]"), v))
            .collect()
    } else {
        return None;
    };
    inner
        .into_iter()
        .find_map(|(segment, v)| repeated_key_slowly(v).map(|rest| joined(vec![rest, segment])))
}

/// A walk over any JSON value that fails at the first object giving a key twice; as the error
/// goes back up, each level adds its key or index to `path` (innermost first). It fails with
/// `path` empty on anything else it cannot read.
#[derive(Clone, Copy)]
struct Walk<'p> {
    path: &'p RefCell<Vec<String>>,
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
        let mut index = 0_usize;
        loop {
            match seq.next_element_seed(self) {
                Ok(Some(())) => index += 1,
                Ok(None) => return Ok(()),
                Err(e) => {
                    if !self.path.borrow().is_empty() {
                        self.path.borrow_mut().push(format!("[{index}]"));
                    }
                    return Err(e);
                }
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        // Objects in a price table hold a few dozen keys: a list beats hashing them.
        let mut seen: Vec<Cow<'de, str>> = Vec::new();
        while let Some(Key(key)) = map.next_key()? {
            if seen.contains(&key) {
                self.path.borrow_mut().push(key.into_owned());
                return Err(de::Error::custom("a key is given twice"));
            }
            if let Err(e) = map.next_value_seed(self) {
                if !self.path.borrow().is_empty() {
                    self.path.borrow_mut().push(key.into_owned());
                }
                return Err(e);
            }
            seen.push(key);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repeated(text: &str) -> Option<String> {
        let raw: &RawValue = serde_json::from_str(text).unwrap();
        repeated_key(raw)
    }

    #[test]
    fn a_key_given_twice_is_found_at_any_depth_and_named_by_its_path() {
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
        assert_eq!(repeated("12"), None);
    }
}
