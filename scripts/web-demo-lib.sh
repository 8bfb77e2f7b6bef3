# Helpers shared by scripts/web-demo.sh and scripts/web-demo-test.sh (sourced).

# A free TCP port on 127.0.0.1 (the OS picks it; another process could take it
# before we bind it, which is unlikely enough on a test machine).
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start_sim_server PORT LOGFILE: starts the simulator server in the background
# (PID in SIM_PID) and waits for its URL (in SIM_URL).
start_sim_server() {
  local port=$1 log=$2 server
  server=$(cat web-demo/pkg/sim-server-path)
  "$server" --port "$port" --faults "${WEB_DEMO_SIM_FAULTS:-none}" >"$log" 2>&1 &
  SIM_PID=$!
  SIM_URL=
  for _ in $(seq 1 100); do
    SIM_URL=$(sed -n 's/^novitai sim server: //p' "$log")
    [ -n "$SIM_URL" ] && return 0
    kill -0 "$SIM_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the simulator server did not start:" >&2
  cat "$log" >&2
  return 1
}

# start_static_server PORT LOGFILE: serves web-demo/ on 127.0.0.1:PORT in the
# background (PID in WEB_PID, URL in WEB_URL) and waits until it answers.
start_static_server() {
  local port=$1 log=$2
  python3 -m http.server --bind 127.0.0.1 --directory web-demo "$port" >"$log" 2>&1 &
  WEB_PID=$!
  WEB_URL="http://127.0.0.1:$port/"
  for _ in $(seq 1 100); do
    if python3 -c "import urllib.request, sys; urllib.request.urlopen(sys.argv[1], timeout=1)" "$WEB_URL" 2>/dev/null; then
      return 0
    fi
    kill -0 "$WEB_PID" 2>/dev/null || break
    sleep 0.1
  done
  echo "the static server did not start:" >&2
  cat "$log" >&2
  return 1
}

# Stops what start_* started (by PID only).
stop_servers() {
  for pid in ${WEB_PID:-} ${SIM_PID:-}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
