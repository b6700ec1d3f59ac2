//! `govops audit verify` as an operator runs it, on real logs the writer wrote: intact, crashed,
//! tampered with (the done-when test: one record of a 10 000-record log), and bad input.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use support::govops;

use std::fs;
use std::path::{Path, PathBuf};

use govops_core::audit::{AuditLog, AuditOptions, AuditRecord, ConfigFingerprint, seal};

/// `govops audit verify FILE...`; the exit code and stdout.
fn verify(files: &[PathBuf], extra: &[&str]) -> (i32, String, String) {
    let mut args = vec!["audit", "verify"];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    args.extend(extra);
    let output = govops(&args);
    (
        output.status.code().unwrap(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

fn call(i: u64) -> AuditRecord {
    AuditRecord {
        session_id: Some(format!("session-{}", i % 11)),
        user_id: Some("user-7".into()),
        operation: Some("chat".into()),
        request_model: Some("gpt-4o".into()),
        provider: Some("openai".into()),
        input_tokens: Some(1_000 + i),
        output_tokens: Some(200),
        cost_usd: Some(rust_decimal::Decimal::new(45_000 + i as i64, 7)),
        latency_ms: Some(640.0),
        temperature: Some(0.2),
        ..AuditRecord::default()
    }
}

/// A log of `calls` calls at `dir/audit.jsonl`, rotated at `rotate` bytes; its files as a shell's
/// `audit.jsonl*` lists them (the active file first).
fn write_log(dir: &Path, calls: u64, rotate: Option<u64>) -> Vec<PathBuf> {
    let fingerprint = ConfigFingerprint {
        app: "support-bot".into(),
        environment: "prod".into(),
        ..ConfigFingerprint::default()
    };
    support::write_log(dir, calls, rotate, fingerprint, call)
}

#[test]
fn an_intact_log_passes_and_a_crash_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 300, Some(16 * 1024));
    assert!(files.len() >= 3);
    let (code, out, _) = verify(&files, &[]);
    assert_eq!(code, 0, "{out}");
    let records = 300 + files.len() + 1; // the calls, an open per file, the close
    assert!(
        out.starts_with(&format!(
            "ok: {records} records, chain intact across {} files\n",
            files.len()
        )),
        "{out}"
    );
    assert!(out.contains("(close)"), "{out}");

    // A crash in the middle of a write: the last line is incomplete.
    let active = &files[0];
    let text = fs::read_to_string(active).unwrap();
    let cut = &text[..text.len() - 40];
    fs::write(active, cut).unwrap();
    let lines = cut.lines().count();
    let (code, out, _) = verify(&files, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with(&format!(
            "warning: {}:{lines}: truncated: the last line is incomplete",
            active.display()
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("ok: {} records", records - 1)),
        "{out}"
    );
    assert!(out.contains("does not end with a close record"), "{out}");

    // Reopening goes on after it, and the whole log still verifies.
    AuditLog::open(active, AuditOptions::default())
        .unwrap()
        .shutdown()
        .unwrap();
    let mut files: Vec<PathBuf> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let (code, out, _) = verify(&files, &[]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("truncated"), "{out}");
    assert!(
        out.contains(&format!("ok: {} records", records + 1)),
        "{out}"
    );
}

#[test]
fn partial_checks_the_files_left_after_the_oldest_were_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut files = write_log(dir.path(), 300, Some(16 * 1024));
    assert!(files.len() >= 3);
    // Retention removed the oldest rotated file (a shell lists the active file first).
    let oldest = files.remove(1);
    let anchor: AuditRecord =
        serde_json::from_str(fs::read_to_string(&oldest).unwrap().lines().last().unwrap()).unwrap();
    fs::remove_file(&oldest).unwrap();

    let (code, out, _) = verify(&files, &[]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("deleted") && out.contains("--partial"),
        "{out}"
    );

    let (code, out, _) = verify(&files, &["--partial"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("ok: "), "{out}");
    let first = format!(
        "first record: seq {}, chained to hash {}",
        anchor.seq + 1,
        anchor.hash
    );
    assert!(out.contains(&first), "{out}");

    let (code, out, _) = verify(&files, &["--partial", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["first_seq"], anchor.seq + 1);
    assert_eq!(report["first_prev"], anchor.hash);

    // A whole log verified with --partial is checked from seq 0, as without it.
    let whole = tempfile::tempdir().unwrap();
    let files = write_log(whole.path(), 10, None);
    let (code, out, _) = verify(&files, &["--partial"]);
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("first record"), "{out}");
}

/// The log's lines per file, in chain order (by first seq).
fn read(files: &[PathBuf]) -> Vec<(PathBuf, Vec<String>)> {
    let mut out: Vec<(PathBuf, Vec<String>)> = files
        .iter()
        .map(|f| {
            let lines = fs::read_to_string(f)
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect();
            (f.clone(), lines)
        })
        .collect();
    out.sort_by_key(|(_, lines)| serde_json::from_str::<AuditRecord>(&lines[0]).unwrap().seq);
    out
}

fn write(log: &[(PathBuf, Vec<String>)]) {
    for (path, lines) in log {
        fs::write(path, lines.join("\n") + "\n").unwrap();
    }
}

#[test]
fn tampering_with_any_one_record_of_a_10k_record_log_is_found_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 10_000, Some(2 * 1024 * 1024));
    let original = read(&files);
    let (code, out, _) = verify(&files, &[]);
    assert_eq!(code, 0, "{out}");

    let positions: Vec<(usize, usize)> = original
        .iter()
        .enumerate()
        .flat_map(|(f, (_, lines))| (0..lines.len()).map(move |i| (f, i)))
        .collect();
    let total = positions.len();
    let last_call = total - 2; // the close record is last
    // The middle, away from a file's end (a deletion there is named at the next file's line 1).
    let middle = (total / 2..)
        .find(|&t| positions[t + 1].0 == positions[t].0)
        .unwrap();
    let mut runs = 0;
    for (name, t) in [
        ("first", 0),
        ("middle", middle),
        ("last call", last_call),
        ("close", total - 1),
    ] {
        let (f, i) = positions[t];
        let line = original[f].1[i].clone();
        let here = |kind: &str| format!("{}:{}: {kind}: ", original[f].0.display(), i + 1);

        // One field modified.
        let mut log = original.clone();
        let mut record: AuditRecord = serde_json::from_str(&line).unwrap();
        let old_hash = record.hash.clone();
        record.user_id = Some("someone-else".into());
        let resealed = String::from_utf8(seal(&mut record).unwrap()).unwrap();
        log[f].1[i] = resealed.trim_end().replace(&record.hash, &old_hash);
        write(&log);
        let (code, out, _) = verify(&files, &[]);
        assert_eq!(code, 1, "modify {name}: {out}");
        assert!(out.starts_with(&here("modified")), "modify {name}: {out}");
        runs += 1;

        // Inserted before it: a copy of another record.
        let mut log = original.clone();
        let other = positions[if t >= 5 { t - 5 } else { t + 5 }];
        log[f].1.insert(i, original[other.0].1[other.1].clone());
        write(&log);
        let (code, out, _) = verify(&files, &[]);
        assert_eq!(code, 1, "insert before {name}: {out}");
        assert!(
            out.starts_with(&here("inserted")),
            "insert before {name}: {out}"
        );
        runs += 1;

        if t == total - 1 {
            continue; // nothing follows the close record to delete it from, or swap it with
        }
        // Deleted.
        let mut log = original.clone();
        log[f].1.remove(i);
        write(&log);
        let (code, out, _) = verify(&files, &[]);
        assert_eq!(code, 1, "delete {name}: {out}");
        assert!(out.starts_with(&here("deleted")), "delete {name}: {out}");
        runs += 1;

        // Swapped with the next record.
        let mut log = original.clone();
        let (g, j) = positions[t + 1];
        let next = log[g].1[j].clone();
        log[g].1[j] = line.clone();
        log[f].1[i] = next;
        write(&log);
        let (code, out, _) = verify(&files, &[]);
        assert_eq!(code, 1, "swap {name}: {out}");
        assert!(out.starts_with(&here("reordered")), "swap {name}: {out}");
        assert!(out.contains("FAILED: the chain is broken at"), "{out}");
        runs += 1;
    }
    assert_eq!(runs, 14);

    // The JSON report says the same.
    let mut log = original.clone();
    let (f, i) = positions[middle];
    log[f].1.remove(i);
    write(&log);
    let (code, out, _) = verify(&files, &["--format", "json"]);
    assert_eq!(code, 1);
    let report: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["problem"]["kind"], "deleted");
    assert_eq!(report["problem"]["line"], i as u64 + 1);
    assert_eq!(
        report["problem"]["file"],
        original[f].0.to_str().unwrap(),
        "{out}"
    );
}

