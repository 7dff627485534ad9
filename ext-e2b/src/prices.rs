//! `cost/estimate` from E2B's published prices: a running sandbox is billed
//! per second for the vCPUs and memory its template allocates.
//!
//! Source: E2B's billing documentation (`e2b.dev/docs/billing`, read
//! 2026-12-06): $0.000014 per vCPU-second and $0.0000045 per GiB-second,
//! which its own example confirms (8 vCPUs and 4 GiB cost $0.468 an hour).
//! Plans add a monthly base price and free credits, which are not per
//! sandbox and are left out.

use rust_decimal::Decimal;
use sandboxer_ext_protocol::money;
use sandboxer_ext_protocol::{CostEstimate, JsonObject};

/// Where the prices come from, and when they were read.
pub const SOURCE: &str = "E2B billing documentation (e2b.dev/docs/billing), read 2026-12-06";

/// USD per vCPU-second.
pub fn per_vcpu_second() -> Decimal {
    Decimal::new(14, 6)
}

/// USD per GiB-second of memory.
pub fn per_gib_second() -> Decimal {
    Decimal::new(45, 7)
}

/// What `cpus` vCPUs and `memory_mb` MiB cost for `duration_s` seconds.
pub fn estimate(cpus: f64, memory_mb: u64, duration_s: u64) -> CostEstimate {
    let cpus = Decimal::from_f64_retain(cpus)
        .unwrap_or(Decimal::TWO)
        .round_dp(3);
    let gib = Decimal::from(memory_mb) / Decimal::from(1024);
    let per_second = cpus * per_vcpu_second() + gib * per_gib_second();
    let mut breakdown = JsonObject::new();
    breakdown.insert("vcpus".into(), money::text_of(cpus).into());
    breakdown.insert("memory_gib".into(), money::text_of(gib).into());
    breakdown.insert(
        "usd_per_vcpu_second".into(),
        money::text_of(per_vcpu_second()).into(),
    );
    breakdown.insert(
        "usd_per_gib_second".into(),
        money::text_of(per_gib_second()).into(),
    );
    breakdown.insert(
        "rate_per_hour".into(),
        money::text_of(per_second * Decimal::from(3600)).into(),
    );
    breakdown.insert("seconds".into(), duration_s.into());
    breakdown.insert("source".into(), SOURCE.into());
    CostEstimate {
        currency: "USD".into(),
        amount: per_second * Decimal::from(duration_s),
        breakdown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e2bs_own_example_costs_what_e2b_says() {
        // "a sandbox with 8 vCPU and 4 GB RAM costs $0.468 per hour".
        assert_eq!(estimate(8.0, 4096, 3600).amount, Decimal::new(468, 3));
        assert_eq!(estimate(2.0, 512, 0).amount, Decimal::ZERO);
    }
}
