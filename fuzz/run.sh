#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and fails on the first crash.
#
#   bash fuzz/run.sh                     # each target 60 s
#   FUZZ_SECONDS=600 bash fuzz/run.sh    # longer
#   bash fuzz/run.sh token overlay       # some targets only
#
# cargo-fuzz comes from crates.io into .tools/cargo (as tests/setup.sh installs its tools).
# It needs nightly flags: this machine has only a stable toolchain, so RUSTC_BOOTSTRAP=1 lets
# the stable compiler accept them. Each target starts from its committed seeds in
# fuzz/corpus/<target>/ (written by fuzz/seeds.sh) plus what earlier runs found, kept in
# fuzz/target/corpus/<target>/ (not committed); a crash leaves its input in
# fuzz/artifacts/<target>/ and makes this script exit non-zero. Turn a crash into a regression
# test in the normal suite before fixing it.
set -euo pipefail
cd "$(dirname "$0")"
fuzz="$PWD"
tools="$(cd .. && pwd)/.tools"
seconds="${FUZZ_SECONDS:-60}"
sanitizer="${FUZZ_SANITIZER:-address}"
export RUSTC_BOOTSTRAP=1

if [ ! -x "$tools/cargo/bin/cargo-fuzz" ]; then
  echo "fuzz: installing cargo-fuzz 0.13.2 from crates.io into .tools/cargo"
  cargo install --quiet --locked --root "$tools/cargo" cargo-fuzz@0.13.2
fi
cargo_fuzz="$tools/cargo/bin/cargo-fuzz"

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <("$cargo_fuzz" list)
fi

# One build of every target (release, with debug assertions and overflow checks).
"$cargo_fuzz" build --sanitizer "$sanitizer"

summary=()
for target in "${targets[@]}"; do
  work="$fuzz/target/corpus/$target"
  seeds="$fuzz/corpus/$target"
  mkdir -p "$work" "$seeds" "$fuzz/artifacts/$target"
  log="$fuzz/target/$target.log"
  echo "fuzz: $target for ${seconds} s"
  if ! "$cargo_fuzz" run --sanitizer "$sanitizer" "$target" "$work" "$seeds" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -max_len=131072 \
    -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/, the log in $log" >&2
    exit 1
  fi
  runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -n 1 | cut -d' ' -f2)"
  corpus="$(ls "$work" | wc -l)"
  summary+=("$(printf '%-20s %6s s %12s runs %8s exec/s  cov %6s  corpus %5s' \
    "$target" "$seconds" "${runs:-?}" "${speed:-?}" "${cov:-?}" "$corpus")")
done
echo "fuzz: every target ran clean"
printf '  %s\n' "${summary[@]}"
