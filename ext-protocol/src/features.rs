//! Names an extension may list in `capabilities.features` to say which of a
//! profile's guarantees its backend enforces itself. The protocol lets features be
//! any string (unknown ones are ignored); these are the ones sandboxer reads, in
//! `sandboxer inspect --profile`.

/// The backend itself ends a sandbox at its `expires_at`.
pub const TTL: &str = "ttl";
/// `network.egress: deny` is enforced: a sandbox has no route out.
pub const EGRESS_DENY: &str = "egress.deny";
/// `network.allow` destinations are let through under deny.
pub const EGRESS_ALLOWLIST: &str = "egress.allowlist";
/// `network.allow` destinations are matched by host name at the backend (its
/// proxy reads the name a connection is for), wildcards (`*.example.com:443`)
/// included, not by the addresses a name resolved to once.
pub const EGRESS_DOMAINS: &str = "egress.domains";
/// `resources.cpus` is a limit the backend enforces.
pub const RESOURCES_CPUS: &str = "resources.cpus";
/// `resources.memory_mb` is a limit the backend enforces.
pub const RESOURCES_MEMORY: &str = "resources.memory_mb";
/// `resources.disk_mb` is a limit the backend enforces.
pub const RESOURCES_DISK: &str = "resources.disk_mb";
/// `secrets` reach the sandbox (as environment variables or files) and nothing
/// else.
pub const SECRETS: &str = "secrets";
/// The backend enforces a containment policy on what a profile may ask for (no
/// privileged mode, host namespaces, host mounts, devices or added capabilities
/// unless an operator allows them), and says what it relaxes in `profile/check`.
pub const CONTAINMENT: &str = "containment";
/// Code in a sandbox runs as an unprivileged user of the host (a user namespace),
/// not as the host's root.
pub const USER_NAMESPACE: &str = "user-namespace";
/// Code in a sandbox runs under a kernel of its own in a virtual machine, not on
/// the host's kernel (protocol 1.4; a profile's `requires: [isolation.vm]`).
pub const ISOLATION_VM: &str = "isolation.vm";
/// `exec/start` runs a command under a terminal when asked (`pty`), and
/// `exec/resize` resizes it (protocol 1.6).
pub const EXEC_PTY: &str = "exec.pty";
/// `fs/tar_put` takes a whole tar stream as raw bytes from a local socket
/// (`from_socket`), not only in chunks of base64 in messages (protocol 1.6).
pub const TAR_FROM_SOCKET: &str = "fs.tar_from_socket";
/// `sandbox/pause` keeps a sandbox's processes and memory and `sandbox/resume`
/// continues them where they were (protocol 1.6).
pub const PAUSE: &str = "pause";
