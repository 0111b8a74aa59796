# SPDX-License-Identifier: MIT
"""lam-convert on the committed torch-made fixtures (tests/data/convert/, see make_fixtures.py):
every output tensor is compared bit-exactly with the values torch itself produced, read back with
an independent safetensors reader (and PyPI safetensors when installed)."""

import json
import os
import shutil
import subprocess
import sys
import unittest

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_support as cs  # noqa: E402

FX = {}
EXPECTED = {}
SCRATCH = None
TOOL = None


def setUpModule():
    global SCRATCH, TOOL
    SCRATCH = cs.scratch_dir("convert")
    FX.update(cs.decompress_fixtures(SCRATCH))
    EXPECTED.update(cs.load_expected(FX["expected.npz"]))
    TOOL = cs.import_tool()


def tearDownModule():
    if SCRATCH:
        shutil.rmtree(SCRATCH, ignore_errors=True)


class ConvertCase(unittest.TestCase):
    def out_dir(self, name):
        path = os.path.join(SCRATCH, f"{self.id().rsplit('.', 1)[-1]}-{name}")
        shutil.rmtree(path, ignore_errors=True)
        return path

    def convert_ok(self, *args):
        code, out, err = cs.run_tool(*args)
        self.assertEqual(code, 0, f"lam-convert {' '.join(args)} failed:\n{err}")
        return out, err

    def assert_model_dir(self, out, fixture, variant, layers):
        meta, tensors = cs.read_safetensors(os.path.join(out, "model.safetensors"))
        expected = EXPECTED[fixture]
        self.assertEqual(sorted(tensors), sorted(expected), "output key set")
        for key, want in expected.items():
            got = tensors[key]
            self.assertEqual(got.shape, want.shape, key)
            self.assertTrue(np.array_equal(cs.bits(got), cs.bits(want)),
                            f"{key}: values differ from torch's (first {got.ravel()[:4]} vs "
                            f"{want.ravel()[:4]})")
        pypi = cs.read_with_pypi_safetensors(os.path.join(out, "model.safetensors"))
        if pypi is not None:
            self.assertEqual(sorted(pypi), sorted(expected))
            for key, want in expected.items():
                self.assertTrue(np.array_equal(cs.bits(pypi[key]), cs.bits(want)), key)
        self.assertEqual(meta.get("lam_variant"), variant)
        with open(os.path.join(out, "config.json")) as f:
            config = json.load(f)
        self.assertEqual(config, {
            "model_type": "lam", "lam_variant": variant, "hidden_size": 384,
            "num_hidden_layers": layers, "num_attention_heads": 12, "intermediate_size": 1536,
            "vocab_size": 128, "max_position_embeddings": 512, "max_seq_length": 8192,
            "layer_norm_eps": 1e-12})
        with open(os.path.join(out, "vocab.txt"), "rb") as a, open(cs.VOCAB, "rb") as b:
            self.assertEqual(a.read(), b.read())
        return tensors


