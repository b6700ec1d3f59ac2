//! How much of a file a parser's message may show.
//!
//! The toml and serde_json crates quote the offending value in their messages (`invalid type:
//! string "...", expected a boolean`), whole: a value of a megabyte, or a secret that happens to
//! sit in the wrong field, would go to a terminal or a CI log. A message govops passes on shows
//! at most [`TOKEN_MAX`] characters of any quoted token and [`MESSAGE_MAX`] in all, with control
//! characters escaped.

/// The most characters of one quoted token shown.
pub const TOKEN_MAX: usize = 40;

/// The most characters of a whole message shown.
pub const MESSAGE_MAX: usize = 300;

/// `message` with credentials and personal data redacted (a key put where a model name goes is
/// still a key), each quoted token (between `"` or `` ` ``) cut to [`TOKEN_MAX`] characters, the
/// whole to [`MESSAGE_MAX`], and control characters escaped.
#[must_use]
pub fn bounded(message: &str) -> String {
    let redacted = crate::content::redact(message, true, true).map(|(text, _)| text);
    let message = redacted.as_deref().unwrap_or(message);
    let mut out = String::with_capacity(message.len().min(MESSAGE_MAX + 8));
    let mut quote: Option<char> = None;
    let mut in_token = 0usize;
    let mut shown = 0usize;
    for c in message.chars() {
        if shown >= MESSAGE_MAX {
            out.push_str("...");
            break;
        }
        match quote {
            Some(q) if c == q => {
                quote = None;
                if in_token > TOKEN_MAX {
                    out.push_str("...");
                }
            }
            Some(_) => {
                in_token += 1;
                if in_token > TOKEN_MAX {
                    continue;
                }
            }
            None if c == '"' || c == '`' => {
                quote = Some(c);
                in_token = 0;
            }
            None => {}
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
        shown += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tokens_and_long_messages_are_cut_and_controls_escaped() {
        let long = "x".repeat(5000);
        let message = format!("invalid type: string \"{long}\", expected a boolean at line 3");
        let shown = bounded(&message);
        assert!(shown.len() < 120, "{shown}");
        assert!(
            shown.contains(&format!("\"{}...\"", "x".repeat(TOKEN_MAX))),
            "{shown}"
        );
        assert!(shown.ends_with("expected a boolean at line 3"), "{shown}");
        assert_eq!(bounded("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(bounded(&"y".repeat(1000)).len(), MESSAGE_MAX + 3);
        assert_eq!(bounded("unknown field `rego`"), "unknown field `rego`");
    }
}
