//! What a call's cost may be, for `govops report` and `govops check telemetry`: a number of US
//! dollars from 0 to [`MAX_CALL_COST_USD`]. A cost that is negative, not finite, not a number or
//! larger is a named [`CostProblem`]: the report leaves it out of every total and says so, the
//! check fails. Read from its text, never through a panic.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;

/// The highest cost one call may carry: $1 trillion, far beyond any model call, so that a larger
/// figure is a corrupt or hostile record; and 7.9 × 10^16 calls at this cost still sum within a
/// `Decimal` (7.9 × 10^28), so no total saturates.
pub(crate) const MAX_CALL_COST_USD: Decimal = Decimal::from_parts(0xD4A5_1000, 0xE8, 0, false, 0);

/// What a cost may be, for messages.
pub(crate) const ACCEPTED: &str = "accepted: a number of US dollars from 0 to 1000000000000 (an exact decimal string in an audit record, a double in telemetry)";

/// Why a cost is not accepted; each holds the value as written (cut to 64 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CostProblem {
    /// Below 0.
    Negative(String),
    /// NaN or an infinity.
    NotFinite(String),
    /// A string, a list, a boolean: not a number.
    NotANumber(String),
    /// Above [`MAX_CALL_COST_USD`].
    TooLarge(String),
    /// None at all on a model call (chat, text_completion, embeddings) that does not carry
    /// `unpriced_model`: contract section 3 says it is there exactly when that code is absent.
    Missing,
}

impl CostProblem {
    /// The kind, as JSON and CSV name it.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            CostProblem::Negative(_) => "negative",
            CostProblem::NotFinite(_) => "not_finite",
            CostProblem::NotANumber(_) => "not_a_number",
            CostProblem::TooLarge(_) => "too_large",
            CostProblem::Missing => "missing",
        }
    }

    /// The value as written.
    pub(crate) fn value(&self) -> &str {
        match self {
            CostProblem::Negative(v)
            | CostProblem::NotFinite(v)
            | CostProblem::NotANumber(v)
            | CostProblem::TooLarge(v) => v,
            CostProblem::Missing => "",
        }
    }
}

impl fmt::Display for CostProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            CostProblem::Negative(_) => "negative",
            CostProblem::NotFinite(_) => "not finite",
            CostProblem::NotANumber(_) => "not a number",
            CostProblem::TooLarge(_) => "too large",
            CostProblem::Missing => {
                return write!(
                    f,
                    "the cost is missing on a model call that does not carry unpriced_model; {ACCEPTED}"
                );
            }
        };
        write!(f, "the cost {} is {what}; {ACCEPTED}", self.value())
    }
}

/// The value for a message: at most 64 characters.
fn shown(text: &str) -> String {
    if text.chars().count() <= 64 {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(63).collect();
        cut.push('…');
        cut
    }
}

/// `cost` if it is within what is accepted.
pub(crate) fn check(cost: Decimal, text: &str) -> Result<Decimal, CostProblem> {
    if cost.is_sign_negative() && !cost.is_zero() {
        Err(CostProblem::Negative(shown(text)))
    } else if cost > MAX_CALL_COST_USD {
        Err(CostProblem::TooLarge(shown(text)))
    } else {
        Ok(cost.abs())
    }
}

/// A cost written as a number's text: JSON (`0.00816`, `1e-05`, `-3`), or what the protobuf JSON
/// mapping allows for a double (`"NaN"`, `"Infinity"`, `"-Infinity"`, a number in a string,
/// already unquoted here).
pub(crate) fn from_text(text: &str) -> Result<Decimal, CostProblem> {
    let trimmed = text.trim();
    if let Ok(exact) = Decimal::from_str(trimmed).or_else(|_| Decimal::from_scientific(trimmed)) {
        return check(exact, text);
    }
    let Ok(x) = trimmed.parse::<f64>() else {
        return Err(CostProblem::NotANumber(shown(text)));
    };
    let digits = trimmed
        .trim_start_matches(['-', '+'])
        .starts_with(|c: char| c.is_ascii_digit() || c == '.');
    match x {
        x if x.is_nan() => Err(CostProblem::NotFinite(shown(text))),
        // `-1e400` is a number too large for a double, not an infinity.
        x if x < 0.0 => Err(CostProblem::Negative(shown(text))),
        x if x.is_infinite() && !digits => Err(CostProblem::NotFinite(shown(text))),
        // Finite but beyond a `Decimal` (1e300), or an infinity written as digits (1e400).
        x if x >= 1.0 => Err(CostProblem::TooLarge(shown(text))),
        // Below a `Decimal`'s smallest unit (1e-300): as near as a `Decimal` holds, which is 0.
        x => check(Decimal::from_f64(x).unwrap_or(Decimal::ZERO), text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_accepted_or_named() {
        assert_eq!(from_text("0.00816"), Ok(Decimal::new(816, 5)));
        assert_eq!(from_text("1e-05"), Ok(Decimal::new(1, 5)));
        assert_eq!(from_text("0"), Ok(Decimal::ZERO));
        assert_eq!(from_text("-0"), Ok(Decimal::ZERO));
        assert_eq!(from_text("1e-300"), Ok(Decimal::ZERO));
        assert_eq!(from_text("1000000000000"), Ok(MAX_CALL_COST_USD));
        let kind = |t: &str| from_text(t).err().map(|p| p.kind());
        assert_eq!(kind("-0.5"), Some("negative"));
        assert_eq!(kind("-1e400"), Some("negative"));
        assert_eq!(kind("NaN"), Some("not_finite"));
        assert_eq!(kind("Infinity"), Some("not_finite"));
        assert_eq!(kind("-Infinity"), Some("negative"));
        assert_eq!(kind("1e400"), Some("too_large"));
        assert_eq!(kind("1e300"), Some("too_large"));
        assert_eq!(kind("20000000000000000000000000000"), Some("too_large"));
        assert_eq!(kind("1000000000000.01"), Some("too_large"));
        assert_eq!(kind("abc"), Some("not_a_number"));
        assert_eq!(kind(""), Some("not_a_number"));
    }
}
