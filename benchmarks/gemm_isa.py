#!/usr/bin/env python3
"""The host int8 linear at each ISA level this CPU runs, against the fp32 linear
(OpenBLAS), on BERT's GEMM shapes; one process, interleaved rounds
(benchmarks/timing.py), so read the ratios.

    python3 benchmarks/gemm_isa.py [--threads 1] [--rows 128] [--quick]

Levels are forced per context with ARMBERT_ISA (read at context creation).
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
from armbert import quant  # noqa: E402

# (K, N): MiniLM (H=384) QKV, FFN in, FFN out; BERT-base (H=768) QKV, FFN in, FFN out.
SHAPES = {"minilm-qkv": (384, 1152), "minilm-ffn1": (384, 1536), "minilm-ffn2": (1536, 384),
          "base-qkv": (768, 2304), "base-ffn1": (768, 3072), "base-ffn2": (3072, 768)}


def operands(rng: np.random.Generator, rows: int, k: int, n: int):
    """x [rows, k] ~ N(0, 1) and w [n, k] scaled by 1/sqrt(k) (outputs of unit size): the
    inputs of every per-shape benchmark here (gemm_vs_ort.py, gemm_vs_onednn.py)."""
    x = rng.standard_normal((rows, k)).astype(np.float32)
    return x, (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)


def context(level: str | None, threads: int) -> nat.Context:
    old = os.environ.get("ARMBERT_ISA")
    os.environ["ARMBERT_ISA"] = level or "auto"
    try:
        return nat.Context("host", threads=threads)
    finally:
        if old is None:
            del os.environ["ARMBERT_ISA"]
        else:
            os.environ["ARMBERT_ISA"] = old


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--levels", default=None, help="comma list (default: all but scalar)")
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    levels = a.levels.split(",") if a.levels else [l for l in nat.host_isa_levels()
                                                    if l != "scalar"]
    settings = timing.QUICK if a.quick else timing.TimingSettings(cap_s=1.5)
    rng = np.random.default_rng(0)
    print(f"cpu features {nat.cpu_features()}, threads {a.threads}, rows {a.rows}; "
          f"median ms (GMAC/s), ratio to fp32")
    for name in a.shapes.split(","):
        k, n = SHAPES[name]
        x, w = operands(rng, a.rows, k, n)
        wq, ws = quant.quantize_weight_per_channel(w)
        fns, keep = {}, []
        for label in ["fp32", *levels]:
            ctx = context(None if label == "fp32" else label, a.threads)
            op = (nat.Linear(ctx, w, None) if label == "fp32" else
                  nat.Linear(ctx, None, None, "int8", weight_i8=wq, weight_scale=ws))
            op.reshape(1, a.rows)
            xt, yt = nat.Tensor.from_numpy(ctx, x), nat.Tensor(ctx, (a.rows, n))
            keep += [ctx, op, xt, yt]
            fns[label] = (lambda op=op, xt=xt, yt=yt: op.run(xt, yt))
        st = timing.measure_interleaved(fns, settings)
        macs = a.rows * k * n / 1e9
        base = st["fp32"].median_ms
        print(f"{name:12s} K={k:5d} N={n:5d}  " + "  ".join(
            f"{l} {s.median_ms:.3f} ({macs / s.median_ms * 1e3:.0f}) x{s.median_ms / base:.2f}"
            for l, s in st.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
