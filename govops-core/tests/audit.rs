//! The audit log with real files and real threads: round trip, flush, concurrent appends, reopen,
//! rotation, crash recovery, and every single tampering of a 10 000-record log found and located.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::fs;
use std::path::{Path, PathBuf};

use govops_core::audit::{
    AuditError, AuditLog, AuditOptions, AuditRecord, ConfigFingerprint, Content, FindingKind,
    GENESIS, OpenReason, RecordKind, Report, Start, Timestamp, record_hash, seal, verify,
    verify_from,
};
use govops_core::{Decision, Violation, Violations};
use rust_decimal::Decimal;

fn fingerprint() -> ConfigFingerprint {
    ConfigFingerprint {
        app: "support-bot".into(),
        app_version: Some("1.2.3".into()),
        environment: "prod".into(),
        owner: "team-ai".into(),
        cost_center: "CC-1234".into(),
        data_classification: "internal".into(),
        price_table_sha256: "ab".repeat(32),
        policy_id: Some(format!("policy.toml@sha256:{}", "cd".repeat(32))),
        policy_sha256: Some("cd".repeat(32)),
        contract_version: "1".into(),
        crate_version: "0.1.0".into(),
    }
}

fn options() -> AuditOptions {
    AuditOptions {
        fingerprint: Some(fingerprint()),
        ..AuditOptions::default()
    }
}

/// A call record like the tracing layer will write, `i` making it distinct.
fn call(i: u64) -> AuditRecord {
    AuditRecord {
        trace_id: Some(format!("{i:032x}")),
        span_id: Some(format!("{i:016x}")),
        session_id: Some(format!("session-{}", i % 7)),
        user_id: Some(format!("user-{}", i % 3)),
        operation: Some("chat".into()),
        request_model: Some("gpt-4o".into()),
        response_model: Some("gpt-4o-2024-08-06".into()),
        provider: Some("openai".into()),
        input_tokens: Some(1_000 + i),
        output_tokens: Some(200),
        cost_usd: Some(Decimal::new(45_000 + i as i64, 7)),
        latency_ms: Some(812.5),
        decision: Some(Decision::Allow),
        temperature: Some(0.7),
        max_tokens: Some(512),
        prompt_sha256: Some("ef".repeat(32)),
        ..AuditRecord::default()
    }
}

fn lines(path: &Path) -> Vec<String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

fn records(path: &Path) -> Vec<AuditRecord> {
    lines(path)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A log of `calls` calls at `dir/audit.jsonl`, rotated at `rotate_bytes` and shut down; its files
/// as [`glob`] lists them.
fn rotated_log(dir: &Path, calls: u64, rotate_bytes: u64) -> Vec<PathBuf> {
    let log = AuditLog::open(
        dir.join("audit.jsonl"),
        AuditOptions {
            rotate_bytes: Some(rotate_bytes),
            ..options()
        },
    )
    .unwrap();
    for i in 0..calls {
        log.append(call(i)).unwrap();
    }
    log.shutdown().unwrap();
    glob(dir, "audit.jsonl")
}

/// The log's files as a shell's `audit.jsonl*` lists them: the active file first.
fn glob(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_str().unwrap().starts_with(name))
        .collect();
    files.sort();
    files
}

