//! Money as the server's scripts keep it. Lua's numbers are doubles, exact only for integers below
//! 2⁵³, so an amount travels and is stored as two integer limbs: whole nano-USD and the rest in
//! atto-USD, exact to 10⁻¹⁸ USD.

use rust_decimal::Decimal;

/// An amount of USD in two limbs: `nano` whole nano-USD (below 2⁵³) and `atto` atto-USD
/// (below 10⁹).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct Limbs {
    pub(super) nano: u64,
    pub(super) atto: u64,
}

/// Which way an amount with more than 18 decimals goes: costs and worst cases up, limits down,
/// so that a budget is never passed by rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Round {
    Up,
    Down,
}

/// The largest whole nano-USD a limb holds exactly: about 9 million USD.
pub(super) const NANO_MAX: u64 = (1 << 53) - 1;

const ATTO_PER_NANO: i128 = 1_000_000_000;

/// Powers of ten up to 10²⁸: a decimal's scale reaches 28.
const POW10: [i128; 29] = {
    let mut table = [1_i128; 29];
    let mut i = 1;
    while i < table.len() {
        table[i] = table[i - 1] * 10;
        i += 1;
    }
    table
};

impl Limbs {
    /// The saturated amount: anything at or above [`NANO_MAX`] nano-USD (about 9 million USD).
    /// A limit there is as good as none; a cost there passes every limit below it.
    pub(super) const MAX: Limbs = Limbs {
        nano: NANO_MAX,
        atto: 0,
    };

    /// `amount` in limbs, rounded past 18 decimals as `round` says; a negative amount is zero,
    /// one too big for the limbs is [`Limbs::MAX`].
    pub(super) fn new(amount: Decimal, round: Round) -> Limbs {
        let mantissa = amount.mantissa();
        if mantissa <= 0 {
            return Limbs::default();
        }
        let scale = amount.scale();
        let atto = if scale <= 18 {
            let factor = POW10[usize::try_from(18 - scale).unwrap_or(0)];
            match mantissa.checked_mul(factor) {
                Some(atto) => atto,
                None => return Limbs::MAX,
            }
        } else {
            let divisor = POW10[usize::try_from(scale - 18).unwrap_or(0)];
            let (whole, rest) = (mantissa / divisor, mantissa % divisor);
            whole + i128::from(round == Round::Up && rest != 0)
        };
        let (nano, atto) = (atto / ATTO_PER_NANO, atto % ATTO_PER_NANO);
        match (u64::try_from(nano), u64::try_from(atto)) {
            (Ok(nano), Ok(atto)) if nano < NANO_MAX => Limbs { nano, atto },
            _ => Limbs::MAX,
        }
    }

    /// The limbs as they travel: two decimal integers.
    pub(super) fn args(self) -> [String; 2] {
        [self.nano.to_string(), self.atto.to_string()]
    }

    /// Limbs from a script's reply; a negative limb (never written) is read as zero.
    pub(super) fn from_reply(nano: i64, atto: i64) -> Limbs {
        Limbs {
            nano: u64::try_from(nano).unwrap_or(0).min(NANO_MAX),
            atto: u64::try_from(atto).unwrap_or(0) % 1_000_000_000,
        }
    }

    /// The amount, exact.
    pub(super) fn decimal(self) -> Decimal {
        let atto = i128::from(self.nano) * ATTO_PER_NANO + i128::from(self.atto);
        // Below 2⁵³ · 10⁹ + 10⁹: within a decimal's 96-bit mantissa.
        Decimal::try_from_i128_with_scale(atto, 18).map_or(Decimal::MAX, |d| d.normalize())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn usd(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn amounts_of_up_to_18_decimals_are_exact_and_others_round_the_safe_way() {
        let tiny = usd("0.000000000000000001");
        assert_eq!(Limbs::new(tiny, Round::Down), Limbs { nano: 0, atto: 1 });
        assert_eq!(Limbs::new(usd("1.5"), Round::Up).decimal(), usd("1.5"));
        let long = usd("0.0000000000000000015");
        assert_eq!(
            Limbs::new(long, Round::Up).decimal(),
            usd("0.000000000000000002")
        );
        assert_eq!(Limbs::new(long, Round::Down).decimal(), tiny);
        assert_eq!(Limbs::new(usd("-1"), Round::Up), Limbs::default());
        assert_eq!(Limbs::new(usd("10000000"), Round::Down), Limbs::MAX);
        assert_eq!(Limbs::new(Decimal::MAX, Round::Up), Limbs::MAX);
        let below = usd("9007199.254740990999999999");
        assert_eq!(Limbs::new(below, Round::Down).decimal(), below);
    }

    proptest! {
        #[test]
        fn limbs_hold_a_decimal_exactly_or_within_one_atto_on_the_safe_side(
            mantissa in 0_i64..=i64::MAX,
            scale in 0_u32..=28,
        ) {
            let amount = Decimal::new(mantissa, scale);
            let (up, down) = (Limbs::new(amount, Round::Up), Limbs::new(amount, Round::Down));
            prop_assert!(up.atto < 1_000_000_000 && down.atto < 1_000_000_000);
            if up == Limbs::MAX {
                prop_assert!(amount >= Limbs::MAX.decimal() - usd("0.000000001"));
            } else {
                let atto = usd("0.000000000000000001");
                prop_assert!(up.decimal() >= amount && up.decimal() - amount < atto);
                prop_assert!(down.decimal() <= amount && amount - down.decimal() < atto);
                if scale <= 18 {
                    prop_assert_eq!(up.decimal(), amount);
                    prop_assert_eq!(down, up);
                }
            }
        }
    }
}
