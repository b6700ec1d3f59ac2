//! The hash chain: how a record is sealed into its line, shared by the writer and the verifier.
//!
//! A line is the record's compact JSON without `hash` (its keys in [`AuditRecord`]'s order, `prev`
//! last), with `,"hash":"<64 hex>"` spliced in before the closing brace, and a newline:
//!
//! ```text
//! hash = SHA-256( JSON of the record without "hash" )      which holds "prev": the hash before it
//! line = that JSON minus its final "}"  ‖  ,"hash":"<hash>"}  ‖  \n
//! ```
//!
//! The verifier hashes the line's own bytes (everything before `,"hash":"`, then `}`), never a
//! re-encoding, so any change to a byte of a record changes its hash.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::AuditError;
use super::record::{AuditRecord, OpenReason, RecordKind, UncleanStop};
use super::unique::check_unique_keys;

/// `,"hash":"` + 64 hex digits + `"}`: how every sealed line ends (before its newline).
pub(crate) const SUFFIX_LEN: usize = 9 + 64 + 2;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Lowercase hex of `bytes`.
///
/// Written by hand rather than with a crate: ten lines, and it is on the writer's path for every
/// record (it is several times faster than `format!("{b:02x}")` per byte).
#[must_use]
pub fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// 32 bytes from 64 lowercase hex digits; `None` for anything else.
pub(crate) fn from_hex32(text: &[u8]) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut out = [0u8; 32];
    for (i, pair) in text.chunks_exact(2).enumerate() {
        out[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(out)
}

/// SHA-256 of `bytes`, lowercase hex.
#[must_use]
pub fn sha256_hex(bytes: &[u8]) -> String {
    to_hex(&Sha256::digest(bytes))
}

/// The hash a record is sealed with: SHA-256, lowercase hex, of its JSON without `hash` (which is
/// what serializing an [`AuditRecord`] writes). `record.hash` itself plays no part.
///
/// # Errors
///
/// [`AuditError::Encode`] if the record cannot be encoded (it always can).
pub fn record_hash(record: &AuditRecord) -> Result<String, AuditError> {
    let json = serde_json::to_vec(record).map_err(|source| AuditError::Encode { source })?;
    Ok(sha256_hex(&json))
}

/// Seals `record`: computes its hash over its JSON (with the `prev`, `seq` and the rest it holds),
/// stores it in `record.hash` and returns the full line, newline included, as the writer writes
/// it in one `write_all`.
///
/// # Errors
///
/// [`AuditError::Encode`] if the record cannot be encoded (it always can).
pub fn seal(record: &mut AuditRecord) -> Result<Vec<u8>, AuditError> {
    let mut line = serde_json::to_vec(record).map_err(|source| AuditError::Encode { source })?;
    if line.last() != Some(&b'}') {
        return Err(AuditError::Encode {
            source: serde::ser::Error::custom("a record did not encode as a JSON object"),
        });
    }
    record.hash = sha256_hex(&line);
    line.pop();
    line.reserve(SUFFIX_LEN + 1);
    line.extend_from_slice(b",\"hash\":\"");
    line.extend_from_slice(record.hash.as_bytes());
    line.extend_from_slice(b"\"}\n");
    Ok(line)
}

/// The chain fields of a line, as the verifier and a reopening writer read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Sealed {
    pub(crate) schema_version: u64,
    pub(crate) seq: u64,
    pub(crate) kind: RecordKind,
    pub(crate) prev: [u8; 32],
    pub(crate) hash: [u8; 32],
    /// Whether `hash` is the SHA-256 of the line's content.
    pub(crate) intact: bool,
    /// `open` records: why.
    pub(crate) reason: Option<OpenReason>,
    /// `open` records: the unclean stop of the writer before, as the writer found it.
    pub(crate) unclean_stop: Option<Box<UncleanStop>>,
}

