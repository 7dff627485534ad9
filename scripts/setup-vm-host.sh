#!/usr/bin/env bash
# Prepares this machine as a host for VM sandboxes (issue 15, ext-vm-packer),
# idempotently, on Debian 12 as root: QEMU 10 from bookworm-backports (bookworm's
# own 7.2 conflicts with the qemu-utils 10 these machines carry), and the tools
# images are built with (mmdebstrap, busybox, dropbear) and guests' allowed
# endpoints are forwarded with (socat). Prints the accelerator this host gives:
# kvm where the CPU has vmx/svm and /dev/kvm works, tcg otherwise.
# Also makes the account QEMU runs as (sandboxer-vm) and fetches a Debian guest
# kernel (linux-image-amd64's, not installed on this host: unpacked into
# $KERNEL_ROOT with the few modules a guest loads).
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

# The guest kernel: the package linux-image-amd64 points at, downloaded and
# unpacked (vmlinuz, config and the virtio, vsock and ext4 modules) into
# $KERNEL_ROOT/<version>; `current` names the one guests boot.
# vm-packer's folder: its own, not under /var/lib/sandboxer (0700), because
# QEMU's account reads and writes saved machines in it (each folder guarded).
install -d -m 0711 /var/lib/sandboxer-vm
KERNEL_ROOT=${SANDBOXER_VM_KERNEL_ROOT:-/var/lib/sandboxer-vm/kernel}
package=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
version=${package#linux-image-}
if [ -z "$package" ]; then
  echo "setup-vm-host.sh: apt knows no linux-image-amd64 (apt-get update?)" >&2; exit 1
fi
if [ ! -f "$KERNEL_ROOT/$version/vmlinuz" ]; then
  say "fetching guest kernel $package"
  work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download -q "$package" 2>&1 | grep -v unsandboxed || true)
  deb=$(ls "$work"/*.deb)
  mkdir -p "$work/x" "$KERNEL_ROOT/$version.tmp"
  dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$work/x" --wildcards \
    "./boot/vmlinuz-$version" "./boot/config-$version" \
    "./lib/modules/$version/kernel/drivers/virtio/*" \
    "./lib/modules/$version/kernel/drivers/net/virtio_net.ko" \
    "./lib/modules/$version/kernel/drivers/net/net_failover.ko" \
    "./lib/modules/$version/kernel/net/core/failover.ko" \
    "./lib/modules/$version/kernel/drivers/char/hw_random/virtio-rng.ko" \
    "./lib/modules/$version/kernel/drivers/char/virtio_console.ko" \
    "./lib/modules/$version/kernel/drivers/block/virtio_blk.ko" \
    "./lib/modules/$version/kernel/net/vmw_vsock/*" \
    "./lib/modules/$version/kernel/fs/ext4/*" "./lib/modules/$version/kernel/fs/jbd2/*" \
    "./lib/modules/$version/kernel/fs/mbcache.ko" "./lib/modules/$version/kernel/lib/crc16.ko" \
    "./lib/modules/$version/kernel/crypto/crc32c_generic.ko"
  cp "$work/x/boot/vmlinuz-$version" "$KERNEL_ROOT/$version.tmp/vmlinuz"
  cp "$work/x/boot/config-$version" "$KERNEL_ROOT/$version.tmp/config"
  mkdir -p "$KERNEL_ROOT/$version.tmp/modules"
  find "$work/x/lib/modules" -name '*.ko' -exec cp {} "$KERNEL_ROOT/$version.tmp/modules/" \;
  rm -rf "${KERNEL_ROOT:?}/$version" && mv "$KERNEL_ROOT/$version.tmp" "$KERNEL_ROOT/$version"
fi
ln -sfn "$version" "$KERNEL_ROOT/current"

# The unprivileged account QEMU drops to (ext-vm-packer's `run_as`).
if ! id -u sandboxer-vm >/dev/null 2>&1; then
  say "adding the system account sandboxer-vm"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin sandboxer-vm
fi

accel=tcg
if grep -qE '\b(vmx|svm)\b' /proc/cpuinfo && [ -w /dev/kvm ]; then
  accel=kvm
fi
say "ready: $(qemu-system-x86_64 --version | head -1); guest kernel $version; accelerator $accel"