class V1Test(ConvertCase):
    def test_f32_two_layers_bit_exact(self):
        out = self.out_dir("o")
        stdout, _ = self.convert_ok("--checkpoint", FX["v1_f32.pt"], "--vocab", cs.VOCAB,
                                    "--out", out)
        self.assertIn("variant f128, 2 layers", stdout)
        t = self.assert_model_dir(out, "v1_f32", "f128", 2)
        # Only what inference uses: no MiniLM attention, pooler, dups or o_norm.gate.
        self.assertEqual(len(t), 5 + 2 * (31 + 8))
        self.assertFalse(any("attention.self" in k or "pooler" in k or "gate" in k and
                             "gate_proj" not in k for k in t))
        self.assertFalse(os.path.exists(os.path.join(out, "tokenizer_config.json")))

    def test_fixture_exercises_views_and_shared_storage(self):
        sd = TOOL.load_checkpoint(FX["v1_f32.pt"])
        q = sd["deltanet_layers.1.q_proj.weight"]
        self.assertEqual((q.shape, q.stride), ((384, 384), (1, 384)))
        self.assertEqual(sd["deltanet_layers.0.fast_decay_bias"].offset, 100)
        ln = sd["teacher_model.embeddings.LayerNorm.bias"]
        self.assertEqual((ln.offset, ln.stride), (7, (2,)))
        self.assertIs(sd["embeddings.word_embeddings.weight"].storage,
                      sd["teacher_model.embeddings.word_embeddings.weight"].storage)
        self.assertIs(sd["ffn_norms.1.weight"].storage,
                      sd["teacher_model.encoder.layer.1.output.LayerNorm.weight"].storage)
        # A transposed view really is different from reading its storage in order.
        want = EXPECTED["v1_f32"]["deltanet_layers.1.q_proj.weight"]
        flat = q.storage.array()[:384 * 384].reshape(384, 384)
        self.assertFalse(np.array_equal(cs.bits(flat), cs.bits(want)))
        self.assertTrue(np.array_equal(cs.bits(q.to_f32()), cs.bits(want)))

    def test_f16_bf16_parameters_in_wrapper(self):
        sd = TOOL.load_checkpoint(FX["v1_mixed_wrapped.pt"])
        self.assertEqual(sd["step"], 1234)
        inner = sd["model_state_dict"]
        self.assertEqual(inner["deltanet_layers.0.q_proj.weight"].dtype_name, "F16")
        self.assertEqual(inner["teacher_model.embeddings.word_embeddings.weight"].dtype_name,
                         "BF16")
        self.assertEqual(inner["teacher_model.embeddings.position_ids"].dtype_name, "I64")
        out = self.out_dir("o")
        _, err = self.convert_ok("--checkpoint", FX["v1_mixed_wrapped.pt"], "--vocab", cs.VOCAB,
                                 "--out", out)
        self.assertIn("model_state_dict", err)
        self.assert_model_dir(out, "v1_mixed_wrapped", "f128", 1)

    def test_legacy_format_as_r64t(self):
        out = self.out_dir("o")
        self.convert_ok("--checkpoint", FX["v1_legacy.pt"], "--variant", "r64t", "--vocab",
                        cs.VOCAB, "--out", out)
        self.assert_model_dir(out, "v1_legacy", "r64t", 1)

    def test_vocab_and_tokenizer_config_found_beside_the_checkpoint(self):
        d = self.out_dir("in")
        os.makedirs(d)
        shutil.copy(FX["v1_legacy.pt"], os.path.join(d, "pytorch_model.bin"))
        shutil.copy(cs.VOCAB, d)
        shutil.copy(os.path.join(cs.FIXTURES, "tokenizer_config.json"), d)
        out = self.out_dir("o")
        self.convert_ok("--checkpoint", os.path.join(d, "pytorch_model.bin"), "--out", out)
        self.assert_model_dir(out, "v1_legacy", "f128", 1)
        with open(os.path.join(out, "tokenizer_config.json")) as f:
            self.assertEqual(json.load(f)["tokenizer_class"], "BertTokenizer")

    def test_bad_checkpoint_names_every_problem_and_writes_nothing(self):
        out = self.out_dir("o")
        code, _, err = cs.run_tool("--checkpoint", FX["v1_bad.pt"], "--vocab", cs.VOCAB,
                                   "--out", out)
        self.assertEqual(code, 1)
        self.assertIn("deltanet_layers.0.b_proj.weight: shape [12, 383], expected [12, 384]",
                      err)
        self.assertIn("missing tensor", err)
        self.assertIn("deltanet_layers.0.o_norm.weight (shape [32])", err)
        self.assertFalse(os.path.exists(out))
        self.assertEqual([n for n in os.listdir(SCRATCH) if n.endswith(".tmp")], [])

    def test_non_finite_weights_are_refused_without_output(self):
        sd = dict(TOOL.load_checkpoint(FX["v1_legacy.pt"]))
        bad = np.full(12, np.nan, dtype=np.float32)
        st = TOOL.Storage(TOOL._STORAGE_TYPE_OBJS["FloatStorage"], 12, bad.tobytes, "nan")
        sd["deltanet_layers.0.slow_decay_bias"] = TOOL.TensorRef(st, 0, (12,), (1,))
        plan, layout, n, vocab = TOOL.plan_v1(sd, "ckpt")
        plan.check()
        out = self.out_dir("o")
        with open(cs.VOCAB, "rb") as f:
            vocab_bytes = f.read()
        with self.assertRaisesRegex(TOOL.ConvertError,
                                    "deltanet_layers.0.slow_decay_bias: 12 non-finite"):
            TOOL.write_model_dir(out, plan, "f128", n, vocab, vocab_bytes, None, "x", False)
        self.assertFalse(os.path.exists(out))
        self.assertEqual([n for n in os.listdir(SCRATCH) if n.endswith(".tmp")], [])

    def test_safetensors_input_with_only_the_duplicate_names(self):
        # The Hub's pytorch_model.bin -> safetensors conversion keeps one name per shared
        # tensor; here the embeddings and FFN/LN exist only under their duplicate spellings.
        src = EXPECTED["v1_f32"]
        renames = [("teacher_model.embeddings.", "embeddings."),
                   (".attention.output.LayerNorm.", "deltanet_norms.{i}."),
                   (".intermediate.dense.", "deltanet_ffns.{i}.dense."),
                   (".output.LayerNorm.", "ffn_norms.{i}.")]
        tensors, want = {}, {}
        for n, (key, val) in enumerate(sorted(src.items())):
            name = key
            for old, new in renames:
                if key.startswith("teacher_model.encoder.layer.") and old in key:
                    i = key.split(".")[3]
                    name = new.format(i=i) + key.split(old)[1]
                    break
                if old.startswith("teacher") and key.startswith(old):
                    name = new + key[len(old):]
                    break
            if n % 3 == 1:  # F16
                tensors[name] = ("F16", val.astype(np.float16))
                want[key] = val.astype(np.float16).astype(np.float32)
            elif n % 3 == 2:  # BF16 by truncation
                tensors[name] = ("BF16", (cs.bits(val) >> 16).astype(np.uint16))
                want[key] = (cs.bits(val) & np.uint32(0xFFFF0000)).view(np.float32)
            else:
                tensors[name] = ("F32", val)
                want[key] = val
        self.assertIn("deltanet_ffns.1.dense.weight", tensors)
        self.assertIn("embeddings.word_embeddings.weight", tensors)
        self.assertNotIn("teacher_model.embeddings.word_embeddings.weight", tensors)
        path = os.path.join(SCRATCH, "dup_names.safetensors")
        cs.write_safetensors(path, tensors)
        out = self.out_dir("o")
        self.convert_ok("--checkpoint", path, "--vocab", cs.VOCAB, "--out", out)
        _, got = cs.read_safetensors(os.path.join(out, "model.safetensors"))
        self.assertEqual(sorted(got), sorted(want))
        for key, w in want.items():
            self.assertTrue(np.array_equal(cs.bits(got[key]), cs.bits(w)), key)
        # And lamd's own output converts back to itself.
        again = self.out_dir("again")
        self.convert_ok("--checkpoint", os.path.join(out, "model.safetensors"), "--vocab",
                        cs.VOCAB, "--out", again)
        meta, back = cs.read_safetensors(os.path.join(again, "model.safetensors"))
        self.assertEqual(meta["source"], "model.safetensors")
        self.assertEqual(list(back), list(got))
        for key in got:
            self.assertTrue(np.array_equal(cs.bits(back[key]), cs.bits(got[key])), key)

    def test_variant_must_fit_the_checkpoint(self):
        code, _, err = cs.run_tool("--checkpoint", FX["v1_f32.pt"], "--variant", "r32",
                                   "--vocab", cs.VOCAB, "--out", self.out_dir("o"))
        self.assertEqual(code, 1)
        self.assertIn("[12,32,32]", err)


