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
    if a.out:
        cmd += ["--out", str(Path(a.out).resolve())]
    proc = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, text=True)
    # qemu warns once per CPUID feature its TCG cannot emulate (rdseed, sha-ni, ...).
    sys.stderr.write("".join(line + "\n" for line in proc.stderr.splitlines()
                             if "TCG doesn't support requested feature" not in line))
    return proc.returncode


def inner(a) -> int:
    import insn_arm
    import insn_marks
    import bench_arm
    from bench_arm import CALIBRATION, inputs, ort_session

    import armbert
    marks = insn_marks.Marks()
    if not marks.available():
        print("not counted", file=sys.stderr)
        return 2
    bench_arm.TREE_DIR = bench_arm.HOST_DIR  # the ONNX files, on this machine
    feed = inputs(a.seq)
    ids, mask, tt = feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]
    model = armbert.load()
    rows = []
    for precision in ("fp32", "int8"):
        source = armbert.quantize(model, CALIBRATION, backend="host") if precision == "int8" else model
        engine = armbert.Engine(source, backend="host", precision=precision, threads=1)
        rows.append({"engine": "armbert", "precision": precision,
                     "context": engine.segments[0].ctx.describe(),
                     **insn_arm.count(f"armbert host {precision}",
                                      lambda: engine.run(ids, mask, tt), marks, engine, ids)})
        engine.close()
    import onnxruntime as ort
    for precision, onnx_file in (("fp32", "minilm.onnx"), ("int8", "minilm-int8.onnx")):
        sess = ort_session(onnx_file, 1)
        rows.append({"engine": f"onnxruntime {ort.__version__}", "precision": precision,
                     **insn_arm.count(f"ort {precision}", lambda: sess.run(None, feed), marks)})
    ort_rows = {r["precision"]: r for r in rows if r["engine"].startswith("onnxruntime")}
    ratios = {r["precision"]: r["insns_per_run"][0] / ort_rows[r["precision"]]["insns_per_run"][0]
              for r in rows if r["engine"] == "armbert"}
    print(f"MiniLM B=1 S={a.seq}, 1 thread, qemu-x86_64 -cpu {a.cpu}: retired x86 "
          f"instructions per inference")
    for r in rows:
        n = r["insns_per_run"][0]
        ratio = f"  {ratios[r['precision']]:.2f} x ORT" if r["engine"] == "armbert" else ""
        print(f"  {r['engine']:<22}{r['precision']:<6}{n / 1e6:8.1f} M{ratio}")
        if "per_op" in r:
            ops = ", ".join(f"{k} {v / 1e6:.1f}" for k, v in
                            sorted(r["per_op"].items(), key=lambda kv: -kv[1]))
            print(f"    per op (M): {ops}")
    if a.out:
        Path(a.out).write_text(json.dumps({
            "version": 1, "what": "retired x86 instructions per inference, 1 thread",
            "counter": "tools/insncount plugin under qemu-x86_64 (TCG)", "cpu": a.cpu,
            "host": platform.processor() or platform.machine(),
            "armbert_library": a.library, "seq": a.seq, "batch": 1,
            "ratios_vs_ort": ratios, "rows": rows}, indent=2) + "\n")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--library", required=True, help="a portable libarmbert.so")
    ap.add_argument("--cpu", default="EPYC-Rome", help="qemu's CPU model (AVX2, no AVX-512)")
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--counts", default="/tmp/armbert-insn-x86.txt", help="the plugin's file")
    ap.add_argument("--out", default=None, help="JSON record")
    ap.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    return inner(a) if a.inner else outer(a)


if __name__ == "__main__":
    sys.exit(main())
