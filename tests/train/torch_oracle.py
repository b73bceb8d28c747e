#!/usr/bin/python3
"""PyTorch autograd oracle for the qiusuo trainer (tests/train/train_test.cc).

Rebuilds the model a trainer checkpoint describes (config.json + model.safetensors in f32) in
float64, written independently from the C++ code, from the DeepSeek-V3 report and HF's
modeling_deepseek.py in its naive (non-absorbed) MLA form, computes the trainer's loss

    CE(main, t+1) + lambda * CE(MTP, t+2) + sum over MoE layers of the sequence-wise balance loss

on the given tokens, back-propagates, and writes the loss and every parameter's gradient (float64)
to a safetensors file. Conventions shared with the trainer on purpose:
  * RoPE on interleaved pairs of qk_rope_head_dim, angle = float32(pos) * float32 inv_freq;
  * routing: sigmoid scores, top-k of score + e_score_correction_bias (ties to the lower index),
    weights = the unbiased scores normalised over the top-k, times routed_scaling_factor;
  * the MTP module reads the main model's final-norm output and shares embedding and head; its
    input at the last position of a sequence is padded with token 0 (no loss there).
Usage: torch_oracle.py --model DIR --tokens 1,2,... --batch B --mtp-lambda L --balance-alpha A --out F
"""
import argparse
import json
import struct

import torch


