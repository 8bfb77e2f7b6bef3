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
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "cargo doc (broken links and doc warnings denied)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked

step "Python venv for the webhook interop test (idempotent)"
if [ ! -x .venv/bin/python ]; then
  # Debian ships the venv module separately; install it only if missing.
  python3 -m venv .venv || {
    rm -rf .venv
    apt-get update -q >/dev/null && apt-get install -y -q python3-venv >/dev/null
    python3 -m venv .venv
  }
fi
if ! .venv/bin/python -c 'import standardwebhooks' >/dev/null 2>&1; then
  .venv/bin/pip install -q 'standardwebhooks==1.1.*'
fi

step "redis-server for the fleet tests (scripts/redis.sh: installs if missing, random port)"
eval "$(bash scripts/redis.sh start)"
trap 'bash scripts/redis.sh stop' EXIT

step "cargo test (every crate, every feature; the fleet tests use REDIS_URL)"
cargo test --workspace --all-features --locked

bash scripts/redis.sh stop
trap - EXIT

step "webhook interop with the Python reference (standardwebhooks)"
cargo test -p novitai-tests --test webhook_interop --locked -- --ignored

step "core builds for wasm32-unknown-unknown (no_std, no I/O)"
cargo build -p novitai-core --target wasm32-unknown-unknown --locked
cargo build -p novitai-core --target wasm32-unknown-unknown --features sim --locked

step "fuzz every target for 30 s (nightly cargo-fuzz; longer: bash scripts/fuzz.sh 600)"
bash scripts/fuzz.sh 30

step "wasm: adapter tests under Node, determinism native vs wasm, optimised package size"
bash scripts/wasm.sh

step "web demo: the page in headless Chromium (outage, webhooks, real network)"
bash scripts/web-demo-test.sh

step "all checks passed"
