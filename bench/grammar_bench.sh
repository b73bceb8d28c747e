#!/usr/bin/env bash
# Reproduces the constrained-decoding figures in docs/SERVER.md: ms per full token mask over the
# DeepSeek-V3 vocabulary (JSON mode, a JSON schema, a forced tool call). Run from the repository root.
set -euo pipefail
BUILD=${BUILD:-build}
ninja -C "$BUILD" grammar_bench
"$BUILD/bench/grammar_bench" "${1:-../shared/fixtures/tokenizer/deepseek-v3}" "${2:-20}"
