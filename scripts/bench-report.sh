#!/usr/bin/env bash
# Runs every benchmark from a release build and writes docs/benchmarks.md: the
# machine, the method of each benchmark, and its figures with their goals.
# Called by `make bench` (after setup-host and the release build).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=docs/benchmarks.md
RAW=$(mktemp -d)
trap 'rm -rf "$RAW"' EXIT

run() {  # run NAME CARGO-ARGS...: a bench's output, kept and shown
  local name=$1; shift
  echo "[bench] $name" >&2
  cargo bench -q "$@" 2>/dev/null | tee "$RAW/$name.txt" >&2
}

run foundation -p sandboxer --bench foundation
run daemon -p sandboxer --bench daemon
run fleet -p sandboxer --bench fleet
run console -p sandboxer-tests --bench console
run compose -p sandboxer-tests --bench compose
run warm -p sandboxer-tests --bench warm
run inside -p sandboxer-tests --bench inside
run vm -p sandboxer-tests --bench vm
run kit -p sandboxer-conformance --bench kit

figures() { echo '```'; cat "$RAW/$1.txt"; echo '```'; }

{
  cat <<HEAD
# Benchmarks

Written by \`make bench\` on $(date -u +%Y-%m-%dT%H:%MZ) (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)).
Every figure comes from this one run, on this machine; goals are those the issues set.

## Machine
- CPU: $(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)
- Memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
- System: $(. /etc/os-release; echo "$PRETTY_NAME"), kernel $(uname -r)
- Tools: $(rustc --version), podman $(podman --version | awk '{print $3}'), $(podman-compose --version 2>/dev/null | awk '/podman-compose/ {print "podman-compose " $NF; exit}')
- Storage: SQLite state file on $(df -h --output=fstype "$PWD" | tail -1 | tr -d ' ')

## Method
Release builds of every binary. Times are wall-clock medians (or the percentiles
named) over repeated rounds in one process run, with the other load on the machine
being the benchmark itself; each benchmark runs the real parts: real extension
processes over stdio, a real SQLite file, the real sshd on 127.0.0.1 and real podman
containers, the real daemon on a loopback port with \`wrk\` as the client.

## Core (\`sandboxer/benches/foundation.rs\`)
Extension spawn and handshake against spawning \`/bin/true\`; one call's round trip
on a live extension; \`sandboxer list --json\` over 10,000 stored sandboxes.
$(figures foundation)

## Daemon (\`sandboxer/benches/daemon.rs\`)
GET of one sandbox under \`wrk\` from a second process (goal ≥ 15,000 req/s on 2
cores); creates through the fixture extension, many at once (goal ≥ 300/s).
$(figures daemon)

## Console (\`tests/benches/console.rs\`)
The web console's first page load in headless Chromium (Debian's, over
ChromeDriver) from the release daemon on loopback: bytes transferred and first
contentful paint, from the browser's own Resource and Paint Timing, medians of 15
cold loads (goals < 200 KB and < 300 ms); and the fleet view signed in over 50
sandboxes with its API calls.
$(figures console)

## Fleet (\`sandboxer/benches/fleet.rs\`)
The daemon over each store: one daemon over an SQLite file, one and three daemons
over one PostgreSQL 15 on 127.0.0.1 (\`scripts/setup-postgres.sh\`). Creates through
the fixture extension, 32 at once, spread round-robin over the daemons; GETs of
one sandbox from one \`wrk\` per daemon, 32 connections in all.
$(figures fleet)

## compose-ssh (\`tests/benches/compose.rs\`)
Create-to-ready and destroy of \`profile.compose-e2e\` through sandboxer against the
same podman-compose commands typed by hand over ssh; \`sandboxer get\` of a live
sandbox (connection reuse).
$(figures compose)

## Warm pools (\`tests/benches/warm.rs\`)
The same one-service profile created three ways, each timed as a whole command:
\`sandboxer create\` taking a sandbox from a filled warm pool, \`sandboxer create
--wait\` cold through compose-ssh, and a bare \`podman run -d\` of the same image.
Goals: warm ≥ 20× faster than cold, and faster than \`podman run -d\`.
$(figures warm)

## Working inside a sandbox (\`tests/benches/inside.rs\`)
Through the daemon on compose-ssh: time to interactive from a warm pool (the claim,
then an \`exec\` of \`echo\` until its output is back), 100 sequential (the pool of
20 refilled between batches, not timed) and 20 at once, beside a bare \`podman
exec\` of a running container; a line written to \`cat\`'s stdin until it is back
on the attached SSE stream (a bound on output latency); a 100 MB tree (100 files
of 1 MiB that do not compress) copied in by \`sandboxer cp\` through the daemon,
against \`podman cp\` of the same tree, three times each in turn (medians
compared), on a sandbox of the loopback ssh host and on one of compose-ssh's
\`local\` host. The goal's ratio is the \`local\` host's: there sandboxer and
\`podman cp\` both run podman on this machine; over ssh every byte is also
encrypted, relayed and decrypted by ssh. Goals: p50 < 100 ms and p95 < 200 ms;
output within 20 ms; at least half the speed of \`podman cp\`.
$(figures inside)

## VM sandboxes (\`tests/benches/vm.rs\`)
vm-packer beside compose-ssh, each timed as whole commands: a cold create (no
image yet: the recipe built, a template booted and saved, the machine restored
from it), a warm create (restored from the saved template), a create taken from
a filled warm pool, and each one's time to interactive (the create plus a first
\`sandboxer exec ID -- true\`). The accelerator is named in the figures (TCG where
the CPU has no hardware virtualization). Goal: warm VM time to interactive under
1 s under TCG.
$(figures vm)

## Conformance kit (\`conformance/benches/kit.rs\`)
Wall time of \`sandboxer-conformance run\` against the Python example (goal under
20 s) and against the Rust fixture.
$(figures kit)
HEAD
} > "$OUT"
echo "[bench] wrote $OUT" >&2
