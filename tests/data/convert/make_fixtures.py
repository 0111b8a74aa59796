#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Generates the lam-convert test fixtures with real PyTorch. Run once; the outputs are committed.

    /usr/bin/python3 tests/data/convert/make_fixtures.py   # needs Debian python3-torch (1.13)

Neither the tests nor CI need torch: they read the committed files. Shapes are the real LAM
shapes except that the vocabulary is 128 rows and there are 1 or 2 layers (lamd accepts
num_hidden_layers >= 1 and vocab_size >= 104). Tensor values repeat with a period of 251
elements (a different pattern per tensor) so the files compress to almost nothing with xz; the
table behind them has arbitrary float32 bit patterns (and -0.0), so any conversion that is not
bit-exact shows.

Outputs (all .xz compressed; the tests decompress to a temporary directory):
  v1_f32.pt          v1 layout (DeltaNetPure6Layer.state_dict()), 2 layers, F32, zip format.
                     Duplicates share storage; deltanet_layers.1.q_proj.weight is a transposed
                     (non-contiguous) view; deltanet_layers.0.fast_decay_bias is a view at storage
                     offset 100; teacher_model.embeddings.LayerNorm.bias is a view at offset 7
                     with stride 2.
  v1_mixed_wrapped.pt {'model_state_dict': v1 dict, 'config': ..., 'step': ...}, 1 layer;
                     DeltaNet tensors saved as F16 nn.Parameters, the teacher part as BF16.
  v1_legacy.pt       v1 layout, 1 layer, F32, legacy (non-zip) torch.save format.
  v1_bad.pt          v1 layout, 1 layer, without deltanet_layers.0.o_norm.weight and with
                     deltanet_layers.0.b_proj.weight of shape [12, 383].
  r32_base.bin       lam_base.bin: HF BertModel state dict, 2 layers, keys prefixed 'bert.',
                     wrapped as {'state_dict': ...}.
  r32_tweak.pt       lam_tweak.pt: {'lam_layers': R32 layers ([32,32] W_bilinear), 'lam_norms':
                     layers 0 and 1, 'deltanet_ffns': layer 1 only, 'output_dense_layers': layer 0
                     only, no 'ffn_norms', plus 'step', 'config' and numpy-scalar
                     'pearson'/'spearman' as train_6layerE5_deltanet.py saves them}.
  expected.npz       '<fixture>/<output key>' -> the float32 values lam-convert must write,
                     computed here by torch (Tensor.float()) and the section 7 override rules.
  vocab.txt, tokenizer_config.json   a 128-token vocabulary with the BERT special tokens.
