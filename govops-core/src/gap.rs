//! A gap: one thing wrong with the start-up metadata, said so that a person can fix it.

use std::fmt;

use serde::Serialize;

/// What kind of gap a [`Gap`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum GapKind {
    /// A required variable is not set.
    Missing,
    /// A variable is set to the empty string.
    Empty,
    /// A variable holds only white space.
    WhitespaceOnly,
    /// A value is outside its accepted set.
    Invalid,
    /// A value is not valid Unicode.
    NotUnicode,
    /// A path cannot be read, or cannot be written where it must be.
    Unreadable,
    /// A file was read but does not parse.
    Unparseable,
    /// A line of a dotenv file is malformed.
    MalformedLine,
}

/// One gap in the start-up metadata: which variable, what is wrong, and what would be accepted.
///
/// Serialises as `{"variable", "problem", "accepted"}`, the shape `govops check env --format json`
/// prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Gap {
    /// The variable's name, or `FILE:LINE` for a malformed dotenv line.
    pub variable: String,
    /// What is wrong, in words; never the value of a secret.
    pub problem: String,
    /// What would be accepted.
    pub accepted: String,
    /// The kind of gap, for code that reacts to it.
    #[serde(skip)]
    pub kind: GapKind,
}

impl Gap {
    /// A gap for `variable`.
    #[must_use]
    pub fn new(
        variable: impl Into<String>,
        kind: GapKind,
        problem: impl Into<String>,
        accepted: impl Into<String>,
    ) -> Self {
        Self {
            variable: variable.into(),
            problem: problem.into(),
            accepted: accepted.into(),
            kind,
        }
    }
}

impl fmt::Display for Gap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}; accepted: {}",
            self.variable, self.problem, self.accepted
        )
    }
}

/// Every gap found, in the order the contract lists the variables. Never empty when returned as an
/// error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct Gaps {
    gaps: Vec<Gap>,
}

impl Gaps {
    /// Gaps from a list.
    #[must_use]
    pub fn new(gaps: Vec<Gap>) -> Self {
        Self { gaps }
    }

    /// The gaps, in order.
    #[must_use]
    pub fn as_slice(&self) -> &[Gap] {
        &self.gaps
    }

    /// How many gaps there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.gaps.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.gaps.is_empty()
    }

    /// Iterates over the gaps.
    pub fn iter(&self) -> std::slice::Iter<'_, Gap> {
        self.gaps.iter()
    }

    /// Whether a gap names `variable`.
    #[must_use]
    pub fn names(&self, variable: &str) -> bool {
        self.gaps.iter().any(|g| g.variable == variable)
    }

    /// The report a person reads: a headline, then one line per gap.
    #[must_use]
    pub fn report(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Gaps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.gaps.len();
        write!(
            f,
            "govops: the start-up metadata has {n} gap{}; the workload must not run until {} fixed:",
            if n == 1 { "" } else { "s" },
            if n == 1 { "it is" } else { "they are" }
        )?;
        for gap in &self.gaps {
            write!(
                f,
                "\n  - {}: {}\n      accepted: {}",
                gap.variable, gap.problem, gap.accepted
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for Gaps {}

impl IntoIterator for Gaps {
    type Item = Gap;
    type IntoIter = std::vec::IntoIter<Gap>;
    fn into_iter(self) -> Self::IntoIter {
        self.gaps.into_iter()
    }
}

impl<'a> IntoIterator for &'a Gaps {
    type Item = &'a Gap;
    type IntoIter = std::slice::Iter<'a, Gap>;
    fn into_iter(self) -> Self::IntoIter {
        self.gaps.iter()
    }
}
