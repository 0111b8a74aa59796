# SPDX-License-Identifier: MIT
"""lam-convert's restricted unpickler: malicious pickles are refused before any code runs, and
hand-made torch-format checkpoints (written here without torch) probe storage edge cases."""

import collections
import json
import os
import pickle
import shutil
import sys
import unittest
import zipfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import convert_support as cs  # noqa: E402

SCRATCH = None
TOOL = None


def setUpModule():
    global SCRATCH, TOOL
    SCRATCH = cs.scratch_dir("convert_unpickler")
    TOOL = cs.import_tool()


def tearDownModule():
    if SCRATCH:
        shutil.rmtree(SCRATCH, ignore_errors=True)


class Evil:
    """Unpickling this with a normal pickle.load runs os.system."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class EvalEvil:
    def __reduce__(self):
        return (eval, ("__import__('os').getpid()",))


def torch_like_zip(path, pkl_bytes, folder="archive"):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{folder}/data.pkl", pkl_bytes)
        z.writestr(f"{folder}/version", "3\n")


class MaliciousPickleTest(unittest.TestCase):
    def setUp(self):
        self.dir = os.path.join(SCRATCH, self.id().rsplit(".", 1)[-1])
        os.makedirs(self.dir, exist_ok=True)
        self.marker = os.path.join(self.dir, "PWNED")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def assert_refused_cli(self, path, global_name):
        out = os.path.join(self.dir, "out")
        code, _, err = cs.run_tool("--checkpoint", path, "--vocab", cs.VOCAB, "--out", out)
        self.assertEqual(code, 1, err)
        self.assertIn(f"refusing to load '{global_name}'", err)
        self.assertFalse(os.path.exists(self.marker), "the pickle's payload ran")
        self.assertFalse(os.path.exists(out))

    def test_a_plain_pickle_load_would_run_the_payload(self):
        # Proves the payload is live, so the refusals below mean something.
        pickle.loads(pickle.dumps(Evil(self.marker), protocol=2))
        self.assertTrue(os.path.exists(self.marker))

    def test_os_system_in_zip_checkpoint(self):
        path = os.path.join(self.dir, "pytorch_model.bin")
        sd = collections.OrderedDict([("deltanet_layers.0.q_proj.weight", Evil(self.marker))])
        torch_like_zip(path, pickle.dumps(sd, protocol=2))
        self.assert_refused_cli(path, f"{os.name}.system")
        with self.assertRaises(TOOL.UnsafePickleError):
            TOOL.load_checkpoint(path)
        self.assertFalse(os.path.exists(self.marker))

    def test_os_system_as_legacy_stream(self):
        path = os.path.join(self.dir, "lam_tweak.pt")
        with open(path, "wb") as f:
            pickle.dump(Evil(self.marker), f, protocol=2)
        self.assert_refused_cli(path, f"{os.name}.system")

    def test_payload_after_legacy_header(self):
        path = os.path.join(self.dir, "legacy.pt")
        with open(path, "wb") as f:
            for obj in (0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}):
                pickle.dump(obj, f, protocol=2)
            pickle.dump({"lam_layers": {"0.x": Evil(self.marker)}}, f, protocol=2)
        self.assert_refused_cli(path, f"{os.name}.system")

    def test_eval_and_protocol_4(self):
        path = os.path.join(self.dir, "eval.bin")
        torch_like_zip(path, pickle.dumps({"a": EvalEvil()}, protocol=4))
        self.assert_refused_cli(path, "builtins.eval")

    def test_handwritten_globals_are_refused(self):
        for module, name in (("builtins", "getattr"), ("subprocess", "Popen"),
                             ("torch", "load"), ("numpy.core.multiarray", "_reconstruct"),
                             ("torch.nn.modules.linear", "Linear"), ("copyreg", "_reconstructor")):
            data = b"\x80\x02c" + f"{module}\n{name}\n".encode() + b")R."
            with self.assertRaisesRegex(TOOL.UnsafePickleError,
                                        f"refusing to load '{module}.{name}'"):
                TOOL._unpickle(data, "test")

    def test_rebuild_tensor_checks_its_arguments(self):
        # torch._utils._rebuild_tensor_v2(5, 0, (1,), (1,), False, {}) : an int is no storage.
        data = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n(K\x05K\x00K\x01\x85K\x01\x85"
                b"\x89}tR.")
        with self.assertRaisesRegex(TOOL.UnsafePickleError, "not a storage"):
            TOOL._unpickle(data, "test")
        # A storage type is a marker, not something the pickle may call.
        data = b"\x80\x02ctorch\nFloatStorage\nK\x04\x85R."
        with self.assertRaisesRegex(TOOL.UnsafePickleError, "construct torch.FloatStorage"):
            TOOL._unpickle(data, "test")
        # Persistent ids other than storages are refused.
        data = b"\x80\x02X\x03\x00\x00\x00abcQ."
        with self.assertRaisesRegex(TOOL.UnsafePickleError, "persistent id"):
            TOOL._unpickle(data, "test")

    def test_numpy_scalars_decode_but_arrays_do_not(self):
        for proto in (2, 4):
            got = TOOL._unpickle(pickle.dumps({"p": np.float64(0.836), "n": np.int64(-3),
                                               "h": np.float16(0.25), "b": np.bool_(True)},
                                              protocol=proto), "test")
            self.assertEqual(got, {"p": 0.836, "n": -3, "h": 0.25, "b": True})
            self.assertIs(type(got["p"]), float)
        with self.assertRaisesRegex(TOOL.UnsafePickleError, "multiarray._reconstruct"):
            TOOL._unpickle(pickle.dumps(np.zeros(3), protocol=2), "test")
        with self.assertRaisesRegex(TOOL.UnsafePickleError, "not a plain numeric type"):
            TOOL._unpickle(pickle.dumps(np.str_("abc"), protocol=2), "test")
        data = b"\x80\x02cnumpy\ndtype\nX\x01\x00\x00\x00O\x85R."
        with self.assertRaisesRegex(TOOL.UnsafePickleError, "not a plain numeric type"):
            TOOL._unpickle(data, "test")

    def test_truncated_pickle(self):
        path = os.path.join(self.dir, "cut.bin")
        torch_like_zip(path, pickle.dumps({"a": [1, 2, 3] * 10}, protocol=2)[:-7])
        with self.assertRaisesRegex(TOOL.ConvertError, "not a readable pickle"):
            TOOL.load_checkpoint(path)


class StorageEdgeCaseTest(unittest.TestCase):
    """Checkpoints written in torch's zip layout by convert_support.write_torch_zip."""

    def path(self, name):
        return os.path.join(SCRATCH, f"{self.id().rsplit('.', 1)[-1]}-{name}")

    def test_dtypes_views_and_byte_order(self):
        f32 = np.array([1.5, -0.0, 3.25e-20, np.float32(1) / 3, 7, 8, 9, 10], dtype=np.float32)
        f16 = np.array([0.5, -2, 65504, 6e-8], dtype=np.float16)
        # BF16 bit patterns: 1.0, -2.0, the largest finite, the smallest subnormal.
        bf16 = np.array([0x3F80, 0xC000, 0x7F7F, 0x0001], dtype=np.uint16)
        f64 = np.array([0.1, -1e-3, 1e30], dtype=np.float64)
        s = {"f32": cs.StorageRef("0", "FloatStorage", f32),
             "f16": cs.StorageRef("1", "HalfStorage", f16),
             "bf16": cs.StorageRef("2", "BFloat16Storage", bf16),
             "f64": cs.StorageRef("3", "DoubleStorage", f64)}
        obj = {
            "mat_t": cs.FakeTensor(s["f32"], 1, (2, 3), (1, 2)),    # offset 1, transposed
            "every_2nd": cs.FakeTensor(s["f32"], 2, (3,), (2,)),
            "f16": cs.FakeTensor(s["f16"], 0, (4,), (1,)),
            "bf16": cs.FakeTensor(s["bf16"], 0, (2, 2), (2, 1), via_type_v2=True),
            "f64": cs.FakeTensor(s["f64"], 1, (2,), (1,)),
            "bcast": cs.FakeTensor(s["f32"], 4, (2, 3), (0, 1)),    # expand()-style stride 0
            "empty": cs.FakeTensor(s["f32"], 0, (0, 5), (5, 1)),
        }
        for order in ("little", "big"):
            p = self.path(order)
            cs.write_torch_zip(p, obj, s.values(), folder="some_name", byteorder=order)
            sd = TOOL.load_checkpoint(p)
            base = f32[1:].copy()
            want_t = np.lib.stride_tricks.as_strided(base, (2, 3), (4, 8)).copy()
            self.assertTrue(np.array_equal(cs.bits(sd["mat_t"].to_f32()), cs.bits(want_t)))
            self.assertTrue(np.array_equal(sd["every_2nd"].to_f32(), f32[2:8:2]))
            self.assertTrue(np.array_equal(sd["f16"].to_f32(), f16.astype(np.float32)))
            self.assertEqual(sd["bf16"].dtype_name, "BF16")
            got = sd["bf16"].to_f32().ravel()
            self.assertEqual(list(cs.bits(got)), [0x3F800000, 0xC0000000, 0x7F7F0000, 0x10000])
            self.assertEqual(list(sd["f64"].to_f32()), [np.float32(-1e-3), np.float32(1e30)])
            self.assertTrue(np.array_equal(sd["bcast"].to_f32(), np.tile(f32[4:7], (2, 1))))
            self.assertEqual(sd["empty"].to_f32().shape, (0, 5))

    def test_view_past_the_storage_is_refused(self):
        st = cs.StorageRef("0", "FloatStorage", np.zeros(4, dtype=np.float32))
        p = self.path("oob")
        cs.write_torch_zip(p, {"t": cs.FakeTensor(st, 1, (2, 2), (2, 1))}, [st])
        with self.assertRaisesRegex(TOOL.ConvertError, r"reads element 4 of a storage of 4"):
            TOOL.load_checkpoint(p)

    def test_short_or_missing_storage_record(self):
        st = cs.StorageRef("0", "FloatStorage", np.zeros(6, dtype=np.float32))
        p = self.path("short")
        cs.write_torch_zip(p, {"t": cs.FakeTensor(st, 0, (6,), (1,))}, [st], truncate={"0": 20})
        t = TOOL.load_checkpoint(p)["t"]
        with self.assertRaisesRegex(TOOL.ConvertError, "holds 20 bytes, but 6 x FloatStorage"):
            t.to_f32()
        p = self.path("missing")
        cs.write_torch_zip(p, {"t": cs.FakeTensor(st, 0, (6,), (1,))}, [])
        with self.assertRaisesRegex(TOOL.ConvertError, "archive/data/0' is missing"):
            TOOL.load_checkpoint(p)

    def test_integer_tensor_where_weights_belong(self):
        st = cs.StorageRef("0", "LongStorage", np.arange(4, dtype=np.int64))
        p = self.path("int")
        cs.write_torch_zip(p, {"t": cs.FakeTensor(st, 0, (4,), (1,))}, [st])
        t = TOOL.load_checkpoint(p)["t"]
        self.assertFalse(t.is_float)
        plan = TOOL.Plan()
        plan.add("x", (4,), [("src", t)])
        with self.assertRaisesRegex(TOOL.ConvertError, "src: dtype I64, expected a float"):
            plan.check()

    def test_malformed_safetensors(self):
        good = np.arange(6, dtype=np.float32)
        p = self.path("ok.safetensors")
        cs.write_safetensors(p, {"a": ("F32", good.reshape(2, 3))})
        self.assertTrue(np.array_equal(TOOL.load_checkpoint(p)["a"].to_f32().ravel(), good))
        cases = {
            "bad dtype": ({"a": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}, 2,
                          "unsupported or malformed"),
            "short": ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 12,
                      r"data_offsets \[0, 16\] do not hold F32\[4\]"),
            "size mismatch": ({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, 8,
                              "do not hold F32"),
        }
        for what, (header, body, msg) in cases.items():
            hb = json.dumps(header).encode()
            with open(p, "wb") as f:
                f.write(len(hb).to_bytes(8, "little") + hb + bytes(body))
            with self.assertRaisesRegex(TOOL.ConvertError, msg, msg=what):
                TOOL.load_checkpoint(p)
        with open(p, "wb") as f:
            f.write((1 << 20).to_bytes(8, "little") + b"{}")
        with self.assertRaisesRegex(TOOL.ConvertError, "runs past the end"):
            TOOL.load_checkpoint(p)

    def test_not_a_checkpoint(self):
        p = self.path("text")
        with open(p, "w") as f:
            f.write("hello")
        code, _, err = cs.run_tool("--checkpoint", p, "--vocab", cs.VOCAB, "--out",
                                   self.path("o"))
        self.assertEqual(code, 1)
        self.assertIn("neither a PyTorch zip checkpoint nor a pickle", err)
        p = self.path("plain.pkl")
        with open(p, "wb") as f:
            pickle.dump({"a": 1}, f, protocol=2)
        with self.assertRaisesRegex(TOOL.ConvertError, "no magic number"):
            TOOL.load_checkpoint(p)


if __name__ == "__main__":
    unittest.main(verbosity=2)
