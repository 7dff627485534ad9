#!/usr/bin/env bash
# Prepares PostgreSQL for the tests and benchmarks, idempotently, on Debian 12 as
# root: Debian's `postgresql` package (15), its cluster started (pg_ctlcluster:
# no systemd needed) listening on 127.0.0.1 only, and a role and database the
# tests own. Each test then makes a schema of its own in that database.
#
# Afterwards:
#   /var/lib/sandboxer/postgres-test.url   postgres://… URL of the test database
#                                          (mode 0600; its password is made here)
#   PostgreSQL listening on 127.0.0.1:${SANDBOXER_PG_PORT:-5432}
set -euo pipefail

STATE=/var/lib/sandboxer
URL_FILE=$STATE/postgres-test.url
PORT=${SANDBOXER_PG_PORT:-5432}
ROLE=sandboxer_test
DATABASE=sandboxer_test

say() { printf '[setup-postgres] %s\n' "$*"; }
[ "$(id -u)" = 0 ] || { echo "setup-postgres.sh must run as root" >&2; exit 1; }

if ! dpkg-query -W -f='${Status}' postgresql 2>/dev/null | grep -q "install ok installed"; then
  say "installing postgresql"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

VERSION=$(pg_lsclusters -h | awk 'NR == 1 {print $1}')
CLUSTER=$(pg_lsclusters -h | awk 'NR == 1 {print $2}')
if [ -z "$VERSION" ]; then
  VERSION=$(ls /usr/lib/postgresql | sort -V | tail -1)
  CLUSTER=main
  say "creating cluster $VERSION/$CLUSTER"
  pg_createcluster "$VERSION" "$CLUSTER" >/dev/null
fi
CONF=/etc/postgresql/$VERSION/$CLUSTER/conf.d/sandboxer.conf
WANT="# sandboxer's tests (scripts/setup-postgres.sh): loopback only.
listen_addresses = '127.0.0.1'
port = $PORT
max_connections = 300"
if [ "$(cat "$CONF" 2>/dev/null)" != "$WANT" ]; then
  printf '%s\n' "$WANT" > "$CONF"
  pg_ctlcluster "$VERSION" "$CLUSTER" stop >/dev/null 2>&1 || true
fi
if ! pg_lsclusters -h | awk -v c="$CLUSTER" '$2 == c {print $4}' | grep -q online; then
  say "starting cluster $VERSION/$CLUSTER on 127.0.0.1:$PORT"
  pg_ctlcluster "$VERSION" "$CLUSTER" start
fi
for _ in $(seq 50); do
  pg_isready -q -h 127.0.0.1 -p "$PORT" && break
  sleep 0.2
done
pg_isready -q -h 127.0.0.1 -p "$PORT" || { echo "PostgreSQL did not come up on 127.0.0.1:$PORT" >&2; exit 1; }

psql_admin() { runuser -u postgres -- psql -p "$PORT" -v ON_ERROR_STOP=1 -qtAX "$@"; }
mkdir -p "$STATE" && chmod 0700 "$STATE"
if [ -s "$URL_FILE" ]; then
  PASSWORD=$(sed -n 's|^postgres://[^:]*:\([^@]*\)@.*|\1|p' "$URL_FILE")
else
  PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')
fi
if [ "$(psql_admin -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
  say "creating role $ROLE"
  psql_admin -c "CREATE ROLE $ROLE LOGIN"
fi
psql_admin -c "ALTER ROLE $ROLE PASSWORD '$PASSWORD'"
if [ "$(psql_admin -c "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" != 1 ]; then
  say "creating database $DATABASE"
  psql_admin -c "CREATE DATABASE $DATABASE OWNER $ROLE"
fi
umask 077
printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$ROLE" "$PASSWORD" "$PORT" "$DATABASE" > "$URL_FILE"
say "ready: $URL_FILE"