def read_safetensors(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    out = {}
    for name, v in header.items():
        if name == "__metadata__":
            continue
        assert v["dtype"] == "F32", name
        s, e = v["data_offsets"]
        t = torch.frombuffer(bytearray(data[8 + n + s:8 + n + e]), dtype=torch.float32)
        out[name] = t.reshape(v["shape"]).double()
    return out


def write_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().double().contiguous().numpy().tobytes() if hasattr(t, "numpy") else t
        header[name] = {"dtype": "F64", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--tokens", required=True)
    ap.add_argument("--batch", type=int, required=True)
    ap.add_argument("--mtp-lambda", type=float, default=0.3)
    ap.add_argument("--balance-alpha", type=float, default=1e-4)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    cfg = json.load(open(a.model + "/config.json"))
    W = read_safetensors(a.model + "/model.safetensors")
    L = cfg["num_hidden_layers"]
    mtp_copies = {f"model.layers.{L}.embed_tokens.weight", f"model.layers.{L}.shared_head.head.weight"}
    P = {}
    for k, v in W.items():
        if k in mtp_copies:
            continue
        P[k] = v.clone().requires_grad_(not k.endswith("e_score_correction_bias"))

    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dn, dr, dv = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
    kvl, qlr = cfg["kv_lora_rank"], cfg["q_lora_rank"]
    E, K = cfg["n_routed_experts"], cfg["num_experts_per_tok"]
    eps, theta = cfg["rms_norm_eps"], cfg["rope_theta"]
    scale = (dn + dr) ** -0.5
    tok = torch.tensor([int(x) for x in a.tokens.split(",")]).reshape(a.batch, -1)
    B, S = tok.shape

    def lin(x, name):
        return x @ P[name].t()

    def rms(x, name):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * P[name]

    inv = (1.0 / theta ** (torch.arange(0, dr, 2, dtype=torch.float64) / dr)).float()
    ang = (torch.arange(S, dtype=torch.float32)[:, None] * inv[None, :]).double()
    cos, sin = ang.cos(), ang.sin()  # [S, dr/2]

    def rope(x):  # [..., S, dr], interleaved pairs
        x0, x1 = x[..., 0::2], x[..., 1::2]
        return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)

    def mla(p, x):
        if qlr:
            q = lin(rms(lin(x, p + "q_a_proj.weight"), p + "q_a_layernorm.weight"), p + "q_b_proj.weight")
        else:
            q = lin(x, p + "q_proj.weight")
        q = q.view(B, S, H, dn + dr).transpose(1, 2)  # [B, H, S, dqk]
        qn, qp = q[..., :dn], rope(q[..., dn:])
        kva = lin(x, p + "kv_a_proj_with_mqa.weight")
        ckv = rms(kva[..., :kvl], p + "kv_a_layernorm.weight")
        kp = rope(kva[..., kvl:])  # [B, S, dr]
        kv = lin(ckv, p + "kv_b_proj.weight").view(B, S, H, dn + dv).transpose(1, 2)
        kn, v = kv[..., :dn], kv[..., dn:]
        sc = (qn @ kn.transpose(-1, -2) + qp @ kp[:, None].transpose(-1, -2)) * scale
        mask = torch.triu(torch.ones(S, S, dtype=torch.bool), 1)
        pr = sc.masked_fill(mask, float("-inf")).softmax(-1)
        o = (pr @ v).transpose(1, 2).reshape(B, S, H * dv)
        return lin(o, p + "o_proj.weight")

    def ffn(p, x):
        return lin(torch.nn.functional.silu(lin(x, p + "gate_proj.weight")) * lin(x, p + "up_proj.weight"),
                   p + "down_proj.weight")

    bal = []

    def moe(p, x):
        xf = x.reshape(B * S, D)
        s = torch.sigmoid(lin(xf, p + "gate.weight"))
        sel = s.detach() + P[p + "gate.e_score_correction_bias"]
        ids = torch.sort(-sel, dim=-1, stable=True).indices[:, :K]
        w = s.gather(1, ids)
        if cfg["norm_topk_prob"] and K > 1:
            w = w / w.sum(-1, keepdim=True)
        w = w * cfg["routed_scaling_factor"]
        out = ffn(p + "shared_experts.", xf) if cfg["n_shared_experts"] else torch.zeros_like(xf)
        for e in range(E):
            rows, slot = (ids == e).nonzero(as_tuple=True)
            if len(rows) == 0:
                continue
            y = ffn(p + f"experts.{e}.", xf[rows]) * w[rows, slot][:, None]
            out = out.index_add(0, rows, y)
        if a.balance_alpha > 0:
            sn = (s / s.sum(-1, keepdim=True)).view(B, S, E)
            Pm = sn.mean(1)  # [B, E]
            cnt = torch.zeros(B, E, dtype=torch.float64)
            cnt.scatter_add_(1, ids.reshape(B, S * K), torch.ones(B, S * K, dtype=torch.float64))
            f = cnt * E / (K * S)
            bal.append(a.balance_alpha * (f * Pm).sum(-1).mean())
        return out.view(B, S, D)

    def layer(l, x):
        p = f"model.layers.{l}."
        x = x + mla(p + "self_attn.", rms(x, p + "input_layernorm.weight"))
        n = rms(x, p + "post_attention_layernorm.weight")
        is_moe = E > 0 and l >= cfg["first_k_dense_replace"]
        return x + (moe(p + "mlp.", n) if is_moe else ffn(p + "mlp.", n))

    emb = P["model.embed_tokens.weight"]
    h = emb[tok]
    for l in range(L):
        h = layer(l, h)
    hf = rms(h, "model.norm.weight")
    logits = lin(hf, "lm_head.weight")
    ce = torch.nn.functional.cross_entropy
    V = logits.shape[-1]
    main = ce(logits[:, :-1].reshape(-1, V), tok[:, 1:].reshape(-1))
    total = main
    if cfg.get("num_nextn_predict_layers", 0) > 0 and S >= 3:
        p = f"model.layers.{L}."
        nxt = torch.cat((tok[:, 1:], torch.zeros(B, 1, dtype=tok.dtype)), 1)
        m = torch.cat((rms(emb[nxt], p + "enorm.weight"), rms(hf, p + "hnorm.weight")), -1)
        m = lin(m, p + "eh_proj.weight")
        m = layer(L, m)
        l2 = lin(rms(m, p + "shared_head.norm.weight"), "lm_head.weight")
        mtp = ce(l2[:, :-2].reshape(-1, V), tok[:, 2:].reshape(-1))
        total = total + a.mtp_lambda * mtp
    for b in bal:
        total = total + b
    total.backward()
    out = {"loss": total.detach().reshape(1)}
    for k, v in P.items():
        if v.requires_grad:
            out[k] = v.grad if v.grad is not None else torch.zeros_like(v)
    write_safetensors(a.out, out)
    print(f"loss {total.item():.10f}")


if __name__ == "__main__":
    main()
