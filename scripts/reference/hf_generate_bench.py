"""Hugging Face transformers' generate() speed on a checkpoint, the baseline of the CUDA benchmarks.

Greedy, BF16, static KV cache, eager (no torch.compile); a prompt of INPUT random token ids and exactly
OUTPUT new tokens (min_new_tokens = max_new_tokens). Prints single-stream decode tok/s (batch 1) and the
aggregate output tok/s of one batch of BATCH prompts (what `trtllm bench` at that concurrency compares to).

usage: python3 hf_generate_bench.py MODEL_DIR [INPUT=128] [OUTPUT=128] [BATCH=256]
"""
import sys
import time

import torch
from transformers import AutoModelForCausalLM

model_dir = sys.argv[1]
inp, outp, batch = (int(a) for a in (sys.argv[2:5] + ["128", "128", "256"][len(sys.argv[2:5]):]))
model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16).cuda().eval()
g = torch.Generator(device="cuda").manual_seed(0)


def run(b):
    ids = torch.randint(1000, 120000, (b, inp), generator=g, device="cuda")
    kw = dict(max_new_tokens=outp, min_new_tokens=outp, do_sample=False, cache_implementation="static",
              attention_mask=torch.ones_like(ids), pad_token_id=0)
    model.generate(ids, **kw)  # warm-up
    torch.cuda.synchronize()
    t = time.perf_counter()
    out = model.generate(ids, **kw)
    torch.cuda.synchronize()
    dt = time.perf_counter() - t
    return (out.shape[1] - inp) * b / dt, dt


print(f"transformers {__import__('transformers').__version__}, torch {torch.__version__}, {torch.cuda.get_device_name()}")
tps, dt = run(1)
print(f"hf batch 1: {tps:.1f} output tok/s ({inp} in, {outp} out, {dt:.2f} s incl. prefill)")
tps, dt = run(batch)
print(f"hf batch {batch}: {tps:.1f} output tok/s ({inp} in, {outp} out, {dt:.2f} s)")
