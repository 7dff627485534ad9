//! What is said to podman and podman-compose on a host, and how their answers are
//! read. Commands are argv (never a shell line of ours with values pasted in):
//! scripts are constants that take their values as positional arguments.

use serde::Deserialize;
use std::collections::BTreeMap;

/// The compose file sandboxer writes into a sandbox's folder and runs.
pub const EFFECTIVE_COMPOSE: &str = "sandboxer-compose.yaml";
/// The secrets env file (mode 0600) in a sandbox's folder, when it has secrets.
pub const SECRETS_ENV: &str = "sandboxer.env";
/// Label compose puts on containers naming their service.
pub const SERVICE_LABEL: &str = "com.docker.compose.service";

/// Creates a sandbox: checks images, unpacks the files from stdin, runs
/// `podman-compose up -d`, then prints the containers as JSON. With a snapshot
/// folder, the project is created without starting, each `volume-NAME.tar` there
/// is imported into volume NAME, and then the services start.
/// Every container gets the `podman run` arguments given (see `hardening`).
/// Args: dir, project, label filter, snapshot folder (or ""), run args, images...
/// Exit 42 with the missing images on stderr; 43 with compose's output on stderr.
pub const CREATE_SCRIPT: &str = r#"set -u
dir=$1 project=$2 filter=$3 restore=$4 runargs=$5
shift 5
missing=
for image in "$@"; do
  podman image exists "$image" || missing="$missing $image"
done
if [ -n "$missing" ]; then echo "$missing" >&2; exit 42; fi
mkdir -p "$dir" && tar -x -C "$dir" || exit 44
cd "$dir" || exit 44
compose() { podman-compose --podman-run-args="$runargs" -p "$project" -f sandboxer-compose.yaml "$@" >>compose-up.log 2>&1; }
failed() { tail -n 40 compose-up.log >&2; exit 43; }
if [ -n "$restore" ]; then
  compose up --no-start || failed
  for tarball in "$restore"/volume-*.tar; do
    [ -e "$tarball" ] || continue
    name=${tarball##*/volume-}
    name=${name%.tar}
    podman volume import "${project}_$name" "$tarball" >>compose-up.log 2>&1 || failed
  done
  compose start || failed
else
  compose up -d || failed
fi
podman ps -a --filter "label=$filter" --format json
"#;

/// Prints what a host holds for a label filter, as sections.
/// Args: label filter, workdir.
pub const INVENTORY_SCRIPT: &str = r#"set -u
echo '@@containers'
podman ps -a --filter "label=$1" --format json
echo '@@networks'
podman network ls --filter "label=$1" --format json
echo '@@volumes'
podman volume ls --filter "label=$1" --format json
echo '@@dirs'
ls -1 "$2" 2>/dev/null || true
"#;

/// Removes everything carrying a label, then the sandbox's folder. Idempotent.
/// Args: label filter, dir.
/// Every step's failure fails the script (sh has no pipefail: each listing is
/// taken on its own, then removed), so a destroy that left anything is retried.
pub const DESTROY_SCRIPT: &str = r#"set -u
ids=$(podman ps -aq --filter "label=$1") || exit 1
[ -z "$ids" ] || printf '%s\n' "$ids" | xargs -d '\n' podman rm -f -t 0 >/dev/null || exit 1
ids=$(podman network ls -q --filter "label=$1") || exit 1
[ -z "$ids" ] || printf '%s\n' "$ids" | xargs -d '\n' podman network rm -f >/dev/null || exit 1
ids=$(podman volume ls -q --filter "label=$1") || exit 1
[ -z "$ids" ] || printf '%s\n' "$ids" | xargs -d '\n' podman volume rm -f >/dev/null || exit 1
rm -rf -- "$2"
"#;

/// Prints the last log lines of every container with a label.
/// Args: label filter, lines.
pub const LOGS_SCRIPT: &str = r#"set -u
for id in $(podman ps -aq --filter "label=$1"); do
  name=$(podman inspect --format '{{.Name}}' "$id")
  echo "--- $name"
  podman logs --tail "$2" "$id" 2>&1
done
"#;

/// Prints load, free memory, free disk of the workdir and sandbox count.
/// Args: workdir.
pub const HEALTH_SCRIPT: &str = r#"set -u
read load1 _ < /proc/loadavg
mem=$(awk '/^MemAvailable:/ {print int($2/1024)}' /proc/meminfo)
mkdir -p "$1" 2>/dev/null
disk=$(df -Pm "$1" | awk 'NR==2 {print $4}')
count=$(podman ps -a --filter label=sandboxer.id --format '{{index .Labels "sandboxer.id"}}' | sort -u | grep -c . || true)
echo "$load1 $mem $disk $count"
"#;

/// `sh -c SCRIPT sh ARGS...`: a constant script with its values as arguments.
pub fn script_argv(script: &str, args: &[&str]) -> Vec<String> {
    let mut argv = vec!["sh".to_string(), "-c".into(), script.into(), "sh".into()];
    argv.extend(args.iter().map(|a| a.to_string()));
    argv
}

/// The label filter that selects one sandbox's resources.
pub fn id_filter(sandbox_id: &str) -> String {
    format!("{}={sandbox_id}", sandboxer_ext_protocol::LABEL_SANDBOX_ID)
}

/// `podman exec` of argv in a container, stdin attached when given.
pub fn exec_argv(container: &str, argv: &[String], with_stdin: bool) -> Vec<String> {
    let mut out = vec!["podman".to_string(), "exec".into()];
    if with_stdin {
        out.push("-i".into());
    }
    out.push("--".into());
    out.push(container.into());
    out.extend(argv.iter().cloned());
    out
}

/// One published port as `podman ps` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PortMapping {
    #[serde(default)]
    pub host_ip: String,
    pub container_port: u16,
    pub host_port: u16,
    #[serde(default = "one")]
    pub range: u16,
    #[serde(default)]
    pub protocol: String,
}

