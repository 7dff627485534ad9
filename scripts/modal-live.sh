#!/usr/bin/env bash
# The Modal tests against Modal itself, for a user with a Modal token and a
# network (no machine of this project's CI reaches Modal):
#
#   MODAL_TOKEN_ID=ak-… MODAL_TOKEN_SECRET=as-… scripts/modal-live.sh [IMAGE]
#
# IMAGE is a registry image (default python:3.12-slim).
# 1. tests/python/modal with the official client against Modal (the stand-in's
#    own checks skipped).
# 2. The conformance kit against sandboxer-ext-modal on Modal. The token goes to
#    the kit in a file only this user can read, removed at the end.
# Each makes a few sandboxes in the app `sandboxer-e2e` (billed by Modal) and
# terminates them.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${MODAL_TOKEN_ID:?set MODAL_TOKEN_ID to a Modal token id}"
: "${MODAL_TOKEN_SECRET:?set MODAL_TOKEN_SECRET to its secret}"
IMAGE=${1:-python:3.12-slim}
PY=/var/lib/sandboxer/py/bin/python
[ -x "$PY" ] || scripts/python-env.sh
cargo build -q -p sandboxer-conformance

echo "== the client's tests against Modal (image $IMAGE)"
env -u MODAL_SERVER_URL SANDBOXER_MODAL_LIVE=1 SANDBOXER_MODAL_IMAGE="$IMAGE" \
  "$PY" -m pytest -q -rA -p no:cacheprovider tests/python/modal

echo "== the conformance kit against sandboxer-ext-modal on Modal"
params=$(mktemp)
trap 'rm -f "$params"' EXIT
chmod 600 "$params"
IMAGE="$IMAGE" "$PY" - "$params" <<'PY'
import json, os, sys
params = {"options": {"token_id": os.environ["MODAL_TOKEN_ID"],
                      "token_secret": os.environ["MODAL_TOKEN_SECRET"],
                      "app": "sandboxer-e2e"},
          "profile": {"id": "profile.conformance", "version": "1",
                      "spec": {"image": os.environ["IMAGE"]}}}
with open(sys.argv[1], "w") as f:
    json.dump(params, f)
PY
target/debug/sandboxer-conformance run ext-modal/sandboxer-ext-modal --params "$params" --timeout-scale 3
