//! Money as exact decimals. A rate is written in a profile as a number and read as
//! the decimal its shortest text form shows (`0.36` is 0.36, not the binary float
//! nearest to it). A cost is summed as rate-milliseconds, exactly, then divided by
//! an hour once and rounded half to even to `COST_DECIMALS` places: the sum of a
//! group does not depend on the order or the splitting of its stretches.

use rust_decimal::{Decimal, RoundingStrategy};

/// Places a cost is rounded to (a billionth of the currency unit).
pub const COST_DECIMALS: u32 = 9;

const MS_PER_HOUR: i64 = 3_600_000;

/// The decimal a number written in a profile or the configuration (a rate, an
/// amount) means.
pub fn decimal(written: f64) -> Decimal {
    written
        .to_string()
        .parse()
        .or_else(|_| Decimal::try_from(written))
        .unwrap_or_default()
}

/// What `ms` milliseconds at `per_hour` add to a sum of rate-milliseconds.
pub fn rate_ms(ms: i64, per_hour: Decimal) -> Decimal {
    Decimal::from(ms) * per_hour
}

/// The cost of a sum of rate-milliseconds.
pub fn cost(rate_ms: Decimal) -> Decimal {
    (rate_ms / Decimal::from(MS_PER_HOUR))
        .round_dp_with_strategy(COST_DECIMALS, RoundingStrategy::MidpointNearestEven)
        .normalize()
}

/// Milliseconds as seconds, exactly.
pub fn seconds(ms: i64) -> Decimal {
    Decimal::new(ms, 3).normalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn numbers_are_the_decimals_written() {
        assert_eq!(decimal(0.36), d("0.36"));
        assert_eq!(
            decimal(0.1 + 0.2),
            d("0.30000000000000004"),
            "a computed float stays what it is"
        );
        assert_eq!(decimal(12.0), d("12"));
        assert_eq!(decimal(0.0), Decimal::ZERO);
    }

    #[test]
    fn a_cost_is_exact_and_independent_of_how_time_is_split() {
        // One hour at 0.36 costs 0.36, however the hour is cut.
        let whole = cost(rate_ms(3_600_000, d("0.36")));
        let parts = cost(rate_ms(1_234_567, d("0.36")) + rate_ms(2_365_433, d("0.36")));
        assert_eq!((whole, parts), (d("0.36"), d("0.36")));
        // A third of a cent per hour for one millisecond rounds half to even.
        assert_eq!(cost(rate_ms(1, d("0.0036"))), d("0.000000001"));
        assert_eq!(
            cost(rate_ms(1, d("0.0018"))),
            d("0.0"),
            "0.5e-9 rounds to even"
        );
        assert_eq!(seconds(1_500), d("1.5"));
    }
}
