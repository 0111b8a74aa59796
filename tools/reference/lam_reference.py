#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""lamd's float64 reference for the LAM-base-v1 (F128, R64T, R32) and BERT forward passes.

Written from lam-model.md (sections 3-5, 8); numpy only (no torch, no safetensors
package): it reads a model directory's safetensors itself. One sequence at a time, which *is* the
canonical batch- and padding-invariant definition (section 8): the embedding of a sequence is
what the original computes on that sequence alone, with the layer-level zero rows of section
4.1 step 1 and the chunk layout of step 7 derived from its own length.

    python3 tools/reference/lam_reference.py --model DIR --tokens 101,2023,102

prints the 384-d embedding as JSON. As a module: load_model(dir) then embed(model, ids).
"""
import argparse
import json
import math
import os
import struct
import sys

# The maths is a long chain of small and medium matrix products; OpenBLAS threads only contend
# (measured 10-50x slower on a loaded 2-core machine). Effective only if numpy is not loaded yet.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

H, D, DM = 12, 32, 384          # heads, head width, model width
F128_DENSE_MAX_CHUNK = 1024     # longer chunks use the scan form (4.6): no C x C matrices

# ---------------------------------------------------------------------------------------------
# safetensors

_DTYPES = {"F64": np.float64, "F32": np.float32, "F16": np.float16, "I64": np.int64,
           "I32": np.int32, "I16": np.int16, "I8": np.int8, "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """Returns ({name: ndarray}, metadata). BF16 is widened to float32 exactly."""
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f"{path}: truncated ({len(blob)} bytes)")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    data = memoryview(blob)[8 + n:]
    meta = header.pop("__metadata__", {}) or {}
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        shape = tuple(e["shape"])
        if not 0 <= b <= end <= len(data):
            raise ValueError(f"{path}: tensor {name}: data_offsets {e['data_offsets']} out of range")
        raw = data[b:end]
        if e["dtype"] == "BF16":
            arr = (np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(raw, dtype=np.dtype(_DTYPES[e["dtype"]]).newbyteorder("<"))
        if arr.size != int(np.prod(shape, dtype=np.int64)):
            raise ValueError(f"{path}: tensor {name}: {arr.size} elements for shape {list(shape)}")
        out[name] = arr.reshape(shape)
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Minimal writer (sorted keys, 8-byte aligned data), used by the tests."""
    names = sorted(tensors)
    header, off, chunks = {}, 0, []
    for name in names:
        a = np.ascontiguousarray(tensors[name])
        dt = {np.dtype(np.float32): "F32", np.dtype(np.float64): "F64",
              np.dtype(np.float16): "F16"}[a.dtype]
        raw = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dt, "shape": list(a.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        chunks.append(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    h += b" " * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(chunks))


# ---------------------------------------------------------------------------------------------
# Model loading (keys: lam-model.md section 7; the same tables as daemon/engine/model_names.cpp)

class Model:
    """family 'lam' | 'bert'; variant 'f128' | 'r64t' | 'r32' | None; float64 weights."""

    def __init__(self, family, variant, config, emb, layers):
        self.family, self.variant, self.config = family, variant, config
        self.emb = emb          # word, pos, type, ln_w, ln_b
        self.layers = layers    # list of dicts
        self.eps = float(config.get("layer_norm_eps", 1e-12))
        if family == "bert":
            self.max_tokens = int(config["max_position_embeddings"])
        else:
            self.max_tokens = int(config.get("max_seq_length", 8192))


def _getter(tensors):
    def get(*names, required=True):
        for n in names:
            if n in tensors:
                return np.asarray(tensors[n], dtype=np.float64)
        if required:
            raise KeyError(f"missing tensor {names[0]}")
        return None
    return get


def model_from_tensors(config, tensors):
    get = _getter(tensors)
    family = config["model_type"]
    nl = int(config["num_hidden_layers"])
    if family == "bert":
        pre = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""
        e = pre + "embeddings."
        emb = dict(word=get(e + "word_embeddings.weight"), pos=get(e + "position_embeddings.weight"),
                   type=get(e + "token_type_embeddings.weight"), ln_w=get(e + "LayerNorm.weight"),
                   ln_b=get(e + "LayerNorm.bias"))
        layers = []
        for i in range(nl):
            p = f"{pre}encoder.layer.{i}."
            l = {}
            for short, key in [("q", "attention.self.query"), ("k", "attention.self.key"),
                               ("v", "attention.self.value"), ("ao", "attention.output.dense"),
                               ("ln1", "attention.output.LayerNorm"), ("ffn1", "intermediate.dense"),
                               ("ffn2", "output.dense"), ("ln2", "output.LayerNorm")]:
                l[short + "_w"] = get(p + key + ".weight")
                l[short + "_b"] = get(p + key + ".bias")
            layers.append(l)
        return Model("bert", None, config, emb, layers)
    if family != "lam":
        raise ValueError(f"model_type {family!r} is not lam or bert")
    t = "teacher_model.embeddings."
    emb = dict(word=get(t + "word_embeddings.weight", "embeddings.word_embeddings.weight"),
               pos=get(t + "position_embeddings.weight", "embeddings.position_embeddings.weight"),
               type=get(t + "token_type_embeddings.weight", "embeddings.token_type_embeddings.weight"),
               ln_w=get(t + "LayerNorm.weight", "embeddings.LayerNorm.weight"),
               ln_b=get(t + "LayerNorm.bias", "embeddings.LayerNorm.bias"))
    wb0 = tensors.get("deltanet_layers.0.resonance_flux.W_bilinear")
    variant = config.get("lam_variant")
    if variant is None:
        variant = "r32" if wb0 is not None and tuple(wb0.shape) == (D, D) else "f128"
    if variant not in ("f128", "r64t", "r32"):
        raise ValueError(f"unknown lam_variant {variant!r}")
    recurrent = variant != "f128"
    layers = []
    for i in range(nl):
        p = f"deltanet_layers.{i}."
        l = {}
        for k in ["q_proj.weight", "k_proj.weight", "v_proj.weight", "g_proj.weight", "o_proj.weight",
                  "q_conv1d.conv.weight", "q_conv1d.conv.bias", "k_conv1d.conv.weight",
                  "k_conv1d.conv.bias", "v_conv1d.conv.weight", "v_conv1d.conv.bias",
                  "b_proj.weight", "fast_gate_proj.weight", "slow_gate_proj.weight", "o_norm.weight"]:
            l[k] = get(p + k)
        for k in ["fast_decay_proj.weight", "fast_decay_proj.bias", "fast_decay_bias",
                  "slow_decay_proj.weight", "slow_decay_proj.bias", "slow_decay_bias",
                  "resonance_flux.W_bilinear", "resonance_flux.temp",
                  "resonance_flux.flux_net.0.weight", "resonance_flux.flux_net.0.bias",
                  "resonance_flux.flux_net.2.weight", "resonance_flux.flux_net.2.bias"]:
            l[k] = get(p + k, required=recurrent)
        for k in ["resonance_flux.token_flux_proj.0.weight", "resonance_flux.token_flux_proj.0.bias",
                  "resonance_flux.token_flux_proj.2.weight", "resonance_flux.token_flux_proj.2.bias"]:
            l[k] = get(p + k, required=variant == "r64t")
        tl = f"teacher_model.encoder.layer.{i}."
        l["ln1_w"] = get(tl + "attention.output.LayerNorm.weight", f"deltanet_norms.{i}.weight")
        l["ln1_b"] = get(tl + "attention.output.LayerNorm.bias", f"deltanet_norms.{i}.bias")
        l["ffn1_w"] = get(tl + "intermediate.dense.weight", f"deltanet_ffns.{i}.dense.weight")
        l["ffn1_b"] = get(tl + "intermediate.dense.bias", f"deltanet_ffns.{i}.dense.bias")
        l["ffn2_w"] = get(tl + "output.dense.weight", f"output_dense_layers.{i}.weight")
        l["ffn2_b"] = get(tl + "output.dense.bias", f"output_dense_layers.{i}.bias")
        l["ln2_w"] = get(tl + "output.LayerNorm.weight", f"ffn_norms.{i}.weight")
        l["ln2_b"] = get(tl + "output.LayerNorm.bias", f"ffn_norms.{i}.bias")
        layers.append(l)
    return Model("lam", variant, config, emb, layers)


def load_model(model_dir):
    with open(os.path.join(model_dir, "config.json"), "rb") as f:
        config = json.loads(f.read())
    tensors, _ = read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return model_from_tensors(config, tensors)


# ---------------------------------------------------------------------------------------------
# Elementwise maths (float64)

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def erf(x):
    """Vectorised erf to ~1e-15 (numpy has none and scipy is not assumed). |x| < 2.5: the
    all-positive series erf(x) = 2/sqrt(pi) e^{-x^2} sum (2x^2)^n x / (2n+1)!!, summed in two
    bands so that the common small arguments stop early; otherwise the continued fraction of
    erfc."""
    x = np.asarray(x, dtype=np.float64)
    a = np.abs(x)
    out = np.empty_like(a)
    for lo, hi in ((0.0, 1.0), (1.0, 2.5)):
        band = (a >= lo) & (a < hi)
        xs = a[band]
        term = xs.copy()
        s = xs.copy()
        a2 = 2.0 * xs * xs
        for n in range(1, 80):
            term *= a2
            term /= 2 * n + 1
            s += term
            if n % 4 == 0 and not (term > 1e-17 * s).any():
                break
        out[band] = _TWO_OVER_SQRT_PI * np.exp(-xs * xs) * s
    large = a >= 2.5
    xl = a[large]
    if xl.size:
        f = xl.copy()
        for k in range(120, 0, -1):
            f = xl + (0.5 * k) / f
        out[large] = 1.0 - np.exp(-xl * xl) / (math.sqrt(math.pi) * f)
    return np.copysign(out, x)


def gelu(x):
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def silu(x):
    return x * sigmoid(x)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def l2_normalize(e):
    return e / max(np.linalg.norm(e), 1e-12)


# ---------------------------------------------------------------------------------------------
# Embeddings (section 3)

def position_rows(pos_table, L):
    """Position embeddings for a sequence of length L. L <= rows: the table; above, the
    package's linear interpolation with s, p and w in float32 (section 3)."""
    rows = pos_table.shape[0]
    if L <= rows:
        return pos_table[:L]
    top = rows - 1
    s = np.float32(top / (L - 1))                        # cdef float scale = 511.0 / (L - 1)
    p = np.arange(L, dtype=np.float32) * s               # float32 products
    lo = p.astype(np.int64)                              # C truncation (p >= 0)
    hi = np.minimum(lo + 1, top)
    w = (p - lo.astype(np.float32)).astype(np.float64)   # float32 difference
    return (1.0 - w)[:, None] * pos_table[lo] + w[:, None] * pos_table[hi]


def embeddings(model, ids):
    e = model.emb
    x = e["word"][ids] + position_rows(e["pos"], len(ids)) + e["type"][0]
    return layer_norm(x, e["ln_w"], e["ln_b"], model.eps)


# ---------------------------------------------------------------------------------------------
# DeltaNet layer (section 4)

def padded_len(L):
    """Section 4.1 step 1: L' = 32 * ceil(L / 32) when L >= 64 and L mod 32 != 0."""
    if L > 32 and L % 32 != 0 and L >= 64:
        return L + 32 - L % 32
    return L


def chunk_len(Lp, C0):
    """Section 4.1 step 7: C0 if it divides L', otherwise the whole sequence is one chunk."""
    if Lp <= 32:
        return Lp
    C = C0
    if Lp < C:
        C = Lp
    if Lp % C != 0:
        C = Lp
    return C


def short_conv(x, w, b):
    """Depthwise conv, kernel 4, taps t-2..t+1, zero outside [0, L'): x [L', C], w [C, 1, 4]."""
    Lp = x.shape[0]
    xp = np.concatenate([np.zeros((2, x.shape[1])), x, np.zeros((1, x.shape[1]))], 0)
    out = np.broadcast_to(b, x.shape).copy()
    for j in range(4):
        out += xp[j:j + Lp] * w[:, 0, j]
    return out


def _heads(t):
    return t.reshape(t.shape[0], H, D).transpose(1, 0, 2)       # [L', 384] -> [H, L', d]


def _unit(t):
    return t / np.maximum(np.linalg.norm(t, axis=-1, keepdims=True), 1e-12)


def front_end(p, x, recurrent):
    L = x.shape[0]
    Lp = padded_len(L)
    if Lp != L:
        x = np.concatenate([x, np.zeros((Lp - L, DM))], 0)
    q = silu(short_conv(x @ p["q_proj.weight"].T, p["q_conv1d.conv.weight"], p["q_conv1d.conv.bias"]))
    k = silu(short_conv(x @ p["k_proj.weight"].T, p["k_conv1d.conv.weight"], p["k_conv1d.conv.bias"]))
    v = silu(short_conv(x @ p["v_proj.weight"].T, p["v_conv1d.conv.weight"], p["v_conv1d.conv.bias"]))
    q, k, v = _unit(_heads(q)), _unit(_heads(k)), _heads(v)
    beta = sigmoid(x @ p["b_proj.weight"].T).T                  # [H, L']
    fe = dict(L=L, Lp=Lp, q=q, k=k, vb=v * beta[..., None], kb=k * beta[..., None], beta=beta,
              fg=sigmoid(x @ p["fast_gate_proj.weight"].T).T,
              sg=sigmoid(x @ p["slow_gate_proj.weight"].T).T,
              g=(x @ p["g_proj.weight"].T).reshape(Lp, H, D))
    if recurrent:
        fe["fd"] = sigmoid(x @ p["fast_decay_proj.weight"].T + p["fast_decay_proj.bias"]
                           + p["fast_decay_bias"]).T
        fe["sd"] = sigmoid(x @ p["slow_decay_proj.weight"].T + p["slow_decay_proj.bias"]
                           + p["slow_decay_bias"]).T
    return fe


def back_end(p, o, g, L):
    """Gated RMSNorm (eps 1e-5, sigmoid gate) per head, concat, o_proj, drop the pad rows."""
    o = o.transpose(1, 0, 2)                                     # [L', H, d]
    o = o / np.sqrt((o ** 2).mean(-1, keepdims=True) + 1e-5) * p["o_norm.weight"] * sigmoid(g)
    return (o.reshape(o.shape[0], DM) @ p["o_proj.weight"].T)[:L]


def ut_matrix(k, kb):
    """T = I + A + strict_lower(A A^T) with A = strict_lower(-(kb k^T)), batched over heads."""
    C = k.shape[-2]
    A = np.tril(-(kb @ k.transpose(0, 2, 1)), -1)
    return np.eye(C) + A + np.tril(A @ A.transpose(0, 2, 1), -1)


def f128_dense(fe):
    """Section 4.2 as the original computes it: C x C matrices per (head, chunk)."""
    C = chunk_len(fe["Lp"], 128)
    out = np.zeros_like(fe["vb"])
    for c0 in range(0, fe["Lp"], C):
        sl = slice(c0, c0 + C)
        q, k, vb, kb = fe["q"][:, sl], fe["k"][:, sl], fe["vb"][:, sl], fe["kb"][:, sl]
        u = ut_matrix(k, kb) @ vb
        P = np.tril(q @ k.transpose(0, 2, 1))
        out[:, sl] = (0.1 * fe["fg"][:, sl, None] * (P @ vb)
                      + 0.9 * fe["sg"][:, sl, None] * (P @ u))
    return out


def scan_chunk(fe, sl):
    """Section 4.6 for one chunk: u = T vb and the causal products (P vb) and (P u), by a scan
    with four d x d prefix states per head (no C x C matrices)."""
    q, k, vb, beta = fe["q"][:, sl], fe["k"][:, sl], fe["vb"][:, sl], fe["beta"][:, sl]
    C = vb.shape[1]
    u = np.zeros_like(vb)
    pv = np.zeros_like(vb)
    pu = np.zeros_like(vb)
    G, M1, M2, M3 = (np.zeros((H, D, D)) for _ in range(4))
    for t in range(C):
        kt, qt, vt, bt = k[:, t], q[:, t], vb[:, t], beta[:, t, None]
        ut = vt - bt * np.einsum("hd,hde->he", kt, M1) + bt * np.einsum("hd,hde->he", kt, M2)
        z = bt * np.einsum("hde,he->hd", G, kt)
        M1 = M1 + kt[:, :, None] * vt[:, None, :]
        M2 = M2 + z[:, :, None] * vt[:, None, :]
        G = G + kt[:, :, None] * kt[:, None, :]
        M3 = M3 + kt[:, :, None] * ut[:, None, :]
        u[:, t] = ut
        pv[:, t] = np.einsum("hd,hde->he", qt, M1)
        pu[:, t] = np.einsum("hd,hde->he", qt, M3)
    return u, pv, pu


def f128_scan(fe):
    """Section 4.6: the same F128 maths as a causal scan, states reset at each chunk start."""
    C = chunk_len(fe["Lp"], 128)
    out = np.zeros_like(fe["vb"])
    for c0 in range(0, fe["Lp"], C):
        sl = slice(c0, c0 + C)
        _, pv, pu = scan_chunk(fe, sl)
        out[:, sl] = 0.1 * fe["fg"][:, sl, None] * pv + 0.9 * fe["sg"][:, sl, None] * pu
    return out


def _mlp_gate(z, w1, b1, w2, b2):
    """clamp(sigmoid(W2 silu(W1 z + b1) + b2), 0.01, 0.99), last axis of z."""
    return np.clip(sigmoid(silu(z @ w1.T + b1) @ w2.T + b2), 0.01, 0.99)[..., 0]


def recurrent_core(p, fe, variant, form="auto"):
    """Sections 4.3 (R32) and 4.4 (R64T), with the canonical per-sequence coupling mean (8a).
    form "scan" (or "auto" with a chunk above F128_DENSE_MAX_CHUNK) computes a single-chunk
    sequence without C x C matrices: with one chunk the states are zero, so R = 0, U = u and
    o = (alpha fg + (1 - alpha) sg) (P u), all of which the section 4.6 scan provides."""
    Lp = fe["Lp"]
    C = chunk_len(Lp, 32 if variant == "r32" else 64)
    n_chunks = Lp // C
    q, k, vb, kb = fe["q"], fe["k"], fe["vb"], fe["kb"]
    W, temp = p["resonance_flux.W_bilinear"], p["resonance_flux.temp"]
    net = (p["resonance_flux.flux_net.0.weight"], p["resonance_flux.flux_net.0.bias"],
           p["resonance_flux.flux_net.2.weight"], p["resonance_flux.flux_net.2.bias"])
    if variant == "r64t":
        tau = _mlp_gate(np.concatenate([kb, vb], -1),
                        p["resonance_flux.token_flux_proj.0.weight"],
                        p["resonance_flux.token_flux_proj.0.bias"],
                        p["resonance_flux.token_flux_proj.2.weight"],
                        p["resonance_flux.token_flux_proj.2.bias"])       # [H, L']
    if form == "scan" and n_chunks != 1:
        raise ValueError("the recurrent scan form covers single-chunk sequences only")
    single_scan = n_chunks == 1 and (form == "scan" or (form == "auto" and C > F128_DENSE_MAX_CHUNK))
    out = np.zeros_like(vb)
    Sf = np.zeros((H, D, D))
    Ss = np.zeros((H, D, D))
    heads = np.arange(H)
    for n in range(n_chunks):
        sl = slice(n * C, (n + 1) * C)
        qc, kc, vbc, kbc = q[:, sl], k[:, sl], vb[:, sl], kb[:, sl]
        if single_scan:
            u, _, pu = scan_chunk(fe, sl)
        else:
            T = ut_matrix(kc, kbc)
            u, w = T @ vbc, T @ kbc
        kbar, ubar = kc.mean(1), u.mean(1)                             # [H, d]
        if variant == "r32":
            # Temperature index quirk tau(h, n) = (h N + n) mod 12 (section 4.3).
            a = np.einsum("hd,de,he->h", kbar, W, ubar) / temp[(heads * n_chunks + n) % H]
        else:
            a = np.einsum("hcd,hde,hce->hc", kc, W, u).mean(1) / temp
        psi = _mlp_gate(np.concatenate([kbar, ubar, a[:, None]], -1), *net)   # [H]
        if variant == "r32":
            alpha = (0.5 + 0.3 * psi)[:, None, None]
        else:
            alpha = (0.5 + 0.3 * tau[:, sl])[..., None]
        if single_scan:
            out[:, sl] = (alpha * fe["fg"][:, sl, None] + (1 - alpha) * fe["sg"][:, sl, None]) * pu
            break
        cinf = 0.05 + 0.1 * psi.mean()
        gf = fe["fd"][:, sl].mean(1) * (1 - 0.1 * psi)
        gs = fe["sd"][:, sl].mean(1) * (1 - 0.05 * psi)
        Sf = Sf * gf[:, None, None]
        Ss = Ss * gs[:, None, None]
        Rf = Sf / (np.linalg.norm(Sf, axis=(1, 2))[:, None, None] + 1e-8)
        Rs = Ss / (np.linalg.norm(Ss, axis=(1, 2))[:, None, None] + 1e-8)
        Uf, Us = u - w @ Rf, u - w @ Rs
        P = np.tril(qc @ kc.transpose(0, 2, 1))
        Of = fe["fg"][:, sl, None] * (qc @ Rf + P @ Uf)
        Os = fe["sg"][:, sl, None] * (qc @ Rs + P @ Us)
        out[:, sl] = alpha * Of + (1 - alpha) * Os
        kT = kc.transpose(0, 2, 1)
        Sf1, Ss1 = Sf + kT @ Uf, Ss + kT @ Us
        Sf2 = Sf1 + (cinf * psi)[:, None, None] * Ss1
        Ss2 = Ss1 + (cinf * (1 - psi))[:, None, None] * Sf1
        Sf = Sf2 / (np.linalg.norm(Sf2, axis=(1, 2))[:, None, None] + 1e-8)
        Ss = Ss2 / (np.linalg.norm(Ss2, axis=(1, 2))[:, None, None] + 1e-8)
    return out


def deltanet(p, x, variant, form="auto"):
    """form: "auto" (dense unless a chunk exceeds F128_DENSE_MAX_CHUNK), "dense" or "scan"."""
    fe = front_end(p, x, recurrent=variant != "f128")
    if variant == "f128":
        if form == "auto":
            form = "dense" if chunk_len(fe["Lp"], 128) <= F128_DENSE_MAX_CHUNK else "scan"
        o = f128_dense(fe) if form == "dense" else f128_scan(fe)
    else:
        o = recurrent_core(p, fe, variant, form)
    return back_end(p, o, fe["g"], fe["L"])


# ---------------------------------------------------------------------------------------------
# Whole models

def lam_hidden(model, ids, form="auto"):
    x = embeddings(model, ids)
    for l in model.layers:
        h = layer_norm(x + deltanet(l, x, model.variant, form), l["ln1_w"], l["ln1_b"], model.eps)
        a = gelu(gelu(h @ l["ffn1_w"].T + l["ffn1_b"]))             # GELU twice (section 4)
        x = layer_norm(h + a @ l["ffn2_w"].T + l["ffn2_b"], l["ln2_w"], l["ln2_b"], model.eps)
    return x


def bert_hidden(model, ids, pad_to=None):
    """HF BertModel, one sequence; pad_to right-pads with [PAD] (id 0) and applies the additive
    attention mask, to check that padding is invisible."""
    L = len(ids)
    Lb = L if pad_to is None else pad_to
    ids = np.concatenate([np.asarray(ids), np.zeros(Lb - L, dtype=np.int64)])
    mask = np.arange(Lb) < L
    x = embeddings(model, ids)
    bias = np.where(mask, 0.0, np.finfo(np.float64).min)[None, None, :]
    for l in model.layers:
        q = _heads(x @ l["q_w"].T + l["q_b"])
        k = _heads(x @ l["k_w"].T + l["k_b"])
        v = _heads(x @ l["v_w"].T + l["v_b"])
        s = q @ k.transpose(0, 2, 1) / math.sqrt(D) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        ctx = (s / s.sum(-1, keepdims=True)) @ v                  # [H, L, d]
        ctx = ctx.transpose(1, 0, 2).reshape(Lb, DM)
        h = layer_norm(x + ctx @ l["ao_w"].T + l["ao_b"], l["ln1_w"], l["ln1_b"], model.eps)
        a = gelu(h @ l["ffn1_w"].T + l["ffn1_b"])                  # GELU once
        x = layer_norm(h + a @ l["ffn2_w"].T + l["ffn2_b"], l["ln2_w"], l["ln2_b"], model.eps)
    return x, mask


def embed(model, ids, form="auto"):
    """The L2-normalised mean-pooled embedding (section 5) of one sequence of token ids."""
    ids = np.asarray(ids, dtype=np.int64)
    if ids.ndim != 1 or ids.size == 0:
        raise ValueError("need a non-empty 1-D sequence of token ids")
    if ids.size > model.max_tokens:
        raise ValueError(f"sequence of {ids.size} tokens exceeds max_tokens {model.max_tokens}")
    vocab = model.emb["word"].shape[0]
    if ids.min() < 0 or ids.max() >= vocab:
        raise ValueError(f"token id out of range [0, {vocab})")
    if model.family == "bert":
        y, mask = bert_hidden(model, ids)
        e = (y * mask[:, None]).sum(0) / max(mask.sum(), 1e-9)
    else:
        e = lam_hidden(model, ids, form).mean(0)
    return l2_normalize(e)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model directory")
    ap.add_argument("--tokens", required=True, help="comma-separated token ids, e.g. 101,2023,102")
    ap.add_argument("--form", choices=["auto", "dense", "scan"], default="auto",
                    help="chunk maths: dense C x C as the original, or the section 4.6 scan")
    args = ap.parse_args(argv)
    ids = [int(t) for t in args.tokens.split(",") if t.strip()]
    model = load_model(args.model)
    e = embed(model, ids, args.form)
    json.dump({"family": model.family, "variant": model.variant, "length": len(ids),
               "embedding": e.tolist()}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
