#!/usr/bin/env python3
"""Greedy reference of the builtin stories15M model from Hugging Face transformers.

Loads the Hugging Face directory that trtllm's converter produced (config.json, model.safetensors,
tokenizer.json) and greedy-decodes MODELS.md's prompt in float32 on the CPU. Run on the GPU machine:

    python3 scripts/reference/stories15m_reference.py --model DIR --out trtllm-core/src/test/resources/reference/stories15M-greedy.json
"""
import argparse
import json

import torch
import transformers
from transformers import AutoModelForCausalLM, PreTrainedTokenizerFast

PROMPT = "Once upon a time"
NEW_TOKENS = 200


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    tok = PreTrainedTokenizerFast(tokenizer_file=f"{args.model}/tokenizer.json")
    ids = tok(PROMPT)["input_ids"]
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32)
    model.eval()
    prompt = torch.tensor([ids])
    with torch.no_grad():
        logits = model(prompt).logits[0]
        out = model.generate(prompt, max_new_tokens=NEW_TOKENS, do_sample=False)[0, len(ids):]
    ref = {
        "generator": "scripts/reference/stories15m_reference.py",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "prompt": PROMPT,
        "prompt_ids": ids,
        # The 20 largest logits of every prompt position: (token id, logit) pairs, largest first.
        "prompt_top_logits": [[[int(i), float(v)] for v, i in zip(*torch.topk(row, 20))] for row in logits],
        "greedy_ids": out.tolist(),
        "greedy_text": tok.decode(out.tolist(), skip_special_tokens=True),
    }
    with open(args.out, "w") as f:
        json.dump(ref, f)
    print(PROMPT + ref["greedy_text"])


if __name__ == "__main__":
    main()