#[derive(Deserialize)]
struct Fields<'a> {
    schema_version: u64,
    seq: u64,
    kind: RecordKind,
    #[serde(borrow)]
    prev: &'a str,
    #[serde(borrow)]
    hash: &'a str,
    #[serde(default)]
    reason: Option<OpenReason>,
    #[serde(default)]
    unclean_stop: Option<Box<UncleanStop>>,
}

/// Reads a line (without its newline) as a sealed record: `Err` with what is wrong when it is not
/// one (not JSON, a chain field missing or malformed, the hash not last, a key twice in one
/// object).
pub(crate) fn open_line(line: &[u8]) -> Result<Sealed, String> {
    let fields: Fields<'_> =
        serde_json::from_slice(line).map_err(|e| format!("not an audit record: {e}"))?;
    let prev = from_hex32(fields.prev.as_bytes())
        .ok_or_else(|| "not an audit record: prev is not 64 lowercase hex digits".to_owned())?;
    let hash = from_hex32(fields.hash.as_bytes())
        .ok_or_else(|| "not an audit record: hash is not 64 lowercase hex digits".to_owned())?;
    check_unique_keys(line).map_err(|problem| format!("not an audit record: {problem}"))?;
    let n = line.len();
    if n < SUFFIX_LEN + 2 || !line[..n - SUFFIX_LEN + 9].ends_with(b",\"hash\":\"") {
        return Err("not an audit record: hash is not its last key".to_owned());
    }
    let body = &line[..n - SUFFIX_LEN];
    let digest: [u8; 32] = Sha256::new()
        .chain_update(body)
        .chain_update(b"}")
        .finalize()
        .into();
    Ok(Sealed {
        schema_version: fields.schema_version,
        seq: fields.seq,
        kind: fields.kind,
        prev,
        hash,
        intact: digest == hash,
        reason: fields.reason,
        unclean_stop: fields.unclean_stop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::record::GENESIS;

    #[test]
    fn hex_round_trips() {
        let bytes: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        let text = to_hex(&bytes);
        assert_eq!(from_hex32(text.as_bytes()), Some(bytes));
        assert_eq!(from_hex32(text.to_uppercase().as_bytes()), None);
        assert_eq!(from_hex32(b"00"), None);
        assert_eq!(to_hex(&[0x00, 0xff, 0x3c]), "00ff3c");
    }

    #[test]
    fn a_sealed_line_opens_intact_and_any_changed_byte_breaks_it() {
        let mut record = AuditRecord {
            schema_version: 1,
            prev: GENESIS.to_owned(),
            request_model: Some("gpt-4o".into()),
            ..AuditRecord::default()
        };
        let line = seal(&mut record).unwrap();
        assert_eq!(record.hash, record_hash(&record).unwrap());
        assert!(line.ends_with(format!(",\"hash\":\"{}\"}}\n", record.hash).as_bytes()));
        let sealed = open_line(&line[..line.len() - 1]).unwrap();
        assert!(sealed.intact);
        assert_eq!((sealed.seq, sealed.kind), (0, RecordKind::Call));
        assert_eq!(to_hex(&sealed.hash), record.hash);
        let back: AuditRecord = serde_json::from_slice(&line).unwrap();
        assert_eq!(back, record);

        let text = String::from_utf8(line[..line.len() - 1].to_vec()).unwrap();
        let changed = text.replace("gpt-4o", "gpt-4x");
        assert!(!open_line(changed.as_bytes()).unwrap().intact);
        let spaced = text.replacen(":", ": ", 1);
        assert!(!open_line(spaced.as_bytes()).unwrap().intact);
    }

    #[test]
    fn lines_that_are_not_records_say_why() {
        assert!(
            open_line(b"{not json")
                .unwrap_err()
                .contains("not an audit record")
        );
        assert!(open_line(br#"{"something":"else"}"#).is_err());
        let moved = format!(
            r#"{{"schema_version":1,"seq":0,"kind":"call","hash":"{h}","prev":"{h}"}}"#,
            h = GENESIS
        );
        assert!(
            open_line(moved.as_bytes())
                .unwrap_err()
                .contains("not its last key")
        );
    }
}
