//! `cost/estimate` from Daytona's published prices: a running sandbox is billed
//! per second for its vCPUs and memory (and disk beyond a free allowance).
//!
//! Source: Daytona's pricing page (`daytona.io/pricing`) as copied by a third
//! party on 2026-05-25 — $0.0504 per vCPU-hour and $0.0162 per GiB-hour of
//! memory — not readable from this machine, so to be confirmed. An operator
//! with a contract (or a self-hosted Daytona, whose price is their own) sets
//! `usd_per_vcpu_hour` and `usd_per_gib_hour`; disk is left out.

use rust_decimal::Decimal;
use sandboxer_ext_protocol::money;
use sandboxer_ext_protocol::{CostEstimate, ErrorObject, JsonObject};
use serde_json::Value;

/// Where the default prices come from, and when they were read.
pub const SOURCE: &str =
    "Daytona pricing (daytona.io/pricing) via a third-party copy of 2026-05-25; to confirm";

/// The prices one extension charges at.
#[derive(Debug, Clone, PartialEq)]
pub struct Prices {
    pub per_vcpu_hour: Decimal,
    pub per_gib_hour: Decimal,
    /// `SOURCE`, or `options` when the operator set them.
    pub source: &'static str,
}

impl Prices {
    /// The published prices, unless the options name others (decimal text).
    pub fn from_options(options: &JsonObject) -> Result<Prices, ErrorObject> {
        let read = |name: &str| -> Result<Option<Decimal>, ErrorObject> {
            let Some(value) = options.get(name) else {
                return Ok(None);
            };
            let parsed = match value {
                Value::String(text) => text.parse::<Decimal>().ok(),
                Value::Number(n) => n.as_f64().and_then(money::decimal_of),
                _ => None,
            };
            match parsed {
                Some(d) if d >= Decimal::ZERO => Ok(Some(d)),
                _ => Err(ErrorObject::invalid_argument(
                    &format!("options.{name}"),
                    format!(
                        "option {name} must be a price in USD of zero or more, like \"0.0504\""
                    ),
                )),
            }
        };
        let vcpu = read("usd_per_vcpu_hour")?;
        let gib = read("usd_per_gib_hour")?;
        Ok(Prices {
            source: if vcpu.is_some() || gib.is_some() {
                "options"
            } else {
                SOURCE
            },
            per_vcpu_hour: vcpu.unwrap_or(Decimal::new(504, 4)),
            per_gib_hour: gib.unwrap_or(Decimal::new(162, 4)),
        })
    }

    /// What `cpus` vCPUs and `memory_gib` GiB cost for `duration_s` seconds.
    pub fn estimate(&self, cpus: Decimal, memory_gib: Decimal, duration_s: u64) -> CostEstimate {
        let per_hour = cpus * self.per_vcpu_hour + memory_gib * self.per_gib_hour;
        let mut breakdown = JsonObject::new();
        breakdown.insert("vcpus".into(), money::text_of(cpus).into());
        breakdown.insert("memory_gib".into(), money::text_of(memory_gib).into());
        breakdown.insert(
            "usd_per_vcpu_hour".into(),
            money::text_of(self.per_vcpu_hour).into(),
        );
        breakdown.insert(
            "usd_per_gib_hour".into(),
            money::text_of(self.per_gib_hour).into(),
        );
        breakdown.insert("rate_per_hour".into(), money::text_of(per_hour).into());
        breakdown.insert("seconds".into(), duration_s.into());
        breakdown.insert("source".into(), self.source.into());
        CostEstimate {
            currency: "USD".into(),
            amount: per_hour * Decimal::from(duration_s) / Decimal::from(3600),
            breakdown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap()
    }

    #[test]
    fn the_published_prices_give_an_hour_of_one_vcpu_and_one_gib() {
        let prices = Prices::from_options(&JsonObject::new()).unwrap();
        let hour = prices.estimate(Decimal::ONE, Decimal::ONE, 3600);
        assert_eq!(hour.amount, d("0.0666"));
        assert_eq!(hour.breakdown["source"], SOURCE);
        let half = prices.estimate(Decimal::TWO, d("0.5"), 1800);
        assert_eq!(half.amount, d("0.0544500"));
    }

    #[test]
    fn an_operator_sets_its_own_prices_and_a_bad_one_is_refused_by_name() {
        let options = json!({"usd_per_vcpu_hour": "0.1", "usd_per_gib_hour": 0});
        let prices = Prices::from_options(options.as_object().unwrap()).unwrap();
        assert_eq!(prices.estimate(Decimal::TWO, d("4"), 3600).amount, d("0.2"));
        assert_eq!(prices.source, "options");
        let bad = json!({"usd_per_gib_hour": "-1"});
        let error = Prices::from_options(bad.as_object().unwrap()).unwrap_err();
        assert!(
            error.message.contains("usd_per_gib_hour"),
            "{}",
            error.message
        );
    }
}
