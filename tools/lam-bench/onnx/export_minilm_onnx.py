#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Export a BERT sentence-embedding model (all-MiniLM-L6-v2 and the like) to ONNX without torch.

The graph is built op by op with the `onnx` package from the safetensors weights (parsed with
numpy by tools/reference/lam_reference.py): BertModel (token type 0, absolute positions) + mean
pooling over the attention mask + L2 normalisation, the way sentence-transformers computes
`sentence_embedding`. Inputs input_ids and attention_mask (int64, [batch, length], both dynamic);
output sentence_embedding [batch, hidden]; opset 17; standard ops only (Gather, Add,
LayerNormalization, MatMul, Softmax with an additive mask, Erf GELU, ReduceSum pooling), written
in the HF export's shapes so that ONNX Runtime's default graph optimisations fuse attention, GELU
and LayerNorm as they do for a torch.onnx export.

  export_minilm_onnx.py --model DIR --out model.onnx [--check]

--check runs the exported graph in ONNX Runtime on a few token sequences (batched and padded)
and compares with the float64 numpy reference (cosine >= 0.99999, else exit 1).
"""
import argparse
import json
import math
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "reference"))
import lam_reference as ref  # noqa: E402

OPSET = 17


class GraphBuilder:
    def __init__(self):
        self.nodes, self.inits, self._n = [], [], 0

    def name(self, base):
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, base, arr):
        n = self.name(base)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr), n))
        return n

    def op(self, op_type, inputs, base=None, **attrs):
        out = self.name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], name=out + "_node", **attrs))
        return out


def build_model(config, tensors):
    """Returns an onnx.ModelProto for the BERT config/tensors (float32 weights)."""
    if config.get("model_type") != "bert":
        raise ValueError(f"model_type {config.get('model_type')!r} is not bert")
    if config.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    if config.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"hidden_act {config.get('hidden_act')!r}: only erf gelu is supported")
    H = int(config["hidden_size"])
    nh = int(config["num_attention_heads"])
    d = H // nh
    nl = int(config["num_hidden_layers"])
    eps = float(config.get("layer_norm_eps", 1e-12))
    pre = "bert." if "bert.embeddings.word_embeddings.weight" in tensors else ""

    def w(name):
        key = pre + name
        if key not in tensors:
            raise KeyError(f"missing tensor {key}")
        return np.asarray(tensors[key], dtype=np.float32)

    g = GraphBuilder()
    f32 = lambda v: np.array(v, dtype=np.float32)  # noqa: E731
    i64 = lambda v: np.array(v, dtype=np.int64)    # noqa: E731

    # Embeddings: word[ids] + pos[0..L) + type[0], LayerNorm.
    e = "embeddings."
    word = g.op("Gather", [g.const("word_embeddings", w(e + "word_embeddings.weight")), "input_ids"],
                axis=0)
    # Rows 0..L-1 of the position table, L = input_ids.shape[1] as a 1-D tensor (a scalar length
    # here trips ORT's embedding fusion).
    seq_len = g.op("Shape", ["input_ids"], start=1, end=2)
    pos = g.op("Slice", [g.const("position_embeddings", w(e + "position_embeddings.weight")),
                         g.const("zero", i64([0])), seq_len, g.const("axis_0", i64([0]))])
    x = g.op("Add", [word, pos])
    x = g.op("Add", [x, g.const("token_type_0", w(e + "token_type_embeddings.weight")[0])])
    x = g.op("LayerNormalization", [x, g.const("emb_ln_w", w(e + "LayerNorm.weight")),
                                    g.const("emb_ln_b", w(e + "LayerNorm.bias"))], axis=-1, epsilon=eps)

    # Additive attention mask [B, 1, 1, L]: 0 for tokens, float32 min for padding (as HF).
    mask_f = g.op("Cast", ["attention_mask"], to=TensorProto.FLOAT)
    inv = g.op("Sub", [g.const("one_f", f32(1.0)), mask_f])
    bias = g.op("Mul", [inv, g.const("mask_min", f32(np.finfo(np.float32).min))])
    bias = g.op("Unsqueeze", [bias, g.const("axes_1_2", i64([1, 2]))])

    heads_shape = g.const("heads_shape", i64([0, 0, nh, d]))
    merge_shape = g.const("merge_shape", i64([0, 0, H]))
    scale = g.const("sqrt_d", f32(math.sqrt(d)))

    def linear(inp, key):
        y = g.op("MatMul", [inp, g.const(key + ".wT", w(key + ".weight").T)])
        return g.op("Add", [y, g.const(key + ".b", w(key + ".bias"))])

    def layer_norm(inp, key):
        return g.op("LayerNormalization", [inp, g.const(key + ".w", w(key + ".weight")),
                                           g.const(key + ".b", w(key + ".bias"))], axis=-1, epsilon=eps)

    for i in range(nl):
        p = f"encoder.layer.{i}."
        q = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.query"), heads_shape])],
                 perm=[0, 2, 1, 3])
        k = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.key"), heads_shape])],
                 perm=[0, 2, 3, 1])
        v = g.op("Transpose", [g.op("Reshape", [linear(x, p + "attention.self.value"), heads_shape])],
                 perm=[0, 2, 1, 3])
        s = g.op("Div", [g.op("MatMul", [q, k]), scale])
        s = g.op("Softmax", [g.op("Add", [s, bias])], axis=-1)
        ctx = g.op("Transpose", [g.op("MatMul", [s, v])], perm=[0, 2, 1, 3])
        ctx = g.op("Reshape", [ctx, merge_shape])
        h = layer_norm(g.op("Add", [linear(ctx, p + "attention.output.dense"), x]),
                       p + "attention.output.LayerNorm")
        a = linear(h, p + "intermediate.dense")
        # GELU(a) = a * 0.5 * (1 + erf(a / sqrt 2)), in the order HF's export writes it.
        erf = g.op("Erf", [g.op("Div", [a, g.const("sqrt2", f32(math.sqrt(2.0)))])])
        a = g.op("Mul", [g.op("Mul", [a, g.op("Add", [erf, g.const("one_f", f32(1.0))])]),
                         g.const("half", f32(0.5))])
        x = layer_norm(g.op("Add", [linear(a, p + "output.dense"), h]), p + "output.LayerNorm")

    # Mean pooling over real tokens, then x / max(||x||, 1e-12) (sentence-transformers Normalize).
    m3 = g.op("Unsqueeze", [mask_f, g.const("axis_2", i64([2]))])
    total = g.op("ReduceSum", [g.op("Mul", [x, m3]), g.const("axis_1", i64([1]))], keepdims=0)
    count = g.op("ReduceSum", [m3, g.const("axis_1", i64([1]))], keepdims=0)
    count = g.op("Max", [count, g.const("min_count", f32(1e-9))])
    mean = g.op("Div", [total, count])
    norm = g.op("ReduceL2", [mean], axes=[1], keepdims=1)
    norm = g.op("Max", [norm, g.const("min_norm", f32(1e-12))])
    g.nodes.append(helper.make_node("Div", [mean, norm], ["sentence_embedding"], name="normalize"))

    graph = helper.make_graph(
        g.nodes, "bert_sentence_embedding",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", H])],
        g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lamd export_minilm_onnx.py")
    model.ir_version = 8  # opset 17's IR version; readable by every ORT since 1.13
    onnx.checker.check_model(model, full_check=True)
    return model


def load(model_dir):
    with open(os.path.join(model_dir, "config.json"), "rb") as f:
        config = json.loads(f.read())
    tensors, _ = ref.read_safetensors(os.path.join(model_dir, "model.safetensors"))
    return config, tensors


CHECK_SEQUENCES = [
    [101, 102],
    [101, 7592, 2088, 102],
    [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 1012, 102],
    [101] + list(range(2000, 2060)) + [102],
]


def check(model_dir, onnx_path, threads=2):
    """ORT (default optimisations) vs the float64 reference, one by one and padded in a batch."""
    import onnxruntime as ort
    model = ref.load_model(model_dir)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
    refs = [ref.embed(model, s) for s in CHECK_SEQUENCES]
    worst = 1.0
    for s, r in zip(CHECK_SEQUENCES, refs):
        out = sess.run(None, {"input_ids": np.array([s], np.int64),
                              "attention_mask": np.ones((1, len(s)), np.int64)})[0][0]
        worst = min(worst, float(out @ r / np.linalg.norm(out) / np.linalg.norm(r)))
    L = max(len(s) for s in CHECK_SEQUENCES)
    ids = np.zeros((len(CHECK_SEQUENCES), L), np.int64)
    mask = np.zeros_like(ids)
    for i, s in enumerate(CHECK_SEQUENCES):
        ids[i, :len(s)], mask[i, :len(s)] = s, 1
    out = sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]
    max_abs = 0.0
    for o, r in zip(out, refs):
        worst = min(worst, float(o @ r / np.linalg.norm(o) / np.linalg.norm(r)))
        max_abs = max(max_abs, float(np.abs(o - r).max()))
    print(f"check: onnxruntime {ort.__version__}, {len(refs)} sequences (alone and padded batch): "
          f"min cosine {worst:.9f}, max |delta| (batch) {max_abs:.3g}")
    return worst >= 0.99999


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="model directory (config.json, model.safetensors)")
    ap.add_argument("--out", required=True, help="output .onnx path")
    ap.add_argument("--check", action="store_true", help="compare ORT with the float64 reference")
    args = ap.parse_args(argv)
    config, tensors = load(args.model)
    model = build_model(config, tensors)
    onnx.save(model, args.out)
    print(f"wrote {args.out} ({os.path.getsize(args.out) / 1e6:.1f} MB, opset {OPSET}, "
          f"{len(model.graph.node)} nodes)")
    if args.check and not check(args.model, args.out):
        print("check FAILED: cosine below 0.99999", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
