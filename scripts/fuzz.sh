#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (+ASan/UBSan) into build-fuzz and runs each for a while:
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]
# New interesting inputs land in build-fuzz/corpus/<name>; copy small ones to fuzz/corpus/<name>.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}; shift || true
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release -DQIUSUO_FUZZ=ON >/dev/null
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^qs_fuzz_target(\([a-z_0-9]*\).*/\1/p' fuzz/targets.cmake)
fi
for t in "${targets[@]}"; do
  cmake --build build-fuzz --target "fuzz_$t" >/dev/null
  mkdir -p "build-fuzz/corpus/$t"
  echo "== fuzz_$t for ${secs}s"
  "build-fuzz/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=65536 "build-fuzz/corpus/$t" "fuzz/corpus/$t" 2>&1 | tail -3
done