class PairTest(ConvertCase):
    def test_r32_pair_with_overrides(self):
        out = self.out_dir("o")
        stdout, err = self.convert_ok("--base", FX["r32_base.bin"], "--tweak",
                                      FX["r32_tweak.pt"], "--vocab", cs.VOCAB, "--out", out)
        self.assertIn("variant r32, 2 layers", stdout)
        t = self.assert_model_dir(out, "r32_pair", "r32", 2)
        self.assertEqual(t["deltanet_layers.0.resonance_flux.W_bilinear"].shape, (32, 32))
        self.assertNotIn("deltanet_layers.0.resonance_flux.token_flux_proj.0.weight", t)

    def test_override_precedence(self):
        base = TOOL.load_checkpoint(FX["r32_base.bin"])["state_dict"]
        tweak = TOOL.load_checkpoint(FX["r32_tweak.pt"])
        out = self.out_dir("o")
        self.convert_ok("--base", FX["r32_base.bin"], "--tweak", FX["r32_tweak.pt"], "--vocab",
                        cs.VOCAB, "--out", out)
        _, t = cs.read_safetensors(os.path.join(out, "model.safetensors"))

        def same(out_key, src):
            return np.array_equal(cs.bits(t[out_key]), cs.bits(src.to_f32()))

        L = "teacher_model.encoder.layer."
        # lam_norms (both layers) win over the base's attention LayerNorm.
        for i in (0, 1):
            self.assertTrue(same(f"{L}{i}.attention.output.LayerNorm.weight",
                                 tweak["lam_norms"][f"{i}.weight"]))
            base_ln = base[f"bert.encoder.layer.{i}.attention.output.LayerNorm.weight"]
            self.assertFalse(same(f"{L}{i}.attention.output.LayerNorm.weight", base_ln))
        # deltanet_ffns holds layer 1 only: layer 0 keeps the base FFN.
        self.assertTrue(same(f"{L}0.intermediate.dense.weight",
                             base["bert.encoder.layer.0.intermediate.dense.weight"]))
        self.assertTrue(same(f"{L}1.intermediate.dense.bias",
                             tweak["deltanet_ffns"]["1.dense.bias"]))
        # output_dense_layers holds layer 0 only.
        self.assertTrue(same(f"{L}0.output.dense.weight",
                             tweak["output_dense_layers"]["0.weight"]))
        self.assertTrue(same(f"{L}1.output.dense.weight",
                             base["bert.encoder.layer.1.output.dense.weight"]))
        # No ffn_norms in the tweak: the base's output LayerNorm stays.
        self.assertTrue(same(f"{L}1.output.LayerNorm.bias",
                             base["bert.encoder.layer.1.output.LayerNorm.bias"]))
        self.assertTrue(same("deltanet_layers.1.o_proj.weight",
                             tweak["lam_layers"]["1.o_proj.weight"]))
        # The numpy scalars the training script stored decode to plain numbers.
        self.assertEqual((tweak["pearson"], tweak["spearman"]), (0.836, 0.8125))

    def _plan(self, base, tweak, **kw):
        plan, layout, n, vocab = TOOL.plan_pair(base, tweak, "base", "tweak", **kw)
        plan.check()
        return plan, layout, n, vocab

    def test_base_prefixes_and_wrappers(self):
        base = TOOL.load_checkpoint(FX["r32_base.bin"])["state_dict"]
        tweak = TOOL.load_checkpoint(FX["r32_tweak.pt"])
        plain = {k[len("bert."):]: v for k, v in base.items()}
        for prefix, wrap in (("", None), ("0.auto_model.", "model"), ("module.", "state_dict"),
                             ("bert.", "model_state_dict")):
            sd = {prefix + k: v for k, v in plain.items()}
            obj = {wrap: sd, "epoch": 3} if wrap else sd
            plan, layout, n, vocab = self._plan(obj, tweak)
            self.assertEqual((layout, n, vocab), ("r32", 2, 128))
            desc, ref = plan.entries["teacher_model.embeddings.word_embeddings.weight"]
            self.assertIn(f"{prefix}embeddings.word_embeddings.weight", desc)
            self.assertIs(ref, plain["embeddings.word_embeddings.weight"])

    def test_base_without_embeddings_is_refused(self):
        base = TOOL.load_checkpoint(FX["r32_base.bin"])["state_dict"]
        tweak = TOOL.load_checkpoint(FX["r32_tweak.pt"])
        sd = {k: v for k, v in base.items() if "word_embeddings" not in k}
        with self.assertRaisesRegex(TOOL.ConvertError, "cannot find the word embeddings"):
            self._plan({"state_dict": sd}, tweak)
        # A word table under one prefix and the rest under another is not silently mixed.
        sd = {("x." + k if "word_embeddings" in k else k): v for k, v in base.items()}
        with self.assertRaisesRegex(TOOL.ConvertError,
                                    r"missing tensor base: x\.bert\.embeddings\.position"):
            self._plan(sd, tweak)
        two = dict(base)
        two.update({"teacher." + k: v for k, v in base.items()})
        with self.assertRaisesRegex(TOOL.ConvertError, "several prefixes"):
            self._plan(two, tweak)
        plan, *_ = self._plan(two, tweak, base_prefix="teacher.bert.")
        self.assertIn("teacher.bert.embeddings", plan.entries[
            "teacher_model.embeddings.LayerNorm.bias"][0])

    def test_deltanet_layers_spelling_and_bad_overrides(self):
        base = TOOL.load_checkpoint(FX["r32_base.bin"])
        tweak = dict(TOOL.load_checkpoint(FX["r32_tweak.pt"]))
        tweak["deltanet_layers"] = tweak.pop("lam_layers")
        plan, layout, n, _ = self._plan(base, tweak)
        self.assertEqual((layout, n), ("r32", 2))
        # A wrapped tweak keeps its override dicts beside the layers.
        plan, *_ = self._plan(base, {"state_dict": tweak})
        self.assertEqual(plan.entries[
            "teacher_model.encoder.layer.1.attention.output.LayerNorm.bias"][0],
            "tweak['state_dict']['lam_norms']['1.bias']")
        # A mis-shaped override is an error, not a silent fallback to the base (the original
        # swallowed the load_state_dict failure).
        bad = dict(tweak)
        bad["ffn_norms"] = {"0.weight": tweak["lam_norms"]["0.weight"],
                            "0.bias": tweak["deltanet_ffns"]["1.dense.bias"]}
        with self.assertRaisesRegex(TOOL.ConvertError,
                                    r"tweak\['ffn_norms'\]\['0.bias'\]: shape \[1536\]"):
            self._plan(base, bad)
        del tweak["deltanet_layers"]
        with self.assertRaisesRegex(TOOL.ConvertError, "no 'lam_layers' or 'deltanet_layers'"):
            self._plan(base, tweak)

    def test_pair_rejects_v1_variants(self):
        code, _, err = cs.run_tool("--base", FX["r32_base.bin"], "--tweak", FX["r32_tweak.pt"],
                                   "--variant", "f128", "--vocab", cs.VOCAB, "--out",
                                   self.out_dir("o"))
        self.assertEqual(code, 1)
        self.assertIn("[32,32] (R32)", err)


