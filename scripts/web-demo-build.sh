#!/usr/bin/env bash
# Builds what the web demo needs (called by scripts/web-demo.sh and
# scripts/web-demo-test.sh; runnable alone). Idempotent installs first:
#  - the wasm32 target, wasm-bindgen-cli at exactly the wasm-bindgen version in
#    Cargo.lock, Node/npm, and web-demo/node_modules (binaryen@132's wasm-opt,
#    playwright-core) from web-demo/package-lock.json;
# then
#  - web-demo/pkg/: novitai-wasm WITH the `sim` feature (the in-page
#    simulator), cargo (profile wasm-release) -> wasm-bindgen --target web ->
#    wasm-opt -Os;
#  - the simulator server for the real-network mode: the example
#    `sim_serve_for_web_demo` of novitai-tokio (feature `sim`); its path is
#    written to web-demo/pkg/sim-server-path.
set -euo pipefail
cd "$(dirname "$0")/.."

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
wasm_opt=web-demo/node_modules/.bin/wasm-opt

step "wasm package with the in-page simulator (feature sim) -> web-demo/pkg"
cargo build -p novitai-wasm --features sim --target "$target" --profile wasm-release --locked
target_dir=${CARGO_TARGET_DIR:-target}
out=web-demo/pkg
input="$target_dir/$target/wasm-release/novitai_wasm.wasm"
# wasm-opt takes ~30 s: skip bindgen + opt when pkg/ was made from this very
# input (scripts/wasm.sh rebuilds pkg/ without sim and drops the stamp).
stamp="sim $(sha256sum "$input" | cut -d' ' -f1) wasm-bindgen $want"
if [ "$(cat "$out/.built-from" 2>/dev/null)" = "$stamp" ] && [ -f "$out/novitai_wasm_bg.wasm" ]; then
  echo "web-demo/pkg is up to date"
else
  rm -rf "$out"
  wasm-bindgen --target web --out-dir "$out" "$input"
  "$wasm_opt" -Os --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types \
    "$out/novitai_wasm_bg.wasm" -o "$out/novitai_wasm_bg.opt.wasm"
  mv "$out/novitai_wasm_bg.opt.wasm" "$out/novitai_wasm_bg.wasm"
  echo "$stamp" > "$out/.built-from"
fi
printf 'novitai_wasm_bg.wasm (with sim): %d KiB raw, %d KiB gzip -9\n' \
  "$(($(stat -c %s "$out/novitai_wasm_bg.wasm") / 1024))" \
  "$(($(gzip -9 -c "$out/novitai_wasm_bg.wasm" | wc -c) / 1024))"

step "simulator server for the real-network mode (novitai-tokio example, feature sim)"
cargo build -p novitai-tokio --no-default-features --features sim \
  --example sim_serve_for_web_demo --locked
server="$(cd "$target_dir" && pwd)/debug/examples/sim_serve_for_web_demo"
test -x "$server"
echo "$server" > "$out/sim-server-path"
step "built"
