#!/usr/bin/env bash
# Install, build, and run the main job on a model: `scripts/run.sh MODEL [PROMPT]`.
# MODEL is a Hugging Face checkpoint directory as released or a .gguf file. With a PROMPT: one
# answer, streamed; without: an interactive terminal chat (/clear, /exit, Ctrl-C stops an answer).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 1 ]; then
  echo "usage: scripts/run.sh MODEL [PROMPT]" >&2
  echo "  MODEL: a Hugging Face checkpoint directory (e.g. deepseek-ai/DeepSeek-V2-Lite-Chat) or a .gguf file" >&2
  exit 2
fi
scripts/install-deps.sh
scripts/build.sh
build/qiusuo info --model "$1"
if [ $# -ge 2 ]; then
  build/qiusuo run --model "$1" "$2"
else
  build/qiusuo run --model "$1"
fi
