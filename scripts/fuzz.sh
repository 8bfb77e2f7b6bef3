#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for N seconds each (default 30) on
# nightly, then prints executions per second and total executions per target.
#
#   bash scripts/fuzz.sh          # 30 s per target (what scripts/test.sh runs)
#   bash scripts/fuzz.sh 600      # a longer run: 10 min per target
#   FUZZ_TARGETS="engine config" bash scripts/fuzz.sh 60   # some targets only
#   NOVITAI_FUZZ_SEED=0 bash scripts/fuzz.sh 600            # a random libFuzzer seed
#
# Installs cargo-fuzz (and the nightly toolchain) only if missing. Builds with
# debug assertions, so integer overflow panics too, and without AddressSanitizer:
# novitai-core forbids unsafe code, and ASan cost 6-10x in executions per second. A crash leaves its input in
# fuzz/artifacts/<target>/; replay it with
#   cargo +nightly fuzz run --debug-assertions <target> fuzz/artifacts/<target>/<file>
# and keep it as a test in core/tests/fuzz_regressions.rs.
# New corpus entries go to fuzz/corpus/<target>/ (only seed-* files are committed).
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-30}"
# libFuzzer's mutation seed: fixed by default so a CI run explores the same
# input sequence every time (a crash it finds is reproducible, and a green run
# does not turn red by chance); NOVITAI_FUZZ_SEED=0 asks libFuzzer for a random
# one, for exploratory runs.
seed="${NOVITAI_FUZZ_SEED:-1}"
case "$secs" in
  '' | *[!0-9]*) echo "usage: $0 [seconds-per-target]" >&2; exit 2 ;;
esac

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  cargo install cargo-fuzz
fi

cd fuzz
targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"

build_start=$SECONDS
cargo +nightly fuzz build --debug-assertions --sanitizer none
echo "fuzz build: $((SECONDS - build_start)) s"

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
failed=()
report=()
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "==> fuzz $t for ${secs} s"
  log="$logs/$t.log"
  if cargo +nightly fuzz run --debug-assertions --sanitizer none "$t" "corpus/$t" -- \
    -max_total_time="$secs" -seed="$seed" -print_final_stats=1 -timeout=10 >"$log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    # The crash report: libFuzzer's and the panic's lines.
    grep -E "panicked|ERROR|SUMMARY|Test unit written|artifact" "$log" | head -20 || true
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  line=$(printf '%-16s %-7s %12s execs %9s execs/s' "$t" "$status" "${execs:-?}" "${rate:-?}")
  echo "$line"
  report+=("$line")
done

echo
echo "fuzz summary (${secs} s per target):"
printf '  %s\n' "${report[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
  exit 1
fi