#[test]
fn a_record_round_trips_with_every_field_and_the_exact_cost() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, options()).unwrap();
    let mut violations = Violations::new();
    violations.raise(Violation::TokenWaste);
    violations.raise(Violation::PiiDetected);
    let mut full = AuditRecord {
        timestamp: Some("2026-01-02T03:04:05.123456789Z".parse().unwrap()),
        cache_read_tokens: Some(100),
        cache_creation_tokens: Some(50),
        reasoning_tokens: Some(20),
        tool_name: Some("search_orders".into()),
        agent_name: Some("support".into()),
        error_type: Some("timeout".into()),
        top_p: Some(0.95),
        seed: Some(-42),
        content: Some(Content {
            prompt: Some("What is my balance?".into()),
            response: Some("It is $12.".into()),
        }),
        cost_usd: Some("0.004500".parse().unwrap()),
        ..call(1)
    };
    full.hash_prompt("What is my balance?");
    full.hash_response("It is $12.");
    full.decision = None; // set from the violations
    full.set_violations(&violations);
    let unpriced = AuditRecord {
        request_model: Some("my-private-model".into()),
        cost_usd: None,
        ..call(2)
    };
    log.append(full.clone()).unwrap();
    log.append(unpriced).unwrap();
    log.shutdown().unwrap();

    let raw = lines(&path);
    assert_eq!(raw.len(), 4, "open, two calls, close");
    // The exact decimal string, scale kept; an unpriced call has no cost at all, never "0".
    assert!(raw[1].contains(r#""cost_usd":"0.004500""#), "{}", raw[1]);
    assert!(!raw[2].contains("cost_usd"), "{}", raw[2]);
    assert!(raw[1].contains(r#""timestamp":"2026-01-02T03:04:05.123456789Z""#));
    assert!(raw[1].contains(r#""violations":["token_waste","pii_detected"]"#));
    assert!(raw[1].contains(r#""decision":"flag""#));
    assert!(!raw[2].contains("violations"), "absent when none");
    assert!(!raw[2].contains("content"), "content only when passed");
    for line in &raw {
        assert!(line.starts_with(r#"{"schema_version":1,"seq":"#), "{line}");
        assert!(line.contains(r#","prev":""#));
    }

    let read = records(&path);
    let config = fingerprint().sha256();
    assert_eq!(read[0].kind, RecordKind::Open);
    assert_eq!(read[0].reason, Some(OpenReason::New));
    assert_eq!(read[0].fingerprint, Some(fingerprint()));
    assert_eq!(read[0].prev, GENESIS);
    assert_eq!(read[3].kind, RecordKind::Close);
    let got = &read[1];
    let mut want = full;
    want.schema_version = 1;
    want.seq = 1;
    want.prev = read[0].hash.clone();
    want.hash = got.hash.clone();
    want.config = Some(config.clone());
    want.service = Some("support-bot".into());
    want.environment = Some("prod".into());
    want.owner = Some("team-ai".into());
    want.cost_center = Some("CC-1234".into());
    want.data_classification = Some("internal".into());
    assert_eq!(got, &want);
    assert_eq!(got.cost_usd, Some(Decimal::new(4500, 6)));
    assert_eq!(got.prompt_sha256.as_deref().map(str::len), Some(64));
    for (i, r) in read.iter().enumerate() {
        assert_eq!(r.seq, i as u64);
        assert_eq!(r.config.as_deref(), Some(config.as_str()));
        assert_eq!(record_hash(r).unwrap(), r.hash, "the shared hash function");
        if i > 0 {
            assert_eq!(r.prev, read[i - 1].hash);
        }
    }
    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact() && report.closed, "{report:?}");
    assert_eq!(report.records, 4);
    assert_eq!(report.last_hash.as_deref(), Some(read[3].hash.as_str()));
}

#[test]
fn flush_puts_everything_handed_over_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, options()).unwrap();
    for i in 0..500 {
        log.append(call(i)).unwrap();
    }
    log.flush().unwrap();
    // Still running: every record is in the file, the chain is intact, no close yet.
    let read = records(&path);
    assert_eq!(read.len(), 501);
    assert_eq!(read[500].input_tokens, Some(1_499));
    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact() && !report.closed, "{report:?}");
    assert_eq!(report.records, 501);
    drop(log); // dropping the last clone shuts down
    let report = verify(&[&path]).unwrap();
    assert!(report.closed);
    assert_eq!(report.records, 502);
}

#[test]
fn eight_threads_appending_at_once_make_one_contiguous_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // A small queue, so that callers block on a full channel (and nothing is dropped).
    let log = AuditLog::open(
        &path,
        AuditOptions {
            queue: 16,
            ..options()
        },
    )
    .unwrap();
    std::thread::scope(|scope| {
        for t in 0..8_u64 {
            let log = log.clone();
            scope.spawn(move || {
                for i in 0..1_000_u64 {
                    let mut r = call(i);
                    r.session_id = Some(format!("thread-{t}"));
                    r.input_tokens = Some(i);
                    log.append(r).unwrap();
                }
            });
        }
    });
    log.shutdown().unwrap();
    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 8_002);
    // Each thread's records are all there, in the order it appended them.
    let read = records(&path);
    for t in 0..8 {
        let mine: Vec<u64> = read
            .iter()
            .filter(|r| r.session_id.as_deref() == Some(&format!("thread-{t}")))
            .map(|r| r.input_tokens.unwrap())
            .collect();
        assert_eq!(mine, (0..1_000).collect::<Vec<_>>());
    }
    assert!(matches!(
        log.append(call(0)),
        Err(AuditError::Closed { .. })
    ));
    log.shutdown().unwrap(); // again: nothing to do
}

#[test]
fn reopening_continues_the_chain() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    for run in 0..3_u64 {
        let log = AuditLog::open(&path, options()).unwrap();
        for i in 0..3 {
            log.append(call(run * 10 + i)).unwrap();
        }
        log.shutdown().unwrap();
    }
    let read = records(&path);
    assert_eq!(read.len(), 15);
    let reasons: Vec<_> = read.iter().filter_map(|r| r.reason).collect();
    assert_eq!(
        reasons,
        [OpenReason::New, OpenReason::Reopen, OpenReason::Reopen]
    );
    assert_eq!(read[5].kind, RecordKind::Open);
    assert_eq!(read[5].prev, read[4].hash);
    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact() && report.closed, "{report:?}");
    assert_eq!(report.records, 15);
}

#[test]
fn a_second_writer_of_the_same_log_is_refused_until_the_first_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let first = AuditLog::open(&path, options()).unwrap();
    first.append(call(1)).unwrap();
    first.flush().unwrap();
    let refused = AuditLog::open(&path, options()).unwrap_err();
    assert!(
        matches!(&refused, AuditError::InUse { path: p, .. } if p == &path),
        "{refused:?}"
    );
    let message = refused.to_string();
    assert!(message.contains("audit.jsonl"), "{message}");
    assert!(message.contains("one writer per log"), "{message}");
    // The refused writer touched nothing, and the first goes on.
    first.append(call(2)).unwrap();
    first.shutdown().unwrap();
    let second = AuditLog::open(&path, options()).unwrap();
    second.append(call(3)).unwrap();
    second.shutdown().unwrap();
    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact() && report.closed, "{report:?}");
    assert_eq!(
        report.records, 7,
        "open, 2 calls, close, open, 1 call, close"
    );
    // The log itself is locked: no lock file beside it, nothing else in `audit.jsonl*`.
    assert_eq!(glob(dir.path(), "audit.jsonl"), [path]);
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
}

/// Run by [`holder`] in a child process: opens the log named by `GOVOPS_TEST_HOLD_LOG`, appends
/// `GOVOPS_TEST_HOLD_CALLS` calls (1 by default), says [`HOLDING`] on stdout once they are in the
/// file, and holds the log until its stdin closes.
/// What the child process says once it holds the log.
const HOLDING: &str = "holding the audit log";

#[test]
#[ignore = "a child process of a_log_another_process_writes_is_refused"]
fn hold_the_log_until_stdin_closes() {
    use std::io::{Read as _, Write as _};
    let Some(path) = std::env::var_os("GOVOPS_TEST_HOLD_LOG") else {
        return;
    };
    let calls: u64 = std::env::var("GOVOPS_TEST_HOLD_CALLS").map_or(1, |n| n.parse().unwrap());
    let log = AuditLog::open(&path, options()).unwrap();
    for i in 0..calls {
        log.append(call(i)).unwrap();
    }
    log.flush().unwrap();
    let mut stdout = std::io::stdout();
    // On a line of its own: libtest has written `test NAME ... ` before it.
    writeln!(stdout, "\n{HOLDING}").unwrap();
    stdout.flush().unwrap();
    let mut rest = Vec::new();
    std::io::stdin().read_to_end(&mut rest).unwrap();
    log.shutdown().unwrap();
}

/// A child process (this test binary) that holds the log at `path` with `calls` calls in it.
fn holder(path: &Path, calls: u64) -> std::process::Child {
    use std::io::BufRead as _;
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "hold_the_log_until_stdin_closes",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("GOVOPS_TEST_HOLD_LOG", path)
        .env("GOVOPS_TEST_HOLD_CALLS", calls.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while line.trim() != HOLDING {
        line.clear();
        assert_ne!(out.read_line(&mut line).unwrap(), 0, "the child ended");
    }
    // The rest it writes (libtest's result) must not meet a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut out, &mut std::io::sink()));
    child
}

#[test]
fn a_log_another_process_writes_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut child = holder(&path, 1);
    let refused = AuditLog::open(&path, options()).unwrap_err();
    assert!(matches!(refused, AuditError::InUse { .. }), "{refused:?}");
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    let log = AuditLog::open(&path, options()).unwrap();
    log.append(call(2)).unwrap();
    log.shutdown().unwrap();
    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact() && report.closed, "{report:?}");
    assert_eq!(report.records, 6);
}

