#!/usr/bin/env bash
# The OpenShell tests against a real OpenShell gateway, for a user who runs one
# (OpenShell is self-hosted; no machine of this project's CI runs it):
#
#   OPENSHELL_ENDPOINT=host:port OPENSHELL_TOKEN=… scripts/openshell-live.sh IMAGE
#
# TLS material, when the gateway wants it: OPENSHELL_CA_PATH, OPENSHELL_CERT_PATH,
# OPENSHELL_KEY_PATH. IMAGE is an image the gateway runs sandboxes of.
# 1. tests/python/openshell with the official client against the gateway (the
#    stand-in's own checks skipped).
# 2. The conformance kit against sandboxer-ext-openshell on the gateway. The token
#    goes to the kit in a file only this user can read, removed at the end.
# Each makes a few sandboxes in the workspace `default` and deletes them.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${OPENSHELL_ENDPOINT:?set OPENSHELL_ENDPOINT to the gateway host:port}"
: "${OPENSHELL_TOKEN:?set OPENSHELL_TOKEN to a bearer token of the gateway}"
IMAGE=${1:?name an image the gateway runs}
PY=/var/lib/sandboxer/py/bin/python
[ -x "$PY" ] || scripts/python-env.sh
cargo build -q -p sandboxer-conformance

echo "== the client's tests against $OPENSHELL_ENDPOINT (image $IMAGE)"
SANDBOXER_OPENSHELL_LIVE=1 SANDBOXER_OPENSHELL_IMAGE="$IMAGE" \
  "$PY" -m pytest -q -rA -p no:cacheprovider tests/python/openshell

echo "== the conformance kit against sandboxer-ext-openshell on the gateway"
params=$(mktemp)
trap 'rm -f "$params"' EXIT
chmod 600 "$params"
IMAGE="$IMAGE" "$PY" - "$params" <<'PY'
import json, os, sys
options = {"endpoint": os.environ["OPENSHELL_ENDPOINT"], "token": os.environ["OPENSHELL_TOKEN"]}
for name in ("ca_path", "cert_path", "key_path"):
    if os.environ.get("OPENSHELL_" + name.upper()):
        options[name] = os.environ["OPENSHELL_" + name.upper()]
params = {"options": options,
          "profile": {"id": "profile.conformance", "version": "1",
                      "spec": {"image": os.environ["IMAGE"]}}}
with open(sys.argv[1], "w") as f:
    json.dump(params, f)
PY
target/debug/sandboxer-conformance run ext-openshell/sandboxer-ext-openshell --params "$params" --timeout-scale 3