#[test]
fn bad_input_exits_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let telemetry = dir.path().join("govops-telemetry.jsonl");
    fs::write(&telemetry, "{\"resourceSpans\":[]}\n").unwrap();
    let (code, out, err) = verify(std::slice::from_ref(&telemetry), &[]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains(&format!(
            "{}:1: not an audit log: not an audit record",
            telemetry.display()
        )),
        "{err}"
    );
    assert!(err.contains("accepted:"), "{err}");

    let missing = dir.path().join("missing.jsonl");
    let (code, _, err) = verify(std::slice::from_ref(&missing), &[]);
    assert_eq!(code, 2);
    assert!(
        err.contains(&format!("{}: cannot be read", missing.display())),
        "{err}"
    );

    // One good file and one that is not a log: still exit 2, naming the bad one.
    let files = write_log(dir.path(), 3, None);
    let mut both = files.clone();
    both.push(telemetry.clone());
    let (code, _, err) = verify(&both, &[]);
    assert_eq!(code, 2);
    assert!(err.contains("govops-telemetry.jsonl:1"), "{err}");

    // No file at all is a usage error.
    let output = govops(&["audit", "verify"]);
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn a_restart_after_an_unclean_stop_is_a_warning_not_a_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 5, None);
    let path = &files[0];
    // What a writer killed between two writes leaves: every record but the close.
    let text = fs::read_to_string(path).unwrap();
    let without_close = &text[..text.trim_end().rfind('\n').unwrap() + 1];
    fs::write(path, without_close).unwrap();
    let log = AuditLog::open(path, AuditOptions::default()).unwrap();
    log.append(call(5)).unwrap();
    log.shutdown().unwrap();

    let (code, out, _) = verify(&files, &[]);
    assert_eq!(
        code, 0,
        "an unclean stop is a warning: the chain is intact\n{out}"
    );
    let warning = format!("warning: {}:7: unclean_stop:", path.display());
    assert!(out.contains(&warning), "{out}");
    assert!(out.contains("after seq 5"), "{out}");
    let (code, out, _) = verify(&files, &["--format", "json"]);
    assert_eq!(code, 0);
    let json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(json["unclean_stops"][0]["line"], 7, "{out}");
    assert_eq!(json["unclean_stops"][0]["kind"], "unclean_stop", "{out}");
}

