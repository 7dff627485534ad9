#!/usr/bin/env bash
# The main job, end to end on this machine: build, prepare it as a sandbox host,
# check it with `sandboxer doctor`, create a profile.sandbox-canary sandbox, show
# it, fetch its HTTP endpoint, and destroy it. Uses the embedded defaults (host
# `local`); state goes to a state file of its own unless SANDBOXER_STATE says
# otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-host.sh
echo "== building (release)"
cargo build --release --workspace --bins
export PATH="$PWD/target/release:$PATH"
export SANDBOXER_STATE=${SANDBOXER_STATE:-/var/lib/sandboxer/main-job.sqlite}

# Everything the host must offer, checked first: a broken host stops here with
# what fixes it, not later as a readiness timeout.
echo "== sandboxer doctor"
if ! sandboxer doctor; then
  echo "this machine cannot run sandboxes yet: apply the fixes above, then run make demo again" >&2
  exit 1
fi

json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin); print(eval("d"+sys.argv[1]))' "$1"; }

echo "== sandboxer create --profile profile.sandbox-canary --wait"
created=$(sandboxer create --profile profile.sandbox-canary --consumer adm:main-job --project demo --wait --json)
id=$(json_field '["id"]' <<<"$created")
trap 'sandboxer destroy "$id" >/dev/null 2>&1 || true' EXIT

echo "== sandboxer get $id"
sandboxer get "$id"
url=$(sandboxer get "$id" --json | json_field '["endpoints"][0]["url"]')

echo "== GET $url"
body=$(python3 -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=10).read().decode().strip())' "$url")
echo "$body"
[ "$body" = "sandboxer canary ok" ] || { echo "unexpected answer from the sandbox" >&2; exit 1; }

echo "== sandboxer destroy $id"
sandboxer destroy "$id" --consumer adm:main-job
trap - EXIT
left=$(podman ps -a --filter "label=sandboxer.id=$id" -q | wc -l)
[ "$left" = 0 ] || { echo "containers left behind: $left" >&2; exit 1; }

echo "== sandboxer events --sandbox $id"
sandboxer events --sandbox "$id"
echo "main job done: sandbox $id was created, reached and destroyed"