fn one() -> u16 {
    1
}

/// A container as `podman ps --format json` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Container {
    pub id: String,
    #[serde(default)]
    pub names: Vec<String>,
    pub state: String,
    #[serde(default)]
    pub exit_code: i32,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub ports: Option<Vec<PortMapping>>,
    #[serde(default)]
    pub image: String,
}

impl Container {
    pub fn name(&self) -> &str {
        self.names.first().map(String::as_str).unwrap_or(&self.id)
    }

    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }

    pub fn service(&self) -> Option<&str> {
        self.label(SERVICE_LABEL)
    }
}

/// A network as `podman network ls --format json` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Network {
    pub name: String,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub internal: bool,
}

/// A volume as `podman volume ls --format json` reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Volume {
    pub name: String,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
}

/// Parses a JSON list printed by podman (empty output is an empty list).
pub fn parse_list<T: serde::de::DeserializeOwned>(text: &str) -> Result<Vec<T>, serde_json::Error> {
    let text = text.trim();
    if text.is_empty() || text == "null" {
        return Ok(vec![]);
    }
    serde_json::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_podman_ps_json() {
        let text = r#"[{"Id":"abc","Names":["sbx-x_web_1"],"State":"running","ExitCode":0,
            "Labels":{"com.docker.compose.service":"web","sandboxer.id":"x"},
            "Ports":[{"host_ip":"127.0.0.1","container_port":8080,"host_port":37051,"range":1,"protocol":"tcp"}],
            "Image":"localhost/img","Networks":["n"]}]"#;
        let containers: Vec<Container> = parse_list(text).unwrap();
        assert_eq!(containers[0].name(), "sbx-x_web_1");
        assert_eq!(containers[0].service(), Some("web"));
        assert_eq!(containers[0].ports.as_ref().unwrap()[0].host_port, 37051);
        assert!(parse_list::<Container>("").unwrap().is_empty());
        assert!(parse_list::<Container>("null").unwrap().is_empty());
    }

    #[test]
    fn scripts_take_values_as_arguments() {
        let argv = script_argv(DESTROY_SCRIPT, &["sandboxer.id=x", "/d/sbx-x"]);
        assert_eq!(&argv[..2], ["sh", "-c"]);
        assert_eq!(argv[3], "sh");
        assert_eq!(&argv[4..], ["sandboxer.id=x", "/d/sbx-x"]);
        let exec = exec_argv("c1", &["echo".into(), "$(id)".into()], true);
        assert_eq!(exec, ["podman", "exec", "-i", "--", "c1", "echo", "$(id)"]);
    }
}
