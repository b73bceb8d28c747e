#!/usr/bin/env bash
# The whole test suite from a fresh clone: install dependencies, build, run CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure --parallel "$(nproc)" --timeout 900
