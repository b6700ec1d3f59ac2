//! Duplicate keys: a line whose JSON holds one key twice in one object is not a record.
//!
//! A record's hash covers its text, so a line with two `cost_usd` keys can be intact, yet readers
//! disagree on it (serde takes neither, many JSON libraries take the last, some the first): one
//! auditor would see the cost and another a free call. The writer never writes one, so such a line
//! is refused wherever a record is read.

/// Checks that no object in the JSON line `text` holds a key twice (keys compared after
/// unescaping, so `"cost_usd"` and `"cost\u005fusd"` are the same key), with the one walker every
/// govops reader uses ([`crate::json::unique_keys`]).
///
/// # Errors
///
/// What is wrong, as a sentence naming the key and the object it is in: a duplicate key, or JSON
/// that does not parse.
pub(crate) fn check_unique_keys(text: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(text).map_err(|e| format!("not UTF-8 text ({e})"))?;
    crate::json::unique_keys(text).map_err(|e| e.to_string())
}
