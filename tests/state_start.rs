//! Start-up with `GOVOPS_STATE_URL` (contract sections 1 and 8), as a user runs
//! `examples/quickstart.rs`: a malformed URL is a gap (exit 78); a server that does not answer is
//! one warning line and the workload starts; the password is never printed either way.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

const PASSWORD: &str = "Sup3r-s3cret-pw";

fn quickstart(state_url: String) -> Finished {
    let dir = tempfile::tempdir().unwrap();
    let mut vars = complete_env("support-bot");
    vars.push(("GOVOPS_STATE_URL", state_url));
    run_child(
        Command::new(example("quickstart")),
        dir.path(),
        &vars,
        Duration::from_secs(30),
    )
}

#[test]
fn a_malformed_state_url_is_a_gap_that_never_shows_its_password() {
    let finished = quickstart(format!("redis://:{PASSWORD}@cache.internal:6379?db=1"));
    assert_eq!(finished.status.code(), Some(78), "{}", finished.stderr);
    assert!(
        finished.stderr.contains("GOVOPS_STATE_URL: has a query"),
        "{}",
        finished.stderr
    );
    assert!(!finished.stderr.contains(PASSWORD), "{}", finished.stderr);
    assert!(!finished.stdout.contains(PASSWORD));
}

#[test]
fn a_state_server_that_does_not_answer_is_one_warning_and_the_workload_starts() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let finished = quickstart(format!("redis://:{PASSWORD}@127.0.0.1:{port}/0"));
    assert_eq!(finished.status.code(), Some(0), "{}", finished.stderr);
    let warnings: Vec<&str> = finished
        .stderr
        .lines()
        .filter(|l| l.contains("govops: warning"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", finished.stderr);
    assert!(
        warnings[0].starts_with(&format!(
            "govops: warning: GOVOPS_STATE_URL redis://:***@127.0.0.1:{port}/0 cannot be reached"
        )),
        "{}",
        warnings[0]
    );
    assert!(warnings[0].contains("starts anyway"), "{}", warnings[0]);
    assert!(!finished.stderr.contains(PASSWORD), "{}", finished.stderr);
}
