//! `sandboxer-ext-e2b`: sandboxes on E2B's API (the hosted service, or any
//! E2B-compatible one, sandboxer's own `/e2b` included).

fn main() {
    sandboxer_ext_protocol::sdk::init_stderr_logging();
    sandboxer_ext_protocol::sdk::serve::<ext_e2b::E2b>()
}
