#!/usr/bin/env bash
# Installs what the console's browser tests drive, idempotently, on Debian 12 as
# root: Debian's headless-capable Chromium and its matching ChromeDriver (the
# tests speak WebDriver to it, and start Chromium with background networking
# off, so it sends nothing but what the test page asks for, to loopback).
set -euo pipefail
say() { printf '[setup-browser] %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "setup-browser.sh must run as root" >&2; exit 1; }
PACKAGES=(chromium chromium-driver fonts-dejavu-core)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
say "ready: $(chromium --version 2>/dev/null), $(chromedriver --version 2>/dev/null | awk '{print $1, $2}')"