#[test]
fn rotation_keeps_the_chain_across_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let limit = 8 * 1024;
    let files = rotated_log(dir.path(), 300, limit);
    assert!(files.len() >= 3, "{files:?}");
    assert_eq!(
        files[0], path,
        "the active file comes first in a shell's order"
    );
    let mut calls = 0;
    for file in &files {
        // The close record is not held to the limit.
        assert!(fs::metadata(file).unwrap().len() <= limit + 300, "{file:?}");
        let read = records(file);
        assert_eq!(
            read[0].kind,
            RecordKind::Open,
            "every file begins with open"
        );
        assert_eq!(read[0].fingerprint, Some(fingerprint()));
        if file != &path {
            let name = file.file_name().unwrap().to_str().unwrap();
            assert_eq!(name, format!("audit.jsonl.{:012}", read[0].seq));
        }
        calls += read.iter().filter(|r| r.kind == RecordKind::Call).count();
    }
    assert_eq!(calls, 300);
    let report = verify(&files).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.files.len(), files.len());
    assert_eq!(report.files.last().unwrap().path, path, "chain order");
    assert_eq!(report.records, 300 + files.len() as u64 + 1);

    // Reopening a rotated log goes on in the active file.
    let log = AuditLog::open(
        &path,
        AuditOptions {
            rotate_bytes: Some(limit),
            ..options()
        },
    )
    .unwrap();
    log.append(call(1_000)).unwrap();
    log.shutdown().unwrap();
    let report = verify(&glob(dir.path(), "audit.jsonl")).unwrap();
    assert!(report.is_intact(), "{report:?}");
    // A log whose active file is missing (a crash between rename and create) goes on from the
    // newest rotated file.
    let newest = glob(dir.path(), "audit.jsonl").pop().unwrap();
    let last_rotated = records(&newest).pop().unwrap();
    fs::remove_file(&path).unwrap();
    let log = AuditLog::open(&path, options()).unwrap();
    log.shutdown().unwrap();
    let read = records(&path);
    assert_eq!(read[0].reason, Some(OpenReason::Reopen));
    assert_eq!(
        (read[0].seq, &read[0].prev),
        (last_rotated.seq + 1, &last_rotated.hash)
    );
    let report = verify(&glob(dir.path(), "audit.jsonl")).unwrap();
    assert!(report.is_intact(), "{report:?}");
}

#[test]
fn the_files_left_after_the_oldest_were_removed_verify_from_their_first_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut kept = rotated_log(dir.path(), 300, 8 * 1024);
    assert!(kept.len() >= 4, "{kept:?}");
    // Retention removed the two oldest files (a shell lists the active file first, then the
    // rotated ones oldest first).
    let removed: Vec<PathBuf> = kept.drain(1..3).collect();
    let anchor = records(&removed[1]).last().unwrap().hash.clone();
    for file in &removed {
        fs::remove_file(file).unwrap();
    }
    let first_kept = kept[1].clone();
    let first_record = records(&first_kept)[0].clone();
    assert_eq!(first_record.kind, RecordKind::Open);

    // From seq 0, the missing files are a deletion at the first line left, with the way out.
    let whole = verify(&kept).unwrap();
    let problem = whole.problem.unwrap();
    assert_eq!(
        (problem.kind, &problem.file, problem.line),
        (FindingKind::Deleted, &first_kept, 1)
    );
    assert!(problem.detail.contains("--partial"), "{}", problem.detail);

    // From the first record left: intact, and it says where it began and what it chains to.
    let partial = verify_from(&kept, Start::FirstRecord).unwrap();
    assert!(partial.is_intact() && partial.closed, "{partial:?}");
    assert_eq!(partial.first_seq, Some(first_record.seq));
    assert_eq!(partial.first_prev.as_deref(), Some(anchor.as_str()));
    let left: u64 = kept.iter().map(|f| lines(f).len() as u64).sum();
    assert_eq!(partial.records, left);

    // Tampering is still found: a record edited in the files left, ...
    let text = lines(&first_kept);
    let mut edited_lines = text.clone();
    edited_lines[5] = edited(&text[5], false);
    fs::write(&first_kept, edited_lines.join("\n") + "\n").unwrap();
    let report = verify_from(&kept, Start::FirstRecord).unwrap();
    let problem = report.problem.unwrap();
    assert_eq!(
        (problem.kind, &problem.file, problem.line),
        (FindingKind::Modified, &first_kept, 6)
    );
    // ... and the first file's open record removed: a file never begins with a call.
    fs::write(&first_kept, text[1..].join("\n") + "\n").unwrap();
    let report = verify_from(&kept, Start::FirstRecord).unwrap();
    let problem = report.problem.unwrap();
    assert_eq!(
        (problem.kind, &problem.file, problem.line),
        (FindingKind::Deleted, &first_kept, 1)
    );
    // ... or edited.
    let mut opened = text.clone();
    opened[0] = opened[0].replacen("\"reason\":\"rotate\"", "\"reason\":\"reopen\"", 1);
    assert_ne!(opened[0], text[0]);
    fs::write(&first_kept, opened.join("\n") + "\n").unwrap();
    let report = verify_from(&kept, Start::FirstRecord).unwrap();
    let problem = report.problem.unwrap();
    assert_eq!(
        (problem.kind, &problem.file, problem.line),
        (FindingKind::Modified, &first_kept, 1)
    );
}

