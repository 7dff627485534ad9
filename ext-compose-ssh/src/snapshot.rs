//! Snapshots on a host: each service's container committed to a local image, each
//! volume exported to a tar, and a manifest, in `<workdir>/snapshots/<id>/` (made
//! under a temporary name and renamed, so a folder with a manifest is complete).
//! A restore runs the profile's project with those images, its volumes filled from
//! the tars before any service starts.

use crate::config::{HostConfig, project_name};
use crate::hardening;
use crate::inventory::Holdings;
use crate::labels::GATEWAY_SERVICE;
use sandboxer_ext_protocol::{JsonObject, Labels, Snapshot};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Label on every image of a snapshot.
pub const SNAPSHOT_LABEL: &str = "sandboxer.snapshot";
/// The manifest in a snapshot's folder.
pub const MANIFEST: &str = "manifest.json";

/// Takes a snapshot: the manifest comes on stdin.
/// Args: dir, snapshot id, the user namespace its containers run in (base and
/// size; 0 0 for none), then `c CONTAINER IMAGE` and `v VOLUME FILE` triples.
pub const SNAPSHOT_SCRIPT: &str = r#"set -eu
dir=$1 id=$2 base=$3 size=$4
shift 4
tmp="$dir.partial"
rm -rf -- "$tmp"
mkdir -p -- "$tmp"
cat > "$tmp/manifest.json"
# A container in a user namespace wrote its files with the host's ids (base +
# its own): give image $1 back the ids the container saw, so any sandbox that
# starts from it, in any user namespace, sees them as written.
unshift() {
  [ "$base" -gt 0 ] || return 0
  fix=$(podman create -q -- "$1")
  root=$(podman mount "$fix")
  last=$((base + size - 1))
  for u in $(find "$root" -xdev -uid +$((base - 1)) -printf '%U\n' | sort -un); do
    if [ "$u" -le "$last" ]; then find "$root" -xdev -uid "$u" -exec chown -h "$((u - base))" {} +; fi
  done
  for g in $(find "$root" -xdev -gid +$((base - 1)) -printf '%G\n' | sort -un); do
    if [ "$g" -le "$last" ]; then find "$root" -xdev -gid "$g" -exec chgrp -h "$((g - base))" {} +; fi
  done
  podman unmount "$fix" >/dev/null
  shifted=$(podman image inspect --format '{{.Id}}' -- "$1")
  podman commit -q -- "$fix" "$1" >/dev/null
  podman rm -f -- "$fix" >/dev/null
  podman rmi -- "$shifted" >/dev/null 2>&1 || true
}
while [ $# -ge 3 ]; do
  case $1 in
    c) podman commit -q --change "LABEL sandboxer.snapshot=$id" -- "$2" "$3" >/dev/null
       unshift "$3" ;;
    v) podman volume export "$2" -o "$tmp/$3" ;;
  esac
  shift 3
done
rm -rf -- "$dir"
mv -- "$tmp" "$dir"
"#;

