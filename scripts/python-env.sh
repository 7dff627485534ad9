#!/usr/bin/env bash
# The Python the tests drive sandboxer with: a virtual environment in
# /var/lib/sandboxer/py holding the official clients the tests use, at pinned
# major versions (the `mcp` SDK's client for `sandboxer mcp` and `/mcp`), what
# the Python SDK (sdk/python) needs to be built, installed and tested, and the
# agent frameworks its backends are tested through (deepagents, openai-agents),
# and E2B's official SDK (`e2b`), driven against the daemon's E2B-compatible API,
# and the official Daytona and OpenShell clients (`daytona`, `openshell`, which
# also runs sandboxer-ext-openshell; its generated code wants grpcio >= 1.78 and
# protobuf >= 6.31.1), driven against their stand-ins.
# Idempotent; called by `make tools`. Debian's python3 needs python3-venv for
# `venv` (it brings ensurepip); both are installed when missing.
set -euo pipefail

VENV=/var/lib/sandboxer/py
# 0.x frameworks are pinned to their minor: their sandbox interfaces still move;
# so is `e2b`, whose wire (the paths it calls, envd's version gates) moves in minors;
# `daytona` and `openshell` are pinned exactly (their APIs move between patches).
REQUIREMENTS=("mcp>=2.3,<3" "httpx>=0.27,<1" "pytest>=8,<9" "pyyaml>=6,<7" "setuptools>=68"
              "deepagents>=0.7.32,<0.8" "openai-agents>=0.24,<0.25"
              "e2b>=2.63,<2.64" "daytona==0.226.1"
              "openshell==0.1.5" "grpcio>=1.78" "protobuf>=6.31.1" "modal==1.6.4")

say() { printf '[python-env] %s\n' "$*"; }

if ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
  [ "$(id -u)" = 0 ] || { echo "python-env.sh: python3-venv is missing; run as root" >&2; exit 1; }
  say "installing python3 and python3-venv"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  say "making $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
fi
# pip settles what is already satisfied without downloading anything.
if ! "$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-index \
    "${REQUIREMENTS[@]}" >/dev/null 2>&1; then
  say "installing ${REQUIREMENTS[*]}"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "${REQUIREMENTS[@]}"
fi
say "ready: $("$VENV/bin/python" --version), mcp $("$VENV/bin/python" -c 'from importlib.metadata import version; print(version("mcp"))')"
