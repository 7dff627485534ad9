#!/usr/bin/env bash
# Prepares this machine as a host for VM sandboxes (issue 15, ext-vm-packer),
# idempotently, on Debian 12 as root: QEMU 10 from bookworm-backports (bookworm's
# own 7.2 conflicts with the qemu-utils 10 these machines carry), and the tools
# images are built with (mmdebstrap, busybox, dropbear) and guests' allowed
# endpoints are forwarded with (socat). Prints the accelerator this host gives:
# kvm where the CPU has vmx/svm and /dev/kvm works, tcg otherwise.
# Not yet part of `make test`: the extension that needs it is being built.
set -euo pipefail

say() { printf '[setup-vm-host] %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "setup-vm-host.sh must run as root" >&2; exit 1; }

SOURCES=/etc/apt/sources.list.d/sandboxer-backports.sources
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
WANT="Types: deb
URIs: $MIRROR
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
if [ "$(cat "$SOURCES" 2>/dev/null)" != "$WANT" ]; then
  say "adding bookworm-backports from $MIRROR"
  printf '%s\n' "$WANT" > "$SOURCES"
  apt-get update -qq
fi

BACKPORTS=(qemu-system-x86 qemu-utils)
PACKAGES=(mmdebstrap socat busybox-static dropbear-bin)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
export DEBIAN_FRONTEND=noninteractive
if ! command -v qemu-system-x86_64 >/dev/null; then
  say "installing ${BACKPORTS[*]} from bookworm-backports"
  apt-get install -y -qq --no-install-recommends -t bookworm-backports "${BACKPORTS[@]}" >/dev/null
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]}"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

accel=tcg
if grep -qE '\b(vmx|svm)\b' /proc/cpuinfo && [ -w /dev/kvm ]; then
  accel=kvm
fi
say "ready: $(qemu-system-x86_64 --version | head -1); accelerator $accel"
