#!/usr/bin/env bash
# The one test command (README.md, .ci/run). Installs what it needs idempotently,
# then runs every check CI must: formatting, clippy with warnings denied, all tests,
# and the wasm32 build of the core.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain components (idempotent)"
rustup component add rustfmt clippy >/dev/null 2>&1 || true
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test"
cargo test --workspace --locked
cargo clippy -p novitai-tokio --all-targets --features sim --locked -- -D warnings; cargo test -p novitai-tokio --features sim --locked  # the simulator server (feature sim)

step "core builds for wasm32-unknown-unknown (no_std, no I/O)"
cargo build -p novitai-core --target wasm32-unknown-unknown --locked

step "all checks passed"
