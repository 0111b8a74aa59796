#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Writes tests/data/bert/minilm_reference.json for tests/unit/bert_minilm_test.cpp:
sentences, their token ids from Hugging Face `tokenizers` (the model's tokenizer.json, no
truncation), and float64 reference embeddings (tools/reference/lam_reference.py, family bert)
of the sentences listed in REFERENCE on the real all-MiniLM-L6-v2.

    tools/models/fetch-minilm.sh
    python3 tests/data/bert/make_fixture.py --model models/all-MiniLM-L6-v2 \
        --out tests/data/bert/minilm_reference.json
"""
import argparse
import json
import os
import sys

import numpy as np
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
import lam_reference  # noqa: E402

# (anchor, paraphrase): each pair should score above every pairing across topics.
PAIRS = [
    ("A man is playing a guitar.", "A person plays the guitar."),
    ("The stock market fell sharply today.", "Share prices dropped steeply on Wall Street this afternoon."),
    ("A cat is sleeping on the sofa.", "A kitten naps on the couch."),
    ("How do I bake bread at home?", "What is a good recipe for homemade bread?"),
    ("The train to Paris was delayed by two hours.", "Our train to Paris arrived two hours late."),
    ("Heavy rain is expected tomorrow.", "The forecast says it will pour tomorrow."),
    ("She is learning to speak Japanese.", "She studies the Japanese language."),
    ("The hospital opened a new cancer ward.", "A new oncology unit opened at the hospital."),
    ("Children are playing football in the park.", "Kids kick a soccer ball around the park."),
    ("My laptop battery drains very quickly.", "The battery on my notebook computer runs out fast."),
]
LONG = (" ".join([
    "Embedding models map sentences to vectors so that sentences with similar meanings end up close",
    "together, which makes semantic search, clustering and deduplication simple nearest-neighbour",
    "problems. A sidecar daemon can serve such a model to many processes on one machine through",
    "shared memory, batching their requests, caching compiled kernels and keeping every result",
    "independent of which other requests happened to share its batch. Naïve implementations pad",
    "every sequence to the longest one; a careful one packs them instead and masks attention so",
    "that each token only sees the tokens of its own sentence."]))
EXTRA = ["hello", "Résumé naïve café — ünïcödé 東京 tokens!", LONG]
# Sentences whose reference embeddings are stored (the rest only pin the token ids).
REFERENCE = [PAIRS[0][0], PAIRS[0][1], PAIRS[1][0], PAIRS[2][1]] + EXTRA


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    model = lam_reference.load_model(args.model)
    sentences = [s for p in PAIRS for s in p] + EXTRA
    ids = {s: tok.encode(s).ids for s in sentences}
    emb = {s: lam_reference.embed(model, ids[s]) for s in REFERENCE}
    out = {
        "generator": "tests/data/bert/make_fixture.py (float64 lam_reference.py, family bert)",
        "pairs": [list(p) for p in PAIRS],
        "sentences": [{"text": s, "ids": ids[s],
                       **({"embedding": [float("%.9g" % v) for v in emb[s]]} if s in emb else {})}
                      for s in sentences],
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    # Report the reference's own pair scores (for a human reading the commit).
    a = {s: lam_reference.embed(model, ids[s]) for s in sentences}
    for i, (x, y) in enumerate(PAIRS):
        sim = float(a[x] @ a[y])
        cross = max(float(a[x] @ a[q]) for j, p in enumerate(PAIRS) if j != i for q in p)
        print(f"pair {i}: similar {sim:.3f}  best cross {cross:.3f}  ({len(ids[x])}/{len(ids[y])} tokens)")
    print("long text:", len(ids[LONG]), "tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
