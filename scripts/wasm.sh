#!/usr/bin/env bash
# The wasm checks (called by scripts/test.sh; runnable alone):
#  1. installs what they need, idempotently: the wasm32 target, wasm-bindgen-cli
#     at exactly the wasm-bindgen version in Cargo.lock, Node, and wasm-opt from
#     npm binaryen@132 (web-demo/node_modules; Debian's binaryen is too old);
#  2. clippy for wasm32 with warnings denied;
#  3. the determinism check: the native trace must equal the golden file, and
#     the wasm trace (under Node) must equal it byte for byte;
#  4. the adapter's wasm-bindgen tests under Node;
#  5. the size-optimised build: cargo (profile wasm-release) -> wasm-bindgen
#     --target web -> wasm-opt -Os, into web-demo/pkg, and prints its size.
# Set NOVITAI_WASM_ENFORCE_BUDGET=1 to fail when the gzipped .wasm is over
# NOVITAI_WASM_BUDGET_KIB (default 150).
set -euo pipefail
cd "$(dirname "$0")/.."

start=$SECONDS
step() { printf '\n==> [wasm %3ds] %s\n' "$((SECONDS - start))" "$*"; }
target=wasm32-unknown-unknown

step "tools (idempotent)"
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$want" ]; then
  echo "no wasm-bindgen in Cargo.lock" >&2
  exit 1
fi
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "installing wasm-bindgen-cli $want (found: ${have:-none})"
  # Not --locked: a locked dependency version is missing from the registry mirror.
  cargo install wasm-bindgen-cli --version "=$want"
fi
if ! command -v node >/dev/null 2>&1; then
  apt-get update -q && apt-get install -y -q nodejs npm
fi
wasm_opt=web-demo/node_modules/.bin/wasm-opt
if ! "$wasm_opt" --version 2>/dev/null | grep -q 'version 132'; then
  npm ci --prefix web-demo --no-audit --no-fund
fi
echo "wasm-bindgen $want, node $(node --version), $("$wasm_opt" --version)"

step "clippy for $target (warnings denied)"
cargo clippy -p novitai-wasm --target "$target" --all-targets --all-features --locked -- -D warnings

step "determinism, native half: the trace equals tests/golden/determinism.trace"
cargo test -p novitai-wasm --features sim --test determinism --locked

step "wasm-bindgen tests under Node (webhooks, machines, client, simulator, determinism)"
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  cargo test --target "$target" -p novitai-wasm --features sim --locked

step "size-optimised build: cargo (wasm-release) -> wasm-bindgen --target web -> wasm-opt -Os"
cargo build -p novitai-wasm --target "$target" --profile wasm-release --locked
target_dir=${CARGO_TARGET_DIR:-target}
out=web-demo/pkg
rm -rf "$out"
wasm-bindgen --target web --out-dir "$out" "$target_dir/$target/wasm-release/novitai_wasm.wasm"
"$wasm_opt" -Os --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
  --enable-mutable-globals --enable-reference-types \
  "$out/novitai_wasm_bg.wasm" -o "$out/novitai_wasm_bg.opt.wasm"
mv "$out/novitai_wasm_bg.opt.wasm" "$out/novitai_wasm_bg.wasm"
raw=$(stat -c %s "$out/novitai_wasm_bg.wasm")
gz=$(gzip -9 -c "$out/novitai_wasm_bg.wasm" | wc -c)
budget=${NOVITAI_WASM_BUDGET_KIB:-150}
printf 'novitai_wasm_bg.wasm: %d bytes (%d KiB) raw, %d bytes (%d KiB) gzip -9; budget %d KiB gzip\n' \
  "$raw" "$((raw / 1024))" "$gz" "$((gz / 1024))" "$budget"
# The package must load: instantiate it in Node from the bytes (the web
# target's .js is an ES module).
echo '{ "type": "module" }' > "$out/package.json"
node --input-type=module -e "
import { readFileSync } from 'node:fs';
const m = await import('./$out/novitai_wasm.js');
m.initSync({ module: readFileSync('./$out/novitai_wasm_bg.wasm') });
const h = m.signWebhook('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{\"test\": 2432232314}');
if (h['webhook-signature'] !== 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=') throw new Error('bad signature ' + JSON.stringify(h));
console.log('the optimised package loads in Node and signs the Standard Webhooks vector');
"
if [ "$((gz / 1024))" -gt "$budget" ]; then
  echo "WARNING: the gzipped .wasm is over the ${budget} KiB budget" >&2
  if [ "${NOVITAI_WASM_ENFORCE_BUDGET:-0}" = 1 ]; then
    exit 1
  fi
fi
step "wasm checks passed"
