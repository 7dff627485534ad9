//! Integration tests of the core: the `sandboxer` CLI run as a real process on a
//! temporary state file, with real extension processes (the fixture, a Python
//! script), and the extension host driven directly.

mod cli_create;
mod cli_extensions;
mod cli_faults;
mod cli_lifecycle;
mod cli_list_events;
mod cli_profiles;
mod concurrency;
mod daemon;
mod exthost;
mod hostile_input;
mod ledger;
mod lifetimes;
mod openapi;
mod pools;
mod provider_keys;
mod routing;
mod security;
mod snapshots;
mod support;
