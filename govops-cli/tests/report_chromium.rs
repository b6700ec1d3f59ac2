//! The `--html` page in a real browser: headless Chromium (Debian's `chromium` package, which
//! `.ci/run` installs) renders it, the heatmap is in its DOM and visible on its screenshot, and its
//! console stays empty (the page has no script: any console line is a problem).
//!
//! Skipped, saying so, where no `chromium` is on PATH; with `GOVOPS_REQUIRE_CHROMIUM=1` (CI sets
//! it) a missing browser fails the test instead.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long one Chromium run may take before it is killed and the test fails.
const BROWSER_TIMEOUT: Duration = Duration::from_secs(120);

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// `chromium` on PATH; `None` (the test is skipped) unless it is required.
fn chromium() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("chromium"))
            .find(|candidate| candidate.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var("GOVOPS_REQUIRE_CHROMIUM").as_deref() != Ok("1"),
            "GOVOPS_REQUIRE_CHROMIUM=1 but no `chromium` is on PATH: install Debian's package \
             (apt-get install --no-install-recommends chromium), as .ci/run does"
        );
        eprintln!("skipped: no `chromium` on PATH (set GOVOPS_REQUIRE_CHROMIUM=1 to fail instead)");
    }
    found
}

/// What one headless run printed.
struct Run {
    stdout: String,
    stderr: String,
}

impl Run {
    /// The page's console messages: Chromium logs each as a `:CONSOLE` line on stderr.
    fn console(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.contains(":CONSOLE"))
            .collect()
    }
}

/// Runs headless Chromium on `page` with `extra` flags, offline (every host name fails to
/// resolve), in a fresh profile under `dir`.
fn headless(browser: &Path, dir: &Path, page: &Path, extra: &[&str]) -> Run {
    let out = dir.join("chromium.out");
    let err = dir.join("chromium.err");
    let mut child = Command::new(browser)
        .args([
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-extensions",
            "--hide-scrollbars",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(File::create(&out).unwrap())
        .stderr(File::create(&err).unwrap())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > BROWSER_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "chromium took more than {BROWSER_TIMEOUT:?}: {}",
                fs::read_to_string(&err).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let run = Run {
        stdout: fs::read_to_string(&out).unwrap(),
        stderr: fs::read_to_string(&err).unwrap(),
    };
    assert!(
        status.success(),
        "chromium failed ({status}): {}",
        run.stderr
    );
    run
}

/// Pixels of `png` within 3 of `rgb` in every channel, and how many distinct colours it has.
fn pixels(png: &Path, rgb: [u8; 3]) -> (usize, usize) {
    let decoder = png::Decoder::new(std::io::BufReader::new(File::open(png).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buffer = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buffer).unwrap();
    let channels = info.color_type.samples();
    assert!(
        info.bit_depth == png::BitDepth::Eight && channels >= 3,
        "{info:?}"
    );
    let mut matching = 0;
    let mut colours = std::collections::HashSet::new();
    for pixel in buffer[..info.buffer_size()].chunks_exact(channels) {
        colours.insert([pixel[0], pixel[1], pixel[2]]);
        if pixel[..3].iter().zip(rgb).all(|(&p, c)| p.abs_diff(c) <= 3) {
            matching += 1;
        }
    }
    (matching, colours.len())
}

#[test]
fn the_console_check_sees_a_pages_errors() {
    // The check below is only as good as its eye: a page that logs must be seen to log.
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("broken.html");
    fs::write(
        &page,
        "<!DOCTYPE html><html><body><p>x</p><script>console.error('govops-boom'); \
         notDefined();</script></body></html>",
    )
    .unwrap();
    let run = headless(&browser, dir.path(), &page, &["--dump-dom"]);
    let console = run.console();
    assert!(
        console.iter().any(|l| l.contains("govops-boom")),
        "{}",
        run.stderr
    );
    assert!(
        console.iter().any(|l| l.contains("ReferenceError")),
        "{}",
        run.stderr
    );
}

#[test]
fn the_html_report_renders_in_headless_chromium_with_its_heatmap() {
    let Some(browser) = chromium() else { return };
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    // The agent example's audit log and the failover example's telemetry: real output of both.
    let out = Command::new(env!("CARGO_BIN_EXE_govops"))
        .arg("report")
        .arg("--html")
        .arg(&page)
        .arg(fixture("agent-audit.jsonl"))
        .arg(fixture("failover-telemetry.jsonl"))
        .arg(fixture("drift-telemetry.jsonl"))
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // It renders: the DOM Chromium built holds the heatmap with its 168 cells.
    let dom = headless(&browser, dir.path(), &page, &["--dump-dom"]);
    let at = dom
        .stdout
        .find("<svg id=\"heatmap\"")
        .unwrap_or_else(|| panic!("no heatmap in the DOM: {}", dom.stdout));
    let heatmap = &dom.stdout[at..];
    let heatmap = &heatmap[..heatmap.find("</svg>").unwrap()];
    assert!(heatmap.matches("<rect").count() >= 168, "{heatmap}");
    assert!(dom.stdout.contains("Cost heatmap"));
    assert!(dom.stdout.contains("breaker_open"));
    assert_eq!(dom.console(), Vec::<&str>::new(), "console: {}", dom.stderr);

    // It is visible: the screenshot has the heatmap's empty cells and its darkest cell, and is
    // far from one colour.
    let shot = dir.path().join("report.png");
    let screenshot = format!("--screenshot={}", shot.display());
    let run = headless(
        &browser,
        dir.path(),
        &page,
        &[&screenshot, "--window-size=1100,1000"],
    );
    assert_eq!(run.console(), Vec::<&str>::new(), "console: {}", run.stderr);
    let (empty_cells, colours) = pixels(&shot, [0xee, 0xf0, 0xf3]);
    let (darkest, _) = pixels(&shot, [0x1f, 0x4e, 0x8c]);
    eprintln!("screenshot: {colours} colours, {empty_cells} empty-cell pixels, {darkest} darkest");
    assert!(
        colours > 16,
        "{colours} colours: the screenshot is nearly blank"
    );
    // 166 empty cells of about 36 × 22 pixels; the darkest blue is the highest cell and the bars.
    assert!(empty_cells > 50_000, "{empty_cells} pixels of empty cells");
    assert!(
        darkest > 300,
        "{darkest} pixels of the highest cell's colour"
    );
}
