//! Where configuration is read from: the process environment, a map given in code, or a dotenv file.
//!
//! Configuration never reads `std::env` behind the caller's back: it reads an [`EnvSource`], so a test
//! can hand in exactly the variables it means and never touch the process environment.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fmt;

use crate::gap::{Gap, GapKind};

/// A snapshot of environment variables.
///
/// Values may be secrets (`OTEL_EXPORTER_OTLP_HEADERS`), so `Debug` shows only the names.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct EnvSource {
    vars: BTreeMap<String, String>,
    not_unicode: BTreeSet<String>,
}

impl EnvSource {
    /// An empty source: every variable is unset.
    #[must_use]
    pub fn empty() -> Self {
        Self::default()
    }

    /// A snapshot of the current process environment.
    ///
    /// A variable whose value is not valid Unicode is remembered as such, so that validation can
    /// report it instead of silently treating it as unset.
    #[must_use]
    pub fn from_process() -> Self {
        Self::from_os_pairs(std::env::vars_os())
    }

    /// A source holding exactly the given pairs; later pairs win over earlier ones with the same name.
    #[must_use]
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Self {
            vars,
            not_unicode: BTreeSet::new(),
        }
    }

    pub(crate) fn from_os_pairs(pairs: impl IntoIterator<Item = (OsString, OsString)>) -> Self {
        let mut source = Self::default();
        for (key, value) in pairs {
            // A variable whose name is not Unicode cannot be one of ours: skip it.
            let Ok(key) = key.into_string() else { continue };
            match value.into_string() {
                Ok(value) => {
                    source.vars.insert(key, value);
                }
                Err(_) => {
                    source.not_unicode.insert(key);
                }
            }
        }
        source
    }

    /// The value of `name`, if it is set and valid Unicode.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// Whether `name` is set to a value that is not valid Unicode.
    #[must_use]
    pub fn is_not_unicode(&self, name: &str) -> bool {
        self.not_unicode.contains(name)
    }

    /// Sets `name` to `value`, replacing any earlier value.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        self.not_unicode.remove(&name);
        self.vars.insert(name, value.into());
    }

    /// The names and values that are valid Unicode, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Parses dotenv text: `KEY=VALUE` lines, an optional `export ` prefix, single- or double-quoted
    /// values, `#` comments and blank lines.
    ///
    /// Every malformed line is returned as a [`Gap`] whose variable is `LABEL:LINE` (`label` names the
    /// file); the line's content is never repeated, since it may hold a secret. Later lines win.
    #[must_use]
    pub fn from_dotenv(text: &str, label: &str) -> (Self, Vec<Gap>) {
        let mut source = Self::default();
        let mut gaps = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            match parse_dotenv_line(line) {
                Ok(Some((key, value))) => source.set(key, value),
                Ok(None) => {}
                Err(why) => gaps.push(Gap::new(
                    format!("{label}:{number}"),
                    GapKind::MalformedLine,
                    format!("line {number} is malformed: {why}"),
                    DOTENV_ACCEPTED,
                )),
            }
        }
        (source, gaps)
    }
}

const DOTENV_ACCEPTED: &str = "KEY=VALUE lines (KEY is letters, digits and _, not starting with a digit), \
an optional `export ` prefix, values in single or double quotes, # comments and blank lines";

/// One dotenv line: `Ok(None)` for a blank or comment line.
fn parse_dotenv_line(line: &str) -> Result<Option<(String, String)>, &'static str> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let line = line.strip_prefix("export ").map_or(line, str::trim_start);
    let Some((key, rest)) = line.split_once('=') else {
        return Err("expected KEY=VALUE but found no `=`");
    };
    let key = key.trim_end();
    if key.is_empty() {
        return Err("the name before `=` is empty");
    }
    let valid_key = key
        .chars()
        .enumerate()
        .all(|(i, c)| c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit()));
    if !valid_key {
        return Err("the name before `=` is not letters, digits and _ (not starting with a digit)");
    }
    let value = parse_dotenv_value(rest.trim_start())?;
    Ok(Some((key.to_owned(), value)))
}

fn parse_dotenv_value(raw: &str) -> Result<String, &'static str> {
    let mut chars = raw.chars();
    match chars.next() {
        Some('\'') => {
            let body = chars.as_str();
            let end = body
                .find('\'')
                .ok_or("a single-quoted value has no closing quote")?;
            trailing_is_comment(&body[end + 1..])?;
            Ok(body[..end].to_owned())
        }
        Some('"') => {
            let mut value = String::new();
            let mut escaped = false;
            for (offset, c) in chars.as_str().char_indices() {
                if escaped {
                    value.push(match c {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    trailing_is_comment(&chars.as_str()[offset + 1..])?;
                    return Ok(value);
                } else {
                    value.push(c);
                }
            }
            Err("a double-quoted value has no closing quote")
        }
        _ => {
            // An unquoted value ends at a comment that follows white space.
            let value = match raw.find(" #") {
                Some(at) => &raw[..at],
                None => raw,
            };
            Ok(value.trim_end().to_owned())
        }
    }
}

fn trailing_is_comment(rest: &str) -> Result<(), &'static str> {
    let rest = rest.trim_start();
    if rest.is_empty() || rest.starts_with('#') {
        Ok(())
    } else {
        Err("text follows the closing quote")
    }
}

impl fmt::Debug for EnvSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnvSource")
            .field("names", &self.vars.keys().collect::<Vec<_>>())
            .field("not_unicode", &self.not_unicode)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_accepts_the_common_forms() {
        let text = "# comment\n\nA=1\nexport B = two words # note\nC='single # kept'\nD=\"x\\ny\" # c\nE=\nA=3\n";
        let (env, gaps) = EnvSource::from_dotenv(text, ".env");
        assert!(gaps.is_empty(), "{gaps:?}");
        assert_eq!(env.get("A"), Some("3"));
        assert_eq!(env.get("B"), Some("two words"));
        assert_eq!(env.get("C"), Some("single # kept"));
        assert_eq!(env.get("D"), Some("x\ny"));
        assert_eq!(env.get("E"), Some(""));
    }

    #[test]
    fn dotenv_malformed_lines_are_gaps_with_their_numbers_and_no_content() {
        let text = "A=1\nthis-is-secret-token\n1X=2\nQ=\"open\nR='x' y\n";
        let (env, gaps) = EnvSource::from_dotenv(text, "prod.env");
        assert_eq!(env.get("A"), Some("1"));
        let variables: Vec<_> = gaps.iter().map(|g| g.variable.as_str()).collect();
        assert_eq!(
            variables,
            ["prod.env:2", "prod.env:3", "prod.env:4", "prod.env:5"]
        );
        assert!(gaps.iter().all(|g| g.kind == GapKind::MalformedLine));
        assert!(gaps.iter().all(|g| !g.problem.contains("secret")));
    }

    #[test]
    fn debug_never_shows_values() {
        let env = EnvSource::from_pairs([("OTEL_EXPORTER_OTLP_HEADERS", "api-key=hunter2")]);
        let shown = format!("{env:?}");
        assert!(shown.contains("OTEL_EXPORTER_OTLP_HEADERS"));
        assert!(!shown.contains("hunter2"));
    }
}
