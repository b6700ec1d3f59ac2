//! Every byte the command writes to a terminal goes through here: stdout through [`stdout`] and
//! [`finish`], stderr through [`err!`], and text that came from an input through [`esc`].
//!
//! Rust ignores SIGPIPE, so a reader that closes the pipe (`govops check env | head -0`) turns the
//! next write into an `EPIPE` error, on which `println!` panics (exit 101). Commands therefore
//! write to a [`Write`] and hand the result to [`finish`], which ends a command whose reader went
//! away quietly with the status a shell gives a command a closed pipe ended (141): never 0, so a
//! failed check cannot pass under `set -o pipefail` because its output was not read.
//!
//! Session ids, span names, model keys, file contents quoted in errors: a hostile input can hold
//! terminal escape sequences (`ESC [2J`, an 8-bit CSI `\u{9b}`, a bidi override that reverses what
//! follows it). [`esc`] writes every such character as `\u{..}`, so what reaches a terminal is
//! inert and shows what the input held.
//!
//! [`Format`] is the choice most commands offer between text for people and JSON for pipelines.

use std::borrow::Cow;
use std::io::{self, BufWriter, StdoutLock, Write};
use std::process::ExitCode;

use clap::ValueEnum;
use govops_core::terminal::is_unsafe;

/// How a report is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Format {
    /// For people.
    Text,
    /// For pipelines.
    Json,
}

/// Writes one line to stderr. A stderr that cannot be written (a closed pipe) is ignored: there
/// is nowhere left to say so, and it must not panic.
macro_rules! err {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr().lock(), $($arg)*);
    }};
}
pub(crate) use err;

/// The status of a command whose reader closed stdout: 128 + SIGPIPE (13), as a shell reports it.
pub(crate) const CLOSED_PIPE: u8 = 141;

/// Stdout, buffered; write to it and pass the result to [`finish`].
pub(crate) fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// How a command ends once its output is written: `code` when it all reached stdout, 141 without a
/// word when the reader closed the pipe, 2 naming the error when stdout failed otherwise (a full
/// disk).
pub(crate) fn finish(out: &mut impl Write, written: io::Result<()>, code: ExitCode) -> ExitCode {
    match written.and_then(|()| out.flush()) {
        Ok(()) => code,
        Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::from(CLOSED_PIPE),
        Err(error) => {
            err!(
                "govops: cannot write the output: {}",
                esc(&error.to_string())
            );
            ExitCode::from(2)
        }
    }
}

/// `text` with every character a terminal could act on written as `\u{..}` (ESC is `\u{1b}`);
/// borrowed when there is none. The one rule of `govops_core::terminal`, shared with the
/// library's stderr console.
pub(crate) fn esc(text: &str) -> Cow<'_, str> {
    govops_core::terminal::escape_controls(text)
}

/// [`esc`] on each line of a multi-line text from a library's `Display` (a report of gaps): its
/// own line breaks are kept, everything else is escaped.
pub(crate) fn esc_lines(text: &str) -> String {
    text.split('\n').map(esc).collect::<Vec<_>>().join("\n")
}

/// A JSON formatter that also writes DEL, the C1 controls and the bidi controls as `\uXXXX`
/// (serde_json escapes only the C0 controls): the same string once parsed, inert in a terminal.
pub(crate) struct SafeJson<F>(pub(crate) F);

impl<F: serde_json::ser::Formatter> serde_json::ser::Formatter for SafeJson<F> {
    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        let mut rest = fragment;
        while let Some((at, c)) = rest.char_indices().find(|(_, c)| is_unsafe(*c)) {
            writer.write_all(&rest.as_bytes()[..at])?;
            write!(writer, "\\u{:04x}", u32::from(c))?;
            rest = &rest[at + c.len_utf8()..];
        }
        writer.write_all(rest.as_bytes())
    }

    // The rest as the wrapped formatter does it (pretty or compact).
    fn begin_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_array(w)
    }
    fn end_array<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array(w)
    }
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_array_value(w, first)
    }
    fn end_array_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_array_value(w)
    }
    fn begin_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object(w)
    }
    fn end_object<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object(w)
    }
    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        self.0.begin_object_key(w, first)
    }
    fn end_object_key<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_key(w)
    }
    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.begin_object_value(w)
    }
    fn end_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        self.0.end_object_value(w)
    }
}

/// Writes `value` as JSON (pretty when asked) and a newline, control characters escaped.
pub(crate) fn json(
    out: &mut impl Write,
    value: &impl serde::Serialize,
    pretty: bool,
) -> io::Result<()> {
    if pretty {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut *out,
            SafeJson(serde_json::ser::PrettyFormatter::new()),
        );
        value.serialize(&mut ser).map_err(io::Error::from)?;
    } else {
        let mut ser = serde_json::Serializer::with_formatter(
            &mut *out,
            SafeJson(serde_json::ser::CompactFormatter),
        );
        value.serialize(&mut ser).map_err(io::Error::from)?;
    }
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_are_escaped_and_plain_text_is_borrowed() {
        assert!(matches!(esc("session-7 ✓"), Cow::Borrowed(_)));
        assert_eq!(
            esc("a\u{1b}[2Jb\u{9b}31m\u{7}\r\u{8}\u{202e}c\n"),
            "a\\u{1b}[2Jb\\u{9b}31m\\u{7}\\u{d}\\u{8}\\u{202e}c\\u{a}"
        );
        assert_eq!(esc_lines("x\u{1b}\ny"), "x\\u{1b}\ny");
    }

    #[test]
    fn json_escapes_c1_and_bidi_and_parses_back_to_the_same_string() {
        let text = "a\u{9b}b\u{202e}c\u{1b}d";
        let mut out = Vec::new();
        json(&mut out, &serde_json::json!({ "k": text }), false).unwrap_or_default();
        let written = String::from_utf8(out).unwrap_or_default();
        assert_eq!(written, "{\"k\":\"a\\u009bb\\u202ec\\u001bd\"}\n");
        let back: serde_json::Value = serde_json::from_str(&written).unwrap_or_default();
        assert_eq!(back["k"], text);
    }
}
