//! `sandboxer-ext-compose-ssh`: sandboxes as podman-compose projects on hosts
//! reached over ssh (or on this machine, for the host named `local`).

fn main() {
    sandboxer_ext_protocol::sdk::init_stderr_logging();
    sandboxer_ext_protocol::sdk::serve::<compose_ssh::ComposeSsh>()
}
