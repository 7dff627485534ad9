//! The checks, grouped into scenarios that share set-up (one extension process,
//! one sandbox). Each scenario declares the checks it reports.

mod concurrency;
mod egress;
mod framing;
mod handshake;
mod images;
mod inside;
mod launch;
mod lifecycle;
mod notifications;
mod optional;
mod robustness;
mod secrets;
mod validation;

use crate::context::Ctx;

pub struct Scenario {
    pub name: &'static str,
    pub checks: &'static [&'static str],
    pub run: fn(&mut Ctx),
}

pub const SCENARIOS: &[Scenario] = &[
    launch::SCENARIO,
    handshake::SCENARIO,
    framing::SCENARIO,
    lifecycle::SCENARIO,
    lifecycle::IDEMPOTENCY,
    validation::SCENARIO,
    secrets::SCENARIO,
    optional::SCENARIO,
    inside::SCENARIO,
    egress::SCENARIO,
    images::SCENARIO,
    notifications::SCENARIO,
    concurrency::SCENARIO,
    robustness::SCENARIO,
];

/// The check the runner itself reports after cleanup.
pub const NOTHING_LEFT_BEHIND: &str = "robustness.nothing-left-behind";
/// Checked by the runner over every session of the run, after cleanup.
pub const STDOUT_EVERYWHERE: &str = "framing.stdout-json-rpc-in-every-session";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::CHECKS;

    #[test]
    fn every_declared_check_is_reported_by_exactly_one_scenario() {
        for check in CHECKS {
            let owners = SCENARIOS
                .iter()
                .filter(|s| s.checks.contains(&check.id))
                .count()
                + usize::from(check.id == NOTHING_LEFT_BEHIND || check.id == STDOUT_EVERYWHERE);
            assert_eq!(owners, 1, "{} is reported by {owners} scenarios", check.id);
        }
        for scenario in SCENARIOS {
            for id in scenario.checks {
                crate::registry::check(id);
            }
        }
    }
}
