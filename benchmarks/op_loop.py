"""One host op called in a loop, in its own process: for A/B of a kernel change where
whole-model times move more between processes than the change does (the shared VM of
docs/performance.md: 2-3 %).

    ARMBERT_ISA=avx2 ARMBERT_LIBRARY=/tmp/old.so taskset -c 1 python3 benchmarks/op_loop.py attention
    ARMBERT_ISA=avx2 ARMBERT_LIBRARY=/tmp/new.so taskset -c 1 python3 benchmarks/op_loop.py attention
    ... linears [--seq 128]        # BERT-base's four int8 linears (pair-safe weights)

Alternate the libraries over a few processes. Prints, per op, the median ms of `--calls`
calls, each of `--repeats` times, and for the linears their multiply-adds per second.
BERT-base sizes (hidden 768, 12 heads, FFN 3072), B=1, one thread, random inputs.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from armbert import _native as nat
from armbert import quant

HIDDEN, HEADS, FFN = 768, 12, 3072
# name, in_features, out_features, activation: one BERT layer's int8 linears
LINEARS = [("qkv", HIDDEN, 3 * HIDDEN, "none"), ("attn_out", HIDDEN, HIDDEN, "none"),
           ("ffn_in", HIDDEN, FFN, "gelu"), ("ffn_out", FFN, HIDDEN, "none")]


def median_ms(fn, calls: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)) * 1e3


def attention_ops(ctx, rng, seq: int, mask: bool):
    att = nat.Attention(ctx, HIDDEN, HEADS)
    att.reshape(1, seq)
    qkv = nat.Tensor.from_numpy(ctx, rng.standard_normal((seq, 3 * HIDDEN)).astype(np.float32))
    out = nat.Tensor(ctx, (seq, HIDDEN))
    m = nat.Tensor.from_numpy(ctx, np.zeros((1, seq), np.float32)) if mask else None
    return [("attention", lambda: att.run(qkv, m, out), 0)]


def linear_ops(ctx, rng, seq: int):
    ops = []
    for name, k, n, act in LINEARS:
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
        wq, ws = quant.quantize_weight_per_channel(w)
        lin = nat.Linear(ctx, None, rng.standard_normal(n).astype(np.float32), "int8", act,
                         weight_i8=wq, weight_scale=ws)
        lin.reshape(1, seq)
        x = nat.Tensor.from_numpy(ctx, rng.standard_normal((seq, k)).astype(np.float32))
        y = nat.Tensor(ctx, (seq, n))
        ops.append((name, lambda lin=lin, x=x, y=y: lin.run(x, y), seq * k * n))
    return ops


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("op", choices=["attention", "linears"])
    p.add_argument("--seq", type=int, default=128)
    p.add_argument("--no-mask", action="store_true", help="attention without a mask")
    p.add_argument("--calls", type=int, default=40)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    ctx = nat.Context("host", threads=1)
    rng = np.random.default_rng(0)
    ops = (attention_ops(ctx, rng, args.seq, not args.no_mask) if args.op == "attention"
           else linear_ops(ctx, rng, args.seq))
    print(ctx.describe().splitlines()[-1])
    best = {}
    for rep in range(args.repeats):
        for name, fn, _ in ops:
            best.setdefault(name, []).append(median_ms(fn, args.calls))
    total_ms = total_macs = 0.0
    for name, fn, macs in ops:
        runs = best[name]
        line = f"{name:10s} median ms per repeat: " + " ".join(f"{t:.3f}" for t in runs)
        if macs:
            line += f"  ({macs / min(runs) / 1e6:.1f} GMAC/s at the fastest)"
            total_ms += min(runs)
            total_macs += macs
        print(line)
    if total_macs:
        print(f"all four: {total_ms:.3f} ms, {total_macs / total_ms / 1e6:.1f} GMAC/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