#[test]
fn a_crash_leaves_a_truncated_line_and_reopening_goes_on_after_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // The crash: a process that wrote 10 calls is killed in the middle of writing seq 11.
    let mut child = holder(&path, 10);
    child.kill().unwrap();
    child.wait().unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let partial = &call(10);
    let mut cut = serde_json::to_string(partial).unwrap();
    cut.truncate(120);
    fs::write(&path, format!("{text}{cut}")).unwrap();

    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 11);
    assert_eq!(report.truncated.len(), 1);
    assert_eq!(report.truncated[0].kind, FindingKind::Truncated);
    assert_eq!(report.truncated[0].line, 12);

    // Reopening does not append after the incomplete line: that file is renamed as it is.
    let log = AuditLog::open(&path, options()).unwrap();
    log.append(call(11)).unwrap();
    log.shutdown().unwrap();
    let crashed = dir.path().join("audit.jsonl.000000000000");
    assert!(fs::read_to_string(&crashed).unwrap().ends_with(&cut));
    let read = records(&path);
    assert_eq!(read[0].reason, Some(OpenReason::Recover));
    assert_eq!(read[0].seq, 11);
    // The new writer says what it found: where the stopped one's part ends, and the cut line.
    let stop = read[0].unclean_stop.as_ref().unwrap();
    assert_eq!(
        (stop.last_seq, stop.last_kind),
        (Some(10), Some(RecordKind::Call))
    );
    assert_eq!(stop.file, "audit.jsonl.000000000000");
    assert_eq!((stop.torn_line, stop.torn_bytes), (Some(12), Some(120)));
    let files = glob(dir.path(), "audit.jsonl");
    let report = verify(&files).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 14);
    assert_eq!(report.truncated.len(), 1);
    assert_eq!(report.truncated[0].file, crashed);
    assert_eq!(report.unclean_stops.len(), 1, "{report:?}");
    let found = &report.unclean_stops[0];
    assert_eq!(
        (found.kind, &found.file, found.line),
        (FindingKind::UncleanStop, &path, 1)
    );
    assert!(found.detail.contains("after seq 10"), "{found}");
    assert!(
        found
            .detail
            .contains("audit.jsonl.000000000000:12 (120 bytes)"),
        "{found}"
    );

    // A file holding only the start of its first line (a crash in the very first write) is
    // emptied and the log starts afresh.
    let lone = dir.path().join("lone.jsonl");
    fs::write(&lone, r#"{"schema_version":1,"seq":0,"ki"#).unwrap();
    AuditLog::open(&lone, options())
        .unwrap()
        .shutdown()
        .unwrap();
    let report = verify(&[&lone]).unwrap();
    assert!(report.is_intact() && report.truncated.is_empty());
    assert_eq!(report.records, 2);
    // The cut first line is gone, but the log says it was there.
    assert_eq!(report.unclean_stops.len(), 1, "{report:?}");
    assert!(
        report.unclean_stops[0]
            .detail
            .contains("lone.jsonl:1 (31 bytes)"),
        "{}",
        report.unclean_stops[0]
    );
}

#[test]
fn a_restart_after_a_killed_writer_says_so_in_the_log_and_verify_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // Killed between two writes: every line it wrote is whole, and there is no close record.
    let mut child = holder(&path, 10);
    child.kill().unwrap();
    child.wait().unwrap();
    let log = AuditLog::open(&path, options()).unwrap();
    log.append(call(10)).unwrap();
    log.shutdown().unwrap();

    let read = records(&path);
    assert_eq!(read.len(), 14, "open, 10 calls, then open, call, close");
    assert_eq!(read[11].kind, RecordKind::Open);
    let stop = read[11].unclean_stop.as_ref().unwrap();
    assert_eq!(
        (stop.last_seq, stop.last_kind),
        (Some(10), Some(RecordKind::Call))
    );
    assert_eq!((stop.file.as_str(), stop.torn_line), ("audit.jsonl", None));

    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact() && report.closed, "{report:?}");
    assert_eq!(report.unclean_stops.len(), 1, "{report:?}");
    let found = &report.unclean_stops[0];
    assert_eq!(
        (found.kind, found.line, found.seq),
        (FindingKind::UncleanStop, 12, Some(11))
    );
    assert!(found.detail.contains("after seq 10"), "{found}");
    assert!(found.detail.contains("audit.jsonl:11"), "{found}");

    // A clean stop and restart adds no warning.
    let log = AuditLog::open(&path, options()).unwrap();
    log.shutdown().unwrap();
    assert_eq!(verify(&[&path]).unwrap().unclean_stops.len(), 1);

    // A log written before writers said so: the chain itself shows the stop.
    let old = dir.path().join("old.jsonl");
    let text = fs::read_to_string(&path).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut body = lines[..11].join("\n");
    body.push('\n');
    fs::write(&old, body).unwrap();
    let log = AuditLog::open(&old, AuditOptions::default()).unwrap();
    log.shutdown().unwrap();
    let mut rewritten = String::new();
    let mut prev = lines[10].rsplit_once("\"hash\":\"").unwrap().1[..64].to_owned();
    for line in fs::read_to_string(&old).unwrap().lines().skip(11) {
        let mut record: AuditRecord = serde_json::from_str(line).unwrap();
        record.unclean_stop = None;
        record.prev = prev;
        rewritten.push_str(std::str::from_utf8(&seal(&mut record).unwrap()).unwrap());
        prev = record.hash.clone();
    }
    let mut kept = lines[..11].join("\n");
    kept.push('\n');
    fs::write(&old, kept + &rewritten).unwrap();
    let report = verify(&[&old]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.unclean_stops.len(), 1, "{report:?}");
    assert_eq!(report.unclean_stops[0].line, 12);
}

