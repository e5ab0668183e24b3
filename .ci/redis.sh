# shellcheck shell=bash
# Sourced by .ci/run (`source .ci/redis.sh`): starts a throwaway redis-server for the replay-store
# tests and stops it when the sourcing shell exits.
#
# - installs Debian's redis-server with apt-get when `redis-server` is not on PATH;
# - starts it on a free loopback port, without persistence, logging to a temporary directory;
# - waits until it answers PING;
# - exports REDIS_URL=redis://127.0.0.1:<port>/ (used by tests/replay_redis.rs, tests/receiver.rs
#   and benches/replay.rs) and REDIS_SERVER_BIN (the fault tests start their own servers with it);
# - adds a stop-and-clean-up step to the shell's EXIT trap, keeping any trap already set.
#
# Safe under `set -euo pipefail`. Returns non-zero (so a `set -e` caller stops) if Redis cannot be
# installed or started.

_redis_ci_free_port() {
  python3 - 2>/dev/null <<'PY' || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
PY
}

_redis_ci_stop() {
  if [ -n "${_REDIS_CI_PID:-}" ] && kill -0 "$_REDIS_CI_PID" 2>/dev/null; then
    kill "$_REDIS_CI_PID" 2>/dev/null || true
    wait "$_REDIS_CI_PID" 2>/dev/null || true
  fi
  if [ -n "${_REDIS_CI_DIR:-}" ]; then
    rm -rf "$_REDIS_CI_DIR"
  fi
  _REDIS_CI_PID=""
}

_redis_ci_start() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "redis.sh: installing redis-server from Debian's packages" >&2
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    if ! { $sudo apt-get update -qq &&
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null; }; then
      echo "redis.sh: could not install redis-server" >&2
      return 1
    fi
  fi
  REDIS_SERVER_BIN="$(command -v redis-server)"
  export REDIS_SERVER_BIN
  local cli
  cli="$(command -v redis-cli)"
  _REDIS_CI_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mailgun-webhooks-redis.XXXXXX")"

  local attempt port i
  for attempt in 1 2 3 4 5; do
    port="$(_redis_ci_free_port)"
    "$REDIS_SERVER_BIN" --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
      --daemonize no --dir "$_REDIS_CI_DIR" --pidfile "$_REDIS_CI_DIR/redis.pid" \
      --logfile "$_REDIS_CI_DIR/redis.log" &
    _REDIS_CI_PID=$!
    for i in $(seq 1 100); do
      if ! kill -0 "$_REDIS_CI_PID" 2>/dev/null; then
        break # exited: most likely the port was taken meanwhile; try another
      fi
      if [ "$("$cli" -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = "PONG" ]; then
        export REDIS_URL="redis://127.0.0.1:$port/"
        echo "redis.sh: redis-server (pid $_REDIS_CI_PID) at $REDIS_URL" >&2
        return 0
      fi
      sleep 0.05
    done
    echo "redis.sh: redis-server did not start on port $port (attempt $attempt)" >&2
    tail -n 5 "$_REDIS_CI_DIR/redis.log" >&2 2>/dev/null || true
    _redis_ci_stop
    _REDIS_CI_DIR="$(mktemp -d "${TMPDIR:-/tmp}/mailgun-webhooks-redis.XXXXXX")"
  done
  echo "redis.sh: could not start redis-server" >&2
  return 1
}

# Run the stop step on exit, before whatever EXIT trap was already set.
_redis_ci_prev_trap=()
eval "_redis_ci_prev_trap=($(trap -p EXIT))"
trap "_redis_ci_stop; ${_redis_ci_prev_trap[2]:-}" EXIT
unset _redis_ci_prev_trap

_redis_ci_start
