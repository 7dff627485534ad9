#!/usr/bin/env bash
# The Daytona tests against Daytona itself, for a user with a Daytona API key
# and a network (no machine of this project's CI reaches Daytona):
#
#   DAYTONA_API_KEY=dtn_… scripts/daytona-live.sh [SNAPSHOT]
#
# DAYTONA_API_URL defaults to Daytona's cloud (https://app.daytona.io/api); set
# it for a self-hosted Daytona. SNAPSHOT defaults to daytonaio/sandbox.
# 1. tests/python/daytona with the official client against Daytona.
# 2. The conformance kit against sandboxer-ext-daytona on Daytona. The key goes
#    to the kit in a file only this user can read, removed at the end.
# Each creates a few sandboxes on the account (billed by Daytona) and deletes them.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${DAYTONA_API_KEY:?set DAYTONA_API_KEY to a Daytona API key}"
export DAYTONA_API_URL=${DAYTONA_API_URL:-https://app.daytona.io/api}
SNAPSHOT=${1:-daytonaio/sandbox}
PY=/var/lib/sandboxer/py/bin/python
[ -x "$PY" ] || scripts/python-env.sh
cargo build -q -p sandboxer-ext-daytona -p sandboxer-conformance

echo "== the client's tests against Daytona at $DAYTONA_API_URL (snapshot $SNAPSHOT)"
SANDBOXER_DAYTONA_LIVE=1 SANDBOXER_DAYTONA_SNAPSHOT="$SNAPSHOT" \
  "$PY" -m pytest -q -rA -p no:cacheprovider tests/python/daytona

echo "== the conformance kit against sandboxer-ext-daytona on Daytona"
params=$(mktemp)
trap 'rm -f "$params"' EXIT
chmod 600 "$params"
SNAPSHOT="$SNAPSHOT" "$PY" - "$params" <<'PY'
import json, os, sys
params = {"options": {"api_key": os.environ["DAYTONA_API_KEY"],
                      "api_url": os.environ["DAYTONA_API_URL"]},
          "profile": {"id": "profile.conformance", "version": "1",
                      "spec": {"snapshot": os.environ["SNAPSHOT"]}}}
with open(sys.argv[1], "w") as f:
    json.dump(params, f)
PY
target/debug/sandboxer-conformance run target/debug/sandboxer-ext-daytona --params "$params" --timeout-scale 3
