#!/usr/bin/env bash
# Install, build, and run the main job on a model directory: `scripts/run.sh MODEL_DIR [TOKENS]`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: scripts/run.sh MODEL_DIR [comma-separated prompt token ids]" >&2
  echo "  MODEL_DIR: a Hugging Face checkpoint directory, e.g. deepseek-ai/DeepSeek-V2-Lite" >&2
  exit 2
fi
scripts/install-deps.sh
scripts/build.sh
build/qiusuo info --model "$1"
build/qiusuo generate --model "$1" --tokens "${2:-0}" -n 16
