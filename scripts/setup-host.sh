#!/usr/bin/env bash
# Prepares this machine as a sandboxer host, idempotently, on Debian 12 as root:
# podman, podman-compose, runc, netavark with aardvark-dns (service names resolve
# across a sandbox's networks) and iptables (netavark sets up every network with
# it: without it no container with a network starts, "netavark: No such file or
# directory"), a containers.conf that works here, the locally built
# image the profiles use, and an sshd on 127.0.0.1 with a generated key. A machine
# set up before (on CNI, with an older containers.conf) is brought up to date.
#
# Afterwards:
#   /var/lib/sandboxer/ssh/id_ed25519    client key allowed to log in as root
#   /var/lib/sandboxer/ssh/known_hosts   the sshd's host key, for strict checking
#   sshd listening on 127.0.0.1:${SANDBOXER_SSHD_PORT:-2222}
set -euo pipefail

STATE=/var/lib/sandboxer
SSH_DIR=$STATE/ssh
PORT=${SANDBOXER_SSHD_PORT:-2222}
IMAGE=localhost/sandboxer-busybox:latest
PACKAGES=(podman podman-compose runc netavark aardvark-dns iptables openssh-server openssh-client busybox-static bash-static iproute2 tar wrk tmux)

say() { printf '[setup-host] %s\n' "$*"; }

[ "$(id -u)" = 0 ] || { echo "setup-host.sh must run as root" >&2; exit 1; }

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

# podman fails here out of the box in three ways, and on CNI (what a plain install
# of Debian's podman chooses) service names do not resolve between containers;
# containers.conf fixes all four (see shared/design/host-setup.md). The file is
# rewritten whenever it differs from what this script manages, so a machine set up
# by an older version is switched too.
CONF=/etc/containers/containers.conf
WANTED_CONF=$(cat <<'CONF'
# managed by sandboxer's scripts/setup-host.sh
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"

[network]
network_backend = "netavark"
CONF
)
conf_changed=no
if [ "$(cat "$CONF" 2>/dev/null)" != "$WANTED_CONF" ]; then
  if [ -s "$CONF" ] && ! grep -q "managed by sandboxer" "$CONF"; then cp "$CONF" "$CONF.before-sandboxer"; fi
  say "writing $CONF"
  mkdir -p /etc/containers
  printf '%s\n' "$WANTED_CONF" > "$CONF"
  conf_changed=yes
fi
backend=$(podman info --format '{{.Host.NetworkBackend}}')
if [ "$backend" != netavark ]; then
  echo "setup-host.sh: podman uses the $backend network backend, not netavark, after writing $CONF" >&2
  exit 1
fi
# Containers made under CNI cannot start on netavark; sandboxes are short-lived,
# so they are only named here (sandboxer's reconciler fails or reaps them).
for net in $(ls /etc/cni/net.d/ 2>/dev/null | sed -n 's/\.conflist$//p'); do
  [ "$net" = 87-podman-bridge ] && continue
  podman network exists "$net" 2>/dev/null || say "note: CNI network $net (left from before netavark) is not used any more"
done

