//! `sandboxer-conformance`: validates an extension against protocol v1 (skeleton).
fn main() {}
