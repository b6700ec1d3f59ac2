//! Exact sums of money.
//!
//! A `Decimal` holds 28 significant digits, so adding two of different scales can round (800000 +
//! 0.00000016666666666666667 cannot be held exactly). Running totals therefore add on `Decimal`'s
//! own representation, a mantissa and a power-of-ten scale, in `i128`: 38 digits, exact, and an
//! integer add when the scales agree, which is the common case and the fast one.

use rust_decimal::Decimal;

/// `10^n` for `n` ≤ 28.
pub(crate) const POW10: [i128; 29] = {
    let mut table = [1_i128; 29];
    let mut i = 1;
    while i < 29 {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

/// A running sum of non-negative amounts, kept exact for as long as 38 digits allow.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactSum {
    mantissa: i128,
    scale: u32,
    rounded: bool,
}

impl ExactSum {
    /// Adds `amount`.
    pub fn add(&mut self, amount: Decimal) {
        self.add_raw(amount.mantissa(), amount.scale());
    }

    fn add_raw(&mut self, m: i128, s: u32) {
        let scale = self.scale.max(s);
        let aligned = |value: i128, from: u32| -> Option<i128> {
            if from == scale {
                Some(value)
            } else {
                value.checked_mul(POW10[(scale - from) as usize])
            }
        };
        match aligned(self.mantissa, self.scale)
            .zip(aligned(m, s))
            .and_then(|(a, b)| a.checked_add(b))
        {
            Some(sum) => {
                self.mantissa = sum;
                self.scale = scale;
            }
            None => {
                // Past 38 digits: carry on with the rounded Decimal sum, and say so.
                let amount = ExactSum {
                    mantissa: m,
                    scale: s,
                    rounded: false,
                }
                .value();
                let sum = self.value().saturating_add(amount);
                self.mantissa = sum.mantissa();
                self.scale = sum.scale();
                self.rounded = true;
            }
        }
    }

    /// Adds another sum.
    pub fn add_sum(&mut self, other: &ExactSum) {
        if other.mantissa != 0 || other.rounded {
            self.add_raw(other.mantissa, other.scale);
            self.rounded |= other.rounded;
        }
    }

    /// The sum as a `Decimal`; see [`ExactSum::is_exact`] for whether it is the exact one.
    #[must_use]
    pub fn value(&self) -> Decimal {
        self.nearest_decimal().0
    }

    /// Whether [`ExactSum::value`] is the exact sum: false once it passed what a `Decimal` holds.
    #[must_use]
    pub fn is_exact(&self) -> bool {
        !self.rounded && self.nearest_decimal().1
    }

    /// The nearest `Decimal` (dropping trailing digits until the mantissa fits 96 bits), and
    /// whether it is exact.
    fn nearest_decimal(self) -> (Decimal, bool) {
        let (mut m, mut s, mut exact) = (self.mantissa, self.scale, true);
        loop {
            if let Ok(d) = Decimal::try_from_i128_with_scale(m, s) {
                return (d, exact);
            }
            if s == 0 {
                return (if m < 0 { Decimal::MIN } else { Decimal::MAX }, false);
            }
            exact &= m % 10 == 0;
            m /= 10;
            s -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn sums_of_different_scales_stay_exact_where_decimal_alone_would_round() {
        let mut sum = ExactSum::default();
        sum.add(d("800000"));
        sum.add(d("0.00000016666666666666667"));
        // 29 significant digits: more than a Decimal holds.
        assert!(!sum.is_exact());
        let mut sum = ExactSum::default();
        sum.add(d("80000"));
        sum.add(d("0.00000016666666666666667"));
        assert!(sum.is_exact());
        assert_eq!(sum.value(), d("80000.00000016666666666666667"));
    }

    #[test]
    fn many_small_amounts_sum_exactly() {
        let mut sum = ExactSum::default();
        for _ in 0..1_000_000 {
            sum.add(d("0.00000375"));
        }
        assert_eq!(sum.value(), d("3.75"));
        assert!(sum.is_exact());
    }

    #[test]
    fn beyond_38_digits_it_rounds_and_says_so() {
        let mut sum = ExactSum::default();
        sum.add(Decimal::MAX);
        sum.add(Decimal::MAX);
        assert!(!sum.is_exact());
        assert_eq!(sum.value(), Decimal::MAX);
    }
}
