#!/usr/bin/env bash
# The E2B tests against E2B itself, for a user with an E2B API key and a
# network (no machine of this project's CI reaches E2B):
#
#   E2B_API_KEY=e2b_… scripts/e2b-live.sh [TEMPLATE]     (default template: base)
#
# 1. tests/python/e2b with the official SDK against E2B (SANDBOXER_E2B_LIVE=1):
#    what the tests expect of sandboxer's E2B API is what E2B itself does.
# 2. The conformance kit against sandboxer-ext-e2b on E2B. The key goes to the
#    kit in a file only this user can read, removed at the end.
# Each creates a few sandboxes on the account (billed by E2B) and kills them.
set -euo pipefail
cd "$(dirname "$0")/.."

: "${E2B_API_KEY:?set E2B_API_KEY to an E2B API key}"
TEMPLATE=${1:-base}
PY=/var/lib/sandboxer/py/bin/python
[ -x "$PY" ] || scripts/python-env.sh
cargo build -q -p sandboxer-ext-e2b -p sandboxer-conformance

echo "== the SDK's tests against E2B (template $TEMPLATE)"
env -u E2B_API_URL -u E2B_SANDBOX_URL SANDBOXER_E2B_LIVE=1 SANDBOXER_E2B_TEMPLATE="$TEMPLATE" \
  "$PY" -m pytest -q -rA -p no:cacheprovider tests/python/e2b

echo "== the conformance kit against sandboxer-ext-e2b on E2B"
params=$(mktemp)
trap 'rm -f "$params"' EXIT
chmod 600 "$params"
TEMPLATE="$TEMPLATE" "$PY" - "$params" <<'PY'
import json, os, sys
params = {"options": {"api_key": os.environ["E2B_API_KEY"]},
          "profile": {"id": "profile.conformance", "version": "1",
                      "spec": {"template": os.environ["TEMPLATE"]}}}
with open(sys.argv[1], "w") as f:
    json.dump(params, f)
PY
target/debug/sandboxer-conformance run target/debug/sandboxer-ext-e2b --params "$params" --timeout-scale 3
