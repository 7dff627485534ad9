//! An E2B for tests: a sandboxer installation whose daemon serves the
//! E2B-compatible API (`/e2b`) over compose-ssh on the loopback host — the
//! "provider" — and the configuration of another installation that reaches
//! it through `sandboxer-ext-e2b` with a provider key (BYOK).

use super::daemon_support::{daemon_yaml, member_yaml};
use super::support::E2e;
use sandboxer_tests::loopback;

/// The provider's key for the other installation: a member token there.
pub const PROVIDER_KEY: &str = "e2e-e2b-key-of-an-agent";
pub const PROVIDER_CONSUMER: &str = "agt:e2b-agent";
pub const PROVIDER_PROJECT: &str = "agents";
/// A member of another project of the provider.
pub const OTHER_KEY: &str = "e2e-e2b-key-of-another-project";
/// The variable a user installation reads the provider key from
/// (`provider_keys: … env:PROVIDER_KEY`).
pub const KEY_VARIABLE: &str = "PROVIDER_KEY";
/// The template the provider offers: busybox with bash, as a profile.
pub const TEMPLATE: &str = "e2b-box";

/// The provider installation; `daemon_extra` goes under `daemon:`.
pub fn provider(daemon_extra: &str) -> E2e {
    let e2e = E2e::new();
    e2e.configure_with(
        &[loopback::host_yaml("loopback", &e2e.workdir)],
        &(daemon_yaml("30s", "5m")
            + &member_yaml(PROVIDER_KEY, PROVIDER_CONSUMER, PROVIDER_PROJECT)
            + &member_yaml(OTHER_KEY, "atm:other", "elsewhere")
            + daemon_extra),
    );
    e2e.sleeper_profile(
        TEMPLATE,
        "description: busybox with bash\nextension: ext.compose-ssh\n\
         ttl: {default: 1h, max: 24h}\ncost: {currency: USD, per_hour: 3.6}\n\
         spec: {compose_file: compose.yaml}\n",
    );
    e2e
}

/// Configures `user` with compose-ssh on the loopback host and ext.e2b at
/// `api` (`http://…/e2b`), its key a provider key for the user's project read
/// from `$key_variable`; `extra` is more top-level configuration.
pub fn configure_user(user: &E2e, api: &str, key_variable: &str, extra: &str) {
    user.configure_with(
        &[loopback::host_yaml("loopback", &user.workdir)],
        &format!(
            "{extra}provider_keys:\n  - {{extension: ext.e2b, project: {}, options: {{api_key: \"env:{key_variable}\"}}}}\n",
            user.project
        ),
    );
    let path = user.env.config_path();
    let mut config = std::fs::read_to_string(&path).unwrap();
    config += &format!(
        "  e2b:\n    options: {{api_url: \"{api}\", sandbox_url: \"{api}\", create_retries: 0}}\n"
    );
    std::fs::write(path, config).unwrap();
}
