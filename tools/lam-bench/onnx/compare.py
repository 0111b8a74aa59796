#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""all-MiniLM-L6-v2: lamd vs its peers on the CPU (ONNX Runtime, sentence-transformers), one run.

Sides, measured interleaved (the order rotates every round, so machine load hits all alike):
  ort        onnxruntime InferenceSession.run on the graph of export_minilm_onnx.py (default graph
             optimisations, CPU provider, intra_op threads = --threads); batches padded to their
             longest sequence, as users do;
  st         sentence-transformers on PyTorch: SentenceTransformer(model, device='cpu')
             .encode(batch, batch_size=B), torch threads = --threads; its timing includes its own
             tokenisation (the line "st tokenisation" says how much);
  engine     lamd's engine in-process (lam-bench-text, CPU backend, fp32, --threads);
  lamd       the real daemon (lamd --backend cpu --threads N --precision fp32) through
             liblamclient (lam-bench-text --socket), one blocking lam_client_embed_tokens per batch;
  lamd-bf16  the same with --precision bf16 (AVX512_BF16/AMX CPUs; elsewhere lamd refuses to
             start and the side is reported as skipped with lamd's message).
Only the embedding calls are timed (no process start, model load, tokenisation or warm-up, except
st's tokenisation). Cases: batch 1 and 32 over "short" texts (sentences.txt plus paragraphs of 2-4
of its sentences, shuffled), batch 32 over the same texts sorted by token length (what
sentence-transformers does inside encode()), and batch 1 and 32 over "128-token" texts (paragraphs
cut at the last word that keeps them within 128 tokens). Then, with --procs, N client processes
(multiproc_client.py) each embed batch-1 texts back to back for --proc-seconds against one lamd,
versus N processes each with its own ORT session (intra_op 1): aggregate sentences/s, p50/p99 per
call, and resident memory. Prints the machine (CPU, ISA flags, versions), Markdown tables for
BENCHMARKS.md, the agreement of every side with ORT (and, unless --no-reference, with the float64
numpy reference of tools/reference), and issue 14's targets met or not.

  pip install -r tools/lam-bench/onnx/requirements.txt -r tools/lam-bench/onnx/requirements-torch.txt
  python3 tools/lam-bench/onnx/export_minilm_onnx.py --model models/all-MiniLM-L6-v2 --out build-ort/minilm.onnx --check
  python3 tools/lam-bench/onnx/compare.py --model models/all-MiniLM-L6-v2 --onnx build-ort/minilm.onnx --bin build/bin
"""
import argparse
import datetime
import importlib.metadata
import json
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

ALL_SIDES = ["ort", "st", "engine", "lamd", "lamd-bf16"]
DAEMONS = {"lamd": "fp32", "lamd-bf16": "bf16"}


def read_sentences():
    with open(os.path.join(HERE, "sentences.txt"), encoding="utf-8") as f:
        return [s.strip() for s in f if s.strip()]


def build_texts(n_paragraphs, seed):
    """The sentences of sentences.txt plus paragraphs of 2-4 of them, shuffled (deterministic)."""
    sents = read_sentences()
    rng = random.Random(seed)
    paras = [" ".join(rng.sample(sents, rng.randint(2, 4))) for _ in range(n_paragraphs)]
    texts = sents + paras
    rng.shuffle(texts)
    return texts


def build_long_texts(n, target, tok, seed):
    """n paragraphs of random sentences, each cut at the last whole word that keeps it within
    target tokens ([CLS] and [SEP] included) by the HF tokenizer (deterministic)."""
    sents = read_sentences()
    rng = random.Random(seed + 1)
    count = lambda words: len(tok.encode(" ".join(words)).ids)  # noqa: E731
    out = []
    while len(out) < n:
        words = " ".join(rng.sample(sents, 16)).split()
        lo, hi = 1, len(words)  # the largest prefix with <= target tokens
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if count(words[:mid]) <= target:
                lo = mid
            else:
                hi = mid - 1
        out.append(" ".join(words[:lo]))
    return out


class TextSet:
    """A named list of texts (in batch order), its HF token ids and its file for lam-bench-text."""

    def __init__(self, name, texts, tok, work):
        self.name, self.texts = name, texts
        self.ids = [e.ids for e in tok.encode_batch(texts)]
        self.lens = np.array([len(s) for s in self.ids])
        self.path = os.path.join(work, f"{name}.txt")
        with open(self.path, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")


class Driver:
    """A lam-bench-text process answering line commands (one per text set)."""

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
    """ONNX Runtime over one text set: batches padded to their longest sequence."""

    def __init__(self, sess, seqs):
        self.sess, self.seqs, self.feeds = sess, seqs, {}

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

    def embed(self, batch, _path=None):
        return np.concatenate([self.sess.run(None, f)[0] for f in self._batches(batch)])


class StSide:
    """sentence-transformers over one text set: encode() per batch of texts, as users call it."""

    def __init__(self, model, texts):
        self.model, self.texts = model, texts

    def bench(self, batch):
        times = []
        for b in range(0, len(self.texts), batch):
            chunk = self.texts[b:b + batch]
            t0 = time.perf_counter()
            self.model.encode(chunk, batch_size=batch, convert_to_numpy=True)
            times.append(time.perf_counter() - t0)
        return times

    def tokenize_times(self, batch):
        prep = getattr(self.model, "preprocess", None) or self.model.tokenize  # renamed in ST 6
        times = []
        for b in range(0, len(self.texts), batch):
            t0 = time.perf_counter()
            prep(self.texts[b:b + batch])
            times.append(time.perf_counter() - t0)
        return times

    def embed(self, batch, _path=None):
        return self.model.encode(self.texts, batch_size=batch, convert_to_numpy=True)


def lscpu():
    try:
        out = subprocess.run(["lscpu"], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    return {k.strip(): v.strip() for k, v in (l.split(":", 1) for l in out.splitlines() if ":" in l)}


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def machine_lines():
    info, flags = lscpu(), cpu_flags()
    model = info.get("Model name", platform.processor() or "unknown")
    try:
        cores = int(info["Core(s) per socket"]) * int(info["Socket(s)"])
    except (KeyError, ValueError):
        cores = "?"
    isa = ["avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16", "amx_tile"]
    have = ", ".join(f for f in isa if f in flags) or "none"
    lack = ", ".join(f for f in isa if f not in flags) or "none"
    return (f"{model}, {cores} cores, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}",
            f"ISA flags: {have}; absent: {lack}")


def version(pkg):
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def git_commit():
    try:
        return subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=True,
                              capture_output=True, text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def loadavg():
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def proc_status_kib(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return -1


def start_lamd(bin_dir, model, threads, precision, sock, log_path):
    """Starts lamd; returns (process, None), or (None, why) when lamd exits before serving."""
    argv = [os.path.join(bin_dir, "lamd"), "--model", model, "--socket", sock, "--backend", "cpu",
            "--threads", str(threads), "--precision", precision, "--log-level", "warning"]
    with open(log_path, "w") as log:
        p = subprocess.Popen(argv, stdout=log, stderr=log)
    deadline = time.time() + 300
    while not os.path.exists(sock):
        if p.poll() is not None:
            with open(log_path) as f:
                lines = [l.strip() for l in f if l.strip()]
            return None, f"lamd --precision {precision} exited with {p.returncode}: " + (
                lines[-1] if lines else "(no output)")
        if time.time() > deadline:
            p.kill()
            raise RuntimeError(f"lamd --precision {precision} did not create its socket within 300 s")
        time.sleep(0.1)
    return p, None


def stop(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def served_precision(sock):
    try:
        import lamclient
        with lamclient.Client(sock) as c:
            return c.model_info().precision
    except Exception as e:  # noqa: BLE001 (informational only)
        return f"unknown ({type(e).__name__})"


def run_procs(kind, target, n, seconds, ids_path, env):
    """n multiproc_client.py processes of one kind; returns their JSON results."""
    argv = [sys.executable, os.path.join(HERE, "multiproc_client.py"), kind, target, ids_path]
    procs = [subprocess.Popen(argv + [str(i * 7)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              text=True, env=env) for i in range(n)]
    try:
        for p in procs:
            if p.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {kind} client did not start (exit {p.wait()})")
        start = time.time() + 0.5
        for p in procs:
            p.stdin.write(f"{start} {seconds}\n")
            p.stdin.flush()
        results = []
        for p in procs:
            line = p.stdout.readline()
            if not line:
                raise RuntimeError(f"a {kind} client exited with {p.wait()} before reporting")
            results.append(json.loads(line))
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.stdin.close()
                p.wait(timeout=60)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--model", required=True, help="model directory (all-MiniLM-L6-v2)")
    ap.add_argument("--onnx", required=True, help="graph written by export_minilm_onnx.py")
    ap.add_argument("--bin", default=os.path.join(REPO, "build", "bin"),
                    help="directory with lamd and lam-bench-text (default build/bin); liblamclient "
                         "is looked for in ../lib beside it")
    ap.add_argument("--sides", default=",".join(ALL_SIDES), help="comma list of " + ",".join(ALL_SIDES))
    ap.add_argument("--threads", type=int, default=2, help="threads for every side (default 2)")
    ap.add_argument("--rounds", type=int, default=3, help="timed passes per side and case")
    ap.add_argument("--paragraphs", type=int, default=106,
                    help="paragraphs added to the 150 sentences (default 106: 256 short texts)")
    ap.add_argument("--long-texts", type=int, default=64, help="128-token texts (default 64; 0: none)")
    ap.add_argument("--long-tokens", type=int, default=128, help="tokens per long text at most (default 128)")
    ap.add_argument("--procs", default="1,4,16,64",
                    help="client process counts for the multi-process case (default 1,4,16,64; '' none)")
    ap.add_argument("--proc-seconds", type=float, default=10, help="timed seconds per process count")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--no-reference", action="store_true", help="skip the float64 reference check")
    args = ap.parse_args(argv)
    sides = [s for s in args.sides.split(",") if s]
    procs_list = [int(n) for n in args.procs.split(",") if n.strip()]
    if not set(sides) <= set(ALL_SIDES):
        ap.error("--sides takes " + ",".join(ALL_SIDES))

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    lib_dir = os.path.abspath(os.path.join(args.bin, "..", "lib"))
    if os.path.exists(os.path.join(lib_dir, "liblamclient.so.0")):
        os.environ.setdefault("LAM_CLIENT_LIBRARY", os.path.join(lib_dir, "liblamclient.so.0"))
    sys.path.insert(0, os.path.join(REPO, "client", "python"))

    import onnxruntime as ort
    from tokenizers import Tokenizer

    machine, isa = machine_lines()
    work = tempfile.mkdtemp(prefix="lam-onnx-compare-")
    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    short = TextSet("short", build_texts(args.paragraphs, args.seed), tok, work)
    order = sorted(range(len(short.texts)), key=lambda i: (short.lens[i], i))
    sets = {"short": short, "sorted": TextSet("sorted", [short.texts[i] for i in order], tok, work)}
    if args.long_texts:
        long_texts = build_long_texts(args.long_texts, args.long_tokens, tok, args.seed)
        long_texts.sort(key=lambda t: len(tok.encode(t).ids))
        sets["long"] = TextSet("long", long_texts, tok, work)
    for s in sets.values():
        if s.lens.max() > 256:
            sys.exit(f"a {s.name} text has {s.lens.max()} tokens; the model's sentence-transformers limit is 256")
    # (label, set, batch): batch 1 over unsorted texts (order does not matter at batch 1).
    cases = [("short, batch 1", "short", 1), ("short unsorted, batch 32", "short", 32),
             ("short length-sorted, batch 32", "sorted", 32)]
    if "long" in sets:
        cases += [(f"{args.long_tokens}-token, batch 1", "long", 1),
                  (f"{args.long_tokens}-token, batch 32", "long", 32)]

    load_before = loadavg()
    skipped, daemons, drivers, runners, precisions = {}, {}, [], {}, {}
    st_tok = {}
    procs_rows = []
    try:
        for side in [s for s in sides if s in DAEMONS]:
            sock = os.path.join(work, f"{side}.sock")
            p, why = start_lamd(args.bin, args.model, args.threads, DAEMONS[side], sock,
                                os.path.join(work, f"{side}.log"))
            if p is None:
                skipped[side] = why
                continue
            daemons[side] = (p, sock)
            precisions[side] = served_precision(sock)
        run_sides = [s for s in sides if s not in skipped]
        ort_sess = None
        if "ort" in run_sides:
            so = ort.SessionOptions()
            so.intra_op_num_threads = args.threads
            so.inter_op_num_threads = 1
            ort_sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
        st_model = None
        if "st" in run_sides:
            import torch
            from sentence_transformers import SentenceTransformer
            torch.set_num_threads(args.threads)
            st_model = SentenceTransformer(args.model, device="cpu")
        for name, ts in sets.items():
            for side in run_sides:
                if side == "ort":
                    runners[(side, name)] = OrtSide(ort_sess, ts.ids)
                elif side == "st":
                    runners[(side, name)] = StSide(st_model, ts.texts)
                else:
                    cmd = [os.path.join(args.bin, "lam-bench-text"), "--texts", ts.path, "--model", args.model]
                    cmd += ["--threads", str(args.threads)] if side == "engine" else ["--socket", daemons[side][1]]
                    d = Driver(cmd)
                    drivers.append(d)
                    runners[(side, name)] = d
                    # ORT and st get the HF `tokenizers` ids; lamd its own tokenizer's: they must agree.
                    lamd_ids = d.ids()
                    bad = [i for i, (a, b) in enumerate(zip(ts.ids, lamd_ids)) if a != b]
                    if len(lamd_ids) != len(ts.ids) or bad:
                        sys.exit(f"tokenizers disagree on {len(bad)} {name} texts, first: {ts.texts[bad[0]]!r}")

        # Warm-up: one pass per side and case (allocations, thread pools, caches).
        for _, set_name, b in cases:
            for s in run_sides:
                runners[(s, set_name)].bench(b)
        times = {(s, c[0]): [] for s in run_sides for c in cases}
        per_round = {(s, c[0]): [] for s in run_sides for c in cases}
        for r in range(args.rounds):
            for label, set_name, b in cases:
                order = run_sides[r % len(run_sides):] + run_sides[:r % len(run_sides)]
                for s in order:
                    t = runners[(s, set_name)].bench(b)
                    times[(s, label)] += t
                    per_round[(s, label)].append(len(sets[set_name].texts) / sum(t))
        if st_model is not None:
            for label, set_name, b in cases:
                st_tok[label] = runners[("st", set_name)].tokenize_times(b)

        # Agreement on every text of the short and long sets: each side at batch 1 and 32 vs ORT b1.
        embs = {}
        for name in [n for n in ("short", "long") if n in sets]:
            for s in run_sides:
                for b in (1, 32):
                    embs[(name, f"{s} b{b}")] = runners[(s, name)].embed(b, os.path.join(work, f"{s}{name}{b}.f32"))
        refs = {}
        if not args.no_reference:
            import lam_reference as ref
            model = ref.load_model(args.model)
            for name in [n for n in ("short", "long") if n in sets]:
                refs[name] = np.stack([ref.embed(model, s) for s in sets[name].ids])

        for d in drivers:
            d.close()
        drivers = []
        runners = {}
        st_model = None
        ort_sess = None

        # Multi-process case: N clients at batch 1 against one lamd vs N ORT processes.
        if procs_list:
            ids_path = os.path.join(work, "procs_ids.json")
            with open(ids_path, "w") as f:
                json.dump(short.ids, f)
            env = dict(os.environ, OMP_NUM_THREADS="1",
                       PYTHONPATH=os.pathsep.join([os.path.join(REPO, "client", "python")] +
                                                  [p for p in [os.environ.get("PYTHONPATH")] if p]))
            proc_sides = [s for s in ("ort", "lamd", "lamd-bf16") if s in run_sides]
            for k, n in enumerate(procs_list):
                order = proc_sides if k % 2 == 0 else proc_sides[::-1]
                for s in order:
                    res = run_procs("ort" if s == "ort" else "lamd", args.onnx if s == "ort" else daemons[s][1],
                                    n, args.proc_seconds, ids_path, env)
                    lat = np.concatenate([np.array(r["lat_ns"], dtype=np.float64) for r in res]) / 1e6
                    rate = sum(r["calls"] / r["last"] for r in res if r["calls"] and r["last"] > 0)
                    server = None
                    if s in daemons:
                        server = proc_status_kib(daemons[s][0].pid, "VmRSS")
                    procs_rows.append({"n": n, "side": s, "sps": rate, "calls": int(sum(r["calls"] for r in res)),
                                       "p50": np.percentile(lat, 50) if len(lat) else float("nan"),
                                       "p99": np.percentile(lat, 99) if len(lat) else float("nan"),
                                       "client_peak_mib": sum(r["peak_rss_kib"] for r in res) / 1024,
                                       "server_mib": server / 1024 if server else None})
        server_hwm = {s: proc_status_kib(p.pid, "VmHWM") / 1024 for s, (p, _) in daemons.items()}
        load_after = loadavg()
    finally:
        for d in drivers:
            d.close()
        for p, _ in daemons.values():
            stop(p)

    def cos(a, b):
        return np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)

    def describe(ts):
        return f"mean {ts.lens.mean():.1f}, median {int(np.median(ts.lens))}, min {ts.lens.min()}, max {ts.lens.max()}"

    print(f"- machine: {machine}")
    print(f"- {isa}")
    print(f"- date: {datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%MZ')}, "
          f"lamd commit {git_commit()} (binaries from {os.path.abspath(args.bin)})")
    print(f"- versions: python {platform.python_version()}, onnxruntime {version('onnxruntime')} "
          f"(CPUExecutionProvider, default graph optimisations, intra_op {args.threads}, inter_op 1), "
          f"torch {version('torch')}, sentence-transformers {version('sentence-transformers')}, "
          f"transformers {version('transformers')}, tokenizers {version('tokenizers')}, numpy {version('numpy')}")
    print(f"- texts: short {len(short.texts)} ({len(short.texts) - args.paragraphs} sentences + {args.paragraphs} "
          f"paragraphs; tokens {describe(short)})" +
          (f"; {args.long_tokens}-token {len(sets['long'].texts)} (tokens {describe(sets['long'])})"
           if "long" in sets else "") +
          ("; lamd's tokenizer and HF tokenizers agree on every text" if any(
              s in run_sides for s in ("engine", "lamd", "lamd-bf16")) else ""))
    print(f"- threads {args.threads} per side, {args.rounds} rounds after 1 warm-up pass; "
          f"load average before {load_before}, after {load_after}")
    for s, prec in precisions.items():
        print(f"- {s}: lamd serves precision {prec}")
    for s, why in skipped.items():
        print(f"- {s}: skipped: {why}")
    print(f"- command: {shlex.join([sys.argv[0]] + (argv if argv is not None else sys.argv[1:]))}")
    print()
    sps = {}
    print("| case | side | sentences/s | per-round range | p50 ms/call | p99 ms/call | vs ORT (sentences/s) |")
    print("|---|---|---|---|---|---|---|")
    for label, set_name, b in cases:
        n_texts = len(sets[set_name].texts)
        for s in run_sides:
            t = np.array(times[(s, label)])
            sps[(s, label)] = n_texts * args.rounds / t.sum()
            rel = f"{sps[(s, label)] / sps[('ort', label)]:.2f}x" if "ort" in run_sides else ""
            pr = per_round[(s, label)]
            print(f"| {label} | {s} | {sps[(s, label)]:.1f} | {min(pr):.1f}-{max(pr):.1f} | "
                  f"{np.percentile(t, 50) * 1e3:.2f} | {np.percentile(t, 99) * 1e3:.2f} | {rel} |")
        for s in [s for s in sides if s in skipped]:
            print(f"| {label} | {s} | skipped | | | | |")
    if st_tok:
        print()
        print("st tokenisation (included in st's times above), p50 ms per call: " + "; ".join(
            f"{label} {np.percentile(t, 50) * 1e3:.2f}" for label, t in st_tok.items()))

    if procs_rows:
        print()
        print(f"Multi-process, batch-1 short texts, {args.proc_seconds:g} s per row: N client processes against "
              f"one lamd (--threads {args.threads}) vs N processes with their own ORT session (intra_op 1). "
              f"RSS: sum of the client processes' peak RSS, and lamd's RSS after the row (lamd peak: " +
              ", ".join(f"{s} {v:.0f} MiB" for s, v in server_hwm.items()) + ").")
        print()
        print("| processes | side | sentences/s | calls | p50 ms/call | p99 ms/call | vs ORT (sentences/s) | "
              "clients' peak RSS sum MiB | lamd RSS MiB |")
        print("|---|---|---|---|---|---|---|---|---|")
        ort_rate = {r["n"]: r["sps"] for r in procs_rows if r["side"] == "ort"}
        for r in procs_rows:
            rel = f"{r['sps'] / ort_rate[r['n']]:.2f}x" if r["n"] in ort_rate else ""
            srv = f"{r['server_mib']:.0f}" if r["server_mib"] else "-"
            print(f"| {r['n']} | {r['side']} | {r['sps']:.1f} | {r['calls']} | {r['p50']:.2f} | {r['p99']:.2f} | "
                  f"{rel} | {r['client_peak_mib']:.0f} | {srv} |")

    print()
    print("| texts | embeddings | max abs diff vs ORT b1 | min cosine vs ORT b1 | max abs diff vs float64 ref | "
          "min cosine vs float64 ref |")
    print("|---|---|---|---|---|---|")
    for (name, label), e in embs.items():
        base = embs.get((name, "ort b1"))
        c1 = f"{np.abs(e - base).max():.2e} | {cos(e, base).min():.8f}" if base is not None else "- | -"
        r = refs.get(name)
        c2 = f"{np.abs(e - r).max():.2e} | {cos(e, r).min():.8f}" if r is not None else "- | -"
        print(f"| {name} | {label} | {c1} | {c2} |")

    # Issue 14 item 3's targets for MiniLM through lamd: >= 1.2x ORT sentences/s at batch 32 on
    # length-sorted short and 128-token texts; batch-1 p50 and p99 at or below ORT's.
    if "ort" in run_sides:
        print()
        for s in [s for s in ("lamd", "lamd-bf16") if s in run_sides]:
            checks = []
            for label in ("short length-sorted, batch 32", f"{args.long_tokens}-token, batch 32"):
                if (s, label) in sps:
                    x = sps[(s, label)] / sps[("ort", label)]
                    checks.append(f"{label}: {x:.2f}x ORT (target >= 1.2x: {'met' if x >= 1.2 else 'NOT met'})")
            for label in ("short, batch 1", f"{args.long_tokens}-token, batch 1"):
                if (s, label) in times:
                    for q in (50, 99):
                        mine = np.percentile(times[(s, label)], q) * 1e3
                        theirs = np.percentile(times[("ort", label)], q) * 1e3
                        checks.append(f"{label} p{q}: {mine:.2f} vs ORT {theirs:.2f} ms "
                                      f"(target <= ORT: {'met' if mine <= theirs else 'NOT met'})")
            print(f"- targets, {s}: " + "; ".join(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
