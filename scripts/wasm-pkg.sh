# Builds one optimised wasm package of novitai-wasm (sourced by
# scripts/wasm.sh and scripts/web-demo-build.sh; the tools must be installed
# already: the wasm32 target, wasm-bindgen-cli at the Cargo.lock version, and
# web-demo/node_modules with binaryen@132's wasm-opt).
#
#   wasm_pkg LABEL OUT [cargo feature arguments...]
#
# cargo build -p novitai-wasm --profile wasm-release with the given feature
# arguments (none: the default features) -> wasm-bindgen --target web into
# OUT -> wasm-opt -Os. Skips wasm-bindgen and wasm-opt (about 30 s) when OUT
# was made from this very cargo output (a stamp in OUT/.built-from). Prints
# the size and sets PKG_RAW and PKG_GZ (bytes, gzip -9).

wasm_pkg() {
  local label=$1 out=$2
  shift 2
  local target=wasm32-unknown-unknown
  local target_dir=${CARGO_TARGET_DIR:-target}
  local bindgen_version wasm_opt=web-demo/node_modules/.bin/wasm-opt
  bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
  cargo build -p novitai-wasm --target "$target" --profile wasm-release --locked "$@"
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
