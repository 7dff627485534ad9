//! Tidy: the architecture's invariants, checked over the source tree so they stay
//! true. Protocol method names live only in `ext-protocol/src/methods.rs`; SQL
//! and `rusqlite` only in the core's `store/`; the core library never prints (the
//! CLI does); nothing but the SDK's writer touches an extension's stdout;
//! `ext-protocol` builds without its default features; `docs/protocol.md` names
//! every method and cites only checks, tests and golden files that exist; and no
//! module folder has an import circle (`circles.rs`).

mod circles;

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.rs` file under `dir` (relative to the workspace), with its path.
fn sources(dir: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    let mut stack = vec![workspace().join(dir)];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let shown = path
                    .strip_prefix(workspace())
                    .unwrap()
                    .display()
                    .to_string();
                out.push((shown, std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// The lines of `text` that are code: comment lines are left out.
fn code_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(n, l)| (n + 1, l))
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
}

/// `file:line: text` for every code line of the files under `dirs` (minus
/// `except`) for which `bad` says yes.
fn offenders(dirs: &[&str], except: &[&str], bad: impl Fn(&str) -> bool) -> Vec<String> {
    let mut found = vec![];
    for dir in dirs {
        for (path, text) in sources(dir) {
            if except.iter().any(|e| path.starts_with(e)) {
                continue;
            }
            for (n, line) in code_lines(&text) {
                if bad(line) {
                    found.push(format!("{path}:{n}: {}", line.trim()));
                }
            }
        }
    }
    found
}

/// Whether `line` calls macro `name` (`print!` is not found in `eprint!`).
fn calls(line: &str, name: &str) -> bool {
    line.match_indices(name).any(|(at, _)| {
        !line[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
    })
}

#[test]
fn protocol_method_names_are_written_only_in_their_definitions() {
    let mut names: Vec<String> = sandboxer_ext_protocol::methods::ALL
        .iter()
        .map(|m| m.name.to_string())
        .collect();
    names.extend(
        sandboxer_ext_protocol::methods::NOTIFICATIONS
            .iter()
            .map(|n| n.to_string()),
    );
    let quoted: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    let found = offenders(
        &[
            "core/src",
            "server/src",
            "cli/src",
            "sandboxer/src",
            "ext-protocol/src",
            "ext-compose-ssh/src",
            "ext-e2b/src",
            "ext-daytona/src",
            "conformance/src",
        ],
        &["ext-protocol/src/methods.rs"],
        |line| quoted.iter().any(|q| line.contains(q.as_str())),
    );
    assert!(
        found.is_empty(),
        "write `methods::SandboxCreate::METHOD` (or call `request::<SandboxCreate>`), \
         not the name:\n{}",
        found.join("\n")
    );
}

#[test]
fn sql_is_written_only_in_the_store() {
    // SQL as a string literal opens it; the engines' crates, named anywhere.
    const SQL: [&str; 5] = [
        "SELECT ",
        "INSERT INTO",
        "UPDATE ",
        "DELETE FROM",
        "CREATE TABLE",
    ];
    const ENGINES: [&str; 2] = ["rusqlite", "tokio_postgres"];
    let found = offenders(
        &["core/src", "server/src", "sandboxer/src"],
        &["core/src/store/"],
        |line| {
            ENGINES.iter().any(|k| line.contains(k))
                || SQL.iter().any(|k| line.contains(&format!("\"{k}")))
        },
    );
    assert!(
        found.is_empty(),
        "SQL outside core/src/store:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_core_library_never_prints() {
    const PRINTS: [&str; 5] = ["println!", "eprintln!", "print!", "eprint!", "dbg!"];
    let found = offenders(
        // The MCP server least of all: its stdout is the protocol's.
        &[
            "core/src",
            "server/src",
            "cli/src",
            "mcp/src",
            "e2b/src",
            "ext-e2b/src",
            "ext-daytona/src",
            "sandboxer/src",
        ],
        // The command line is the one writer to the terminal; its client is not.
        &[
            "cli/src/lib.rs",
            "cli/src/commands.rs",
            "cli/src/local.rs",
            "cli/src/operator.rs",
            "cli/src/outcome.rs",
            "cli/src/render.rs",
            "sandboxer/src/main.rs",
        ],
        |line| PRINTS.iter().any(|p| calls(line, p)),
    );
    assert!(
        found.is_empty(),
        "the library prints (return it, log it with tracing, or let the CLI print):\n{}",
        found.join("\n")
    );
}

#[test]
fn nothing_writes_to_an_extensions_stdout_but_the_protocol() {
    let found = offenders(&["ext-protocol/src", "ext-compose-ssh/src"], &[], |line| {
        calls(line, "println!") || calls(line, "print!") || line.contains("stdout()")
    });
    // The SDK's one writer takes stdout in `serve`.
    let found: Vec<_> = found
        .into_iter()
        .filter(|f| !f.starts_with("ext-protocol/src/sdk/serve.rs") || !f.contains("stdout()"))
        .collect();
    assert!(
        found.is_empty(),
        "stdout carries only JSON-RPC lines:\n{}",
        found.join("\n")
    );
}

#[test]
fn ext_protocol_builds_without_its_default_features() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for features in [None, Some("io")] {
        let mut cmd = Command::new(&cargo);
        cmd.args([
            "check",
            "--quiet",
            "-p",
            "sandboxer-ext-protocol",
            "--no-default-features",
        ])
        .current_dir(workspace())
        // Its own target folder: the suite's build is not disturbed.
        .env("CARGO_TARGET_DIR", workspace().join("target/tidy"));
        if let Some(f) = features {
            cmd.args(["--features", f]);
        }
        let out = cmd.output().unwrap();
        let features = features.map(|f| format!(" (with {f})")).unwrap_or_default();
        sandboxer_tests::assert_succeeded(
            &out,
            &format!("ext-protocol without default features{features}"),
        );
    }
}

/// `docs/protocol.md` stays true to the code: it names every method and
/// notification defined in `methods.rs`, and every kit check, test and golden
/// file it cites as the backing of an answer exists.
#[test]
fn the_protocol_document_cites_only_what_exists_and_names_every_method() {
    use sandboxer_ext_protocol::methods;
    let doc = std::fs::read_to_string(workspace().join("docs/protocol.md")).unwrap();
    let quoted: Vec<&str> = doc.split('`').skip(1).step_by(2).collect();
    for name in methods::ALL
        .iter()
        .map(|m| m.name)
        .chain(methods::NOTIFICATIONS.iter().copied())
    {
        assert!(
            quoted.contains(&name),
            "docs/protocol.md does not name `{name}`"
        );
    }

    let registry =
        std::fs::read_to_string(workspace().join("conformance/src/registry.rs")).unwrap();
    let check_id = |q: &str| {
        let mut parts = q.splitn(2, '.');
        let (scope, rest) = (parts.next().unwrap(), parts.next().unwrap_or(""));
        [
            "launch",
            "framing",
            "handshake",
            "lifecycle",
            "idempotency",
            "validation",
            "secrets",
            "optional",
            "notifications",
            "concurrency",
            "robustness",
        ]
        .contains(&scope)
            && !rest.is_empty()
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    };
    let cited_checks: Vec<&&str> = quoted.iter().filter(|q| check_id(q)).collect();
    assert!(
        cited_checks.len() > 40,
        "the document cites the kit's checks"
    );
    for id in cited_checks {
        assert!(
            registry.contains(&format!("\"{id}\"")),
            "docs/protocol.md cites kit check `{id}`, which does not exist"
        );
    }

    let all_sources: String = [
        "sandboxer",
        "ext-protocol",
        "ext-compose-ssh",
        "conformance",
        "tests",
    ]
    .iter()
    .flat_map(|dir| sources(dir))
    .map(|(_, text)| text)
    .collect();
    let is_test_name = |q: &str| {
        q.len() > 20
            && q.contains('_')
            && q.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    for name in quoted.iter().filter(|q| is_test_name(q)) {
        assert!(
            all_sources.contains(&format!("fn {name}(")),
            "docs/protocol.md cites test `{name}`, which does not exist"
        );
    }

    for link in doc.split("](../ext-protocol/golden/").skip(1) {
        let file = &link[..link.find(')').unwrap()];
        assert!(
            workspace().join("ext-protocol/golden").join(file).exists(),
            "docs/protocol.md links golden file {file:?}, which does not exist"
        );
    }
}
