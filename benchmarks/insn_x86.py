#!/usr/bin/env python3
"""Retired x86 instructions per inference on an emulated AVX2-only CPU: armbert's host
backend against onnxruntime, MiniLM B=1, one thread.

The dev machines here have AVX-512, and nothing caps ORT (MLAS picks its kernels from
CPUID) or a compiler's register budget at AVX2 on them: a build for an AVX-512 CPU gives
even its AVX2 kernels 32 vector registers. So the AVX2 picture comes from qemu-user
instead. `qemu-x86_64 -cpu EPYC-Rome` reports an AVX2 CPU (Zen 2, no AVX-512) to both
engines. The same TCG plugin as the ARM counts (tools/insncount/insn_count.c) counts
the instructions each retires. Like the ARM counts this is the work each engine asks of
the core, not a time: memory stalls count nothing, and a vpmaddwd counts as much as an
add.

armbert runs the library given by --library. Use a portable build (what a wheel holds,
ARMBERT_PORTABLE=1); this tree's own build is -march=native and would not run on the
emulated CPU.

    ARMBERT_PORTABLE=1 ARMBERT_OBJ_DIR=build/x86_64-portable python3 build.py
    cp armbert/_lib/x86_64/libarmbert.so /tmp/libarmbert-portable.so
    python3 build.py                                   # the tree's native build back
    python3 benchmarks/bench_arm.py --prepare          # the ONNX files (once)
    python3 benchmarks/insn_x86.py --library /tmp/libarmbert-portable.so --seq 32 \\
        --out benchmarks/results/insn-x86-avx2-S32.json

`--linear 32,1536,384` counts one linear (fp32 and int8) instead: the per-kernel
figures of docs/performance.md.

Under qemu-user /proc/cpuinfo is still the host's, so OPENBLAS_CORETYPE is set to
Haswell for the counted process (armbert sets it from /proc/cpuinfo, which would pick
AVX-512 kernels the emulated CPU lacks).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

QEMU = "/usr/bin/qemu-x86_64"


def outer(a) -> int:
    """Runs this script's inner part under the counting qemu-x86_64."""
    sys.path.insert(0, str(HERE.parent / "tools" / "insncount"))
    import insncount
    bundle = insncount.prepare()  # installs qemu-user, builds the plugin
    out = Path(a.counts).resolve()
    plugin = f"{bundle / 'libinsn_count.so'},out={out},blocks=on"
    env = {**os.environ, "ARMBERT_INSN_OUT": str(out), "ARMBERT_LIBRARY": a.library,
           "OPENBLAS_CORETYPE": "Haswell"}
    cmd = [QEMU, "-cpu", a.cpu, "-plugin", plugin, sys.executable, str(Path(__file__).resolve()),
           "--inner", "--seq", str(a.seq), "--cpu", a.cpu, "--library", a.library]
    if a.linear:
        cmd += ["--linear", a.linear]
    if a.out:
        cmd += ["--out", str(Path(a.out).resolve())]
    proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True)
    # qemu warns once per CPUID feature its TCG cannot emulate (rdseed, sha-ni, ...).
    sys.stderr.write("".join(line + "\n" for line in proc.stderr.splitlines()
                             if "TCG doesn't support requested feature" not in line))
    return proc.returncode


def inner(a) -> int:
    import bench_arm
    import insn_arm
    import insn_marks

    marks = insn_marks.Marks()
    if not marks.available():
        print("not counted", file=sys.stderr)
        return 2
    if a.linear:
        return count_linear(a, marks)
    bench_arm.TREE_DIR = bench_arm.HOST_DIR  # the ONNX files, on this machine
    rows = insn_arm.engine_rows("host", ["fp32", "int8"], bench_arm.inputs(a.seq), marks)
    insn_arm.print_rows(rows, f"MiniLM B=1 S={a.seq}, 1 thread, qemu-x86_64 -cpu {a.cpu}: "
                              f"retired x86 instructions per inference")
    if a.out:
        Path(a.out).write_text(json.dumps({
            "version": 1, "what": "retired x86 instructions per inference, 1 thread",
            "counter": "tools/insncount plugin under qemu-x86_64 (TCG)", "cpu": a.cpu,
            "host": platform.processor() or platform.machine(),
            "armbert_library": a.library, "seq": a.seq, "batch": 1,
            "ratios_vs_ort": insn_arm.ratios_vs_ort(rows), "rows": rows}, indent=2) + "\n")
    return 0


def count_linear(a, marks) -> int:
    """One linear of shape M x K -> N (random weights), fp32 and int8 (dynamic
    activation scales): its instructions per 8 multiply-adds, one ymm FMA's worth."""
    import numpy as np

    from armbert import _native as nat
    m, k, n = (int(v) for v in a.linear.split(","))
    ctx = nat.Context("host", threads=1)
    rng = np.random.default_rng(0)
    wq = rng.integers(-127, 128, (n, k)).astype(np.int8)
    bias = rng.standard_normal(n).astype(np.float32)
    x = nat.Tensor.from_numpy(ctx, rng.standard_normal((m, k)).astype(np.float32))
    y = nat.Tensor(ctx, (m, n), np.float32)
    for precision, weights in (("fp32", dict(weight=wq.astype(np.float32))),
                               ("int8", dict(weight_i8=wq,
                                             weight_scale=np.full(n, 0.01, np.float32)))):
        with nat.Linear(ctx, bias=bias, precision=precision, **weights) as op:
            op.reshape(1, m)
            op.run(x, y)  # warm-up
            marks.reset()
            marks.begin(1)
            op.run(x, y)
            marks.end(1)
            insns = marks.dump().spans[1][1]
        print(f"{precision} linear {m} x {k} -> {n}: {insns / 1e6:.2f} M instructions, "
              f"{insns / (m * k * n / 8):.2f} per 8 multiply-adds")
    print(ctx.describe())
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", required=True, help="a portable libarmbert.so")
    ap.add_argument("--cpu", default="EPYC-Rome", help="qemu's CPU model (AVX2, no AVX-512)")
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--counts", default="/tmp/armbert-insn-x86.txt", help="the plugin's file")
    ap.add_argument("--out", default=None, help="JSON record")
    ap.add_argument("--linear", default=None, metavar="M,K,N",
                    help="count one linear of this shape instead of MiniLM")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    return inner(a) if a.inner else outer(a)


if __name__ == "__main__":
    sys.exit(main())
