#!/usr/bin/env bash
# The web demo in one command: builds the wasm package with the in-page
# simulator into web-demo/pkg/, starts the simulator server for the page's
# real-network mode, serves web-demo/ on 127.0.0.1, and prints both URLs.
# Ctrl-C stops both servers.
#
# Ports: WEB_DEMO_PORT (default 8080) for the page, WEB_DEMO_SIM_PORT (default
# 8787) for the simulator; 0 picks a free one. WEB_DEMO_SIM_FAULTS sets the
# simulator server's fault plan (default none; e.g. demo or "5xx=0.1,latency=50ms..400ms").
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/web-demo-lib.sh

bash scripts/web-demo-build.sh

web_port=${WEB_DEMO_PORT:-8080}
sim_port=${WEB_DEMO_SIM_PORT:-8787}
[ "$web_port" = 0 ] && web_port=$(free_port)
logs=$(mktemp -d)
trap 'stop_servers; rm -rf "$logs"' EXIT
trap 'exit 130' INT TERM
start_sim_server "$sim_port" "$logs/sim.log"
start_static_server "$web_port" "$logs/web.log"
query=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$SIM_URL")
cat <<MSG

  web demo:          ${WEB_URL}?sim=${query}
  simulator server:  ${SIM_URL}   (API key sk_sim_web_demo)

Open the first URL in a browser; Ctrl-C stops both servers.
MSG
wait "$WEB_PID"
