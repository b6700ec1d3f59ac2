//! Text from an input on its way to a terminal.
//!
//! A session id, a span name, a log message or a token quoted in an error can hold escape
//! sequences that a terminal would run: move the cursor, rewrite earlier lines, set the window
//! title, or reverse the text's direction to hide what it says. [`escape_controls`] makes them
//! visible instead, for every line govops writes to a terminal.
//!
//! ```
//! use govops_core::terminal::escape_controls;
//! assert_eq!(escape_controls("s-1\u{1b}[2Jx"), "s-1\\u{1b}[2Jx");
//! assert_eq!(escape_controls("plain text"), "plain text");
//! ```

use std::borrow::Cow;
use std::fmt::Write as _;

/// Whether a terminal could act on `c` rather than show it, or show nothing for it: C0 controls
/// (newline and tab included: one input token never spans lines), DEL, C1 controls (`\u{9b}` is
/// an 8-bit CSI), the bidirectional marks, overrides, embeddings and isolates, the line and
/// paragraph separators, and the zero-width characters (`admin\u{200d}` would look like `admin`).
#[must_use]
pub fn is_unsafe(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{61c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2060}' | '\u{feff}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2066}'..='\u{2069}'
    )
}

/// `text` with every character a terminal could act on written as `\u{..}` (ESC is `\u{1b}`);
/// borrowed when there is none, which is the common case.
#[must_use]
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(is_unsafe) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if is_unsafe(c) {
            let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_control_and_direction_override_is_shown_not_run() {
        let hostile = "a\u{1b}]0;pwned\u{7}b\u{9b}31mc\u{202e}d\re\u{8}f\u{7f}";
        let shown = escape_controls(hostile);
        assert!(!shown.chars().any(is_unsafe), "{shown}");
        assert_eq!(
            shown,
            "a\\u{1b}]0;pwned\\u{7}b\\u{9b}31mc\\u{202e}d\\u{d}e\\u{8}f\\u{7f}"
        );
        assert!(matches!(escape_controls("été ✓"), Cow::Borrowed(_)));
        assert_eq!(escape_controls("admin\u{200d}"), "admin\\u{200d}");
    }
}
