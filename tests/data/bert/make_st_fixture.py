#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/data/bert/st_reference.json: what sentence-transformers itself gives for texts of
every length on the real all-MiniLM-L6-v2 directory, for tests/integration/sentence_transformers_test.cpp
(lamd's text API must equal SentenceTransformer(dir).encode(text) at cosine >= 0.99999).

    tools/models/fetch-minilm.sh
    python3 -m venv /tmp/st && /tmp/st/bin/pip install sentence-transformers   # torch + ~3 GB
    HF_HUB_OFFLINE=1 /tmp/st/bin/python tests/data/bert/make_st_fixture.py \
        --model models/all-MiniLM-L6-v2 --out tests/data/bert/st_reference.json

sentence-transformers needs PyTorch (a 0.5 GB wheel, 3 GB with its CUDA libraries), too heavy
for every CI run on 2 cores: CI compares with these stored outputs, and this script, rerun with
any later sentence-transformers, is how they are checked again.

Two sets: "default" (the directory's own max_seq_length, 256) and "max_seq_length_512" (the same
model with max_seq_length = 512, which lamd gives when a request asks for max_tokens = 512).
"""
import argparse
import json
import os
import sys


def texts():
    words = ("alpha", "Bravo", "charlie", "Delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
    long_words = " ".join(words[i % len(words)] + ("," if i % 7 == 6 else "") for i in range(700))
    return [
        "Hello, world!",
        "",
        "A man is playing a guitar.",
        "THE QUICK BROWN FOX Jumps Over The Lazy Dog",
        "Ünïcödé text — with accents, naïve café, and 漢字 mixed in.",
        "  spaces\tand\nnewlines  ",
        # About 150, 300 and 900 word pieces: below, above and far above max_seq_length = 256.
        " ".join(words[i % len(words)] for i in range(150)),
        " ".join(words[i % len(words)] for i in range(300)),
        long_words,
        "Tokenization of antidisestablishmentarianism and pneumonoultramicroscopicsilicovolcanoconiosis. " * 30,
    ]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import sentence_transformers
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(os.path.abspath(args.model), device="cpu")
    t = texts()
    sets = {}
    default_len = model.max_seq_length
    for name, max_len in (("default", default_len), ("max_seq_length_512", 512)):
        model.max_seq_length = max_len
        emb = model.encode(t, batch_size=len(t), convert_to_numpy=True)
        ids = [model.tokenizer(x, truncation=True, max_length=max_len)["input_ids"] for x in t]
        sets[name] = {
            "max_seq_length": max_len,
            "token_counts": [len(i) for i in ids],
            "embeddings": [[float(v) for v in row] for row in emb],
        }
    doc = {
        "generator": "tests/data/bert/make_st_fixture.py",
        "sentence_transformers": sentence_transformers.__version__,
        "torch": torch.__version__,
        "model": os.path.basename(os.path.abspath(args.model)),
        "texts": t,
        "sets": sets,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {args.out}: {len(t)} texts, default max_seq_length {default_len}", file=sys.stderr)


if __name__ == "__main__":
    main()
