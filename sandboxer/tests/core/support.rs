//! Running the `sandboxer` binary inside a `TestEnv`.

use assert_cmd::Command;
use sandboxer_tests::TestEnv;
use serde_json::Value;

pub struct Env {
    pub env: TestEnv,
}

pub fn env() -> Env {
    Env {
        env: TestEnv::new(),
    }
}

impl Env {
    /// `sandboxer ARGS` in this installation.
    pub fn sandboxer(&self, args: &[&str]) -> Command {
        let mut cmd = self
            .env
            .command(std::path::Path::new(env!("CARGO_BIN_EXE_sandboxer")));
        cmd.args(args);
        cmd
    }

    /// Runs a command that must succeed and returns its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        self.ok_with(&[], args)
    }

    /// `ok` with these variables set too (an extension's own, say).
    pub fn ok_with(&self, vars: &[(&str, &std::path::Path)], args: &[&str]) -> String {
        let mut cmd = self.sandboxer(args);
        cmd.envs(vars.iter().copied());
        let out = cmd.assert().success();
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    }

    /// Runs a command with `--json` that must succeed and parses its stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        self.json_with(&[], args)
    }

    /// `json` with these variables set too.
    pub fn json_with(&self, vars: &[(&str, &std::path::Path)], args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let text = self.ok_with(vars, &all);
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"))
    }

    /// Runs a command that must fail with `code`; returns its stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.sandboxer(args).assert().code(code);
        String::from_utf8(out.get_output().stderr.clone()).unwrap()
    }

    /// Creates a `profile.fix` sandbox as agt:tester in project demo; returns it.
    pub fn create(&self, extra: &[&str]) -> Value {
        let mut args = vec![
            "create",
            "--profile",
            "profile.fix",
            "--consumer",
            "agt:tester",
            "--project",
            "demo",
            "--wait",
        ];
        args.extend_from_slice(extra);
        self.json(&args)
    }

    /// Writes the configuration file.
    pub fn config(&self, yaml: &str) {
        std::fs::write(self.env.config_path(), yaml).unwrap();
    }

    /// The events of one sandbox.
    pub fn events_of(&self, id: &str) -> Vec<Value> {
        self.json(&["events", "--sandbox", id])
            .as_array()
            .unwrap()
            .clone()
    }
}

/// The state transitions in `events`, as "from->to" strings.
pub fn transitions(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == "state")
        .map(|e| {
            format!(
                "{}->{}",
                e["from_state"].as_str().unwrap_or(""),
                e["to_state"].as_str().unwrap_or("")
            )
        })
        .collect()
}
