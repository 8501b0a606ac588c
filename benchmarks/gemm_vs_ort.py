#!/usr/bin/env python3
"""armbert's host fp32 linear against ONNX Runtime's MatMul + Add (MLAS, weights
prepacked) on BERT's GEMM shapes, one process, one thread pinned, interleaved rounds
(benchmarks/timing.py), so read the ratios.

    python3 benchmarks/gemm_vs_ort.py [--rows 128] [--core 1]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import timing  # noqa: E402
from armbert import _native as nat  # noqa: E402
from gemm_isa import SHAPES, operands  # noqa: E402

SHAPES = {**SHAPES, "minilm-attn-out": (384, 384)}


def ort_linear(w: np.ndarray, b: np.ndarray, rows: int):
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    n, k = w.shape
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["t"]), helper.make_node("Add", ["t", "B"], ["y"])],
        "linear", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, k])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, n])],
        [numpy_helper.from_array(np.ascontiguousarray(w.T), "W"), numpy_helper.from_array(b, "B")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    so = ort.SessionOptions()
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--core", type=int, default=1, help="the core both run on")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    a = ap.parse_args()
    os.sched_setaffinity(0, {a.core})
    rng = np.random.default_rng(0)
    ctx = nat.Context("host", threads=1)
    print(f"cpu features {nat.cpu_features()}, 1 thread on core {a.core}, rows {a.rows}; "
          f"median ms (GFLOP/s)")
    for name in a.shapes.split(","):
        k, n = SHAPES[name]
        x, w = operands(rng, a.rows, k, n)
        b = rng.standard_normal(n).astype(np.float32)
        sess = ort_linear(w, b, a.rows)
        op = nat.Linear(ctx, w, b)
        op.reshape(1, a.rows)
        xt, yt = nat.Tensor.from_numpy(ctx, x), nat.Tensor(ctx, (a.rows, n))
        st = timing.measure_interleaved({"armbert": lambda: op.run(xt, yt),
                                         "ort": lambda: sess.run(None, {"x": x})},
                                        timing.TimingSettings(cap_s=1.5))
        gf = a.rows * k * n * 2 / 1e6
        arm, ort_ms = st["armbert"].median_ms, st["ort"].median_ms
        print(f"{name:16s} K={k:5d} N={n:5d}  armbert {arm:.3f} ({gf / arm:.0f})  "
              f"ort {ort_ms:.3f} ({gf / ort_ms:.0f})  armbert/ort {arm / ort_ms:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
