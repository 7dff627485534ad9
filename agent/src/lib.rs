//! `sandboxer-agent`: the process inside a sandbox that runs commands as
//! sessions and works with files for the extension outside, over the
//! extension protocol (the methods of working inside a sandbox only). One
//! static binary, mounted read-only into each sandbox; `connect` is what an
//! extension runs in the sandbox (through `podman exec -i`, say) to reach it.

pub mod files;
pub mod pty;
pub mod service;
pub mod sessions;
pub mod socket;
pub mod trees;
