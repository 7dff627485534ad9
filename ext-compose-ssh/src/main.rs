//! `sandboxer-ext-compose-ssh`: sandboxes as podman-compose projects on hosts
//! reached over ssh (skeleton; the backend arrives with its own issue).
fn main() {}