"""

import io
import lzma
import os
import sys

import numpy as np
import torch
from torch import nn

HERE = os.path.dirname(os.path.abspath(__file__))
VOCAB = 128
H, D, HD, FF = 12, 384, 32, 1536


def table():
    """251 float32 values from an LCG: random sign, exponent 2^-8..2^2, random mantissa."""
    x, bits = 0x1A2B3C4D, []
    for _ in range(251):
        x = (x * 6364136223846793005 + 1442695040888963407) % 2**64
        b = x >> 32
        bits.append((b & 0x80000000) | ((119 + (b >> 23) % 11) << 23) | (b & 0x7FFFFF))
    bits[5] = 0x80000000  # -0.0
    return np.array(bits, dtype=np.uint32).view(np.float32)


TABLE = table()
_counter = [0]


def fill(shape):
    """A fresh tensor whose flattened values follow TABLE with a per-tensor stride and phase."""
    idx = _counter[0]
    _counter[0] += 1
    n = int(np.prod(shape))
    j = np.arange(n, dtype=np.int64)
    vals = TABLE[(j * (1 + idx % 250) + idx * 37) % 251]
    return torch.from_numpy(vals.reshape(shape).copy())


# ---- modules with the original parameter names ------------------------------------------------

class ShortConv(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(D, D, 4, groups=D, padding=3, bias=True)


class ONorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(HD))
        self.gate = nn.Parameter(torch.ones(HD))


class Flux(nn.Module):
    def __init__(self, v1):
        super().__init__()
        self.W_bilinear = nn.Parameter(torch.zeros(H, HD, HD) if v1 else torch.zeros(HD, HD))
        self.temp = nn.Parameter(torch.ones(H))
        self.flux_net = nn.Sequential(nn.Linear(2 * HD + 1, 16), nn.SiLU(), nn.Linear(16, 1),
                                      nn.Sigmoid())
        if v1:
            self.token_flux_proj = nn.Sequential(nn.Linear(2 * HD, 16), nn.SiLU(),
                                                 nn.Linear(16, 1), nn.Sigmoid())


class DeltaNetLayer(nn.Module):
    def __init__(self, v1=True):
        super().__init__()
        for n in "qkv":
            setattr(self, f"{n}_proj", nn.Linear(D, D, bias=False))
        self.b_proj = nn.Linear(D, H, bias=False)
        self.fast_decay_proj = nn.Linear(D, H)
        self.slow_decay_proj = nn.Linear(D, H)
        self.fast_decay_bias = nn.Parameter(torch.zeros(H))
        self.slow_decay_bias = nn.Parameter(torch.zeros(H))
        self.fast_gate_proj = nn.Linear(D, H, bias=False)
        self.slow_gate_proj = nn.Linear(D, H, bias=False)
        self.resonance_flux = Flux(v1)
        for n in "qkv":
            setattr(self, f"{n}_conv1d", ShortConv())
        self.g_proj = nn.Linear(D, D, bias=False)
        self.o_norm = ONorm()
        self.o_proj = nn.Linear(D, D, bias=False)


class Module(nn.Module):
    pass


def bert(n_layers):
    m = Module()
    m.embeddings = Module()
    m.embeddings.word_embeddings = nn.Embedding(VOCAB, D, padding_idx=0)
    m.embeddings.position_embeddings = nn.Embedding(512, D)
    m.embeddings.token_type_embeddings = nn.Embedding(2, D)
    m.embeddings.LayerNorm = nn.LayerNorm(D, eps=1e-12)
    m.embeddings.register_buffer("position_ids", torch.arange(512).expand((1, -1)))
    m.encoder = Module()
    m.encoder.layer = nn.ModuleList()
    for _ in range(n_layers):
        layer = Module()
        layer.attention = Module()
        layer.attention.self = Module()
        for n in ("query", "key", "value"):
            setattr(layer.attention.self, n, nn.Linear(D, D))
        layer.attention.output = Module()
        layer.attention.output.dense = nn.Linear(D, D)
        layer.attention.output.LayerNorm = nn.LayerNorm(D, eps=1e-12)
        layer.intermediate = Module()
        layer.intermediate.dense = nn.Linear(D, FF)
        layer.output = Module()
        layer.output.dense = nn.Linear(FF, D)
        layer.output.LayerNorm = nn.LayerNorm(D, eps=1e-12)
        m.encoder.layer.append(layer)
    m.pooler = Module()
    m.pooler.dense = nn.Linear(D, D)
    return m


def fill_module(m):
    with torch.no_grad():
        for _, p in m.named_parameters():  # shared parameters appear once
            p.copy_(fill(tuple(p.shape)))
    return m


def v1_model(n_layers):
    """DeltaNetPure6Layer's module tree (train_6layer_deltanet_2.py)."""
    m = Module()
    m.teacher_model = bert(n_layers)
    m.embeddings = m.teacher_model.embeddings
    m.deltanet_layers = nn.ModuleList(DeltaNetLayer(True) for _ in range(n_layers))
    m.deltanet_norms = nn.ModuleList(l.attention.output.LayerNorm
                                     for l in m.teacher_model.encoder.layer)
    m.deltanet_ffns = nn.ModuleList(l.intermediate for l in m.teacher_model.encoder.layer)
    m.ffn_norms = nn.ModuleList(l.output.LayerNorm for l in m.teacher_model.encoder.layer)
    m.pooler = m.teacher_model.pooler
    return fill_module(m)


def out_keys(n_layers, v1):
    keys = [f"teacher_model.embeddings.{n}" for n in (
        "word_embeddings.weight", "position_embeddings.weight", "token_type_embeddings.weight",
        "LayerNorm.weight", "LayerNorm.bias")]
    layer = DeltaNetLayer(v1)
    dn = [k for k, _ in layer.named_parameters() if k != "o_norm.gate"]
    for i in range(n_layers):
        keys += [f"deltanet_layers.{i}.{k}" for k in dn]
        keys += [f"teacher_model.encoder.layer.{i}.{s}" for s in (
            "attention.output.LayerNorm.weight", "attention.output.LayerNorm.bias",
            "intermediate.dense.weight", "intermediate.dense.bias", "output.dense.weight",
            "output.dense.bias", "output.LayerNorm.weight", "output.LayerNorm.bias")]
    return keys


def f32(t):
    return t.detach().float().contiguous().numpy().copy()


