#!/usr/bin/env bash
# The web demo's browser test (called by scripts/test.sh; runnable alone):
# installs what it needs idempotently (Debian's chromium if /usr/bin/chromium
# is missing; web-demo/node_modules from package-lock.json), builds the page
# (scripts/web-demo-build.sh), serves it and the simulator server on
# 127.0.0.1 on free ports, runs web-demo/tests/demo.spec.mjs in headless
# Chromium with playwright-core, and stops the servers whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/web-demo-lib.sh

start=$SECONDS
step() { printf '\n==> [web-demo test %3ds] %s\n' "$((SECONDS - start))" "$*"; }

step "chromium (idempotent)"
if [ ! -x /usr/bin/chromium ]; then
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
fi
/usr/bin/chromium --version

step "build (wasm package with sim, simulator server)"
bash scripts/web-demo-build.sh

step "serve on 127.0.0.1 (free ports)"
logs=$(mktemp -d)
trap 'stop_servers; rm -rf "$logs"' EXIT
start_sim_server 0 "$logs/sim.log"
start_static_server "$(free_port)" "$logs/web.log"
echo "page $WEB_URL, simulator $SIM_URL"

step "browser test (web-demo/tests/demo.spec.mjs)"
if ! DEMO_URL=$WEB_URL SIM_URL=$SIM_URL node web-demo/tests/demo.spec.mjs; then
  echo "--- static server log"; tail -20 "$logs/web.log"
  echo "--- simulator server log"; tail -20 "$logs/sim.log"
  exit 1
fi
step "web demo test passed"
