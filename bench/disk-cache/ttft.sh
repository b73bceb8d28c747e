#!/usr/bin/env bash
# Time to first token for a ~4k-token prompt: uncached, cached in memory, and cached on disk after a
# restart (`serve --cache-dir`). The model is synthesized (random weights, DeepSeek-V3 layout at a
# reduced size: 4 layers, hidden 1024, MLA with kv_lora_rank 512) with the real DeepSeek-V3
# tokenizer from the shared fixtures; it lives outside the repository (MODELS, default
# /work/models-cc). "First token" = a non-streaming completion with max_tokens 1 (prefill + one
# decode step), timed by curl. Usage: bench/disk-cache/ttft.sh [BUILD_DIR] [THREADS]
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$ROOT/build}"
THREADS="${2:-0}"
QS="$BUILD/qiusuo"
MODELS="${MODELS:-/work/models-cc}"
FIX="${FIXTURES:-$ROOT/../shared/fixtures}"
M="$MODELS/ctxcache-bench-v3"
mkdir -p "$MODELS"
if [ ! -f "$M/m/config.json" ]; then
  mkdir -p "$M"
  cat > "$M/config.json" <<'CFG'
{"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3", "vocab_size": 129280,
 "hidden_size": 1024, "intermediate_size": 2816, "moe_intermediate_size": 512, "num_hidden_layers": 4,
 "first_k_dense_replace": 1, "n_routed_experts": 8, "num_experts_per_tok": 2, "n_shared_experts": 1,
 "n_group": 2, "topk_group": 1, "topk_method": "noaux_tc", "scoring_func": "sigmoid", "norm_topk_prob": true,
 "routed_scaling_factor": 2.5, "kv_lora_rank": 512, "q_lora_rank": 384, "qk_nope_head_dim": 128,
 "qk_rope_head_dim": 64, "v_head_dim": 128, "num_attention_heads": 16, "num_key_value_heads": 16,
 "max_position_embeddings": 8192, "rms_norm_eps": 1e-6, "rope_theta": 10000, "bos_token_id": 0,
 "eos_token_id": 1, "tie_word_embeddings": false, "moe_layer_freq": 1, "num_nextn_predict_layers": 0,
 "hidden_act": "silu"}
CFG
  "$QS" synth --config "$M/config.json" --dtype bf16 --seed 1 --tokenizer "$FIX/tokenizer/deepseek-v3" --out "$M/m" >/dev/null
fi
CACHE="$(mktemp -d)"
trap 'kill $PID 2>/dev/null || true; rm -rf "$CACHE"' EXIT
start() {  # start the server with extra args; sets PID and PORT
  "$QS" serve --model "$M/m" --port 0 --ctx 8192 --threads "$THREADS" "$@" >"$CACHE/log" 2>&1 &
  PID=$!
  for _ in $(seq 600); do
    PORT=$(sed -n 's/.*listening on http:\/\/[^:]*:\([0-9]*\).*/\1/p' "$CACHE/log")
    [ -n "$PORT" ] && return 0
    sleep 0.2
  done
  echo "server did not start"; cat "$CACHE/log"; exit 1
}
stop() { kill -TERM $PID; wait $PID || true; }
PROMPT=$(python3 -c "print(' '.join(f'item {i} of the inventory is a crate of tea from Hangzhou;' for i in range(266)))")
BODY=$(jq -n --arg p "$PROMPT" '{prompt: $p, max_tokens: 1, temperature: 0}')
ask() {  # prints: seconds prompt_tokens hit_tokens
  curl -s -o "$CACHE/out" -w '%{time_total}' "http://127.0.0.1:$PORT/v1/completions" \
       -H 'Content-Type: application/json' -d "$BODY" > "$CACHE/t"
  echo "$(cat "$CACHE/t") $(jq -r '.usage.prompt_tokens, .usage.prompt_cache_hit_tokens' "$CACHE/out" | tr '\n' ' ')"
}
start --cache-dir "$CACHE/kv" --cache-dir-bytes 1GiB
read -r t0 n0 h0 <<<"$(ask)"
read -r t1 n1 h1 <<<"$(ask)"
stop
start --cache-dir "$CACHE/kv" --cache-dir-bytes 1GiB
read -r t2 n2 h2 <<<"$(ask)"
stop
echo "prompt tokens: $n0; KV on disk: $(du -sh "$CACHE/kv" | cut -f1)"
printf "uncached                 %6.3f s  (cache hit %s tokens)\n" "$t0" "$h0"
printf "cached in memory         %6.3f s  (cache hit %s tokens)\n" "$t1" "$h1"
printf "cached on disk, restart  %6.3f s  (cache hit %s tokens)\n" "$t2" "$h2"
