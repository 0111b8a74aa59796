#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Internal consistency of tools/reference/lam_reference.py (fast, numpy only, no build needed):
scan vs dense F128, the chunk/padding rules of lam-model.md 4.1, the L > 512 position
interpolation, BERT padding invisibility, erf, the safetensors reader and both CLIs."""
import json
import math
import os
import subprocess
import sys
import tempfile
import unittest

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

SRC = os.environ.get("LAM_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
REF_DIR = os.path.join(SRC, "tools", "reference")
sys.path.insert(0, REF_DIR)
import lam_reference as ref  # noqa: E402

H, D, DM, I = 12, 32, 384, 1536
VOCAB = 1100


def _lin(rng, out, inp):
    return rng.standard_normal((out, inp)) / math.sqrt(inp)


def lam_tensors(rng, variant, layers=1, vocab=VOCAB):
    t = {"teacher_model.embeddings.word_embeddings.weight": 0.05 * rng.standard_normal((vocab, DM)),
         "teacher_model.embeddings.position_embeddings.weight": 0.05 * rng.standard_normal((512, DM)),
         "teacher_model.embeddings.token_type_embeddings.weight": 0.02 * rng.standard_normal((2, DM)),
         "teacher_model.embeddings.LayerNorm.weight": 1 + 0.05 * rng.standard_normal(DM),
         "teacher_model.embeddings.LayerNorm.bias": 0.02 * rng.standard_normal(DM)}
    for i in range(layers):
        p = f"deltanet_layers.{i}."
        for k in "qkvgo":
            t[p + f"{k}_proj.weight"] = _lin(rng, DM, DM)
        for k in "qkv":
            w = rng.uniform(-0.5, 0.5, (DM, 1, 4))
            w[:, 0, 2] += 0.6
            t[p + f"{k}_conv1d.conv.weight"] = w
            t[p + f"{k}_conv1d.conv.bias"] = 0.1 * rng.standard_normal(DM)
        for k in ["b_proj", "fast_gate_proj", "slow_gate_proj", "fast_decay_proj", "slow_decay_proj"]:
            t[p + k + ".weight"] = _lin(rng, H, DM)
        t[p + "fast_decay_proj.bias"] = 0.02 * rng.standard_normal(H)
        t[p + "slow_decay_proj.bias"] = 0.02 * rng.standard_normal(H)
        t[p + "fast_decay_bias"] = math.log(0.3) + 0.1 * rng.standard_normal(H)
        t[p + "slow_decay_bias"] = math.log(0.85) + 0.1 * rng.standard_normal(H)
        rf = p + "resonance_flux."
        t[rf + "W_bilinear"] = rng.standard_normal((D, D) if variant == "r32" else (H, D, D)) / math.sqrt(D)
        t[rf + "temp"] = 1 + 0.2 * rng.uniform(-1, 1, H)   # distinct temperatures expose index bugs
        t[rf + "flux_net.0.weight"] = _lin(rng, 16, 2 * D + 1)
        t[rf + "flux_net.0.bias"] = 0.02 * rng.standard_normal(16)
        t[rf + "flux_net.2.weight"] = _lin(rng, 1, 16)
        t[rf + "flux_net.2.bias"] = 0.02 * rng.standard_normal(1)
        if variant != "r32":
            t[rf + "token_flux_proj.0.weight"] = _lin(rng, 16, 2 * D)
            t[rf + "token_flux_proj.0.bias"] = 0.02 * rng.standard_normal(16)
            t[rf + "token_flux_proj.2.weight"] = _lin(rng, 1, 16)
            t[rf + "token_flux_proj.2.bias"] = 0.02 * rng.standard_normal(1)
        t[p + "o_norm.weight"] = 1 + 0.05 * rng.standard_normal(D)
        tl = f"teacher_model.encoder.layer.{i}."
        for k, n in [("attention.output.LayerNorm", DM), ("output.LayerNorm", DM)]:
            t[tl + k + ".weight"] = 1 + 0.05 * rng.standard_normal(n)
            t[tl + k + ".bias"] = 0.02 * rng.standard_normal(n)
        t[tl + "intermediate.dense.weight"] = _lin(rng, I, DM)
        t[tl + "intermediate.dense.bias"] = 0.02 * rng.standard_normal(I)
        t[tl + "output.dense.weight"] = _lin(rng, DM, I)
        t[tl + "output.dense.bias"] = 0.02 * rng.standard_normal(DM)
    return t


def lam_config(variant, layers=1):
    return {"model_type": "lam", "lam_variant": variant, "hidden_size": DM, "num_hidden_layers": layers,
            "num_attention_heads": H, "intermediate_size": I, "vocab_size": VOCAB,
            "max_position_embeddings": 512, "max_seq_length": 8192, "layer_norm_eps": 1e-12}


def bert_model(rng, layers=1, positions=64):
    t = {"embeddings.word_embeddings.weight": 0.05 * rng.standard_normal((VOCAB, DM)),
         "embeddings.position_embeddings.weight": 0.05 * rng.standard_normal((positions, DM)),
         "embeddings.token_type_embeddings.weight": 0.02 * rng.standard_normal((2, DM)),
         "embeddings.LayerNorm.weight": 1 + 0.05 * rng.standard_normal(DM),
         "embeddings.LayerNorm.bias": 0.02 * rng.standard_normal(DM)}
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for k in ["attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"]:
            t[p + k + ".weight"] = _lin(rng, DM, DM)
            t[p + k + ".bias"] = 0.02 * rng.standard_normal(DM)
        for k in ["attention.output.LayerNorm", "output.LayerNorm"]:
            t[p + k + ".weight"] = 1 + 0.05 * rng.standard_normal(DM)
            t[p + k + ".bias"] = 0.02 * rng.standard_normal(DM)
        t[p + "intermediate.dense.weight"] = _lin(rng, I, DM)
        t[p + "intermediate.dense.bias"] = 0.02 * rng.standard_normal(I)
        t[p + "output.dense.weight"] = _lin(rng, DM, I)
        t[p + "output.dense.bias"] = 0.02 * rng.standard_normal(DM)
    cfg = {"model_type": "bert", "hidden_size": DM, "num_hidden_layers": layers,
           "num_attention_heads": H, "intermediate_size": I, "vocab_size": VOCAB,
           "max_position_embeddings": positions, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}
    return cfg, t


def ids_of(rng, L):
    return np.concatenate([[101], rng.integers(999, VOCAB, max(L - 2, 0)), [102]])[:L]


class ElementwiseTest(unittest.TestCase):
    def test_erf_matches_math_erf(self):
        x = np.concatenate([np.linspace(-8, 8, 20001), [0.0, -0.0, 1e-300, 1.0, 2.5, -2.5,
                                                         np.nextafter(2.5, 0), 30.0, -30.0]])
        want = np.array([math.erf(v) for v in x])
        self.assertLess(np.abs(ref.erf(x) - want).max(), 3e-15)

    def test_gelu_is_exact_erf_form(self):
        self.assertAlmostEqual(float(ref.gelu(np.array([1.0]))[0]), 0.5 * (1 + math.erf(1 / math.sqrt(2))), 15)


class ChunkRulesTest(unittest.TestCase):
    def test_layer_padding_rule(self):
        for L, Lp in [(1, 1), (31, 31), (32, 32), (33, 33), (63, 63), (64, 64), (65, 96), (100, 128),
                      (128, 128), (130, 160), (200, 224), (256, 256), (513, 544), (8000, 8000)]:
            self.assertEqual(ref.padded_len(L), Lp, L)

    def test_chunk_table_of_section_4_1(self):
        # L -> (R32, R64T, F128) chunk sizes, lam-model.md 4.1 step 7.
        table = {5: (5, 5, 5), 63: (63, 63, 63), 64: (32, 64, 64), 96: (32, 96, 96),
                 100: (32, 64, 128), 200: (32, 224, 224), 256: (32, 64, 128),
                 8000: (32, 64, 8000)}
        for L, want in table.items():
            Lp = ref.padded_len(L)
            self.assertEqual(tuple(ref.chunk_len(Lp, c0) for c0 in (32, 64, 128)), want, L)


class PositionTest(unittest.TestCase):
    def setUp(self):
        self.table = np.random.default_rng(3).standard_normal((512, DM)).astype(np.float32).astype(np.float64)

    def test_plain_table_up_to_512(self):
        np.testing.assert_array_equal(ref.position_rows(self.table, 512), self.table)
        np.testing.assert_array_equal(ref.position_rows(self.table, 7), self.table[:7])

    def test_interpolation_above_512_in_float32(self):
        for L in (513, 1000, 8192):
            P = ref.position_rows(self.table, L)
            self.assertEqual(P.shape, (L, DM))
            np.testing.assert_array_equal(P[0], self.table[0])
            # Independent float32 evaluation of section 3 for a few positions.
            s = np.float32(511.0 / (L - 1))
            for t in (1, L // 3, L - 2, L - 1):
                p = np.float32(np.float32(t) * s)
                lo = int(p)
                hi = min(lo + 1, 511)
                w = float(np.float32(p - np.float32(lo)))
                np.testing.assert_allclose(P[t], (1 - w) * self.table[lo] + w * self.table[hi], rtol=0, atol=1e-15)
            self.assertLess(np.abs(P[-1] - self.table[511]).max(), 1e-3)


class LamModelTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        rng = np.random.default_rng(11)
        cls.models = {v: ref.model_from_tensors(lam_config(v), lam_tensors(rng, v)) for v in ("f128", "r64t", "r32")}

    def test_scan_equals_dense_f128(self):
        m = self.models["f128"]
        rng = np.random.default_rng(5)
        for L in (1, 5, 33, 64, 100, 200, 257, 300):
            ids = ids_of(rng, L)
            dense = ref.lam_hidden(m, ids, "dense")
            scan = ref.lam_hidden(m, ids, "scan")
            self.assertLess(np.abs(dense - scan).max() / np.abs(dense).max(), 1e-12, L)
            e1, e2 = ref.embed(m, ids, "dense"), ref.embed(m, ids, "scan")
            self.assertLess(np.abs(e1 - e2).max(), 1e-12, L)

    def test_single_chunk_scan_equals_dense_for_recurrent_variants(self):
        # R64T: L = 200 -> L' = 224, not a multiple of 64, so one chunk; R32: L = 50, one chunk.
        rng = np.random.default_rng(6)
        for v, L in (("r64t", 200), ("r64t", 40), ("r32", 50)):
            ids = ids_of(rng, L)
            dense = ref.lam_hidden(self.models[v], ids, "dense")
            scan = ref.lam_hidden(self.models[v], ids, "scan")
            self.assertLess(np.abs(dense - scan).max() / np.abs(dense).max(), 1e-12, (v, L))
        with self.assertRaises(ValueError):  # several chunks: the scan shortcut does not apply
            ref.lam_hidden(self.models["r32"], ids_of(rng, 100), "scan")

    def test_conv_look_ahead_is_one_token_per_layer(self):
        # F128 within one chunk is causal except for the conv's one-token look-ahead, and rows past
        # the sequence are zero (canonical rule 8b.1): appending a token changes only the last row.
        m = self.models["f128"]
        ids = ids_of(np.random.default_rng(9), 41)
        a = ref.lam_hidden(m, ids[:40])
        b = ref.lam_hidden(m, ids)
        self.assertLess(np.abs(a[:39] - b[:39]).max(), 1e-12)
        self.assertGreater(np.abs(a[39] - b[39]).max(), 1e-6)

    def test_embeddings_are_unit_finite_and_distinct(self):
        rng = np.random.default_rng(8)
        for v, m in self.models.items():
            for L in (1, 64, 100, 513):
                e1, e2 = ref.embed(m, ids_of(rng, L)), ref.embed(m, ids_of(rng, L))
                self.assertTrue(np.isfinite(e1).all(), (v, L))
                self.assertAlmostEqual(float(np.linalg.norm(e1)), 1.0, 12)
                if L > 1:
                    self.assertLess(float(e1 @ e2), 0.9999, (v, L))

    def test_variants_differ(self):
        ids = ids_of(np.random.default_rng(2), 100)
        e = {v: ref.embed(m, ids) for v, m in self.models.items()}
        self.assertGreater(np.abs(e["r64t"] - e["f128"]).max(), 1e-6)

    def test_rejects_bad_input(self):
        m = self.models["f128"]
        for bad in ([], [VOCAB], [-1]):
            with self.assertRaises(ValueError):
                ref.embed(m, bad)


class BertTest(unittest.TestCase):
    def test_padding_with_mask_is_invisible(self):
        cfg, t = bert_model(np.random.default_rng(21), layers=2)
        m = ref.model_from_tensors(cfg, t)
        ids = ids_of(np.random.default_rng(1), 17)
        y, mask = ref.bert_hidden(m, ids)
        yp, maskp = ref.bert_hidden(m, ids, pad_to=40)
        self.assertEqual(int(maskp.sum()), 17)
        self.assertLess(np.abs(y - yp[:17]).max(), 1e-12)
        pooled = (yp * maskp[:, None]).sum(0) / maskp.sum()
        l2 = ref.l2_normalize(pooled)
        self.assertLess(np.abs(l2 - ref.embed(m, ids)).max(), 1e-12)

    def test_max_tokens_is_the_position_table(self):
        cfg, t = bert_model(np.random.default_rng(22), positions=16)
        m = ref.model_from_tensors(cfg, t)
        ref.embed(m, ids_of(np.random.default_rng(0), 16))
        with self.assertRaises(ValueError):
            ref.embed(m, ids_of(np.random.default_rng(0), 17))


class FilesAndCliTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(dir=os.environ.get("LAM_TEST_DATA_DIR"))
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write_model(self, name, cfg, tensors):
        d = os.path.join(self.dir, name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f)
        ref.write_safetensors(os.path.join(d, "model.safetensors"),
                              {k: v.astype(np.float32) for k, v in tensors.items()}, {"format": "pt"})
        return d

    def test_reader_round_trip_and_truncation(self):
        path = os.path.join(self.dir, "x.safetensors")
        a = np.arange(6, dtype=np.float32).reshape(2, 3)
        ref.write_safetensors(path, {"a": a, "b": np.array([1.5], dtype=np.float64)}, {"k": "v"})
        t, meta = ref.read_safetensors(path)
        np.testing.assert_array_equal(t["a"], a)
        self.assertEqual(meta, {"k": "v"})
        with open(path, "rb") as f:
            blob = f.read()
        with open(path, "wb") as f:
            f.write(blob[:-3])
        with self.assertRaises(ValueError):
            ref.read_safetensors(path)

    def test_bf16_is_widened_exactly(self):
        path = os.path.join(self.dir, "h.safetensors")
        vals = np.array([1.0, -2.5, 3.140625], dtype=np.float32)
        raw = (vals.view(np.uint32) >> 16).astype("<u2").tobytes()
        header = json.dumps({"h": {"dtype": "BF16", "shape": [3], "data_offsets": [0, 6]}}).encode()
        with open(path, "wb") as f:
            f.write(len(header).to_bytes(8, "little") + header + raw)
        t, _ = ref.read_safetensors(path)
        np.testing.assert_array_equal(t["h"], vals)

    def test_load_model_infers_variant_and_cli_matches_module(self):
        rng = np.random.default_rng(31)
        cfg = lam_config("r32")
        del cfg["lam_variant"]
        d = self.write_model("r32", cfg, lam_tensors(rng, "r32"))
        m = ref.load_model(d)
        self.assertEqual(m.variant, "r32")
        ids = [101, 1000, 1001, 1050, 102]
        out = subprocess.run([sys.executable, os.path.join(REF_DIR, "lam_reference.py"), "--model", d,
                              "--tokens", ",".join(map(str, ids))], check=True, capture_output=True, text=True)
        got = np.array(json.loads(out.stdout)["embedding"])
        # The file holds float32 weights, the module-side model float64 copies of the same.
        np.testing.assert_array_equal(got, ref.embed(m, ids))

    def test_make_golden_writes_cases_and_marks_too_long(self):
        cfg, t = bert_model(np.random.default_rng(41), positions=32)
        d = self.write_model("bert", cfg, t)
        out = os.path.join(self.dir, "g.json")
        subprocess.run([sys.executable, os.path.join(REF_DIR, "make_golden.py"), "--model", d,
                        "--lengths", "1,5,40", "--seed", "3", "--out", out, "--quiet"], check=True)
        with open(out) as f:
            g = json.load(f)
        self.assertEqual([c["length"] for c in g["cases"]], [1, 5, 40])
        self.assertEqual(g["cases"][0]["ids"], [101])
        self.assertEqual(g["cases"][1]["ids"][0], 101)
        self.assertEqual(g["cases"][1]["ids"][-1], 102)
        self.assertIsNone(g["cases"][2]["embedding"])
        self.assertEqual(g["cases"][2]["expect_error"], "SEQUENCE_TOO_LONG")
        m = ref.load_model(d)
        np.testing.assert_array_equal(np.array(g["cases"][1]["embedding"]), ref.embed(m, g["cases"][1]["ids"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
