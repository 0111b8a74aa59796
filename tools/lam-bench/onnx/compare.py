#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""all-MiniLM-L6-v2: lamd's CPU backend vs ONNX Runtime on the same sentences, in one run.

Sides, measured interleaved (the order rotates every round, so machine load hits all alike):
  ort     onnxruntime InferenceSession.run on the graph of export_minilm_onnx.py (default graph
          optimisations, CPU provider, intra_op threads = --threads); batches padded to their
          longest sequence, as users do;
  engine  lamd's engine in-process (build/bin/lam-bench-text, CPU backend, --threads);
  lamd    the real daemon (build/bin/lamd --threads N) through liblamclient
          (lam-bench-text --socket), one blocking lam_client_embed_tokens per batch.
Only the embedding calls are timed (no process start, model load, tokenisation or warm-up).
Batch B = consecutive runs of B texts of a fixed, shuffled list (texts.txt: sentences.txt plus
paragraphs of 2-4 of its sentences, built deterministically). Reports sentences/s and p50/p99
per call at each batch size, and the agreement of every side with ORT (and, unless
--no-reference, with the float64 numpy reference of tools/reference) on all texts.

  pip install -r tools/lam-bench/onnx/requirements.txt
  python3 tools/lam-bench/onnx/export_minilm_onnx.py --model models/all-MiniLM-L6-v2 --out /tmp/minilm.onnx --check
  python3 tools/lam-bench/onnx/compare.py --model models/all-MiniLM-L6-v2 --onnx /tmp/minilm.onnx --bin build/bin
