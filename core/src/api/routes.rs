//! Every route of the daemon's API, once: which verb it serves, its method and
//! path. The daemon's router is built from this table, the client finds its
//! paths in it, and `docs/openapi.yaml` is checked against it.

/// What a route does. Every verb of `Verbs` is one; `Health` and `Metrics`
/// are the daemon's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Verb {
    Health,
    Metrics,
    ListSandboxes,
    CreateSandbox,
    GetSandbox,
    DestroySandbox,
    RecreateSandbox,
    ExtendTtl,
    Exec,
    TakeSnapshot,
    ListSnapshots,
    DeleteSnapshot,
    RestoreSnapshot,
    ListProfiles,
    GetProfile,
    ProfileGuarantees,
    ListExtensions,
    GetExtension,
    EventsPage,
    EventsStream,
    Usage,
    Hosts,
    StartCommand,
    ListCommands,
    AttachCommand,
    WriteStdin,
    SignalCommand,
    ResizeCommand,
    ReadFile,
    WriteFile,
    RemoveFile,
    ListFiles,
    StatFile,
    MakeDir,
    RenameFile,
    GetTree,
    PutTree,
    PauseSandbox,
    ResumeSandbox,
    SandboxLogs,
    SandboxMetrics,
    EndpointAccess,
    CommandTerminal,
}

/// One route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub verb: Verb,
    pub method: &'static str,
    /// With `{id}` or `{name}` for the one path parameter.
    pub path: &'static str,
}

const fn route(verb: Verb, method: &'static str, path: &'static str) -> Route {
    Route { verb, method, path }
}

/// Every route the daemon serves.
pub const ROUTES: &[Route] = &[
    route(Verb::Health, "GET", "/healthz"),
    route(Verb::Metrics, "GET", "/metrics"),
    route(Verb::ListSandboxes, "GET", "/v1/sandboxes"),
    route(Verb::CreateSandbox, "POST", "/v1/sandboxes"),
    route(Verb::GetSandbox, "GET", "/v1/sandboxes/{id}"),
    route(Verb::DestroySandbox, "DELETE", "/v1/sandboxes/{id}"),
    route(Verb::RecreateSandbox, "POST", "/v1/sandboxes/{id}/recreate"),
    route(Verb::ExtendTtl, "POST", "/v1/sandboxes/{id}/extend-ttl"),
    route(Verb::Exec, "POST", "/v1/sandboxes/{id}/exec"),
    route(Verb::TakeSnapshot, "POST", "/v1/sandboxes/{id}/snapshot"),
    route(Verb::ListSnapshots, "GET", "/v1/snapshots"),
    route(Verb::DeleteSnapshot, "DELETE", "/v1/snapshots/{id}"),
    route(Verb::RestoreSnapshot, "POST", "/v1/snapshots/{id}/restore"),
    route(Verb::ListProfiles, "GET", "/v1/profiles"),
    route(Verb::GetProfile, "GET", "/v1/profiles/{id}"),
    route(
        Verb::ProfileGuarantees,
        "GET",
        "/v1/profiles/{id}/guarantees",
    ),
    route(Verb::ListExtensions, "GET", "/v1/extensions"),
    route(Verb::GetExtension, "GET", "/v1/extensions/{name}"),
    route(Verb::EventsPage, "GET", "/v1/events"),
    route(Verb::EventsStream, "GET", "/v1/events/stream"),
    route(Verb::Usage, "GET", "/v1/usage"),
    route(Verb::Hosts, "GET", "/v1/hosts"),
    route(Verb::StartCommand, "POST", "/v1/sandboxes/{id}/commands"),
    route(Verb::ListCommands, "GET", "/v1/sandboxes/{id}/commands"),
    route(
        Verb::AttachCommand,
        "GET",
        "/v1/sandboxes/{id}/commands/{exec_id}/output",
    ),
    route(
        Verb::WriteStdin,
        "POST",
        "/v1/sandboxes/{id}/commands/{exec_id}/stdin",
    ),
    route(
        Verb::SignalCommand,
        "POST",
        "/v1/sandboxes/{id}/commands/{exec_id}/signal",
    ),
    route(
        Verb::ResizeCommand,
        "POST",
        "/v1/sandboxes/{id}/commands/{exec_id}/resize",
    ),
    route(Verb::ReadFile, "GET", "/v1/sandboxes/{id}/files"),
    route(Verb::WriteFile, "PUT", "/v1/sandboxes/{id}/files"),
    route(Verb::RemoveFile, "DELETE", "/v1/sandboxes/{id}/files"),
    route(Verb::ListFiles, "GET", "/v1/sandboxes/{id}/files/list"),
    route(Verb::StatFile, "GET", "/v1/sandboxes/{id}/files/stat"),
    route(Verb::MakeDir, "POST", "/v1/sandboxes/{id}/files/mkdir"),
    route(Verb::RenameFile, "POST", "/v1/sandboxes/{id}/files/rename"),
    route(Verb::GetTree, "GET", "/v1/sandboxes/{id}/tree"),
    route(Verb::PutTree, "PUT", "/v1/sandboxes/{id}/tree"),
    route(Verb::PauseSandbox, "POST", "/v1/sandboxes/{id}/pause"),
    route(Verb::ResumeSandbox, "POST", "/v1/sandboxes/{id}/resume"),
    route(Verb::SandboxLogs, "GET", "/v1/sandboxes/{id}/logs"),
    route(Verb::SandboxMetrics, "GET", "/v1/sandboxes/{id}/metrics"),
    route(
        Verb::EndpointAccess,
        "GET",
        "/v1/sandboxes/{id}/endpoints/{name}/access",
    ),
    route(
        Verb::CommandTerminal,
        "GET",
        "/v1/sandboxes/{id}/commands/{exec_id}/terminal",
    ),
];

impl Verb {
    /// This verb's route.
    pub fn route(self) -> &'static Route {
        ROUTES
            .iter()
            .find(|r| r.verb == self)
            .expect("every verb has a route (a test checks it)")
    }
}

impl Route {
    /// The path with its parameter filled in (percent-encoded).
    pub fn path_with(&self, param: &str) -> String {
        let encoded = encode(param);
        self.path
            .replace("{id}", &encoded)
            .replace("{name}", &encoded)
    }

    /// The path of a route of something inside a sandbox: the sandbox's id,
    /// and the command's (`{exec_id}`) or the endpoint's (`{name}`).
    pub fn path_with_pair(&self, id: &str, inner: &str) -> String {
        self.path
            .replace("{id}", &encode(id))
            .replace("{exec_id}", &encode(inner))
            .replace("{name}", &encode(inner))
    }
}

fn encode(param: &str) -> String {
    percent_encoding::utf8_percent_encode(param, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_verb_has_exactly_one_route() {
        let mut verbs: Vec<Verb> = ROUTES.iter().map(|r| r.verb).collect();
        verbs.sort();
        let before = verbs.len();
        verbs.dedup();
        assert_eq!(before, verbs.len(), "a verb routed twice");
        for r in ROUTES {
            assert_eq!(r.verb.route(), r);
        }
    }

    #[test]
    fn parameters_are_encoded_into_the_path() {
        assert_eq!(
            Verb::GetSandbox.route().path_with("a/b?c"),
            "/v1/sandboxes/a%2Fb%3Fc"
        );
    }
}