#[test]
fn a_line_without_end_is_not_read_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, options()).unwrap();
    log.shutdown().unwrap();
    // 10 GB of zeros after the log, without a newline (sparse: no disk is used).
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(10 << 30).unwrap();
    drop(file);
    let err = verify(&[&path]).unwrap_err();
    assert!(
        matches!(err, AuditError::LineTooLong { line: 3, limit, .. } if limit == govops_core::audit::MAX_LINE as u64),
        "{err}"
    );
    let message = err.to_string();
    assert!(message.contains("audit.jsonl:3"), "{message}");
    assert!(message.contains("64 MiB"), "{message}");
    // A writer does not chain onto it either, nor read it whole.
    let err = AuditLog::open(&path, options()).unwrap_err();
    assert!(matches!(err, AuditError::LineTooLong { .. }), "{err}");
}

#[test]
fn bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let telemetry = dir.path().join("telemetry.jsonl");
    fs::write(&telemetry, "{\"resourceSpans\":[]}\n").unwrap();
    let err = verify(&[&telemetry]).unwrap_err();
    assert!(
        matches!(err, AuditError::NotAuditLog { line: 1, .. }),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("telemetry.jsonl:1: not an audit log"),
        "{err}"
    );
    assert!(err.to_string().contains("accepted:"), "{err}");
    let err = AuditLog::open(&telemetry, options()).unwrap_err();
    assert!(matches!(err, AuditError::NotAuditLog { .. }), "{err}");
    assert_eq!(
        fs::read_to_string(&telemetry).unwrap(),
        "{\"resourceSpans\":[]}\n",
        "untouched"
    );
    let no_newline = dir.path().join("config.json");
    fs::write(&no_newline, "{\"a\": 1}").unwrap();
    assert!(matches!(
        verify(&[&no_newline]),
        Err(AuditError::NotAuditLog { .. })
    ));
    assert!(matches!(
        AuditLog::open(&no_newline, options()),
        Err(AuditError::NotAuditLog { .. })
    ));
    assert_eq!(
        fs::read_to_string(&no_newline).unwrap(),
        "{\"a\": 1}",
        "untouched"
    );

    let missing = dir.path().join("missing.jsonl");
    let err = verify(&[&missing]).unwrap_err();
    assert!(matches!(err, AuditError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.jsonl"), "{err}");
    assert!(matches!(verify::<&Path>(&[]), Err(AuditError::NoFiles)));

    let under_a_file = telemetry.join("audit.jsonl");
    let err = AuditLog::open(&under_a_file, options()).unwrap_err();
    assert!(matches!(err, AuditError::Open { .. }), "{err}");
    assert!(
        err.to_string().contains("cannot be opened for appending"),
        "{err}"
    );
    assert!(err.to_string().contains("accepted:"), "{err}");

    // The open record cannot be written: the error comes back from `open`.
    if Path::new("/dev/full").exists() {
        let err = AuditLog::open("/dev/full", options()).unwrap_err();
        assert!(matches!(err, AuditError::Write { .. }), "{err}");
    }
}

#[test]
fn a_log_whose_last_record_was_changed_is_not_chained_onto() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let log = AuditLog::open(&path, options()).unwrap();
    log.append(call(1)).unwrap();
    log.shutdown().unwrap();
    let text = fs::read_to_string(&path).unwrap();
    let last = text.trim_end().rsplit('\n').next().unwrap();
    let edited = last.replace("\"kind\":\"close\"", "\"kind\":\"call\"");
    fs::write(&path, text.replace(last, &edited)).unwrap();
    let err = AuditLog::open(&path, options()).unwrap_err();
    assert!(matches!(err, AuditError::Damaged { line: 3, .. }), "{err}");
    assert!(err.to_string().contains("govops audit verify"), "{err}");
}

#[test]
fn a_failed_rotation_is_reported_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    // The name the first rotation would take is already taken.
    fs::create_dir(dir.path().join("audit.jsonl.000000000000")).unwrap();
    let log = AuditLog::open(
        &path,
        AuditOptions {
            rotate_bytes: Some(2 * 1024),
            ..options()
        },
    )
    .unwrap();
    for i in 0..20 {
        log.append(call(i)).unwrap();
    }
    let err = log.flush().unwrap_err();
    assert!(matches!(err, AuditError::Rotate { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("records went on into the current file"),
        "{err}"
    );
    log.flush().unwrap(); // reported once
    log.shutdown().unwrap();
    let report = verify(&[&path]).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.records, 22);
}

#[test]
fn timestamps_are_set_when_handed_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let before = Timestamp::now();
    let log = AuditLog::open(&path, AuditOptions::default()).unwrap();
    log.append(AuditRecord::default()).unwrap();
    log.shutdown().unwrap();
    let read = records(&path);
    let ts = read[1].timestamp.unwrap();
    assert!(ts >= before && ts <= Timestamp::now());
    // Without a fingerprint there is no config and no metadata to fill in.
    assert_eq!(read[1].config, None);
    assert_eq!(read[1].service, None);
    let raw = lines(&path);
    assert!(raw[1].len() < 250, "{}", raw[1]);
}

// ---- The done-when test: every single tampering of a 10 000-record log, found and located. ----

