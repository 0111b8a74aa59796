#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden embeddings from the float64 reference, for the engine's golden tests.

    make_golden.py --model DIR --lengths 1,5,31,32,33 --seed 1 --out golden.json

For each length L: token ids [CLS] + L-2 random ids from [999, vocab) + [SEP] (L = 1: [CLS]),
drawn from one numpy Generator(seed) in the order given, and the reference embedding in float64.
Lengths above the model's max_tokens are written with "embedding": null and
"expect_error": "SEQUENCE_TOO_LONG". Output JSON (floats written with full repr precision):
  {"model": DIR, "family": ..., "variant": ..., "seed": N, "max_tokens": ...,
   "inputs": SHA-256, "cases": [{"length": L, "ids": [...], "embedding": [...384 floats...]}, ...]}

"inputs" hashes everything the output depends on (the model's files, the lengths, the seed, this
script and lam_reference.py). An --out that already carries the same hash is kept (only its
"model" path is updated), so a second build tree given a copy of the first one's outputs (the
ASan stage of tools/run-tests.sh) does not recompute them. --stored FILE names a committed copy
(tests/golden/data/): when it carries the same hash it becomes --out, and the reference is not
run. After a change to lam-mkmodel, the golden lengths or the reference, the build recomputes
its outputs; refresh the committed copies with `cp build/tests/golden/data/*.json
tests/golden/data/` (a stale copy only costs the recomputation).
"""
import hashlib
import argparse
import json
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # see lam_reference.py
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lam_reference as ref  # noqa: E402

CLS, SEP, FIRST_WORD = 101, 102, 999


def token_ids(rng, length, vocab):
    if length == 1:
        return [CLS]
    mid = rng.integers(FIRST_WORD, vocab, size=length - 2).tolist()
    return [CLS] + mid + [SEP]


def inputs_hash(model_dir, lengths, seed):
    h = hashlib.sha256()
    here = os.path.dirname(os.path.abspath(__file__))
    files = [os.path.join(model_dir, n) for n in sorted(os.listdir(model_dir))
             if os.path.isfile(os.path.join(model_dir, n))]
    files += [os.path.join(here, "make_golden.py"), os.path.join(here, "lam_reference.py")]
    for path in files:
        h.update(os.path.basename(path).encode() + b"\0")
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    h.update(json.dumps({"lengths": lengths, "seed": seed}).encode())
    return h.hexdigest()


def reuse(out, inputs, model_dir, source=None):
    """True if `out` (or `source`, then written to `out`) holds the outputs of exactly these
    inputs (its model path then updated)."""
    try:
        with open(source or out) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return False
    if not isinstance(doc, dict) or doc.get("inputs") != inputs:
        return False
    doc["model"] = os.path.abspath(model_dir)
    tmp = out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, out)
    return True


def main(argv=None):
    ap = argparse.ArgumentParser(description="write reference golden embeddings")
    ap.add_argument("--model", required=True)
    ap.add_argument("--lengths", required=True, help="comma-separated sequence lengths")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    ap.add_argument("--stored", help="a committed output to take when its inputs hash matches")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    lengths = [int(x) for x in args.lengths.split(",") if x.strip()]
    if not lengths or min(lengths) < 1:
        ap.error("--lengths must be positive integers")

    inputs = inputs_hash(args.model, lengths, args.seed)
    if reuse(args.out, inputs, args.model):
        if not args.quiet:
            print(f"{args.out}: up to date", file=sys.stderr)
        return 0
    if args.stored and reuse(args.out, inputs, args.model, source=args.stored):
        if not args.quiet:
            print(f"{args.out}: taken from {args.stored} (same inputs)", file=sys.stderr)
        return 0
    if args.stored:
        print(f"{args.stored}: stale or missing (other inputs): recomputing the reference", file=sys.stderr)

    model = ref.load_model(args.model)
    vocab = model.emb["word"].shape[0]
    if vocab <= FIRST_WORD:
        ap.error(f"vocabulary of {vocab} is too small (random ids start at {FIRST_WORD})")
    rng = np.random.default_rng(args.seed)
    cases = []
    t0 = time.time()
    for L in lengths:
        ids = token_ids(rng, L, vocab)
        case = {"length": L, "ids": ids}
        if L > model.max_tokens:
            case["embedding"] = None
            case["expect_error"] = "SEQUENCE_TOO_LONG"
        else:
            t = time.time()
            case["embedding"] = ref.embed(model, ids).tolist()
            if not args.quiet:
                print(f"{args.model}: L={L} {time.time() - t:.2f}s", file=sys.stderr)
        cases.append(case)
    doc = {"model": os.path.abspath(args.model), "family": model.family, "variant": model.variant,
           "seed": args.seed, "max_tokens": model.max_tokens, "inputs": inputs, "cases": cases}
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, args.out)
    if not args.quiet:
        print(f"{args.out}: {len(cases)} cases in {time.time() - t0:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
