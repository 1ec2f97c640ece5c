"""A random-weight Llama checkpoint of a chosen shape (F32), for CPU speed tests on weights that do not fit the caches.

Timing does not depend on the weights' values: they are N(0, 0.02) from a fixed seed (norm scales 1), written as one
safetensors file (its header written here: numpy only, no torch) with a Hugging Face config.json. The tokenizer files
are copied from a directory given on the command line (the shapes below have Llama 2's 32,000-id vocabulary, so
stories15M's tokenizer serves them).

usage: python3 make_llama_shape.py OUT_DIR [TOKENIZER_DIR] [--shape llama300m|tinyllama]

  llama300m  hidden 1024, 20 layers, 16 heads (4 KV heads, head 64), intermediate 2816: ≈ 290 M parameters, 1.2 GB
  tinyllama  TinyLlama-1.1B's shape (hidden 2048, 22 layers, 32 heads, 4 KV heads, intermediate 5632): 4.4 GB
"""
import json
import shutil
import struct
import sys
from pathlib import Path

import numpy as np

SHAPES = {
    "llama300m": dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=20, num_attention_heads=16,
                      num_key_value_heads=4),
    "tinyllama": dict(hidden_size=2048, intermediate_size=5632, num_hidden_layers=22, num_attention_heads=32,
                      num_key_value_heads=4),
}

args = sys.argv[1:]
shape = "llama300m"
if "--shape" in args:
    at = args.index("--shape")
    shape = args[at + 1]
    del args[at:at + 2]
if not args or shape not in SHAPES:
    sys.exit(__doc__)
out, tok = Path(args[0]), (Path(args[1]) if len(args) > 1 else None)
out.mkdir(parents=True, exist_ok=True)
s = SHAPES[shape]
config = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", **s, "vocab_size": 32000,
    "max_position_embeddings": 2048, "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "hidden_act": "silu",
    "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False, "bos_token_id": 1, "eos_token_id": 2,
    "torch_dtype": "float32",
}
(out / "config.json").write_text(json.dumps(config, indent=2))
for f in ("tokenizer.json", "tokenizer_config.json") if tok else ():
    shutil.copy(tok / f, out / f)

h, i, v = s["hidden_size"], s["intermediate_size"], 32000
head = h // s["num_attention_heads"]
kv = s["num_key_value_heads"] * head
shapes = {"model.embed_tokens.weight": (v, h)}
for layer in range(s["num_hidden_layers"]):
    p = f"model.layers.{layer}."
    shapes.update({
        p + "input_layernorm.weight": (h,), p + "post_attention_layernorm.weight": (h,),
        p + "self_attn.q_proj.weight": (h, h), p + "self_attn.k_proj.weight": (kv, h),
        p + "self_attn.v_proj.weight": (kv, h), p + "self_attn.o_proj.weight": (h, h),
        p + "mlp.gate_proj.weight": (i, h), p + "mlp.up_proj.weight": (i, h), p + "mlp.down_proj.weight": (h, i),
    })
shapes["model.norm.weight"] = (h,)
shapes["lm_head.weight"] = (v, h)

# safetensors: an 8-byte little-endian header length, the JSON header (offsets into the data), then the data.
header, offset = {}, 0
for name, dims in shapes.items():
    n = int(np.prod(dims)) * 4
    header[name] = {"dtype": "F32", "shape": list(dims), "data_offsets": [offset, offset + n]}
    offset += n
text = json.dumps(header).encode()
text += b" " * (-len(text) % 8)
rng = np.random.default_rng(0)
with open(out / "model.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(text)))
    f.write(text)
    for name, dims in shapes.items():
        if name.endswith("norm.weight"):
            f.write(np.ones(dims, dtype="<f4").tobytes())
        else:
            for rows in np.array_split(np.arange(dims[0]), max(1, dims[0] // 4096)):
                f.write((rng.standard_normal((len(rows),) + tuple(dims[1:]), dtype=np.float32) * 0.02).astype("<f4").tobytes())
print(f"{out}: {shape}, {offset / 1e9:.2f} GB of F32 weights")