/// A line of the log: which file, and its text.
#[derive(Clone)]
struct Log {
    files: Vec<(PathBuf, Vec<String>)>,
}

impl Log {
    fn read(files: &[PathBuf]) -> Log {
        // In chain order: by the first record's seq.
        let mut files: Vec<(PathBuf, Vec<String>)> =
            files.iter().map(|f| (f.clone(), lines(f))).collect();
        files.sort_by_key(|(_, l)| serde_json::from_str::<AuditRecord>(&l[0]).unwrap().seq);
        Log { files }
    }

    fn write(&self) {
        for (path, lines) in &self.files {
            let mut text = lines.join("\n");
            if !lines.is_empty() {
                text.push('\n');
            }
            fs::write(path, text).unwrap();
        }
    }

    fn paths(&self) -> Vec<PathBuf> {
        self.files.iter().map(|(p, _)| p.clone()).collect()
    }

    /// (file, 0-based line) of every line, in chain order.
    fn positions(&self) -> Vec<(usize, usize)> {
        self.files
            .iter()
            .enumerate()
            .flat_map(|(f, (_, l))| (0..l.len()).map(move |i| (f, i)))
            .collect()
    }

    fn line(&self, (f, i): (usize, usize)) -> &str {
        &self.files[f].1[i]
    }
}

/// A line with a field changed (its timestamp, and its input tokens when it has some), its hash
/// left as it was or, with `rehash`, computed again (a forger who knows the format).
fn edited(line: &str, rehash: bool) -> String {
    let mut r: AuditRecord = serde_json::from_str(line).unwrap();
    let old_hash = r.hash.clone();
    let ts = r.timestamp.unwrap().since_unix_epoch();
    r.timestamp = Some(Timestamp::from_unix(ts.as_secs(), ts.subsec_nanos() ^ 1));
    if let Some(n) = r.input_tokens {
        r.input_tokens = Some(n + 1);
    }
    let new = String::from_utf8(seal(&mut r).unwrap())
        .unwrap()
        .trim_end()
        .to_owned();
    assert_ne!(new, line);
    if rehash {
        new
    } else {
        new.replace(&r.hash, &old_hash)
    }
}

/// A record forged to chain on exactly where `line` is: same seq, same prev, a correct hash.
fn forged_in_place_of(line: &str) -> String {
    let mut r: AuditRecord = serde_json::from_str(line).unwrap();
    r.kind = RecordKind::Call;
    r.request_model = Some("forged".into());
    r.cost_usd = Some(Decimal::ZERO);
    String::from_utf8(seal(&mut r).unwrap())
        .unwrap()
        .trim_end()
        .to_owned()
}

fn expect_problem(report: &Report, kind: FindingKind, file: &Path, line: usize, what: &str) {
    let problem = report
        .problem
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: not found: {report:?}"));
    assert_eq!(
        (problem.kind, problem.file.as_path(), problem.line),
        (kind, file, line as u64 + 1),
        "{what}: {problem}"
    );
}

fn ten_thousand(dir: &Path) -> Vec<PathBuf> {
    rotated_log(dir, 10_000, 1024 * 1024)
}

