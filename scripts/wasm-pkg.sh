# The wasm tools and the packaging step, sourced by scripts/wasm.sh and
# scripts/web-demo-build.sh.
#
#   wasm_tools
#
# Installs, idempotently: the wasm32 target, wasm-bindgen-cli at exactly the
# wasm-bindgen version in Cargo.lock, Node/npm, and web-demo/node_modules
# (binaryen@132's wasm-opt, playwright-core) from web-demo/package-lock.json.
#
#   wasm_pkg LABEL OUT [cargo feature arguments...]
#
# cargo +nightly build -p novitai-wasm --profile wasm-release with the given
# feature arguments (none: the default features), rebuilding the standard
# library for the package (-Zbuild-std) with panics that abort at once
# (-Cpanic=immediate-abort) -> wasm-bindgen --target web into OUT ->
# wasm-opt -Os. Skips wasm-bindgen and wasm-opt (about 30 s) when OUT was
# made from this very cargo output (a stamp in OUT/.built-from). Prints the
# size and sets PKG_RAW and PKG_GZ (bytes, gzip -9).
#
# Why nightly here: a panic in the package is a bug that traps either way,
# but the stable standard library carries its panic-message formatting and
# location strings into every wasm file; rebuilding std without them is the
# Rust wasm size guide's main lever (14 KiB of 174 gzip when measured). Only
# this packaging step uses nightly: the tests, clippy and the wasm-bindgen
# test runs build with stable. Installs, idempotently: the nightly toolchain
# (minimal profile) and its rust-src component.

wasm_tools() {
  local target=wasm32-unknown-unknown want have
  if ! rustup target list --installed | grep -qx "$target"; then
    rustup target add "$target"
  fi
  want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  if [ -z "$want" ]; then
    echo "no wasm-bindgen in Cargo.lock" >&2
    return 1
  fi
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
  echo "wasm-bindgen $want, node $(node --version), $(web-demo/node_modules/.bin/wasm-opt --version)"
}

# RUSTFLAGS replaces .cargo/config.toml's target rustflags, so its cfg is
# repeated here.
WASM_PKG_RUSTFLAGS='--cfg sha2_backend_soft="compact"'

wasm_pkg_tools() {
  if ! rustup toolchain list | grep -q '^nightly'; then
    rustup toolchain install nightly --profile minimal
  fi
  if ! rustup component list --toolchain nightly --installed | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain nightly
  fi
  # Nightlies since 2025-09 spell immediate-abort as a panic strategy; older
  # ones as a feature of the rebuilt std.
  if rustc +nightly -Zunstable-options -Cpanic=immediate-abort --print cfg \
    --target wasm32-unknown-unknown >/dev/null 2>&1; then
    WASM_PKG_ABORT=(-Zbuild-std=std,panic_abort)
    WASM_PKG_RUSTFLAGS="$WASM_PKG_RUSTFLAGS -Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none"
  else
    WASM_PKG_ABORT=(-Zbuild-std=std,panic_abort -Zbuild-std-features=panic_immediate_abort)
  fi
  WASM_PKG_TOOLS_READY=1
}

wasm_pkg() {
  local label=$1 out=$2
  shift 2
  local target=wasm32-unknown-unknown
  local target_dir=${CARGO_TARGET_DIR:-target}
  local bindgen_version wasm_opt=web-demo/node_modules/.bin/wasm-opt
  bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  [ -n "${WASM_PKG_TOOLS_READY:-}" ] || wasm_pkg_tools
  RUSTFLAGS="$WASM_PKG_RUSTFLAGS" cargo +nightly build -p novitai-wasm --target "$target" \
    --profile wasm-release --locked "${WASM_PKG_ABORT[@]}" "$@"
  local input="$target_dir/$target/wasm-release/novitai_wasm.wasm"
  local stamp
  stamp="$* $(sha256sum "$input" | cut -d' ' -f1) wasm-bindgen $bindgen_version"
  if [ "$(cat "$out/.built-from" 2>/dev/null)" = "$stamp" ] && [ -f "$out/novitai_wasm_bg.wasm" ]; then
    echo "$out is up to date"
  else
    rm -rf "$out"
    wasm-bindgen --target web --out-dir "$out" "$input"
    "$wasm_opt" -Os --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
      --enable-mutable-globals --enable-reference-types \
      "$out/novitai_wasm_bg.wasm" -o "$out/novitai_wasm_bg.opt.wasm"
    mv "$out/novitai_wasm_bg.opt.wasm" "$out/novitai_wasm_bg.wasm"
    # The web target's .js is an ES module; this lets Node import it too.
    echo '{ "type": "module" }' > "$out/package.json"
    echo "$stamp" > "$out/.built-from"
  fi
  PKG_RAW=$(stat -c %s "$out/novitai_wasm_bg.wasm")
  PKG_GZ=$(gzip -9 -c "$out/novitai_wasm_bg.wasm" | wc -c)
  printf '%s package (%s): novitai_wasm_bg.wasm %d bytes (%d KiB) raw, %d bytes (%d KiB) gzip -9\n' \
    "$label" "$out" "$PKG_RAW" "$((PKG_RAW / 1024))" "$PKG_GZ" "$((PKG_GZ / 1024))"
}