class CliTest(ConvertCase):
    def test_help(self):
        code, out, _ = cs.run_tool("--help")
        self.assertEqual(code, 0)
        for word in ("--checkpoint", "--base", "--tweak", "--vocab", "--variant", "--out"):
            self.assertIn(word, out)

    def test_usage_errors(self):
        code, _, err = cs.run_tool("--base", FX["r32_base.bin"], "--out", self.out_dir("o"))
        self.assertEqual(code, 2)
        self.assertIn("--base and --tweak go together", err)
        code, _, _ = cs.run_tool("--checkpoint", FX["v1_f32.pt"])
        self.assertEqual(code, 2)

    def test_vocab_must_match_the_embeddings(self):
        short = os.path.join(SCRATCH, "short_vocab.txt")
        with open(cs.VOCAB) as f, open(short, "w") as g:
            g.writelines(f.readlines()[:-1])
        code, _, err = cs.run_tool("--checkpoint", FX["v1_legacy.pt"], "--vocab", short,
                                   "--out", self.out_dir("o"))
        self.assertEqual(code, 1)
        self.assertIn("127 tokens, but the word embedding table has 128 rows", err)
        code, _, err = cs.run_tool("--checkpoint", FX["v1_legacy.pt"], "--out",
                                   self.out_dir("o"))
        self.assertEqual(code, 1)
        self.assertIn("--vocab", err)

    def test_existing_output_needs_force(self):
        out = self.out_dir("o")
        os.makedirs(out)
        with open(os.path.join(out, "keep"), "w") as f:
            f.write("x")
        args = ["--checkpoint", FX["v1_legacy.pt"], "--vocab", cs.VOCAB, "--out", out, "-q"]
        code, _, err = cs.run_tool(*args)
        self.assertEqual(code, 1)
        self.assertIn("--force", err)
        self.assertEqual(os.listdir(out), ["keep"])
        stdout, _ = self.convert_ok(*args, "--force")
        self.assertEqual(stdout, "")
        self.assertEqual(sorted(os.listdir(out)), ["config.json", "model.safetensors",
                                                   "vocab.txt"])

    def test_runs_where_torch_cannot_be_imported(self):
        out = self.out_dir("o")
        code = ("import runpy, sys; sys.modules['torch'] = None; "
                f"sys.argv = ['lam-convert', '--checkpoint', {FX['v1_f32.pt']!r}, "
                f"'--vocab', {cs.VOCAB!r}, '--out', {out!r}]; "
                f"runpy.run_path({cs.tool_path()!r}, run_name='__main__')")
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           timeout=300)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assert_model_dir(out, "v1_f32", "f128", 2)

    def test_list(self):
        code, out, _ = cs.run_tool("--list", FX["r32_tweak.pt"])
        self.assertEqual(code, 0)
        self.assertIn("lam_layers/0.resonance_flux.W_bilinear\tF32\t[32, 32]", out)
        self.assertIn("step\tint\t3500", out)
        self.assertIn("pearson\tfloat\t0.836", out)  # a numpy.float64 in the file


if __name__ == "__main__":
    unittest.main(verbosity=2)