#[test]
fn every_single_tampering_of_a_10k_record_log_is_found_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let files = ten_thousand(dir.path());
    assert!(files.len() >= 4, "{files:?}");
    let original = Log::read(&files);
    let report = verify(&files).unwrap();
    assert!(report.is_intact() && report.closed, "{report:?}");
    let total = original.positions().len();
    assert_eq!(report.records, total as u64);

    let pos = original.positions();
    let first_of = |f: usize| pos.iter().position(|p| p.0 == f).unwrap();
    let last_of = |f: usize| pos.iter().rposition(|p| p.0 == f).unwrap();
    // Indices into `pos`: the first record, the first call, the end of file 0 and the start of
    // file 1 (a file boundary), the middle, the end of a middle file, the last call, the close.
    let targets = [
        0,
        1,
        last_of(0),
        first_of(1),
        total / 2,
        last_of(2),
        first_of(3),
        total - 2,
        total - 1,
    ];
    let path_of = |log: &Log, f: usize| log.files[f].0.clone();

    let mut cases = 0;
    for &t in &targets {
        let (f, i) = pos[t];
        let is_last = t == total - 1;

        // A field edited by hand.
        let mut log = original.clone();
        log.files[f].1[i] = edited(original.line((f, i)), false);
        log.write();
        let report = verify(&log.paths()).unwrap();
        expect_problem(
            &report,
            FindingKind::Modified,
            &path_of(&log, f),
            i,
            &format!("edit {t}"),
        );
        cases += 1;

        // Edited and re-hashed (only the very last record can hide that: nothing holds its hash).
        if !is_last {
            let mut log = original.clone();
            log.files[f].1[i] = edited(original.line((f, i)), true);
            log.write();
            let report = verify(&log.paths()).unwrap();
            expect_problem(
                &report,
                FindingKind::Modified,
                &path_of(&log, f),
                i,
                &format!("rehash {t}"),
            );
            cases += 1;
        }

        // Deleted: named at the line that now holds the record after it (the next file's first
        // line when it was a file's last).
        let mut log = original.clone();
        log.files[f].1.remove(i);
        log.write();
        let report = verify(&log.paths()).unwrap();
        if is_last {
            // Removing records from the end cannot be told from a shorter log, but the log no
            // longer ends with its close record, and the last hash differs from the anchor.
            assert!(report.is_intact() && !report.closed, "{report:?}");
            assert_ne!(report.last_hash, original_last_hash(&original));
        } else if i == log.files[f].1.len() {
            expect_problem(
                &report,
                FindingKind::Deleted,
                &path_of(&log, f + 1),
                0,
                &format!("delete {t}"),
            );
        } else {
            expect_problem(
                &report,
                FindingKind::Deleted,
                &path_of(&log, f),
                i,
                &format!("delete {t}"),
            );
        }
        cases += 1;

        // Inserted before it: a copy of another record, a record with a made-up hash, a line that
        // is not a record, and a perfect forgery (right seq, prev and hash).
        let other = original
            .line(pos[if t + 3 < total { t + 3 } else { t - 3 }])
            .to_owned();
        let bad_hash = {
            let mut l = original.line((f, i)).to_owned();
            let at = l.len() - 10;
            l.replace_range(at..at + 1, if &l[at..at + 1] == "0" { "1" } else { "0" });
            l
        };
        for (name, line) in [
            ("copy", other),
            ("bad hash", bad_hash),
            ("not a record", "{\"hello\":\"world\"}".to_owned()),
            ("forgery", forged_in_place_of(original.line((f, i)))),
        ] {
            let mut log = original.clone();
            log.files[f].1.insert(i, line);
            log.write();
            let report = verify(&log.paths()).unwrap();
            expect_problem(
                &report,
                FindingKind::Inserted,
                &path_of(&log, f),
                i,
                &format!("insert {name} before {t}"),
            );
            cases += 1;
        }

        // Swapped with the next line (across a file boundary too).
        if !is_last {
            let (g, j) = pos[t + 1];
            let mut log = original.clone();
            let (a, b) = (
                original.line((f, i)).to_owned(),
                original.line((g, j)).to_owned(),
            );
            log.files[f].1[i] = b;
            log.files[g].1[j] = a;
            log.write();
            let report = verify(&log.paths()).unwrap();
            expect_problem(
                &report,
                FindingKind::Reordered,
                &path_of(&log, f),
                i,
                &format!("swap {t}"),
            );
            cases += 1;
        }
    }

    // Appended after the close record: a copy of a record, and a forgery that chains on.
    let (f, i) = pos[total - 1];
    for line in [original.line(pos[total / 2]).to_owned(), {
        let mut r = call(99);
        r.schema_version = 1;
        r.seq = total as u64;
        r.prev = report.last_hash.clone().unwrap();
        String::from_utf8(seal(&mut r).unwrap())
            .unwrap()
            .trim_end()
            .to_owned()
    }] {
        let mut log = original.clone();
        log.files[f].1.push(line);
        log.write();
        let report = verify(&log.paths()).unwrap();
        expect_problem(
            &report,
            FindingKind::Inserted,
            &path_of(&log, f),
            i + 1,
            "append after close",
        );
        cases += 1;
    }

    // A record moved three places later.
    let mut log = original.clone();
    let (f, i) = pos[total / 2];
    let moved = log.files[f].1.remove(i);
    log.files[f].1.insert(i + 3, moved);
    log.write();
    let report = verify(&log.paths()).unwrap();
    expect_problem(
        &report,
        FindingKind::Reordered,
        &path_of(&log, f),
        i,
        "move",
    );

    // A whole middle file left out (or deleted): the records it held are missing.
    let mut paths = original.paths();
    original.write();
    let gone = paths.remove(2);
    let report = verify(&paths).unwrap();
    expect_problem(&report, FindingKind::Deleted, &paths[2], 0, "file left out");
    assert!(
        report.problem.unwrap().detail.contains("records seq"),
        "{gone:?}"
    );
    assert!(cases >= 60, "{cases}");
}

fn original_last_hash(log: &Log) -> Option<String> {
    let (_, lines) = log.files.last().unwrap();
    let last: AuditRecord = serde_json::from_str(lines.last().unwrap()).unwrap();
    Some(last.hash)
}

/// Every position of a small rotated log, every kind of single tampering: the classification and
/// the location never depend on where the record is.
#[test]
fn every_position_of_a_small_rotated_log_is_classified_and_located() {
    let dir = tempfile::tempdir().unwrap();
    let files = rotated_log(dir.path(), 40, 4 * 1024);
    assert!(files.len() >= 4, "{files:?}");
    let original = Log::read(&files);
    let pos = original.positions();
    let total = pos.len();
    let path_of = |log: &Log, f: usize| log.files[f].0.clone();
    let check = |log: &Log, kind: FindingKind, f: usize, i: usize, what: String| {
        log.write();
        let report = verify(&log.paths()).unwrap();
        expect_problem(&report, kind, &path_of(log, f), i, &what);
    };
    let mut cases = 0;
    for t in 0..total {
        let (f, i) = pos[t];
        let line = original.line((f, i)).to_owned();
        let is_last = t == total - 1;

        let mut log = original.clone();
        log.files[f].1[i] = edited(&line, false);
        check(&log, FindingKind::Modified, f, i, format!("edit {t}"));
        cases += 1;
        if !is_last {
            let mut log = original.clone();
            log.files[f].1[i] = edited(&line, true);
            check(&log, FindingKind::Modified, f, i, format!("rehash {t}"));

            let mut log = original.clone();
            log.files[f].1.remove(i);
            let (g, j) = if i == log.files[f].1.len() {
                (f + 1, 0)
            } else {
                (f, i)
            };
            check(&log, FindingKind::Deleted, g, j, format!("delete {t}"));

            let (g, j) = pos[t + 1];
            let mut log = original.clone();
            log.files[f].1[i] = original.line((g, j)).to_owned();
            log.files[g].1[j] = line.clone();
            check(&log, FindingKind::Reordered, f, i, format!("swap {t}"));
            cases += 3;
        }
        // Copies of the records around it, inserted before it (a copy of itself is named at its
        // second occurrence, the first at the very end: either could be the added one).
        for d in [-2_i64, -1, 1, 2] {
            let Some(&other) = usize::try_from(t as i64 + d).ok().and_then(|o| pos.get(o)) else {
                continue;
            };
            let mut log = original.clone();
            log.files[f].1.insert(i, original.line(other).to_owned());
            check(
                &log,
                FindingKind::Inserted,
                f,
                i,
                format!("copy of {d} before {t}"),
            );
            cases += 1;
        }
        let mut log = original.clone();
        log.files[f].1.insert(i, line.clone());
        let second = if is_last { i } else { i + 1 };
        check(
            &log,
            FindingKind::Inserted,
            f,
            second,
            format!("copy of itself before {t}"),
        );
        for (name, forged) in [
            ("forgery", forged_in_place_of(&line)),
            ("garbage", "not json at all".to_owned()),
            ("blank", String::new()),
        ] {
            let mut log = original.clone();
            log.files[f].1.insert(i, forged);
            check(
                &log,
                FindingKind::Inserted,
                f,
                i,
                format!("{name} before {t}"),
            );
            cases += 1;
        }
    }
    assert!(cases > 10 * total, "{cases}");
}

