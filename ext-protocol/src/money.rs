//! Money on the wire, exactly. An amount (a rate, an estimate) is a decimal.
//! Protocol 1.3 writes it twice: as a JSON number under its 1.0 name, which every
//! peer reads, and as a decimal string beside it (`<name>_exact`), which 1.3 peers
//! read first. A number alone (a peer of 1.2 or older) is read as the decimal its
//! shortest text shows: `0.36` is 0.36, not the binary float nearest to it.
//! Amounts are never negative.

use rust_decimal::prelude::ToPrimitive;

/// The decimal type of every amount (re-exported: an extension needs no
/// dependency of its own to make one).
pub use rust_decimal::Decimal;

/// The decimal a JSON number (or a number written in YAML) means: the one its
/// shortest text form shows. A float that is not finite has none.
pub fn decimal_of(number: f64) -> Option<Decimal> {
    if !number.is_finite() {
        return None;
    }
    number
        .to_string()
        .parse()
        .ok()
        .or_else(|| Decimal::try_from(number).ok())
}

/// `value` as the decimal string written on the wire and in the store: no
/// trailing zeros, so that equal amounts are equal text.
pub fn text_of(value: Decimal) -> String {
    value.normalize().to_string()
}

/// `value` as the JSON number written for peers that read numbers only.
pub fn number_of(value: Decimal) -> f64 {
    value.to_f64().unwrap_or(f64::MAX)
}

/// The amount a message carries: `exact` when given, else `number`; refused when
/// neither reads as a decimal of zero or more. `name` names the field in errors.
pub fn read(number: f64, exact: Option<&str>, name: &str) -> Result<Decimal, String> {
    let value = match exact {
        Some(text) => text
            .trim()
            .parse::<Decimal>()
            .map_err(|e| format!("{name}_exact {text:?} is not a decimal: {e}"))?,
        None => decimal_of(number).ok_or_else(|| format!("{name} {number} is not a number"))?,
    };
    if value.is_sign_negative() && !value.is_zero() {
        return Err(format!("{name} must be zero or more, not {value}"));
    }
    Ok(value.normalize())
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
        assert_eq!(decimal_of(0.36), Some(d("0.36")));
        assert_eq!(decimal_of(0.1 + 0.2), Some(d("0.30000000000000004")));
        assert_eq!(decimal_of(12.0), Some(d("12")));
        assert_eq!(decimal_of(f64::NAN), None);
        assert_eq!(decimal_of(f64::INFINITY), None);
    }

    #[test]
    fn the_exact_text_wins_and_bad_amounts_are_refused() {
        assert_eq!(
            read(0.1, Some("0.123456789012345678"), "x"),
            Ok(d("0.123456789012345678"))
        );
        assert_eq!(read(0.6, None, "x"), Ok(d("0.6")));
        assert_eq!(read(0.0, Some("2.50"), "x"), Ok(d("2.5")));
        assert!(
            read(0.0, Some("lots"), "per_hour")
                .unwrap_err()
                .contains("per_hour_exact")
        );
        assert!(
            read(-1.0, None, "amount")
                .unwrap_err()
                .contains("zero or more")
        );
        assert_eq!(text_of(d("2.500")), "2.5");
        assert_eq!(number_of(d("0.36")), 0.36);
    }
}
