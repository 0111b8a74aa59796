# SPDX-License-Identifier: MIT
"""Shared helpers for the lam-convert tests (test_convert*.py). Needs numpy only, never torch.

* locating and importing the tool,
* decompressing the committed fixtures (tests/data/convert/*.xz),
* an independent safetensors reader,
* FakeTorch: writes PyTorch-format zip checkpoints without torch, for hand-made edge cases
  (it registers stand-in 'torch' modules only while pickling, so pickle emits the same globals
  torch.save would).
"""

import collections
import contextlib
import importlib.machinery
import importlib.util
import io
import json
import lzma
import os
import pickle
import struct
import subprocess
import sys
import tempfile
import types
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("LAM_SOURCE_DIR") or os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(SOURCE_DIR, "tests", "data", "convert")
VOCAB = os.path.join(FIXTURES, "vocab.txt")


def tool_path():
    bin_dir = os.environ.get("LAM_BIN_DIR")
    if bin_dir and os.path.exists(os.path.join(bin_dir, "lam-convert")):
        return os.path.join(bin_dir, "lam-convert")
    return os.path.join(SOURCE_DIR, "tools", "lam-convert", "lam-convert")


def import_tool():
    path = tool_path()
    loader = importlib.machinery.SourceFileLoader("lam_convert", path)
    spec = importlib.util.spec_from_loader("lam_convert", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


def run_tool(*args, cwd=None):
    """Runs lam-convert as a subprocess; returns (exit code, stdout, stderr)."""
    p = subprocess.run([sys.executable, tool_path(), *args], capture_output=True, text=True,
                       cwd=cwd, timeout=300)
    return p.returncode, p.stdout, p.stderr


def scratch_dir(tag):
    base = os.environ.get("LAM_TEST_DATA_DIR")
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=f"{tag}.", dir=base or None)


def decompress_fixtures(dest):
    """Writes every tests/data/convert/*.xz to dest without the .xz; returns {name: path}."""
    out = {}
    for name in sorted(os.listdir(FIXTURES)):
        if name.endswith(".xz"):
            with open(os.path.join(FIXTURES, name), "rb") as f:
                raw = lzma.decompress(f.read())
            path = os.path.join(dest, name[:-3])
            with open(path, "wb") as f:
                f.write(raw)
            out[name[:-3]] = path
    return out


def load_expected(path):
    """{fixture: {key: float32 array}} from expected.npz."""
    out = collections.defaultdict(dict)
    with np.load(path) as z:
        for k in z.files:
            fixture, key = k.split("/", 1)
            out[fixture][key] = z[k]
    return out


def read_safetensors(path):
    """Independent strict reader: returns (metadata, {name: float32 array}). Checks the layout
    lamd relies on: F32 only, header padded so data starts 8-aligned, offsets contiguous, no
    holes, no trailing bytes."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack_from("<Q", data, 0)
    if n % 8:
        raise AssertionError(f"header length {n} is not a multiple of 8")
    header = json.loads(data[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    body = data[8 + n:]
    spans, tensors = [], {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise AssertionError(f"{name}: dtype {info['dtype']}")
        a, b = info["data_offsets"]
        count = int(np.prod(info["shape"], dtype=np.int64))
        if b - a != 4 * count or a % 4:
            raise AssertionError(f"{name}: offsets {a},{b} for shape {info['shape']}")
        spans.append((a, b))
        tensors[name] = np.frombuffer(body, dtype="<f4", count=count, offset=a).reshape(
            info["shape"])
    spans.sort()
    pos = 0
    for a, b in spans:
        if a != pos:
            raise AssertionError(f"hole or overlap at byte {pos} of the data region")
        pos = b
    if pos != len(body):
        raise AssertionError(f"{len(body) - pos} trailing bytes after the last tensor")
    return meta, tensors


def read_with_pypi_safetensors(path):
    """The PyPI safetensors reader, or None when it is not installed."""
    try:
        from safetensors.numpy import load_file
    except ImportError:
        return None
    return load_file(path)


def write_safetensors(path, tensors):
    """tensors: {name: (dtype name, numpy array of the matching raw type)}; minimal writer."""
    header, blobs, offset = {}, [], 0
    for name, (dtype, arr) in tensors.items():
        raw = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    hb = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hb)) + hb + b"".join(blobs))


def bits(a):
    return np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)


# ---- FakeTorch ---------------------------------------------------------------------------------

class StorageRef:
    def __init__(self, key, type_name, array):
        self.key, self.type_name, self.array = key, type_name, array


class FakeTensor:
    """Pickles like a torch tensor: torch._utils._rebuild_tensor_v2(storage, offset, size, ...)."""

    def __init__(self, storage, offset, size, stride, via_type_v2=False):
        self.storage, self.offset, self.size, self.stride = storage, offset, size, stride
        self.via_type_v2 = via_type_v2

    def __reduce__(self):
        mods = FakeTorch.modules
        args = (self.storage, self.offset, tuple(self.size), tuple(self.stride), False,
                collections.OrderedDict())
        if self.via_type_v2:
            return (mods["torch._tensor"]._rebuild_from_type_v2,
                    (mods["torch._utils"]._rebuild_tensor_v2, mods["torch"].Tensor, args, {}))
        return (mods["torch._utils"]._rebuild_tensor_v2, args)


def _stand_in(module, name):
    def f(*a, **k):
        raise RuntimeError("stand-in, never called")
    f.__module__, f.__qualname__, f.__name__ = module, name, name
    return f


class FakeTorch:
    modules = {}

    @staticmethod
    @contextlib.contextmanager
    def registered():
        saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils", "torch._tensor")}
        torch = types.ModuleType("torch")
        utils = types.ModuleType("torch._utils")
        tensor = types.ModuleType("torch._tensor")
        for name in ("FloatStorage", "HalfStorage", "BFloat16Storage", "DoubleStorage",
                     "LongStorage"):
            cls = type(name, (), {"__module__": "torch"})
            setattr(torch, name, cls)
        torch.Tensor = type("Tensor", (), {"__module__": "torch"})
        utils._rebuild_tensor_v2 = _stand_in("torch._utils", "_rebuild_tensor_v2")
        tensor._rebuild_from_type_v2 = _stand_in("torch._tensor", "_rebuild_from_type_v2")
        FakeTorch.modules = {"torch": torch, "torch._utils": utils, "torch._tensor": tensor}
        sys.modules.update(FakeTorch.modules)
        try:
            yield
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
            FakeTorch.modules = {}


def write_torch_zip(path, obj, storages, folder="archive", byteorder="little",
                    truncate=None):
    """Writes obj (containing FakeTensors over StorageRefs) in the torch zip layout.
    storages: the StorageRefs to store; truncate: {key: bytes to keep} for broken records."""
    buf = io.BytesIO()
    with FakeTorch.registered():
        torch = FakeTorch.modules["torch"]

        class P(pickle.Pickler):
            def persistent_id(self, o):
                if isinstance(o, StorageRef):
                    return ("storage", getattr(torch, o.type_name), o.key, "cpu", o.array.size)
                return None

        P(buf, protocol=2).dump(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr(f"{folder}/data.pkl", buf.getvalue())
        z.writestr(f"{folder}/byteorder", byteorder)
        for s in storages:
            raw = s.array.astype(s.array.dtype.newbyteorder(
                ">" if byteorder == "big" else "<")).tobytes()
            if truncate and s.key in truncate:
                raw = raw[:truncate[s.key]]
            z.writestr(f"{folder}/data/{s.key}", raw)
        z.writestr(f"{folder}/version", "3\n")
