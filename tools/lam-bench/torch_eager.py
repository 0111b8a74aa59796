#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""LAM F128 in plain PyTorch eager: the peer of `lam-bench engine --backend cuda` (issue 11 item 7).

The forward pass of a LAM-base-v1 F128 model (lam-model.md sections 3, 4.1, 4.2, 4.5, 4.6 and 5),
written as a researcher would in eager PyTorch: float32 tensors [B, L, ...], matmuls, a depthwise
conv1d, torch.nn.functional norms; no torch.compile, no custom kernels, under inference_mode. The
seven input projections of a layer are one fused GEMM and q, k, v share one conv1d. A batch is B
sequences of one length L, so there is no padding between sequences and the layer-level zero rows
and the chunk layout (section 4.1 steps 1 and 7) follow from L, as the canonical definition wants.
Chunks of up to 1024 rows use the dense C x C maths of the original (as lam_reference.py does);
longer single chunks (L' = 8192, ...) use the section 4.6 scan in chunked-parallel form: tiles of
128 rows whose four prefix states are cumulative sums over tiles (no Python loop over tokens).

Timing: per BxL shape, random token ids already on the device, --warmup untimed passes, then
--reps timed passes (torch.cuda.synchronize() around each on cuda); prints a Markdown table of
tokens/s (mean +- sd over the reps) and ms per batch. --dtype tf32 lets cuBLAS/cuDNN use TF32.

    /work/build-pch/bin/lam-mkmodel --variant f128 --seed 7 --out /tmp/te-f128 --force
    python3 tools/lam-bench/torch_eager.py --model /tmp/te-f128 --device cuda \\
        --shapes 1x16,32x128,256x128,8x512,1x8192 --reps 20
    python3 tools/lam-bench/torch_eager.py --model /tmp/te-f128 --check

--check compares every row of batched torch embeddings with the float64 numpy reference
(tools/reference/lam_reference.py, one sequence at a time) at lengths covering every F128 chunk
layout: float64 on the CPU, dense and forced scan form (max abs diff <= 1e-10), and --dtype on
--device (cosine >= 0.99999 for fp32, 0.9999 for tf32). It exits 1 on a failure.
"""
import argparse
import os
import platform
import statistics
import sys
import time

import torch  # before lam_reference, which sets OPENBLAS_NUM_THREADS=1 for numpy
import torch.nn.functional as F
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reference"))
import lam_reference as ref  # noqa: E402

H, D, DM = ref.H, ref.D, ref.DM
TILE = 128                                       # tile rows of the scan form
CHECK_LENGTHS = [1, 5, 33, 64, 100, 130, 200, 256, 300, 384, 520, 1100]


# ---------------------------------------------------------------------------------------------
# Weights: the reference's loader (float64 numpy), converted once to torch tensors

def load_weights(model, device, dtype):
    if model.family != "lam" or model.variant != "f128":
        raise SystemExit(f"need a LAM F128 model, got {model.family} {model.variant}")
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype, device=device)  # noqa: E731
    e = model.emb
    W = dict(word=t(e["word"]), pos=t(e["pos"]), type0=t(e["type"][0]), ln=(t(e["ln_w"]), t(e["ln_b"])),
             eps=model.eps, vocab=e["word"].shape[0], max_tokens=model.max_tokens, layers=[])
    for p in model.layers:
        W["layers"].append(dict(
            # rows: q, k, v, g (384 each), beta, fast gate, slow gate (12 each)
            w_in=t(np.concatenate([p[f"{n}_proj.weight"] for n in
                                   ("q", "k", "v", "g", "b", "fast_gate", "slow_gate")])),
            conv_w=t(np.concatenate([p[f"{n}_conv1d.conv.weight"] for n in "qkv"])),  # [1152, 1, 4]
            conv_b=t(np.concatenate([p[f"{n}_conv1d.conv.bias"] for n in "qkv"])),
            o_norm=t(p["o_norm.weight"]), o_proj=t(p["o_proj.weight"]),
            ln1=(t(p["ln1_w"]), t(p["ln1_b"])), ln2=(t(p["ln2_w"]), t(p["ln2_b"])),
            ffn1=(t(p["ffn1_w"]), t(p["ffn1_b"])), ffn2=(t(p["ffn2_w"]), t(p["ffn2_b"]))))
    return W


# ---------------------------------------------------------------------------------------------
# Forward pass

def positions(pos, L):
    """Section 3: the table for L <= 512 rows; above, linear interpolation with s, p, w in float32."""
    rows = pos.shape[0]
    if L <= rows:
        return pos[:L]
    top = rows - 1
    p = torch.arange(L, dtype=torch.float32, device=pos.device) * torch.tensor(
        top / (L - 1), dtype=torch.float32, device=pos.device)
    lo = p.long()
    hi = (lo + 1).clamp(max=top)
    w = (p - lo.float()).to(pos.dtype)[:, None]
    return (1 - w) * pos[lo] + w * pos[hi]


def tr(x):
    return x.transpose(-1, -2)


def f128_dense(q, k, vb, kb, fg, sg, C):
    """Section 4.2 as the original computes it, per (sequence, head, chunk of C rows)."""
    B, _, Lp, _ = q.shape
    q, k, vb, kb, fg, sg = (x.reshape(B, H, Lp // C, C, x.shape[-1]) for x in (q, k, vb, kb, fg, sg))
    A = torch.tril(-(kb @ tr(k)), -1)
    T = torch.eye(C, dtype=q.dtype, device=q.device) + A + torch.tril(A @ tr(A), -1)   # "UT" as written
    u = T @ vb
    P = torch.tril(q @ tr(k))
    return (0.1 * fg * (P @ vb) + 0.9 * sg * (P @ u)).reshape(B, H, Lp, D)


def f128_scan(q, k, vb, beta, fg, sg, C, t=TILE):
    """Section 4.6 chunked-parallel: each chunk (zero-padded to whole tiles of t rows: causal, so
    inert) is cut into tiles; G, M1, M2, M3 at a tile's start are exclusive cumulative sums of the
    earlier tiles' contributions, and inside a tile the prefix sums are strict-lower products."""
    B, _, Lp, _ = q.shape
    n, Ct = Lp // C, -(-C // t) * t

    def tiles(x):
        x = F.pad(x.reshape(B, H, n, C, x.shape[-1]), (0, 0, 0, Ct - C))
        return x.reshape(B, H, n, Ct // t, t, x.shape[-1])

    def before(s):                               # sum over the earlier tiles of the same chunk
        return torch.cat([torch.zeros_like(s[:, :, :, :1]), s[:, :, :, :-1]], 3).cumsum(3)

    q, k, vb, beta = map(tiles, (q, k, vb, beta))
    SL = torch.tril(k @ tr(k), -1)               # k_i . k_j, j < i inside the tile
    G, M1 = before(tr(k) @ k), before(tr(k) @ vb)
    z = beta * (k @ G + SL @ k)                  # z_j = beta_j G_{j-1} k_j
    M2 = before(tr(z) @ vb)
    u = vb - beta * (k @ M1 + SL @ vb) + beta * (k @ M2 + torch.tril(k @ tr(z), -1) @ vb)
    M3 = before(tr(k) @ u)
    P = torch.tril(q @ tr(k))
    pv, pu = q @ M1 + P @ vb, q @ M3 + P @ u
    untile = lambda x: x.reshape(B, H, n, Ct, D)[:, :, :, :C].reshape(B, H, Lp, D)  # noqa: E731
    return 0.1 * fg * untile(pv) + 0.9 * sg * untile(pu)


def deltanet(p, x, dense_max):
    """Sections 4.1, 4.2/4.6 and 4.5 on x [B, L, 384]."""
    B, L, _ = x.shape
    Lp = ref.padded_len(L)
    x = F.pad(x, (0, 0, 0, Lp - L))                                      # layer-level zero rows
    qkv, g, beta, fg, sg = F.linear(x, p["w_in"]).split([3 * DM, DM, H, H, H], -1)
    # depthwise conv, kernel 4, padding 2 both sides, first L' outputs: taps t-2 .. t+1
    qkv = F.conv1d(tr(qkv), p["conv_w"], p["conv_b"], padding=2, groups=3 * DM)[..., :Lp]
    q, k, v = F.silu(qkv).reshape(B, 3, H, D, Lp).permute(1, 0, 2, 4, 3).unbind(0)   # [B, H, L', d]
    q, k = F.normalize(q, dim=-1, eps=1e-12), F.normalize(k, dim=-1, eps=1e-12)
    beta, fg, sg = (tr(torch.sigmoid(s)).unsqueeze(-1) for s in (beta, fg, sg))     # [B, H, L', 1]
    C = ref.chunk_len(Lp, 128)
    if C <= dense_max:
        o = f128_dense(q, k, v * beta, k * beta, fg, sg, C)
    else:
        o = f128_scan(q, k, v * beta, beta, fg, sg, C)
    # section 4.5: gated RMSNorm per head (eps 1e-5, sigmoid gate), o_proj, drop the zero rows
    o = o.transpose(1, 2)                                                # [B, L', H, d]
    o = o * torch.rsqrt(o.pow(2).mean(-1, keepdim=True) + 1e-5) * p["o_norm"] \
        * torch.sigmoid(g.reshape(B, Lp, H, D))
    return F.linear(o.reshape(B, Lp, DM), p["o_proj"])[:, :L]


def forward(W, ids, dense_max=ref.F128_DENSE_MAX_CHUNK):
    """ids [B, L] -> L2-normalised mean-pooled embeddings [B, 384]."""
    L, eps = ids.shape[1], W["eps"]
    x = W["word"][ids] + positions(W["pos"], L) + W["type0"]
    x = F.layer_norm(x, (DM,), *W["ln"], eps)
    for p in W["layers"]:
        h = F.layer_norm(x + deltanet(p, x, dense_max), (DM,), *p["ln1"], eps)
        a = F.gelu(F.gelu(F.linear(h, *p["ffn1"])))                     # exact GELU, twice
        x = F.layer_norm(h + F.linear(a, *p["ffn2"]), (DM,), *p["ln2"], eps)
    return F.normalize(x.mean(1), dim=-1, eps=1e-12)


# ---------------------------------------------------------------------------------------------
# --check and timing

def set_tf32(on):
    torch.backends.cuda.matmul.allow_tf32 = on
    torch.backends.cudnn.allow_tf32 = on


def check(model, args):
    """Every row of the batched torch embeddings against lam_reference.embed of that row alone."""
    dev = torch.device(args.device)
    cpu, dense_max = torch.device("cpu"), ref.F128_DENSE_MAX_CHUNK
    runs = [("fp64 cpu auto", cpu, torch.float64, dense_max, False),    # name, device, dtype,
            ("fp64 cpu scan", cpu, torch.float64, 0, False),              # dense_max, tf32
            (f"{args.dtype} {dev.type}", dev, torch.float32, dense_max, args.dtype == "tf32")]
    weights = {(d, t): load_weights(model, d, t) for _, d, t, _, _ in runs}
    vocab = model.emb["word"].shape[0]
    rng = np.random.default_rng(args.seed)
    worst = {name: (1.0, 0.0) for name, *_ in runs}
    for L in args.lengths:
        B = 3 if L <= 256 else 2
        ids = rng.integers(0, vocab, size=(B, L))
        want = np.stack([ref.embed(model, row) for row in ids])
        Lp = ref.padded_len(L)
        C = ref.chunk_len(Lp, 128)
        line = [f"L {L:5d} (L' {Lp}: {Lp // C}x{C})"]
        for name, d, t, dense_max, tf32 in runs:
            set_tf32(tf32)
            with torch.inference_mode():
                got = forward(weights[(d, t)], torch.as_tensor(ids, device=d), dense_max)
            got = got.double().cpu().numpy()
            cos = float(np.min(np.sum(got * want, 1) / (np.linalg.norm(got, axis=1)
                                                       * np.linalg.norm(want, axis=1))))
            diff = float(np.max(np.abs(got - want)))
            worst[name] = (min(worst[name][0], cos), max(worst[name][1], diff))
            line.append(f"{name}: cos {cos:.12f} diff {diff:.2e}")
        print(" | ".join(line), flush=True)
    ok = True
    for name, *_ in runs:
        cos, diff = worst[name]
        if name.startswith("fp64"):
            good = diff <= 1e-10
        else:
            good = cos >= (0.9999 if args.dtype == "tf32" else 0.99999)
        ok &= good
        print(f"worst {name}: cosine {cos:.15f}, max abs diff {diff:.3e}: {'ok' if good else 'FAIL'}")
    return 0 if ok else 1


def device_name(dev):
    if dev.type == "cuda":
        return f"{torch.cuda.get_device_name(dev)} (CUDA {torch.version.cuda})"
    try:
        with open("/proc/cpuinfo") as f:
            name = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        name = platform.processor() or platform.machine()
    return f"{name}, {torch.get_num_threads()} torch threads"


def bench(model, args):
    dev = torch.device(args.device)
    W = load_weights(model, dev, torch.float32)
    set_tf32(args.dtype == "tf32")
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    gen = torch.Generator().manual_seed(args.seed)
    print(f"PyTorch eager LAM F128: torch {torch.__version__}, {device_name(dev)}, dtype {args.dtype}, "
          f"warm-up {args.warmup}, reps {args.reps}\n")
    print("| shape | tokens/s | ms/batch |\n|---|---:|---:|")
    for B, L in args.shapes:
        if L > W["max_tokens"]:
            raise SystemExit(f"{B}x{L}: above max_seq_length {W['max_tokens']}")
        ids = torch.randint(0, W["vocab"], (B, L), generator=gen).to(dev)
        with torch.inference_mode():
            for _ in range(args.warmup):
                forward(W, ids)
            sync()
            secs = []
            for _ in range(args.reps):
                t0 = time.perf_counter()
                forward(W, ids)
                sync()
                secs.append(time.perf_counter() - t0)
        tps = [B * L / s for s in secs]
        sd = statistics.stdev(tps) if len(tps) > 1 else 0.0
        print(f"| {B}x{L} | {statistics.mean(tps):,.0f} ± {sd:,.0f} | "
              f"{1e3 * statistics.mean(secs):.3f} |", flush=True)
    return 0


def parse_shapes(text):
    shapes = []
    for s in text.split(","):
        b, n = s.strip().lower().split("x")
        shapes.append((int(b), int(n)))
    if any(b < 1 or n < 1 for b, n in shapes):
        raise argparse.ArgumentTypeError("shapes are BxL with B, L >= 1")
    return shapes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="LAM F128 model directory")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--shapes", type=parse_shapes, help="comma-separated BxL batch shapes",
                    default=parse_shapes("1x16,32x128,256x128,8x512,1x8192"))
    ap.add_argument("--reps", type=int, default=20, help="timed passes per shape")
    ap.add_argument("--warmup", type=int, default=3, help="untimed passes per shape")
    ap.add_argument("--dtype", choices=["fp32", "tf32"], default="fp32",
                    help="tf32: allow TF32 in cuBLAS and cuDNN (cuda only)")
    ap.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--check", action="store_true", help="compare with the numpy reference and exit")
    ap.add_argument("--lengths", type=lambda s: [int(x) for x in s.split(",")], default=CHECK_LENGTHS,
                    help="--check's sequence lengths")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model = ref.load_model(args.model)
    return check(model, args) if args.check else bench(model, args)


if __name__ == "__main__":
    sys.exit(main())
