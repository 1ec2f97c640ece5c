"""A random-weight checkpoint with the shape of Llama-3.1-8B (BF16), for speed tests on the GPU machine.

Nothing here can download the real weights; timing does not depend on their values. Weights are
N(0, 0.02) (norm scales 1), generated on the GPU from a fixed seed, written as sharded safetensors
with a Hugging Face config.json; the tokenizer files (Llama-3's, 128,256 ids) are copied from a
directory given on the command line.

usage: python3 make_llama8b_shape.py OUT_DIR [TOKENIZER_DIR] [--layers N]
(--layers: fewer than 32 decoder layers, for per-layer profiles; no TOKENIZER_DIR: no tokenizer files,
enough for the runner-level tests that feed token ids)
"""
import json
import shutil
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

args = sys.argv[1:]
layers = 32
if "--layers" in args:
    at = args.index("--layers")
    layers = int(args[at + 1])
    del args[at:at + 2]
out, tok = Path(args[0]), (Path(args[1]) if len(args) > 1 else None)
out.mkdir(parents=True, exist_ok=True)
config = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 4096,
    "intermediate_size": 14336, "num_hidden_layers": layers, "num_attention_heads": 32,
    "num_key_value_heads": 8, "head_dim": 128, "vocab_size": 128256, "max_position_embeddings": 131072,
    "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "hidden_act": "silu", "tie_word_embeddings": False,
    "attention_bias": False, "mlp_bias": False, "bos_token_id": 128000, "eos_token_id": 128001,
    "torch_dtype": "bfloat16",
    "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                     "original_max_position_embeddings": 8192},
}
(out / "config.json").write_text(json.dumps(config, indent=2))
for f in ("tokenizer.json", "tokenizer_config.json") if tok else ():
    shutil.copy(tok / f, out / f)

g = torch.Generator(device="cuda").manual_seed(0)
h, i, v, kv = 4096, 14336, 128256, 8 * 128


def rnd(*shape):
    return (torch.randn(*shape, generator=g, device="cuda", dtype=torch.float32) * 0.02).to(torch.bfloat16).cpu()


shards, weight_map = [], {}
shard = {"model.embed_tokens.weight": rnd(v, h)}
shards.append(shard)
for layer in range(layers):
    p = f"model.layers.{layer}."
    shard = {
        p + "input_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
        p + "post_attention_layernorm.weight": torch.ones(h, dtype=torch.bfloat16),
        p + "self_attn.q_proj.weight": rnd(h, h), p + "self_attn.k_proj.weight": rnd(kv, h),
        p + "self_attn.v_proj.weight": rnd(kv, h), p + "self_attn.o_proj.weight": rnd(h, h),
        p + "mlp.gate_proj.weight": rnd(i, h), p + "mlp.up_proj.weight": rnd(i, h), p + "mlp.down_proj.weight": rnd(h, i),
    }
    shards.append(shard)
shards.append({"model.norm.weight": torch.ones(h, dtype=torch.bfloat16), "lm_head.weight": rnd(v, h)})
total = 0
for n, shard in enumerate(shards):
    name = f"model-{n + 1:05d}-of-{len(shards):05d}.safetensors"
    save_file(shard, str(out / name), metadata={"format": "pt"})
    for k, t in shard.items():
        weight_map[k] = name
        total += t.numel() * 2
(out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map}))
print(f"wrote {out}: {total / 2**30:.1f} GiB in {len(shards)} shards")
