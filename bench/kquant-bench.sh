#!/bin/sh
# K-quant throughput before/after (issue 16): R1-Distill-Qwen-1.5B dimensions, random weights,
# written by `qiusuo synth` as Q4_K_M / Q5_K_M / Q6_K, then `qiusuo bench` pp512 / tg128 on 2
# threads for each binary given (e.g. main's build and this branch's), alternating binaries.
#
# Usage: bench/kquant-bench.sh MODELDIR QIUSUO_BIN [QIUSUO_BIN...]
#   MODELDIR   where the .gguf files are made (once) and read; outside the repository
#   env TYPES  file types (default "q4_k_m q5_k_m q6_k"), CONFIG (default the fixtures' 1.5B config)
set -e
dir=$1; shift
[ -n "$dir" ] && [ $# -ge 1 ] || { echo "usage: $0 MODELDIR QIUSUO_BIN [QIUSUO_BIN...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")/.." && pwd)
config=${CONFIG:-$here/../shared/fixtures/configs/DeepSeek-R1-Distill-Qwen-1.5B/config.json}
mkdir -p "$dir"
for t in ${TYPES:-q4_k_m q5_k_m q6_k}; do
  f=$dir/qwen1.5b-$t.gguf
  [ -f "$f" ] || "$1" synth --config "$config" --type "$t" --seed 1 --out "$f"
  for bin in "$@"; do
    echo "== $t $bin"
    "$bin" bench -m "$f" -p 512 -n 128 -t 2 -r 2
  done
done
