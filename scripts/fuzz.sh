#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (+ASan/UBSan) into build-fuzz and runs each:
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]        # by time (default 60 s each)
#   scripts/fuzz.sh --runs N [TARGET...]                     # by execution count (-runs=N)
# Targets run in the order given (default: fuzz/targets.cmake's order, fast parsers first).
# The libraries are instrumented too (-fsanitize=fuzzer-no-link), so coverage and ASan reach
# past the harness; UBSan aborts (-fno-sanitize-recover) so undefined behaviour counts as a crash.
# Each run's log is build-fuzz/logs/<name>.log; its last lines (executions, exec/s) are printed.
# New interesting inputs land in build-fuzz/corpus/<name>; copy small ones to fuzz/corpus/<name>.
# A crash leaves build-fuzz/crash-* (minimise: fuzz_<name> -minimize_crash=1 -runs=10000 FILE).
set -euo pipefail
cd "$(dirname "$0")/.."
limit=(-max_total_time=60); what="60s"
if [ "${1:-}" = "--runs" ]; then
  limit=(-runs="$2"); what="$2 runs"; shift 2
elif [ $# -gt 0 ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  limit=(-max_total_time="$1"); what="${1}s"; shift
fi
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
san="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja "${launcher[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_CXX_FLAGS="$san -g1" -DQIUSUO_FUZZ=ON >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^qs_fuzz_target(\([a-z_0-9]*\).*/\1/p' fuzz/targets.cmake)
fi
mkdir -p build-fuzz/logs
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
rc=0
for t in "${targets[@]}"; do
  cmake --build build-fuzz --target "fuzz_$t" >/dev/null
  mkdir -p "build-fuzz/corpus/$t"
  echo "== fuzz_$t for $what ($(date -u +%FT%TZ))"
  if ! (cd build-fuzz && "fuzz/fuzz_$t" "${limit[@]}" -max_len=65536 -print_final_stats=1 \
          "corpus/$t" "../fuzz/corpus/$t") >"build-fuzz/logs/$t.log" 2>&1; then
    echo "!! fuzz_$t failed (see build-fuzz/logs/$t.log)"; rc=1
  fi
  grep -E '^(#[0-9]+.*DONE|Done [0-9]+ runs|stat::number_of_executed_units|stat::average_exec_per_sec)|ERROR|SUMMARY' \
    "build-fuzz/logs/$t.log" | tail -6
done
exit $rc
