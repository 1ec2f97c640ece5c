#!/usr/bin/env python3
"""Reference tokenizations for trtllm-core's TokenizerParityIT, made with Hugging Face `tokenizers`.

For each tokenizer NAME=PATH (PATH is a tokenizer.json) writes OUT/tokenizer-NAME.json with, for
every text of --texts (a JSON array of strings):

  ids_with_special   encode(text, add_special_tokens=True).ids
  ids                encode(text, add_special_tokens=False).ids
  decoded            decode(ids, skip_special_tokens=False)
  decoded_skip_special  decode(ids_with_special, skip_special_tokens=True)

plus the `tokenizers` version, get_vocab_size(with_added_tokens=True) and the sha256 of the
tokenizer.json (the test checks it against the file it loads).

Usage (from the repository root; needs only `pip install tokenizers`):

  python3 scripts/reference/tokenizer_reference.py \
      --texts trtllm-core/src/test/resources/reference/tokenizer-texts.json \
      --tokenizer qwen3=PATH/qwen3/tokenizer.json \
      --tokenizer llama3=PATH/llama3/tokenizer.json \
      --tokenizer stories15M=PATH/stories15M/tokenizer.json \
      --out trtllm-core/src/test/resources/reference
"""
import argparse
import hashlib
import json
import os

import tokenizers
from tokenizers import Tokenizer


def reference(tokenizer_path, texts):
    with open(tokenizer_path, "rb") as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    tok = Tokenizer.from_file(tokenizer_path)
    # The tokenizer.json as saved: no truncation or padding unless the file itself configures them.
    cases = []
    for text in texts:
        with_special = tok.encode(text, add_special_tokens=True).ids
        without = tok.encode(text, add_special_tokens=False).ids
        cases.append({
            "text": text,
            "ids_with_special": with_special,
            "ids": without,
            "decoded": tok.decode(without, skip_special_tokens=False),
            "decoded_skip_special": tok.decode(with_special, skip_special_tokens=True),
        })
    return {
        "tokenizers_version": tokenizers.__version__,
        "tokenizer_json_sha256": sha256,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "cases": cases,
    }


def write(path, name, ref):
    # One case per line: small diffs, readable files.
    header = {"tokenizer": name, **{k: v for k, v in ref.items() if k != "cases"}}
    lines = ["{"]
    for key, value in header.items():
        lines.append("  %s: %s," % (json.dumps(key), json.dumps(value, ensure_ascii=False)))
    lines.append('  "cases": [')
    cases = [json.dumps(c, ensure_ascii=False) for c in ref["cases"]]
    lines.append(",\n".join("    " + c for c in cases))
    lines.append("  ]")
    lines.append("}")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", required=True, help="JSON array of strings")
    parser.add_argument("--tokenizer", action="append", required=True, metavar="NAME=PATH",
                        help="a tokenizer.json and the name of its reference file (repeatable)")
    parser.add_argument("--out", required=True, help="directory for tokenizer-NAME.json")
    args = parser.parse_args()

    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        parser.error("--texts must be a JSON array of strings")
    os.makedirs(args.out, exist_ok=True)
    for spec in args.tokenizer:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            parser.error("--tokenizer expects NAME=PATH, got " + spec)
        ref = reference(path, texts)
        out = os.path.join(args.out, "tokenizer-%s.json" % name)
        write(out, name, ref)
        print("wrote %s (%d texts, tokenizers %s)" % (out, len(texts), ref["tokenizers_version"]))


if __name__ == "__main__":
    main()
