#!/bin/sh
# DeepSeek-V4-Flash speed on random weights: the released dimensions (hidden 4096, 64 heads x 512,
# routed experts of 2048 with top-6, FP8 linears + FP4 experts as released) with two layers, one
# CSA (ratio 4 + indexer) and one HCA (ratio 128), from bench/deepseek-v4/config.json: the
# release's config.json with num_hidden_layers 2, compress_ratios [4, 128], no MTP, no hash layers
# and 16 routed experts instead of 256 (a decode token reads 6 of them either way; the file is
# 3.3 GB instead of 9 GB, which a shared 2-core machine can write in minutes).
# Usage: bench/deepseek-v4/run.sh [BUILD_DIR] [OUT_DIR]
set -e
BUILD=${1:-build}
OUT=${2:-/tmp/qiusuo-v4-flash-2l}
Q=$BUILD/qiusuo
[ -f "$OUT/config.json" ] || $Q synth --config "$(dirname "$0")/config.json" --dtype fp4 --out "$OUT"
$Q info --model "$OUT"
# depth 0, 16k and 64k: pp512 and tg32; deep caches are filled with 1024 real tokens, then tiled
# (same cache size and attention reads; --depth-prefix).
$Q bench --model "$OUT" -p 512 -n 32 -d 0,16384,65536 --depth-prefix 1024 -r 3 -t 2
