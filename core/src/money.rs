//! Money as exact decimals. A rate is written in a profile (or an amount in the
//! configuration) as a number, read as the decimal its shortest text form shows
//! (`0.36` is 0.36, not the binary float nearest to it), or as a decimal in a
//! string (`"0.123456789012345678"`, exactly). It travels to extensions and is
//! kept in the store as decimal text (`sandboxer_ext_protocol::money`). A cost is
//! summed as rate-milliseconds, exactly, then divided by an hour once and rounded
//! half to even to `COST_DECIMALS` places: the sum of a group does not depend on
//! the order or the splitting of its stretches.

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Deserializer};

/// Places a cost is rounded to (a billionth of the currency unit).
pub const COST_DECIMALS: u32 = 9;

const MS_PER_HOUR: i64 = 3_600_000;

/// An amount as a profile or the configuration writes it: a number, or a
/// decimal in a string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Written {
    Number(f64),
    Text(String),
}

/// Reads an amount of zero or more written as a number or a decimal string;
/// `name` names the field in the error.
pub fn read_written<'de, D: Deserializer<'de>>(d: D, name: &str) -> Result<Decimal, D::Error> {
    let refused = || {
        serde::de::Error::custom(format!(
            "{name} must be a number of zero or more (or a decimal in quotes)"
        ))
    };
    match Written::deserialize(d).map_err(|_| refused())? {
        Written::Number(n) => sandboxer_ext_protocol::money::read(n, None, name),
        Written::Text(t) => sandboxer_ext_protocol::money::read(0.0, Some(&t), name),
    }
    .map_err(|_| refused())
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
    fn amounts_are_read_as_written() {
        #[derive(Deserialize)]
        struct Rate {
            #[serde(deserialize_with = "per_hour")]
            per_hour: Decimal,
        }
        fn per_hour<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
            read_written(d, "per_hour")
        }
        let rate = |yaml: &str| yaml_serde::from_str::<Rate>(yaml).map(|r| r.per_hour);
        assert_eq!(rate("per_hour: 0.36").unwrap(), d("0.36"));
        assert_eq!(rate("per_hour: 12").unwrap(), d("12"));
        assert_eq!(
            rate("per_hour: \"0.123456789012345678\"").unwrap(),
            d("0.123456789012345678"),
            "a decimal in quotes is exact past a float's digits"
        );
        for bad in [
            "per_hour: -1",
            "per_hour: .nan",
            "per_hour: .inf",
            "per_hour: lots",
            "per_hour: [1]",
        ] {
            let e = rate(bad).unwrap_err().to_string();
            assert!(
                e.contains("per_hour must be a number of zero or more"),
                "{bad}: {e}"
            );
        }
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
