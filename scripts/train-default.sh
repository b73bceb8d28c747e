#!/usr/bin/env bash
# Trains qiusuo's default model from scratch (docs/TRAINING.md): fetches the chinese-poetry corpus
# with npm, turns the poems into chat examples (2.5% held out), trains a byte-level BPE tokenizer
# and a small DeepSeek-V3-architecture model (MLA, DeepSeekMoE, one MTP module), and writes a
# Hugging Face checkpoint directory.
#
#   scripts/train-default.sh [OUT_DIR]          # the real run (about two hours on 2 cores)
#   TINY=1 scripts/train-default.sh /tmp/m      # a few steps on a slice: checks the pipeline
#
# Knobs (environment): QIUSUO (binary, default build/qiusuo), WORK (corpus cache, default
# /tmp/qiusuo-poetry), STEPS, BATCH, SEQ, LR, VOCAB, THREADS, and the model dims HIDDEN, LAYERS,
# HEADS, EXPERTS, MOE_INTER, INTER. Rerunning with RESUME=1 continues a run saved in OUT_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-models/qiusuo-poetry}
QIUSUO=${QIUSUO:-build/qiusuo}
WORK=${WORK:-/tmp/qiusuo-poetry}
TINY=${TINY:-0}
[ -x "$QIUSUO" ] || { echo "no qiusuo binary at $QIUSUO (build first, or set QIUSUO)" >&2; exit 1; }
mkdir -p "$WORK" "$OUT"

# 1. The corpus: the npm package chinese-poetry (MIT), fetched once into $WORK.
if [ ! -d "$WORK/package/dist" ]; then
  (cd "$WORK" && npm pack chinese-poetry --silent >/dev/null && tar xzf chinese-poetry-*.tgz)
fi

# 2. Chat examples, poems held out by hash.
MAX_POEMS=0
[ "$TINY" = 1 ] && MAX_POEMS=3000
python3 scripts/poetry_to_chat.py --dist "$WORK/package/dist" --train "$WORK/train.jsonl" --val "$WORK/val.jsonl" \
  --max-poems "$MAX_POEMS"

# 3. Tokenizer.
if [ "$TINY" = 1 ]; then
  VOCAB=${VOCAB:-1024}; STEPS=${STEPS:-6}; BATCH=${BATCH:-4}; SEQ=${SEQ:-64}
  HIDDEN=${HIDDEN:-64}; LAYERS=${LAYERS:-2}; HEADS=${HEADS:-2}; EXPERTS=${EXPERTS:-4}; MOE_INTER=${MOE_INTER:-32}
  INTER=${INTER:-128}; QLORA=${QLORA:-32}; KVLORA=${KVLORA:-32}
else
  VOCAB=${VOCAB:-8192}; STEPS=${STEPS:-3000}; BATCH=${BATCH:-16}; SEQ=${SEQ:-128}
  HIDDEN=${HIDDEN:-256}; LAYERS=${LAYERS:-4}; HEADS=${HEADS:-4}; EXPERTS=${EXPERTS:-8}; MOE_INTER=${MOE_INTER:-160}
  INTER=${INTER:-640}; QLORA=${QLORA:-128}; KVLORA=${KVLORA:-64}
fi
LR=${LR:-2e-3}
THREADS=${THREADS:-0}
if [ "${RESUME:-0}" != 1 ]; then
  "$QIUSUO" train-tokenizer --data "$WORK/train.jsonl" --out "$OUT" --vocab-size "$VOCAB"
fi

# 4. The model. Checkpoints every 200 steps; RESUME=1 continues from the last one.
RESUME_FLAG=()
[ "${RESUME:-0}" = 1 ] && RESUME_FLAG=(--resume)
"$QIUSUO" train --data "$WORK/train.jsonl" --val "$WORK/val.jsonl" --tokenizer "$OUT" --out "$OUT" \
  --hidden "$HIDDEN" --layers "$LAYERS" --heads "$HEADS" --q-lora "$QLORA" --kv-lora "$KVLORA" \
  --nope-dim 32 --rope-dim 16 --v-dim 32 --inter "$INTER" --moe-inter "$MOE_INTER" --experts "$EXPERTS" \
  --shared-experts 1 --topk 2 --dense-layers 1 --mtp 1 \
  --steps "$STEPS" --batch "$BATCH" --seq "$SEQ" --lr "$LR" --warmup $((STEPS / 20 + 1)) \
  --save-every 200 --eval-every $((STEPS / 5 + 1)) --log-every $((STEPS / 100 + 1)) --threads "$THREADS" \
  "${RESUME_FLAG[@]}"
echo "checkpoint: $OUT (config.json, model.safetensors, tokenizer.json, tokenizer_config.json)"
