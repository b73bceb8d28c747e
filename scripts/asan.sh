#!/usr/bin/env bash
# The whole test suite under AddressSanitizer + UndefinedBehaviorSanitizer, in build-asan:
#   scripts/asan.sh [extra ctest args...]
# Any ASan/UBSan report aborts the test that hit it (halt_on_error, -fno-sanitize-recover),
# so CTest's summary line is the verdict. LeakSanitizer is on (detect_leaks=1: it works in
# this sandbox; where ptrace is forbidden it dies with "LeakSanitizer does not work under
# ptrace" -- then run with ASAN_OPTIONS=detect_leaks=0 and say so).
# Compiler: CXX (default g++; clang++ works too). Builds are slow: -O1, line tables only.
set -euo pipefail
cd "$(dirname "$0")/.."
san="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-asan -G Ninja "${launcher[@]}" \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_CXX_FLAGS="$san" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
cmake --build build-asan --parallel "$(nproc)"
export ASAN_OPTIONS="${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
cd build-asan
# ASan makes the model tests ~2-5x slower: a longer per-test timeout than scripts/test.sh.
ctest --output-on-failure --parallel "$(nproc)" --timeout 3600 "$@"
