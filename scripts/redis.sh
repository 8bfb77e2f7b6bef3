#!/usr/bin/env bash
# Starts or stops a throw-away redis-server on 127.0.0.1 for the fleet tests.
#
#   eval "$(bash scripts/redis.sh start)"   # installs redis-server if missing,
#                                           # starts it on a random free port and
#                                           # prints `export REDIS_URL=...`
#   bash scripts/redis.sh stop              # stops it (idempotent)
#
# State (port, pid file) lives in target/redis-test/ (or $NOVITAI_REDIS_DIR).
# Nothing is persisted: --save '' --appendonly no.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${NOVITAI_REDIS_DIR:-$PWD/target/redis-test}"
mkdir -p "$dir"

install() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "redis.sh: installing redis-server with apt-get" >&2
    apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q redis-server >&2
  fi
}

free_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()
PY
}

case "${1:-}" in
  start)
    install
    if [ -f "$dir/port" ] && redis-cli -p "$(cat "$dir/port")" ping >/dev/null 2>&1; then
      port="$(cat "$dir/port")"
    else
      port="$(free_port)"
      redis-server --port "$port" --bind 127.0.0.1 --daemonize yes --save '' \
        --appendonly no --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >&2
      for _ in $(seq 1 50); do
        redis-cli -p "$port" ping >/dev/null 2>&1 && break
        sleep 0.1
      done
      redis-cli -p "$port" ping >/dev/null
      echo "$port" >"$dir/port"
    fi
    echo "export REDIS_URL=redis://127.0.0.1:$port/"
    ;;
  stop)
    if [ -f "$dir/port" ]; then
      redis-cli -p "$(cat "$dir/port")" shutdown nosave >/dev/null 2>&1 || true
      rm -f "$dir/port"
    fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