# No registry is reachable: build the image from the static busybox, with a
# static bash at /bin/bash (E2B's SDK runs every command as `/bin/bash -l -c`).
# The label's number changes whenever what goes into the image does.
IMAGE_VERSION=2
if [ "$(podman image inspect --format '{{index .Labels "sandboxer.image"}}' "$IMAGE" 2>/dev/null)" != "$IMAGE_VERSION" ]; then
  say "building $IMAGE"
  root=$(mktemp -d)
  trap 'rm -rf "$root"' EXIT
  mkdir -p "$root"/{bin,etc,tmp,www,root}
  cp /bin/busybox "$root/bin/busybox"
  cp /bin/bash-static "$root/bin/bash"
  for applet in $("$root/bin/busybox" --list); do
    [ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
  done
  echo 'root:x:0:0:root:/root:/bin/sh' > "$root/etc/passwd"
  echo 'root:x:0:' > "$root/etc/group"
  tar -C "$root" -c . | podman import \
    --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' \
    --change "LABEL sandboxer.image=$IMAGE_VERSION" - "$IMAGE" >/dev/null
  rm -rf "$root"
  trap - EXIT
fi

# podman's API service: sandboxer reads container state through it (one request
# instead of starting podman each time); it falls back to the CLI without it.
API_SOCKET=/run/podman/podman.sock
api_answers() { python3 "$(dirname "$0")/podman-api-answers.py" "$API_SOCKET"; }
# A service started before containers.conf changed still runs the old
# configuration: restart it.
if [ "$conf_changed" = yes ] && pkill -f "podman system service --time=0 unix://$API_SOCKET"; then
  for _ in $(seq 50); do api_answers || break; sleep 0.1; done
fi
if ! api_answers; then
  say "starting podman's API service on $API_SOCKET"
  mkdir -p /run/podman
  rm -f "$API_SOCKET"
  setsid nohup podman system service --time=0 "unix://$API_SOCKET" \
    >/var/log/sandboxer-podman-api.log 2>&1 </dev/null &
  for _ in $(seq 50); do api_answers && break; sleep 0.1; done
  api_answers || { echo "podman's API service did not start (see /var/log/sandboxer-podman-api.log)" >&2; exit 1; }
fi

# Every sandbox of a host runs as the same unprivileged host user (one user
# namespace range for all), and each container and each exec takes kernel keys
# of that user: the default quota (200 keys) ends a host at about a hundred
# sandboxes with "unable to create session key: disk quota exceeded".
for limit in "kernel.keys.maxkeys=20000" "kernel.keys.maxbytes=2000000"; do
  key=${limit%%=*} value=${limit#*=}
  if [ "$(sysctl -n "$key")" -lt "$value" ]; then
    say "raising $key to $value"
    sysctl -q -w "$limit"
  fi
done

# sshd on loopback, with keys of its own. sandboxer's folder (keys, state files,
# sandboxes' folders) is root's alone.
mkdir -p "$SSH_DIR" /run/sshd /root/.ssh
chmod 700 "$STATE" "$SSH_DIR" /root/.ssh
[ -f "$SSH_DIR/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C sandboxer-host -f "$SSH_DIR/host_ed25519"
[ -f "$SSH_DIR/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C sandboxer-client -f "$SSH_DIR/id_ed25519"
touch /root/.ssh/authorized_keys
chmod 600 /root/.ssh/authorized_keys
grep -qF "$(cat "$SSH_DIR/id_ed25519.pub")" /root/.ssh/authorized_keys \
  || cat "$SSH_DIR/id_ed25519.pub" >> /root/.ssh/authorized_keys
echo "[127.0.0.1]:$PORT $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" > "$SSH_DIR/known_hosts"

# shellcheck source=scripts/sshd-config.sh
. "$(dirname "$0")/sshd-config.sh"
{
  sshd_config setup-host.sh "$PORT" 127.0.0.1 "$SSH_DIR/host_ed25519" "/run/sandboxer-sshd-$PORT.pid"
  echo "Subsystem sftp internal-sftp"
} > "$SSH_DIR/sshd_config"

pidfile=/run/sandboxer-sshd-$PORT.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  kill -HUP "$(cat "$pidfile")"  # reread the configuration
else
  say "starting sshd on 127.0.0.1:$PORT"
  /usr/sbin/sshd -f "$SSH_DIR/sshd_config"
fi

# Prove it works: a batch-mode login with strict host key checking.
for _ in $(seq 50); do
  if ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$SSH_DIR/known_hosts" \
       -i "$SSH_DIR/id_ed25519" -p "$PORT" root@127.0.0.1 true 2>/dev/null; then
    say "ready: podman $(podman --version | awk '{print $3}'), sshd on 127.0.0.1:$PORT, image $IMAGE"
    exit 0
  fi
  sleep 0.1
done
echo "setup-host.sh: cannot log in to the sshd on 127.0.0.1:$PORT" >&2
exit 1