def save_xz(obj, name, legacy=False):
    """torch.save to a real file (so the zip's top folder is named after it, as in the wild),
    then keep only the xz-compressed copy."""
    path = os.path.join(HERE, name)
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)
    with open(path, "rb") as f:
        raw = f.read()
    os.unlink(path)
    with open(path + ".xz", "wb") as f:
        f.write(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
    print(f"{name}: {len(raw):,} bytes raw", file=sys.stderr)


def main():
    expected = {}

    # ---- v1_f32.pt: 2 layers, with views ------------------------------------------------------
    m = v1_model(2)
    with torch.no_grad():
        m.deltanet_layers[1].q_proj.weight.data = fill((D, D)).t()
        m.deltanet_layers[0].fast_decay_bias.data = fill((1000,))[100:112]
        m.teacher_model.embeddings.LayerNorm.bias.data = fill((1000,))[7:7 + 2 * D:2]
    sd = m.state_dict()
    assert not sd["deltanet_layers.1.q_proj.weight"].is_contiguous()
    assert sd["deltanet_layers.0.fast_decay_bias"].storage_offset() == 100
    assert sd["teacher_model.embeddings.LayerNorm.bias"].stride() == (2,)
    assert sd["embeddings.word_embeddings.weight"].data_ptr() == \
        sd["teacher_model.embeddings.word_embeddings.weight"].data_ptr()
    save_xz(sd, "v1_f32.pt")
    for k in out_keys(2, True):
        expected[f"v1_f32/{k}"] = f32(sd[k])

    # ---- v1_mixed_wrapped.pt: 1 layer, F16 parameters + BF16 tensors, wrapped --------------------
    m = v1_model(1)
    sd = m.state_dict()
    mixed = {}
    for k, v in sd.items():
        if k.startswith("deltanet_layers."):
            mixed[k] = nn.Parameter(v.half(), requires_grad=False)
        elif v.is_floating_point():
            mixed[k] = v.to(torch.bfloat16)
        else:
            mixed[k] = v
    ckpt = {"model_state_dict": mixed, "config": {"num_layers": 1, "d_model": D}, "step": 1234}
    save_xz(ckpt, "v1_mixed_wrapped.pt")
    for k in out_keys(1, True):
        expected[f"v1_mixed_wrapped/{k}"] = f32(mixed[k])

    # ---- v1_legacy.pt ----------------------------------------------------------------------------
    sd = v1_model(1).state_dict()
    save_xz(sd, "v1_legacy.pt", legacy=True)
    for k in out_keys(1, True):
        expected[f"v1_legacy/{k}"] = f32(sd[k])

    # ---- v1_bad.pt -------------------------------------------------------------------------------
    sd = v1_model(1).state_dict()
    del sd["deltanet_layers.0.o_norm.weight"]
    sd["deltanet_layers.0.b_proj.weight"] = fill((H, D - 1))
    save_xz(sd, "v1_bad.pt")

    # ---- R32 pair ----------------------------------------------------------------------------
    base = fill_module(bert(2)).state_dict()
    save_xz({"state_dict": {"bert." + k: v for k, v in base.items()}}, "r32_base.bin")
    layers = fill_module(nn.ModuleList(DeltaNetLayer(False) for _ in range(2))).state_dict()
    lam_norms = {f"{i}.{p}": fill((D,)) for i in range(2) for p in ("weight", "bias")}
    ffns = {"1.dense.weight": fill((FF, D)), "1.dense.bias": fill((FF,))}
    out_dense = {"0.weight": fill((D, FF)), "0.bias": fill((D,))}
    tweak = {"lam_layers": layers, "lam_norms": lam_norms, "deltanet_ffns": ffns,
             "output_dense_layers": out_dense, "step": 3500,
             # evaluate_stsb() returns scipy's numpy scalars, so the real file pickles these.
             "pearson": np.float64(0.836), "spearman": np.float32(0.8125),
             "config": {"d_model": D, "num_heads": H, "num_layers": 2}}
    save_xz(tweak, "r32_tweak.pt")
    for k in out_keys(2, False):
        if k.startswith("deltanet_layers."):
            v = layers[k[len("deltanet_layers."):]]
        else:
            v = base[k[len("teacher_model."):]]
            parts = k.split(".")
            if k.startswith("teacher_model.encoder.layer."):
                i, rest = parts[3], ".".join(parts[4:])
                over = {"attention.output.LayerNorm.weight": (lam_norms, f"{i}.weight"),
                        "attention.output.LayerNorm.bias": (lam_norms, f"{i}.bias"),
                        "intermediate.dense.weight": (ffns, f"{i}.dense.weight"),
                        "intermediate.dense.bias": (ffns, f"{i}.dense.bias"),
                        "output.dense.weight": (out_dense, f"{i}.weight"),
                        "output.dense.bias": (out_dense, f"{i}.bias")}.get(rest)
                if over and over[1] in over[0]:
                    v = over[0][over[1]]
        expected[f"r32_pair/{k}"] = f32(v)

    buf = io.BytesIO()
    np.savez(buf, **expected)
    with open(os.path.join(HERE, "expected.npz.xz"), "wb") as f:
        f.write(lzma.compress(buf.getvalue(), preset=9 | lzma.PRESET_EXTREME))

    specials = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]",
                                                                  "[MASK]"]
    words = ["the", "a", "of", "and", "to", "in", "is", "was", "he", "for", "it", "with", "as",
             "his", "on", "be", "at", "by", "i", "this", "had", "not", "##s", "##ing"]
    vocab = specials + words
    assert len(vocab) == VOCAB
    with open(os.path.join(HERE, "vocab.txt"), "w", encoding="utf-8") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(HERE, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        f.write('{"do_lower_case": true, "model_max_length": 512, '
                '"tokenizer_class": "BertTokenizer"}\n')


if __name__ == "__main__":
    main()
