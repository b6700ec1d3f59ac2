//! The checks of single values: each rule turns a variable's text into its typed value, or says
//! what is wrong with it in words that never repeat a secret.

use std::str::FromStr;

use percent_encoding::percent_decode_str;

use super::MAX_SPAN_QUEUE_SIZE;
use crate::gap::GapKind;

pub(crate) const APP_NAME_ACCEPTED: &str =
    "1-64 characters from [a-z0-9._-], starting with a letter or digit (e.g. support-bot)";
pub(crate) const OWNER_ACCEPTED: &str =
    "a team or person id: 1-128 printable characters, not only white space";
pub(crate) const COST_CENTER_ACCEPTED: &str = "1-64 characters from [A-Za-z0-9._-] (e.g. CC-1234)";
pub(crate) const QUEUE_ACCEPTED: &str = "a whole number of spans from 1 to 1048576 (e.g. 2048)";
pub(crate) const RESOURCE_ACCEPTED: &str =
    "comma-separated key=value pairs with non-empty keys, values percent-encoded";
pub(crate) const CAPTURE_ACCEPTED: &str =
    "true or false (default false; the policy's [capture] content wins when it says)";

/// A value, or the kind of gap and what is wrong.
pub(crate) type Rule<T> = Result<T, (GapKind, String)>;

pub(crate) fn invalid<T>(problem: String) -> Rule<T> {
    Err((GapKind::Invalid, problem))
}

/// A value for a message: quoted, escaped, cut short when long, and with any credential or
/// personal datum redacted (a secret put in the wrong variable must not reach a CI log).
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 40;
    let redacted = crate::content::redact(value, true, true).map(|(text, _)| text);
    let value = redacted.as_deref().unwrap_or(value);
    let count = value.chars().count();
    if count <= MAX {
        format!("\"{}\"", value.escape_debug())
    } else {
        let head: String = value.chars().take(MAX).collect();
        format!("\"{}…\" ({count} characters)", head.escape_debug())
    }
}

pub(crate) fn keyword<T: FromStr<Err = String>>(value: &str) -> Rule<T> {
    value.parse().or_else(invalid)
}

fn length(value: &str, max: usize) -> Rule<()> {
    let count = value.chars().count();
    if count > max {
        invalid(format!(
            "is {count} characters long; at most {max} are accepted"
        ))
    } else {
        Ok(())
    }
}

fn charset(value: &str, allowed: impl Fn(char) -> bool, set: &str) -> Rule<()> {
    match value.chars().enumerate().find(|(_, c)| !allowed(*c)) {
        Some((at, c)) => invalid(format!(
            "{} has {:?} at position {}, outside {set}",
            shown(value),
            c,
            at + 1
        )),
        None => Ok(()),
    }
}

pub(crate) fn app_name_rule(value: &str) -> Rule<String> {
    length(value, 64)?;
    let body =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    charset(value, body, "[a-z0-9._-]")?;
    if !value.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return invalid(format!(
            "{} must start with a letter or digit",
            shown(value)
        ));
    }
    Ok(value.to_owned())
}

pub(crate) fn owner_rule(value: &str) -> Rule<String> {
    length(value, 128)?;
    charset(value, printable, "printable characters")?;
    Ok(value.to_owned())
}

/// Printable: not a control character, and not one of the invisible format characters (zero
/// widths, direction marks and overrides, line and paragraph separators, the byte-order mark) that
/// make two ids look alike or a blank one look set.
fn printable(c: char) -> bool {
    !c.is_control()
        && !matches!(c, '\u{00AD}' | '\u{180E}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}' | '\u{2060}'..='\u{206F}' | '\u{FEFF}')
}

pub(crate) fn cost_center_rule(value: &str) -> Rule<String> {
    length(value, 64)?;
    charset(
        value,
        |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'),
        "[A-Za-z0-9._-]",
    )?;
    Ok(value.to_owned())
}

/// `key=value` entries separated by commas, values percent-decoded. With `name_keys`, messages may
/// name an entry by its key; otherwise only by its position.
pub(crate) fn pairs(value: &str, name_keys: bool) -> Rule<Vec<(usize, String, String)>> {
    let mut out = Vec::new();
    for (index, entry) in value.split(',').enumerate() {
        let number = index + 1;
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, raw_value)) = entry.split_once('=') else {
            return invalid(format!("entry {number} has no `=`"));
        };
        let key = key.trim();
        if key.is_empty() {
            return invalid(format!("entry {number} has an empty key"));
        }
        let decoded = percent_decode_str(raw_value.trim())
            .decode_utf8()
            .map_err(|_| {
                let which = if name_keys {
                    format!("\"{key}\"")
                } else {
                    format!("entry {number}")
                };
                (
                    GapKind::Invalid,
                    format!("the value of {which} is not valid percent-encoded UTF-8"),
                )
            })?;
        out.push((number, key.to_owned(), decoded.into_owned()));
    }
    Ok(out)
}

pub(crate) fn queue_rule(value: &str) -> Rule<usize> {
    match value.trim().parse::<usize>() {
        Ok(0) => invalid("is 0: every span would be dropped".to_owned()),
        Ok(n) if n > MAX_SPAN_QUEUE_SIZE => {
            invalid(format!("{n} is more than {MAX_SPAN_QUEUE_SIZE}"))
        }
        Ok(n) => Ok(n),
        Err(_) => invalid(format!("{} is not a whole number of spans", shown(value))),
    }
}

/// A boolean as the OpenTelemetry specification spells it: `true` or `false`, in any case.
pub(crate) fn capture_rule(value: &str) -> Rule<bool> {
    let value = value.trim();
    if value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        invalid(format!("{} is neither true nor false", shown(value)))
    }
}

pub(crate) fn resource_rule(value: &str) -> Rule<Vec<(String, String)>> {
    Ok(pairs(value, true)?
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .collect())
}