"""
import argparse
import datetime
import os
import platform
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tools", "reference"))


def build_texts(n_paragraphs, seed):
    """The sentences of sentences.txt plus paragraphs of 2-4 of them, shuffled (deterministic)."""
    with open(os.path.join(HERE, "sentences.txt"), encoding="utf-8") as f:
        sents = [s.strip() for s in f if s.strip()]
    rng = random.Random(seed)
    paras = [" ".join(rng.sample(sents, rng.randint(2, 4))) for _ in range(n_paragraphs)]
    texts = sents + paras
    rng.shuffle(texts)
    return texts


class Driver:
    """A lam-bench-text process answering line commands."""

    def __init__(self, argv):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("ready "):
            raise RuntimeError(f"{shlex.join(argv)}: did not start (exit {self.p.wait()})")
        self.n, self.dim = (int(x) for x in line.split()[1:])

    def _cmd(self, cmd):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        lines = []
        while True:
            line = self.p.stdout.readline()
            if not line:
                raise RuntimeError(f"{shlex.join(self.argv)}: exited during '{cmd}'")
            if line == "end\n":
                return lines
            lines.append(line.rstrip("\n"))

    def ids(self):
        return [[int(t) for t in l.split()] for l in self._cmd("ids")]

    def bench(self, batch):
        return [int(l.split()[1]) / 1e9 for l in self._cmd(f"bench {batch}")]

    def embed(self, batch, path):
        self._cmd(f"embed {batch} {path}")
        return np.fromfile(path, dtype="<f4").reshape(self.n, self.dim)

    def close(self):
        try:
            self._cmd("quit")
        except (RuntimeError, BrokenPipeError):
            pass
        self.p.wait(timeout=30)


class OrtSide:
    def __init__(self, onnx_path, threads, seqs):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        self.seqs = seqs
        self.feeds = {}

    def _batches(self, batch):
        if batch not in self.feeds:
            feeds = []
            for b in range(0, len(self.seqs), batch):
                chunk = self.seqs[b:b + batch]
                L = max(len(s) for s in chunk)
                ids = np.zeros((len(chunk), L), np.int64)
                mask = np.zeros_like(ids)
                for i, s in enumerate(chunk):
                    ids[i, :len(s)], mask[i, :len(s)] = s, 1
                feeds.append({"input_ids": ids, "attention_mask": mask})
            self.feeds[batch] = feeds
        return self.feeds[batch]

    def bench(self, batch):
        times = []
        for feed in self._batches(batch):
            t0 = time.perf_counter()
            self.sess.run(None, feed)
            times.append(time.perf_counter() - t0)
        return times

    def embed(self, batch):
        return np.concatenate([self.sess.run(None, f)[0] for f in self._batches(batch)])


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def start_lamd(bin_dir, model, threads, sock, log):
    argv = [os.path.join(bin_dir, "lamd"), "--model", model, "--socket", sock, "--backend", "cpu",
            "--threads", str(threads), "--log-level", "warning"]
    p = subprocess.Popen(argv, stdout=log, stderr=log)
    deadline = time.time() + 300
    while not os.path.exists(sock):
        if p.poll() is not None:
            raise RuntimeError(f"lamd exited with {p.returncode} (log: {log.name})")
        if time.time() > deadline:
            p.kill()
            raise RuntimeError("lamd did not create its socket within 300 s")
        time.sleep(0.1)
    return p


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--model", required=True, help="model directory (all-MiniLM-L6-v2)")
    ap.add_argument("--onnx", required=True, help="graph written by export_minilm_onnx.py")
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "bin"),
                    help="directory with lamd and lam-bench-text (default build/bin)")
    ap.add_argument("--sides", default="ort,engine,lamd", help="comma list of ort,engine,lamd")
    ap.add_argument("--batches", default="1,32", help="batch sizes (default 1,32)")
    ap.add_argument("--threads", type=int, default=2, help="threads for every side (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="timed passes per side and batch")
    ap.add_argument("--paragraphs", type=int, default=106,
                    help="paragraphs added to the 150 sentences (default 106: 256 texts)")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--no-reference", action="store_true", help="skip the float64 reference check")
    args = ap.parse_args(argv)
    sides = [s for s in args.sides.split(",") if s]
    batches = [int(b) for b in args.batches.split(",") if b]
    if not set(sides) <= {"ort", "engine", "lamd"}:
        ap.error("--sides takes ort, engine, lamd")

    import onnxruntime
    from tokenizers import Tokenizer

    work = tempfile.mkdtemp(prefix="lam-onnx-compare-")
    texts = build_texts(args.paragraphs, args.seed)
    texts_path = os.path.join(work, "texts.txt")
    with open(texts_path, "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")

    # ORT gets the HF `tokenizers` ids (what its users run); lamd its own tokenizer's ids.
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    hf_ids = [e.ids for e in tok.encode_batch(texts)]
    lens = np.array([len(s) for s in hf_ids])
    if lens.max() > 256:
        sys.exit(f"a text has {lens.max()} tokens; the model's sentence-transformers limit is 256")

    load_before = loadavg()
    procs, drivers = [], {}
    log = open(os.path.join(work, "lamd.log"), "w")
    try:
        tok_driver = None
        if "engine" in sides:
            drivers["engine"] = Driver([os.path.join(args.bin, "lam-bench-text"), "--texts", texts_path,
                                        "--model", args.model, "--threads", str(args.threads)])
            tok_driver = drivers["engine"]
        if "lamd" in sides:
            sock = os.path.join(work, "lamd.sock")
            procs.append(start_lamd(args.bin, args.model, args.threads, sock, log))
            drivers["lamd"] = Driver([os.path.join(args.bin, "lam-bench-text"), "--texts", texts_path,
                                      "--model", args.model, "--socket", sock])
            tok_driver = tok_driver or drivers["lamd"]
        lamd_ids = tok_driver.ids() if tok_driver else hf_ids
        mismatched = [i for i, (a, b) in enumerate(zip(hf_ids, lamd_ids)) if a != b]
        if len(lamd_ids) != len(hf_ids) or mismatched:
            sys.exit(f"tokenizers disagree on {len(mismatched)} texts, first: {texts[mismatched[0]]!r}")

        runners = {}
        if "ort" in sides:
            runners["ort"] = OrtSide(args.onnx, args.threads, hf_ids)
        runners.update(drivers)

        # Warm-up: one pass per side at every batch size (allocations, thread pools, caches).
        for b in batches:
            for s in sides:
                runners[s].bench(b)
        times = {(s, b): [] for s in sides for b in batches}
        per_round = {(s, b): [] for s in sides for b in batches}
        for r in range(args.rounds):
            for b in batches:
                order = sides[r % len(sides):] + sides[:r % len(sides)]
                for s in order:
                    t = runners[s].bench(b)
                    times[(s, b)] += t
                    per_round[(s, b)].append(len(texts) / sum(t))
        load_after = loadavg()

        # Agreement on every text: each side at batch 32 (and ORT at batch 1) vs ORT batch 1.
        embs = {}
        if "ort" in runners:
            embs["ort b1"] = runners["ort"].embed(1)
            embs["ort b32"] = runners["ort"].embed(32)
        for s, d in drivers.items():
            embs[f"{s} b1"] = d.embed(1, os.path.join(work, f"{s}1.f32"))
            embs[f"{s} b32"] = d.embed(32, os.path.join(work, f"{s}32.f32"))
        refs = None
        if not args.no_reference:
            import lam_reference as ref
            model = ref.load_model(args.model)
            refs = np.stack([ref.embed(model, s) for s in hf_ids])
    finally:
        for d in drivers.values():
            d.close()
        for p in procs:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        log.close()

    def cos(a, b):
        return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    base = embs.get("ort b1")
    print(f"- machine: {cpu_model()}, {os.cpu_count()} logical cores, {platform.system()} {platform.release()}")
    print(f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%MZ')}, "
          f"lamd commit {git_commit()}, onnxruntime {onnxruntime.__version__} "
          f"(CPUExecutionProvider, default graph optimisations, intra_op {args.threads}, inter_op 1)")
    print(f"- texts: {len(texts)} ({len(texts) - args.paragraphs} sentences + {args.paragraphs} "
          f"paragraphs), tokens per text mean {lens.mean():.1f}, median {int(np.median(lens))}, "
          f"max {lens.max()}; " + (f"lamd's tokenizer and HF tokenizers agree on all {len(texts)} texts"
                                  if drivers else "lamd tokenizer not run"))
    print(f"- threads {args.threads} per side, {args.rounds} rounds after 1 warm-up pass; "
          f"load average before {load_before}, after {load_after}")
    print(f"- command: {shlex.join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:]))}")
    print()
    print("| side | batch | sentences/s | per-round range | p50 ms/call | p99 ms/call | vs ORT (sentences/s) |")
    print("|---|---|---|---|---|---|---|")
    for b in batches:
        for s in sides:
            t = np.array(times[(s, b)])
            sps = len(texts) * args.rounds / t.sum()
            rel = ""
            if "ort" in sides:
                ort_sps = len(texts) * args.rounds / np.sum(times[("ort", b)])
                rel = f"{sps / ort_sps:.2f}x"
            pr = per_round[(s, b)]
            print(f"| {s} | {b} | {sps:.1f} | {min(pr):.1f}-{max(pr):.1f} | "
                  f"{np.percentile(t, 50) * 1e3:.2f} | {np.percentile(t, 99) * 1e3:.2f} | {rel} |")
    print()
    print("| embeddings | max abs diff vs ORT b1 | min cosine vs ORT b1 | max abs diff vs float64 ref | min cosine vs float64 ref |")
    print("|---|---|---|---|---|")
    for name, e in embs.items():
        c1 = f"{np.abs(e - base).max():.2e} | {cos(e, base).min():.8f}" if base is not None else "- | -"
        c2 = f"{np.abs(e - refs).max():.2e} | {cos(e, refs).min():.8f}" if refs is not None else "- | -"
        print(f"| {name} | {c1} | {c2} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
