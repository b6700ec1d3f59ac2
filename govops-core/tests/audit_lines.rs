//! Property tests over audit lines as `verify`, a reopening writer and `govops report` read them:
//! whatever a line holds, no panic, and every rejection says what is wrong; a key twice in any
//! object of a sealed record is refused naming the key, whatever its hash.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::fs;

use govops_core::audit::{AuditLog, AuditOptions, AuditRecord, GENESIS, seal, sha256_hex, verify};
use proptest::prelude::*;

/// A sealed call record's line (without its newline).
fn sealed(cost: i64, model: &str) -> String {
    let mut record = AuditRecord {
        schema_version: 1,
        prev: GENESIS.to_owned(),
        request_model: Some(model.to_owned()),
        cost_usd: Some(rust_decimal::Decimal::new(cost, 4)),
        ..AuditRecord::default()
    };
    let line = seal(&mut record).unwrap();
    String::from_utf8(line).unwrap().trim_end().to_owned()
}

/// `line` with `extra` (`"key":value`) added after its first key, sealed again.
fn with_extra(line: &str, extra: &str) -> String {
    let (body, _) = line.rsplit_once(",\"hash\":\"").unwrap();
    let (first, rest) = body.split_once(',').unwrap();
    let body = format!("{first},{extra},{rest}}}");
    let hash = sha256_hex(body.as_bytes());
    format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_bytes_are_read_without_panic_and_a_rejection_says_why(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Err(problem) = AuditRecord::from_line(&bytes) {
            prop_assert!(!problem.is_empty());
        }
    }

    #[test]
    fn a_sealed_record_reads_back_and_a_key_twice_is_refused_naming_it(
        cost in 1_i64..1_000_000_000,
        model in "[a-z0-9.-]{1,20}",
        key in prop::sample::select(vec!["cost_usd", "request_model", "seq", "note", "kind"]),
        value in prop::sample::select(vec!["\"0\"", "1", "null", "{\"a\":1}", "[1,2]"]),
    ) {
        let line = sealed(cost, &model);
        let read = AuditRecord::from_line(line.as_bytes()).unwrap();
        prop_assert_eq!(read.cost_usd, Some(rust_decimal::Decimal::new(cost, 4)));
        let twice = with_extra(&with_extra(&line, &format!("\"{key}\":{value}")), &format!("\"{key}\":{value}"));
        let problem = AuditRecord::from_line(twice.as_bytes()).unwrap_err();
        let named = format!("duplicate key \"{key}\"");
        prop_assert!(problem.contains(&named), "{}", problem);
    }

    #[test]
    fn any_line_in_a_log_is_verified_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256), at in 0_usize..4) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let log = AuditLog::open(&path, AuditOptions::default()).unwrap();
        log.append(AuditRecord::default()).unwrap();
        log.shutdown().unwrap();
        let text = fs::read_to_string(&path).unwrap();
        let mut lines: Vec<Vec<u8>> = text.lines().map(|l| l.as_bytes().to_vec()).collect();
        let mut hostile = bytes.clone();
        hostile.retain(|&b| b != b'\n');
        lines.insert(at.min(lines.len()), hostile);
        let mut out = lines.join(&b'\n');
        out.push(b'\n');
        fs::write(&path, out).unwrap();
        match verify(&[&path]) {
            Ok(report) => prop_assert!(report.problem.is_some(), "an inserted line went unnoticed: {:?}", report),
            Err(e) => prop_assert!(e.to_string().contains("audit.jsonl"), "{}", e),
        }
    }
}