/// A chain of hand-written lines: each body is a record's JSON without `prev` and `hash`, ending
/// before its closing brace; each gets the previous line's hash and its own, as the writer seals.
fn hand_chain(bodies: &[String]) -> String {
    let mut prev = GENESIS.to_owned();
    let mut out = String::new();
    for body in bodies {
        let unsealed = format!("{body},\"prev\":\"{prev}\"}}");
        let hash = govops_core::audit::sha256_hex(unsealed.as_bytes());
        out.push_str(&unsealed[..unsealed.len() - 1]);
        out.push_str(&format!(",\"hash\":\"{hash}\"}}\n"));
        prev = hash;
    }
    out
}

#[test]
fn a_record_with_a_duplicate_key_is_a_problem_named_by_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let open = r#"{"schema_version":1,"seq":0,"kind":"open","reason":"new""#.to_owned();
    let good = r#"{"schema_version":1,"seq":1,"kind":"call","cost_usd":"5""#.to_owned();
    // The hash covers both values; a reader that takes the last sees a free call.
    let twice = r#"{"schema_version":1,"seq":2,"kind":"call","cost_usd":"5","cost_usd":"0""#;
    let close = r#"{"schema_version":1,"seq":3,"kind":"close""#.to_owned();
    fs::write(
        &path,
        hand_chain(&[open.clone(), good.clone(), twice.to_owned(), close.clone()]),
    )
    .unwrap();
    let report = verify(&[&path]).unwrap();
    let problem = report.problem.as_ref().expect("a duplicate key is found");
    assert_eq!((problem.file.as_path(), problem.line), (path.as_path(), 3));
    assert!(problem.detail.contains("\"cost_usd\""), "{problem}");
    assert!(problem.detail.contains("duplicate key"), "{problem}");

    // In a nested object too, and with a key the record does not know.
    let nested = r#"{"schema_version":1,"seq":2,"kind":"call","drift":{"score":0.1,"score":0.9}"#;
    let unknown = r#"{"schema_version":1,"seq":2,"kind":"call","note":"a","note":"b""#;
    for line in [nested, unknown] {
        fs::write(
            &path,
            hand_chain(&[open.clone(), good.clone(), line.to_owned(), close.clone()]),
        )
        .unwrap();
        let report = verify(&[&path]).unwrap();
        let problem = report.problem.as_ref().expect("a duplicate key is found");
        assert_eq!(problem.line, 3, "{problem}");
        assert!(problem.detail.contains("duplicate key"), "{problem}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_given_as_an_audit_file_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("audit.jsonl");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    // On a thread, so that a verifier that blocks on the FIFO fails the test instead of hanging it.
    let (tx, rx) = std::sync::mpsc::channel();
    let given = fifo.clone();
    std::thread::spawn(move || tx.send(verify(&[&given]).map(|_| ())));
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("verify blocked on a FIFO");
    let err = result.unwrap_err();
    let message = err.to_string();
    assert!(message.contains("audit.jsonl"), "{message}");
    assert!(message.contains("FIFO"), "{message}");
}

#[test]
fn deleting_the_lock_file_does_not_let_a_second_writer_in() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let mut child = holder(&path, 3);
    // A careless clean-up of hidden files while the writer runs.
    let _ = fs::remove_file(dir.path().join(".audit.jsonl.lock"));
    let second = AuditLog::open(&path, options());
    let refused = matches!(&second, Err(AuditError::InUse { .. }));
    if let Ok(log) = second {
        log.append(call(100)).unwrap();
        log.shutdown().unwrap();
    }
    drop(child.stdin.take());
    assert!(child.wait().unwrap().success());
    assert!(
        refused,
        "a second writer opened the log while the first held it"
    );
    let report = verify(&glob(dir.path(), "audit.jsonl")).unwrap();
    assert!(report.is_intact() && report.closed, "{report:?}");
    assert_eq!(report.records, 5, "open, 3 calls, close");
}

#[test]
fn a_second_writer_is_refused_while_the_first_rotates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("audit.jsonl");
    let first = AuditLog::open(
        &path,
        AuditOptions {
            rotate_bytes: Some(4 * 1024),
            ..options()
        },
    )
    .unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tries = {
        let (path, done) = (path.clone(), done.clone());
        std::thread::spawn(move || {
            let mut tries = 0_u64;
            // Until the first writer is done, and at least a few times.
            while tries < 20 || !done.load(std::sync::atomic::Ordering::SeqCst) {
                match AuditLog::open(&path, AuditOptions::default()) {
                    Err(AuditError::InUse { .. }) => tries += 1,
                    Err(e) => panic!("{e}"),
                    Ok(_) => panic!("a second writer opened the log during a rotation"),
                }
            }
            tries
        })
    };
    for i in 0..600 {
        first.append(call(i)).unwrap();
        if i % 20 == 0 {
            first.flush().unwrap();
        }
    }
    first.flush().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let tries = tries.join().unwrap();
    first.shutdown().unwrap();
    assert!(tries >= 20);
    let files = glob(dir.path(), "audit.jsonl");
    assert!(files.len() > 10, "{files:?}");
    let report = verify(&files).unwrap();
    assert!(report.is_intact() && report.closed, "{report:?}");
    assert!(report.unclean_stops.is_empty(), "{report:?}");
    // Nothing is left beside the log but its files.
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), files.len());
}
