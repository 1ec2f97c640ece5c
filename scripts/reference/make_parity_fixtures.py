#!/usr/bin/env python3
"""Tiny random-weight checkpoints and Hugging Face reference outputs for the architecture parity tests.

Run on a machine with torch + transformers (the GPU machine; the CPU is used, in float32, so the
reference is deterministic):

    python3 scripts/reference/make_parity_fixtures.py --out trtllm-core/src/test/resources/parity

For each architecture it writes <out>/<name>/ with config.json + model.safetensors (as
save_pretrained writes them) and reference.json: the prompt ids, the logits of every prompt
position, and the greedy continuation. Some checkpoints are saved in bfloat16 / float16 to cover
the engine's half-precision weight paths; their reference is computed in float32 from exactly the
rounded weights that were saved.
"""
import argparse
import json
import os

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM

VOCAB = 256
PROMPT_LEN = 24
NEW_TOKENS = 16

COMMON = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    rms_norm_eps=1e-5,
    hidden_act="silu",
    bos_token_id=1,
    eos_token_id=2,
)

ARCHS = {
    # Llama 3.x shape: GQA, llama3 rope scaling (a small original context so it changes frequencies), tied head.
    "llama3": dict(model_type="llama", dtype=torch.float32, extra=dict(
        rope_theta=500000.0, tie_word_embeddings=True,
        rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                          original_max_position_embeddings=32))),
    # Mistral: sliding window shorter than the prompt, saved in float16.
    "mistral": dict(model_type="mistral", dtype=torch.float16, extra=dict(
        rope_theta=10000.0, sliding_window=8, tie_word_embeddings=False, head_dim=16)),
    # Qwen2: q/k/v bias.
    "qwen2": dict(model_type="qwen2", dtype=torch.float32, extra=dict(
        rope_theta=1000000.0, tie_word_embeddings=False, use_sliding_window=False)),
    # Qwen3: q/k RMSNorm, explicit head_dim different from hidden/heads, saved in bfloat16.
    "qwen3": dict(model_type="qwen3", dtype=torch.bfloat16, extra=dict(
        rope_theta=1000000.0, tie_word_embeddings=False, head_dim=32, attention_bias=False,
        use_sliding_window=False)),
}


def randomize(model, gen):
    """Re-draw every parameter so that the test exercises each weight (norms and biases included)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            else:
                fan_in = p.shape[-1]
                p.copy_(torch.randn(p.shape, generator=gen) / fan_in ** 0.5)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)

    for index, (name, spec) in enumerate(ARCHS.items()):
        gen = torch.Generator().manual_seed(args.seed + index)
        config = AutoConfig.for_model(spec["model_type"], **COMMON, **spec["extra"])
        config._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        randomize(model, gen)
        model.eval()

        out_dir = os.path.join(args.out, name)
        os.makedirs(out_dir, exist_ok=True)
        # Save in the target dtype, then compute the reference in float32 from the rounded weights.
        model.to(spec["dtype"]).save_pretrained(out_dir, safe_serialization=True)
        model = AutoModelForCausalLM.from_pretrained(out_dir, dtype=torch.float32, attn_implementation="eager")
        model.eval()

        prompt = torch.randint(3, VOCAB, (1, PROMPT_LEN), generator=gen)
        prompt[0, 0] = 1
        with torch.no_grad():
            logits = model(prompt).logits[0]
            # No end-of-sequence stop: the engine's test runs with ignore_eos and compares every step.
            model.generation_config.eos_token_id = None
            greedy = model.generate(prompt, max_new_tokens=NEW_TOKENS, do_sample=False, pad_token_id=0,
                                    eos_token_id=None)[0, PROMPT_LEN:]
        ref = {
            "generator": "scripts/reference/make_parity_fixtures.py",
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "saved_dtype": str(spec["dtype"]).replace("torch.", ""),
            "prompt_ids": prompt[0].tolist(),
            "logits": [[float(v) for v in row] for row in logits],
            "greedy_ids": greedy.tolist(),
        }
        with open(os.path.join(out_dir, "reference.json"), "w") as f:
            json.dump(ref, f)
        print(name, "saved", spec["dtype"], "greedy", greedy.tolist())


if __name__ == "__main__":
    main()
