#!/usr/bin/env bash
# Builds what the web demo needs (called by scripts/web-demo.sh and
# scripts/web-demo-test.sh; runnable alone). Idempotent installs first
# (wasm_tools in scripts/wasm-pkg.sh: the wasm32 target, wasm-bindgen-cli,
# Node/npm, web-demo/node_modules with wasm-opt and playwright-core); then
#  - web-demo/pkg/: novitai-wasm WITH the `sim` feature (the in-page
#    simulator; the default features too), cargo (profile wasm-release) ->
#    wasm-bindgen --target web -> wasm-opt -Os (scripts/wasm-pkg.sh; reused
#    when scripts/wasm.sh already built it from the same cargo output);
#  - the simulator server for the real-network mode: the example
#    `sim_serve_for_web_demo` of novitai-tokio (feature `sim`); its path is
#    written to web-demo/pkg/sim-server-path.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/wasm-pkg.sh

start=$SECONDS
step() { printf '\n==> [web-demo build %3ds] %s\n' "$((SECONDS - start))" "$*"; }

step "tools (idempotent)"
wasm_tools

step "wasm package with the in-page simulator (feature sim) -> web-demo/pkg"
wasm_pkg "web demo (sim)" web-demo/pkg --features sim
target_dir=${CARGO_TARGET_DIR:-target}
out=web-demo/pkg

step "simulator server for the real-network mode (novitai-tokio example, feature sim)"
cargo build -p novitai-tokio --no-default-features --features sim \
  --example sim_serve_for_web_demo --locked
server="$(cd "$target_dir" && pwd)/debug/examples/sim_serve_for_web_demo"
test -x "$server"
echo "$server" > "$out/sim-server-path"
step "built"
