#!/usr/bin/env bash
# Builds what the web demo needs (called by scripts/web-demo.sh and
# scripts/web-demo-test.sh; runnable alone). Idempotent installs first:
#  - the wasm32 target, wasm-bindgen-cli at exactly the wasm-bindgen version in
#    Cargo.lock, Node/npm, and web-demo/node_modules (binaryen@132's wasm-opt,
#    playwright-core) from web-demo/package-lock.json;
# then
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
target=wasm32-unknown-unknown

step "tools (idempotent)"
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (found: ${have:-none})"
  # Not --locked: a locked dependency version is missing from the registry mirror.
  cargo install wasm-bindgen-cli --version "=$want"
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  apt-get update -q && apt-get install -y -q nodejs npm
fi
# Reinstall only when package-lock.json changed since the last install.
if ! cmp -s web-demo/package-lock.json web-demo/node_modules/.package-lock.json.installed 2>/dev/null; then
  npm ci --prefix web-demo --no-audit --no-fund
  cp web-demo/package-lock.json web-demo/node_modules/.package-lock.json.installed
fi

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