#[test]
fn a_record_with_a_key_twice_fails_verify_and_report_naming_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let files = write_log(dir.path(), 3, None);
    let path = &files[0];
    // Line 3 gets a key twice and is sealed again; the lines after it chain on, so only the key
    // shows the change (the hash covers both values: a reader that takes the last sees "0").
    let text = fs::read_to_string(path).unwrap();
    let mut out = String::new();
    let mut prev: Option<String> = None;
    for (i, line) in text.lines().enumerate() {
        let (body, _) = line.rsplit_once(",\"prev\":\"").unwrap();
        let mut body = body.to_owned();
        if i == 2 {
            body = body.replacen(
                "\"kind\":\"call\"",
                "\"kind\":\"call\",\"note\":\"a\",\"note\":\"b\"",
                1,
            );
        }
        let previous = prev
            .clone()
            .unwrap_or_else(|| line.rsplit_once(",\"prev\":\"").unwrap().1[..64].to_owned());
        let unsealed = format!("{body},\"prev\":\"{previous}\"}}");
        let hash = govops_core::audit::sha256_hex(unsealed.as_bytes());
        out.push_str(&format!(
            "{},\"hash\":\"{hash}\"}}\n",
            &unsealed[..unsealed.len() - 1]
        ));
        prev = Some(hash);
    }
    fs::write(path, out).unwrap();

    let (code, stdout, _) = verify(&files, &[]);
    assert_eq!(code, 1, "{stdout}");
    let at = format!("{}:3:", path.display());
    assert!(stdout.contains(&at), "{stdout}");
    assert!(stdout.contains("duplicate key \"note\""), "{stdout}");

    let output = govops(&["report", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let err = String::from_utf8(output.stderr).unwrap();
    assert!(err.contains(&at), "{err}");
    assert!(err.contains("duplicate key \"note\""), "{err}");
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.jsonl");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let (code, _, err) = verify(std::slice::from_ref(&fifo), &[]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("is a FIFO; only a regular file is accepted"),
        "{err}"
    );
}
