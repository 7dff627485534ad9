#!/usr/bin/env bash
# Test hosts for the placement tests (h1, h2) and the fault suite (h3): each one a
# network namespace on this machine with its own address, its own sshd, its own
# podman storage (the machine's images shared read-only), its own podman API
# service and its own container networks — so to sandboxer it is another host.
#
#   test-hosts.sh up            make h1, h2, h3 (10.215.N.2), idempotent
#   test-hosts.sh stop-sshd h2  take a host's sshd down (its sessions too)
#   test-hosts.sh start-sshd h2 bring it back
#   test-hosts.sh down          remove them
#
# Log in as root with /var/lib/sandboxer/ssh/id_ed25519; host keys are in
# /var/lib/sandboxer/test-hosts/known_hosts. Runs as root after setup-host.sh.
# `ip netns exec` remounts /sys (podman then finds no cgroups), so processes enter
# a host's namespaces with `nsenter` instead: its network namespace, and a mount
# namespace of its own in which /run/containers/networks (where netavark keeps
# aardvark-dns's state, a path podman does not let one configure) is the host's own
# folder, so each host runs its own name server for its own networks.
set -euo pipefail

BASE=/var/lib/sandboxer/test-hosts
RUN=/run/sandboxer-test-hosts
SSH_DIR=/var/lib/sandboxer/ssh
HOSTS=(1 2 3)
# shellcheck source=scripts/sshd-config.sh
. "$(dirname "$0")/sshd-config.sh"

say() { printf '[test-hosts] %s\n' "$*"; }
addr() { echo "10.215.$1.2"; }
in_ns() { local n=$1; shift; nsenter --net="/run/netns/sbxh$n" --mount="$RUN/h$n/mntns" "$@"; }

# The host's mount namespace, kept alive by a bind mount of its namespace file.
# Propagation is left as it is: /run/netns stays shared with the machine (podman
# run there, as the tests' cleanup does, must see the network namespaces netavark
# makes in here), and the bind mount below, on the machine's private root, stays
# in here.
make_mount_ns() {
  local n=$1 run=$RUN/h$1
  nsenter --mount="$run/mntns" true 2>/dev/null && return 0
  if ! findmnt -n "$RUN" >/dev/null; then
    mount --bind "$RUN" "$RUN"
    mount --make-private "$RUN"
  fi
  mkdir -p "$run/networks" /run/containers/networks
  touch "$run/mntns"
  unshare --mount="$run/mntns" --propagation unchanged \
    mount --bind "$run/networks" /run/containers/networks
}

sshd_pids() {
  local n=$1 pid
  for pid in $(ip netns pids "sbxh$n" 2>/dev/null); do
    [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sshd ] && echo "$pid"
  done
  true
}

logs_in() {
  ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$BASE/known_hosts" \
    -o ConnectTimeout=2 -i "$SSH_DIR/id_ed25519" "root@$(addr "$1")" true 2>/dev/null
}

start_sshd() {
  local n=$1
  mkdir -p /run/sshd
  # Judged by a login, not by sshd processes being there: a run cut off
  # between stop-sshd and start-sshd can leave session processes of a dead
  # listener, which looked like a running sshd.
  if ! logs_in "$n"; then
    stop_sshd "$n"
    in_ns "$n" /usr/sbin/sshd -f "$BASE/h$n/sshd_config"
  fi
  for _ in $(seq 50); do
    logs_in "$n" && return 0
    sleep 0.1
  done
  echo "test-hosts.sh: cannot log in to h$n at $(addr "$n")" >&2
  return 1
}

stop_sshd() {
  local n=$1 pids
  pids=$(sshd_pids "$n")
  # shellcheck disable=SC2086
  [ -z "$pids" ] || kill -KILL $pids
}

api_answers() { python3 "$(dirname "$0")/podman-api-answers.py" "$1"; }