/// Prints every manifest under a snapshots folder, one per line.
/// Args: snapshots folder.
pub const LIST_SCRIPT: &str = r#"set -u
for m in "$1"/*/manifest.json; do
  [ -f "$m" ] && cat "$m" && echo
done
true
"#;

/// Deletes a snapshot's images and folder (and the snapshots folder with its
/// last snapshot). Idempotent.
/// Args: snapshot id, dir.
pub const DELETE_SCRIPT: &str = r#"set -u
podman images -q --filter "label=sandboxer.snapshot=$1" | sort -u | xargs -r podman rmi -f >/dev/null
rm -rf -- "$2" "$2.partial"
rmdir -- "${2%/*}" 2>/dev/null
true
"#;

/// The id of snapshot `name` of a sandbox: the same name, the same id.
pub fn snapshot_id(sandbox_id: &str, name: &str) -> String {
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("snap-{sandbox_id}-{hex}")
}

/// Whether `id` could be one of ours (`snap-` and a sandbox id's characters): only
/// such ids are ever made into paths on a host.
pub fn is_snapshot_id(id: &str) -> bool {
    id.strip_prefix("snap-").is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() <= 90
            && rest
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    })
}

/// The image a service is committed to.
pub fn image_name(snapshot_id: &str, service: &str) -> String {
    format!("localhost/sandboxer-snapshot:{snapshot_id}-{service}")
}

/// Where a host keeps its snapshots, and one snapshot.
pub fn snapshots_dir(host: &HostConfig) -> String {
    format!("{}/snapshots", host.workdir.trim_end_matches('/'))
}

pub fn snapshot_dir(host: &HostConfig, snapshot_id: &str) -> String {
    format!("{}/{snapshot_id}", snapshots_dir(host))
}

/// What a snapshot holds, as written next to its data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotManifest {
    pub snapshot_id: String,
    pub snapshot_name: String,
    pub sandbox_id: String,
    pub host: String,
    /// RFC 3339.
    pub created_at: String,
    /// Service → committed image.
    pub images: BTreeMap<String, String>,
    /// Volume name in the compose file → tar file in the snapshot's folder.
    pub volumes: BTreeMap<String, String>,
}

impl SnapshotManifest {
    /// The tar file of a compose volume.
    pub fn volume_file(volume: &str) -> String {
        format!("volume-{volume}.tar")
    }

    /// Parses `LIST_SCRIPT`'s output; lines that are not manifests are skipped.
    pub fn parse_all(text: &str) -> Vec<SnapshotManifest> {
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// The snapshot as the protocol shows it.
    pub fn to_snapshot(self) -> Snapshot {
        let mut details = JsonObject::new();
        details.insert("host".into(), json!(self.host));
        details.insert("created_at".into(), json!(self.created_at));
        details.insert("images".into(), json!(self.images));
        details.insert("volumes".into(), json!(self.volumes));
        Snapshot {
            snapshot_id: self.snapshot_id,
            snapshot_name: Some(self.snapshot_name),
            sandbox_id: Some(self.sandbox_id),
            labels: Labels::new(),
            details,
        }
    }
}

/// What taking a snapshot of one sandbox does (`SNAPSHOT_SCRIPT`'s arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotPlan {
    /// The manifest written next to the data.
    pub manifest: SnapshotManifest,
    /// The user namespace the sandbox's containers run in (`(0, 0)`: none).
    pub user_namespace: (u32, u32),
    /// `c CONTAINER IMAGE` and `v VOLUME FILE` triples.
    pub parts: Vec<String>,
}

/// The plan for snapshot `snapshot_id` (named `name`) of a sandbox holding
/// `holdings` on `host`: each service's container (the egress gateway excepted)
/// committed to its image, each volume exported to its tar file.
pub fn plan(
    snapshot_id: &str,
    name: &str,
    sandbox_id: &str,
    host: &HostConfig,
    holdings: &Holdings,
    created_at: String,
) -> SnapshotPlan {
    let project_prefix = format!("{}_", project_name(sandbox_id));
    let mut manifest = SnapshotManifest {
        snapshot_id: snapshot_id.to_string(),
        snapshot_name: name.to_string(),
        sandbox_id: sandbox_id.to_string(),
        host: host.name.clone(),
        created_at,
        images: BTreeMap::new(),
        volumes: BTreeMap::new(),
    };
    let mut parts: Vec<String> = Vec::new();
    for c in &holdings.containers {
        let Some(service) = c.service().filter(|s| *s != GATEWAY_SERVICE) else {
            continue;
        };
        let image = image_name(snapshot_id, service);
        parts.extend(["c".to_string(), c.name().to_string(), image.clone()]);
        manifest.images.insert(service.to_string(), image);
    }
    for v in &holdings.volumes {
        let volume = v.name.strip_prefix(&project_prefix).unwrap_or(&v.name);
        let file = SnapshotManifest::volume_file(volume);
        parts.extend(["v".to_string(), v.name.clone(), file.clone()]);
        manifest.volumes.insert(volume.to_string(), file);
    }
    let user_namespace = hardening::parse_userns_label(
        holdings
            .labels()
            .get(hardening::USERNS_LABEL)
            .map(String::as_str),
    )
    .unwrap_or((0, 0));
    SnapshotPlan {
        manifest,
        user_namespace,
        parts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_depend_on_the_name_only_and_are_safe_as_image_tags() {
        let a = snapshot_id("01abc", "before upgrade; rm -rf /");
        assert_eq!(a, snapshot_id("01abc", "before upgrade; rm -rf /"));
        assert_ne!(a, snapshot_id("01abc", "Before upgrade; rm -rf /"));
        assert!(a.starts_with("snap-01abc-") && a.len() == "snap-01abc-".len() + 12);
        let image = image_name(&a, "web");
        let tag = image.rsplit_once(':').unwrap().1;
        assert!(tag.len() <= 128);
        assert!(
            tag.chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c))
        );
        assert!(is_snapshot_id(&a));
        for hostile in [
            "snap-../../etc",
            "snap-",
            "other",
            "snap-a b",
            "snap-a/b",
            "snap-A",
        ] {
            assert!(!is_snapshot_id(hostile), "{hostile}");
        }
    }

    #[test]
    fn a_plan_commits_every_service_but_the_gateway_and_exports_every_volume() {
        let containers = crate::podman::parse_list(
            r#"[{"Id":"1","Names":["sbx-x_web_1"],"State":"running","Labels":
                  {"com.docker.compose.service":"web","sandboxer.userns":"100000:65536"}},
                {"Id":"2","Names":["sbx-x_sandboxer-gateway_1"],"State":"running","Labels":
                  {"com.docker.compose.service":"sandboxer-gateway"}}]"#,
        )
        .unwrap();
        let volumes = crate::podman::parse_list(r#"[{"Name":"sbx-x_data"}]"#).unwrap();
        let holdings = Holdings {
            containers,
            networks: vec![],
            volumes,
            has_dir: true,
        };
        let plan = plan(
            "snap-x-1",
            "before",
            "x",
            &HostConfig::local(),
            &holdings,
            "2026-11-27T00:00:00Z".into(),
        );
        let web_image = image_name("snap-x-1", "web");
        assert_eq!(
            plan.parts,
            [
                "c",
                "sbx-x_web_1",
                &web_image,
                "v",
                "sbx-x_data",
                "volume-data.tar"
            ]
        );
        assert_eq!(
            plan.manifest.images,
            BTreeMap::from([("web".to_string(), web_image.clone())])
        );
        assert_eq!(plan.manifest.volumes["data"], "volume-data.tar");
        assert_eq!(plan.user_namespace, (100_000, 65_536));
    }

    #[test]
    fn manifests_round_trip_through_the_list_output() {
        let m = SnapshotManifest {
            snapshot_id: "snap-x-1".into(),
            snapshot_name: "with \"quotes\"\nand a newline".into(),
            sandbox_id: "x".into(),
            host: "local".into(),
            created_at: "2026-11-27T00:00:00Z".into(),
            images: BTreeMap::from([("web".into(), image_name("snap-x-1", "web"))]),
            volumes: BTreeMap::from([("data".into(), SnapshotManifest::volume_file("data"))]),
        };
        let line = serde_json::to_string(&m).unwrap();
        assert!(!line.contains('\n'));
        let text = format!("{line}\n\nnot json\n{line}\n");
        assert_eq!(SnapshotManifest::parse_all(&text), vec![m.clone(), m]);
    }
}
