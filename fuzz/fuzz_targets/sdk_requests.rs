//! The SDK's request decoding: a line from the host parsed as a message, and its
//! params decoded into every method's params type as an extension would. Must
//! never panic: bad params are an error object, nothing else.

#![no_main]
use libfuzzer_sys::fuzz_target;
use sandboxer_ext_protocol::framing::{Incoming, parse_message};
use sandboxer_ext_protocol::sdk::decode_params;
use sandboxer_ext_protocol::*;

fn all<P: serde::de::DeserializeOwned>(raw: Option<&str>) {
    let _ = decode_params::<P>(raw, true);
    let _ = decode_params::<P>(raw, false);
}

fuzz_target!(|data: &[u8]| {
    let params = match parse_message(data) {
        Ok(Incoming::Request { params, .. }) | Ok(Incoming::Notification { params, .. }) => {
            params.map(|p| p.to_string())
        }
        _ => std::str::from_utf8(data).ok().map(str::to_string),
    };
    let raw = params.as_deref();
    all::<InitializeParams>(raw);
    all::<CreateParams>(raw);
    all::<GetParams>(raw);
    all::<ListParams>(raw);
    all::<DestroyParams>(raw);
    all::<ExtendTtlParams>(raw);
    all::<SnapshotParams>(raw);
    all::<RestoreParams>(raw);
    all::<ExecParams>(raw);
    all::<CostEstimateParams>(raw);
    all::<HostHealthParams>(raw);
    all::<SnapshotListParams>(raw);
    all::<SnapshotDeleteParams>(raw);
});