up_one() {
  local n=$1 ns=sbxh$1 dir=$BASE/h$1 run=$RUN/h$1
  mkdir -p "$dir" "$run"
  if [ ! -e "/run/netns/$ns" ]; then
    say "making h$n at $(addr "$n")"
    ip netns add "$ns"
  fi
  make_mount_ns "$n"
  if ! ip link show "${ns}a" >/dev/null 2>&1; then
    ip link add "${ns}a" type veth peer name "${ns}b"
    ip link set "${ns}b" netns "$ns"
    ip addr add "10.215.$n.1/24" dev "${ns}a"
    ip link set "${ns}a" up
    in_ns "$n" ip addr add "$(addr "$n")/24" dev "${ns}b"
    in_ns "$n" ip link set "${ns}b" up
    in_ns "$n" ip link set lo up
  fi
  cat > "$dir/storage.conf" <<CONF
# managed by sandboxer's scripts/test-hosts.sh
[storage]
driver = "overlay"
graphroot = "$dir/storage"
runroot = "$run/storage"
[storage.options]
additionalimagestores = ["/var/lib/containers/storage"]
CONF
  # The machine's containers.conf, with this host's own temporary files and
  # network definitions (netavark keeps both per host, so no host sees, or
  # removes, another's networks).
  awk -v run="$run" -v dir="$dir" '{ print }
    /^\[engine\]$/  { printf "tmp_dir = \"%s/libpod\"\n", run }
    /^\[network\]$/ { printf "network_config_dir = \"%s/networks\"\n", dir }' \
    /etc/containers/containers.conf > "$dir/containers.conf.new"
  grep -q '^network_config_dir' "$dir/containers.conf.new" \
    || { echo "test-hosts.sh: /etc/containers/containers.conf has no [network] section; run setup-host.sh" >&2; exit 1; }
  if ! cmp -s "$dir/containers.conf.new" "$dir/containers.conf"; then
    mv "$dir/containers.conf.new" "$dir/containers.conf"
    # A podman API service of this host started before still runs the old one.
    pkill -f "podman system service --time=0 unix://$run/podman.sock" || true
  else
    rm "$dir/containers.conf.new"
  fi
  {
    sshd_config test-hosts.sh 22 "$(addr "$n")" "$SSH_DIR/host_ed25519" "$run/sshd.pid"
    echo "SetEnv CONTAINERS_STORAGE_CONF=$dir/storage.conf CONTAINERS_CONF=$dir/containers.conf"
  } > "$dir/sshd_config"
  start_sshd "$n"
  if ! api_answers "$run/podman.sock"; then
    rm -f "$run/podman.sock"
    in_ns "$n" env CONTAINERS_STORAGE_CONF="$dir/storage.conf" CONTAINERS_CONF="$dir/containers.conf" \
      setsid nohup podman system service --time=0 "unix://$run/podman.sock" \
      >"$run/podman-api.log" 2>&1 </dev/null &
    for _ in $(seq 50); do api_answers "$run/podman.sock" && break; sleep 0.1; done
    api_answers "$run/podman.sock" || { echo "h$n: podman API did not start ($run/podman-api.log)" >&2; exit 1; }
  fi
}

case "${1:-}" in
  up)
    [ "$(id -u)" = 0 ] || { echo "test-hosts.sh must run as root" >&2; exit 1; }
    mkdir -p "$BASE" "$RUN"
    : > "$BASE/known_hosts.new"
    for n in "${HOSTS[@]}"; do
      echo "$(addr "$n") $(cut -d' ' -f1,2 "$SSH_DIR/host_ed25519.pub")" >> "$BASE/known_hosts.new"
    done
    mv "$BASE/known_hosts.new" "$BASE/known_hosts"
    for n in "${HOSTS[@]}"; do up_one "$n"; done
    say "ready: $(for n in "${HOSTS[@]}"; do printf "h%s at %s " "$n" "$(addr "$n")"; done)"
    ;;
  stop-sshd) stop_sshd "${2#h}" ;;
  start-sshd) start_sshd "${2#h}" ;;
  down)
    for n in "${HOSTS[@]}"; do
      stop_sshd "$n"
      for pid in $(ip netns pids "sbxh$n" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
      ip link del "sbxh${n}a" 2>/dev/null || true
      ip netns del "sbxh$n" 2>/dev/null || true
      umount "$RUN/h$n/mntns" 2>/dev/null || true
    done
    ;;
  *) echo "usage: test-hosts.sh up | stop-sshd hN | start-sshd hN | down" >&2; exit 2 ;;
esac
