# shellcheck shell=bash
# Sourced by .ci/run (`source .ci/postgres.sh`): starts a throwaway PostgreSQL server for the SQL
# replay-store tests and stops it when the sourcing shell exits.
#
# - installs Debian's `postgresql` with apt-get when `initdb`/`postgres` are not found;
# - `initdb` in a temporary directory (trust authentication, loopback only, no fsync: a
#   throwaway test server), owned by the `postgres` user when run as root (PostgreSQL refuses to
#   run as root);
# - starts it on a free loopback port and waits until it accepts connections;
# - exports DATABASE_URL=postgres://postgres@127.0.0.1:<port>/postgres (used by
#   tests/replay_postgres.rs, tests/exactly_once_postgres.rs and benches/replay.rs), and
#   PG_BIN_DIR, PG_DATA_DIR, PG_PORT (the fault tests stop and restart this server with pg_ctl);
# - adds a stop-and-clean-up step to the shell's EXIT trap, keeping any trap already set.
#
# Safe under `set -euo pipefail`. Returns non-zero (so a `set -e` caller stops) if PostgreSQL
# cannot be installed or started.

_pg_ci_free_port() {
  python3 - 2>/dev/null <<'PY' || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

_pg_ci_bin_dir() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
      echo "$d"
    fi
  done | sort -V | tail -n 1
}

# Runs a command as the server's owner: the postgres user when we are root, else ourselves.
_pg_ci_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

_pg_ci_stop() {
  if [ -n "${PG_DATA_DIR:-}" ] && [ -n "${PG_BIN_DIR:-}" ] && [ -f "$PG_DATA_DIR/postmaster.pid" ]; then
    _pg_ci_as_owner "$PG_BIN_DIR/pg_ctl" -D "$PG_DATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "${_PG_CI_DIR:-}" ]; then
    rm -rf "$_PG_CI_DIR"
  fi
  _PG_CI_DIR=""
}

_pg_ci_start() {
  PG_BIN_DIR="$(_pg_ci_bin_dir)"
  if [ -z "$PG_BIN_DIR" ]; then
    echo "postgres.sh: installing postgresql from Debian's packages" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if ! { $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null; }; then
      echo "postgres.sh: could not install postgresql" >&2
      return 1
    fi
    PG_BIN_DIR="$(_pg_ci_bin_dir)"
    if [ -z "$PG_BIN_DIR" ]; then
      echo "postgres.sh: postgresql installed but no initdb found under /usr/lib/postgresql" >&2
      return 1
    fi
  fi
  export PG_BIN_DIR
  if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
  fi

  _PG_CI_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mailgun-webhooks-pg.XXXXXX")"
  chmod 755 "$_PG_CI_DIR"
  PG_DATA_DIR="$_PG_CI_DIR/data"
  export PG_DATA_DIR
  mkdir -p "$PG_DATA_DIR"
  if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$_PG_CI_DIR"; fi
  if ! _pg_ci_as_owner "$PG_BIN_DIR/initdb" -D "$PG_DATA_DIR" -U postgres --auth=trust \
    --no-sync -E UTF8 >"$_PG_CI_DIR/initdb.log" 2>&1; then
    echo "postgres.sh: initdb failed" >&2
    tail -n 20 "$_PG_CI_DIR/initdb.log" >&2 || true
    return 1
  fi

  local attempt port
  for attempt in 1 2 3 4 5; do
    port="$(_pg_ci_free_port)"
    # Sockets in the data directory (not /var/run/postgresql, which may not exist); TCP on
    # loopback only; no fsync: the data is thrown away.
    if _pg_ci_as_owner "$PG_BIN_DIR/pg_ctl" -D "$PG_DATA_DIR" -l "$_PG_CI_DIR/server.log" -w -t 30 \
      -o "-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_DATA_DIR -c fsync=off -c max_connections=200" \
      start >/dev/null 2>&1; then
      PG_PORT="$port"
      export PG_PORT
      export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"
      echo "postgres.sh: postgresql at $DATABASE_URL (data in $PG_DATA_DIR)" >&2
      return 0
    fi
    echo "postgres.sh: postgres did not start on port $port (attempt $attempt)" >&2
    tail -n 5 "$_PG_CI_DIR/server.log" >&2 2>/dev/null || true
  done
  echo "postgres.sh: could not start postgresql" >&2
  return 1
}

# Run the stop step on exit, before whatever EXIT trap was already set.
_pg_ci_prev_trap=()
eval "_pg_ci_prev_trap=($(trap -p EXIT))"
trap "_pg_ci_stop; ${_pg_ci_prev_trap[2]:-}" EXIT
unset _pg_ci_prev_trap

_pg_ci_start
