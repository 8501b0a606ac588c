#!/usr/bin/env python3
"""The host linear with its weights in cache and out of it: one weight matrix run
back to back (warm), against as many copies as fill --cold-mib, run in turn (cold:
every call streams its weights from memory, as in a model whose weights outgrow the
caches). BERT's GEMM shapes, one thread; GFLOP/s from medians.

    python3 benchmarks/gemm_cold.py [--precision fp32|int8] [--rows 128] [--cold-mib 64]

A/B two builds with ARMBERT_LIBRARY=path/to/libarmbert.so (docs/performance.md).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from armbert import _native as nat  # noqa: E402
from armbert import quant  # noqa: E402
from gemm_isa import SHAPES, operands  # noqa: E402


def linear(ctx, w, b, precision: str):
    if precision == "fp32":
        return nat.Linear(ctx, w, b)
    wq, ws = quant.quantize_weight_per_channel(w)
    return nat.Linear(ctx, None, b, "int8", weight_i8=wq, weight_scale=ws)


def median_s(ops, xt, yt, rounds: int) -> float:
    for op in ops:
        op.run(xt, yt)
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for op in ops:
            op.run(xt, yt)
        times.append((time.perf_counter() - t0) / len(ops))
    return float(np.median(times))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--precision", choices=["fp32", "int8"], default="fp32")
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--cold-mib", type=float, default=64.0)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--shapes", default=",".join(SHAPES))
    a = ap.parse_args()
    ctx = nat.Context("host", threads=1)
    rng = np.random.default_rng(0)
    bytes_per = 4 if a.precision == "fp32" else 1
    print(f"cpu features {nat.cpu_features()}, {a.precision}, rows {a.rows}, one thread; "
          f"GFLOP/s (median)")
    for name in a.shapes.split(","):
        k, n = SHAPES[name]
        x, w = operands(rng, a.rows, k, n)
        b = rng.standard_normal(n).astype(np.float32)
        copies = max(2, int(a.cold_mib * 2**20 / (k * n * bytes_per)) + 1)
        ops = [linear(ctx, w, b, a.precision) for _ in range(copies)]
        for op in ops:
            op.reshape(1, a.rows)
        xt, yt = nat.Tensor.from_numpy(ctx, x), nat.Tensor(ctx, (a.rows, n))
        flop = 2.0 * a.rows * k * n
        warm = flop / median_s(ops[:1], xt, yt, a.rounds * 4) / 1e9
        cold = flop / median_s(ops, xt, yt, a.rounds) / 1e9
        print(f"{name:12s} K={k:5d} N={n:5d}: warm {warm:6.1f}, cold {cold:6.1f} "
              f"({copies} copies, {copies * k * n * bytes_per / 2**20:.0f} MiB): {cold / warm:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
