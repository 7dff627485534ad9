//! `sandboxer-ext-daytona`: sandboxes on Daytona's API (hosted, or a
//! self-hosted Daytona).

fn main() {
    sandboxer_ext_protocol::sdk::init_stderr_logging();
    sandboxer_ext_protocol::sdk::serve::<ext_daytona::Daytona>()
}
