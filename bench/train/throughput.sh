#!/usr/bin/env bash
# Training throughput of the default configuration (scripts/train-default.sh's dims) on the
# chinese-poetry corpus: tokens/s from the trainer's progress line after a warm-up, and the share
# of the machine's fp32 peak. Run on a quiet machine:
#   bench/train/throughput.sh [STEPS]        (default 8; needs $WORK/train.jsonl and a tokenizer in $TOK,
#                                             both made by scripts/train-default.sh)
# Peak assumption (edit PEAK_FLOP_PER_CYCLE for other CPUs): AVX-512 with two 512-bit FMA pipes per
# core = 64 fp32 FLOP per cycle per core (Zen 5 / Xeon); Zen 4 and AVX2-only cores: 32.
set -euo pipefail
cd "$(dirname "$0")/../.."
STEPS=${1:-8}
QIUSUO=${QIUSUO:-build/qiusuo}
WORK=${WORK:-/tmp/qiusuo-poetry}
TOK=${TOK:-models/qiusuo-poetry}
DATA=${DATA:-$WORK/val.jsonl}   # the held-out file is big enough (~0.6M tokens) and tokenizes fast
PEAK_FLOP_PER_CYCLE=${PEAK_FLOP_PER_CYCLE:-64}
log=$(mktemp)
"$QIUSUO" train --data "$DATA" --tokenizer "$TOK" --out "$(mktemp -d)" \
  --hidden 256 --layers 4 --heads 4 --q-lora 128 --kv-lora 64 --nope-dim 32 --rope-dim 16 --v-dim 32 \
  --inter 640 --moe-inter 160 --experts 8 --shared-experts 1 --topk 2 --dense-layers 1 --mtp 1 \
  --batch 16 --seq 128 --steps "$STEPS" --log-every 1 2>&1 | tee "$log"
mflop=$(grep -o '[0-9.]* MFLOP per token' "$log" | cut -d' ' -f1)
# Steady state: tokens between the 2nd and the last progress line over the time between them.
python3 - "$log" "$mflop" "$PEAK_FLOP_PER_CYCLE" <<'PY'
import re, sys, os
lines = [l for l in open(sys.argv[1]) if l.startswith("step ")]
def el(l):
    m = re.search(r"elapsed (\d+)m(\d+)s", l) or re.search(r"elapsed (\d+)h(\d+)m", l)
    return int(m.group(1)) * 60 + int(m.group(2))
tok = 16 * 128
a, b = lines[1], lines[-1]
steps = int(b.split()[1].split("/")[0]) - int(a.split()[1].split("/")[0])
secs = max(el(b) - el(a), 1)
tps = steps * tok / secs
mflop = float(sys.argv[2])
mhz = max(float(x.split(":")[1]) for x in open("/proc/cpuinfo") if x.startswith("cpu MHz"))
peak = os.cpu_count() * mhz * 1e6 * float(sys.argv[3])
print(f"steady state: {tps:.0f} tokens/s, {tps * mflop / 1e3:.2f} GFLOP/s = {100 * tps * mflop * 1e6 / peak:.1f}% of "
      f"{peak / 1e9:.0f} GFLOP/s fp32 peak ({os.cpu_count()} cores x {mhz:.0f} MHz x {sys.argv[3]} FLOP/cycle)")
print(f"projected 2 h: {tps * 7200 / 1e6:.1f}M tokens")
PY
