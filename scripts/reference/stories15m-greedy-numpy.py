#!/usr/bin/env python3
"""Greedy decoding of a Hugging Face Llama checkpoint with numpy only (float64, no KV cache).

An independent reference for the converted builtin model: it reads model.safetensors and
config.json as Hugging Face lays them out (rotate-half RoPE, tied embeddings) and implements
LlamaForCausalLM's forward pass directly, so it runs on machines without torch/transformers.
On the stories15M directory that trtllm converts (<cache>/models/stories15M) it reproduces the
text that HF transformers and llama2.c's run.c produce (see MODELS.md).

Usage: python3 scripts/reference/stories15m-greedy-numpy.py ~/.cache/trtllm/models/stories15M [steps]
Prints the generated ids (prompt "Once upon a time" = [1, 9038, 2501, 263, 931]) and the text.
"""
import json
import struct
import sys

import numpy as np


def load(d):
    raw = open(d + "/model.safetensors", "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    weights = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", name
        count = int(np.prod(info["shape"]))
        weights[name] = np.frombuffer(raw, dtype="<f4", count=count,
                                      offset=8 + n + info["data_offsets"][0]).reshape(info["shape"]).astype(np.float64)
    return weights, json.load(open(d + "/config.json"))


def forward(w, cfg, ids):
    """Logits [len(ids), vocab] of LlamaForCausalLM (MHA, SiLU MLP, RMSNorm, rotate-half RoPE)."""
    dim, heads = cfg["hidden_size"], cfg["num_attention_heads"]
    kv_heads = cfg.get("num_key_value_heads", heads)
    hd = dim // heads
    eps = cfg["rms_norm_eps"]
    inv_freq = 1.0 / (cfg.get("rope_theta", 10000.0) ** (np.arange(0, hd, 2) / hd))
    t = len(ids)
    angles = np.outer(np.arange(t), inv_freq)
    cos = np.cos(np.concatenate([angles, angles], -1))[:, None, :]
    sin = np.sin(np.concatenate([angles, angles], -1))[:, None, :]

    def rms(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * g

    def rope(x):
        x1, x2 = x[..., :hd // 2], x[..., hd // 2:]
        return x * cos + np.concatenate([-x2, x1], -1) * sin

    mask = np.triu(np.full((t, t), -np.inf), 1)
    x = w["model.embed_tokens.weight"][ids]
    for layer in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms(x, w[p + "input_layernorm.weight"])
        q = rope((h @ w[p + "self_attn.q_proj.weight"].T).reshape(t, heads, hd))
        k = rope((h @ w[p + "self_attn.k_proj.weight"].T).reshape(t, kv_heads, hd))
        v = (h @ w[p + "self_attn.v_proj.weight"].T).reshape(t, kv_heads, hd)
        k = np.repeat(k, heads // kv_heads, axis=1)
        v = np.repeat(v, heads // kv_heads, axis=1)
        s = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        x = x + np.einsum("hts,shd->thd", s, v).reshape(t, dim) @ w[p + "self_attn.o_proj.weight"].T
        h = rms(x, w[p + "post_attention_layernorm.weight"])
        g = h @ w[p + "mlp.gate_proj.weight"].T
        u = h @ w[p + "mlp.up_proj.weight"].T
        x = x + ((g / (1 + np.exp(-g))) * u) @ w[p + "mlp.down_proj.weight"].T
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    return rms(x, w["model.norm.weight"]) @ head.T


def decode(d, ids):
    vocab = {i: p for p, i in json.load(open(d + "/tokenizer.json"))["model"]["vocab"].items()}
    out = b""
    for i in ids[1:]:
        piece = vocab[i]
        out += bytes([int(piece[3:5], 16)]) if piece.startswith("<0x") else piece.replace("\u2581", " ").encode()
    return out.decode("utf-8", errors="replace")[1:]


if __name__ == "__main__":
    d = sys.argv[1]
    steps = int(sys.argv[2]) if len(sys.argv) > 2 else 75
    w, cfg = load(d)
    ids = [1, 9038, 2501, 263, 931]
    for _ in range(steps):
        ids.append(int(forward(w, cfg, ids)[-1].argmax()))
    print(ids)
    print(decode(d, ids))
