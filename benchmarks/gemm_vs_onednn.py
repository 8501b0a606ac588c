#!/usr/bin/env python3
"""armbert's host linear (int8 and fp32) against oneDNN's matmul on BERT's GEMM shapes,
one process, one thread pinned, interleaved rounds (benchmarks/timing.py), so read the
ratios.

    pip install "armbert[bench]"     # onednn-cpu-gomp + onednn-devel-cpu-gomp (PyPI)
    python3 benchmarks/gemm_vs_onednn.py [--rows 128] [--core 1] [--isa auto|avx2|...]
        [--json benchmarks/results/gemm-vs-onednn.json]

Both sides compute the same op. int8: quantize x with a static per-tensor scale, s8 x s8
products summed exactly in int32, times input scale x per-channel weight scale, plus
bias, fp32 out (oneDNN: a reorder f32 -> s8 with a destination scale, then the matmul
with scales and bias fused; weights reordered once into its own blocked format).
fp32: x W^T + b. --isa caps both libraries at one ISA level (ARMBERT_ISA and
ONEDNN_MAX_CPU_ISA, read when each library starts, so the script re-runs itself in a
child process per level). The outputs are compared before timing.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from gemm_isa import operands  # noqa: E402
from gemm_vs_ort import SHAPES  # noqa: E402

# armbert's level -> oneDNN's cap (ONEDNN_MAX_CPU_ISA names).
ONEDNN_ISA = {"avx2": "AVX2", "avxvnni": "AVX2_VNNI", "avx512vnni": "AVX512_CORE_VNNI",
              "amx": "AVX512_CORE_AMX"}


def onednn_prefix() -> Path:
    """Where pip put the onednn-cpu-gomp and onednn-devel-cpu-gomp data files."""
    for base in (sysconfig.get_path("data"), sys.prefix, os.path.expanduser("~/.local")):
        p = Path(base)
        if (p / "lib" / "libdnnl.so").exists() and (p / "include/oneapi/dnnl/dnnl.hpp").exists():
            return p
    sys.exit("gemm_vs_onednn.py: oneDNN not found: pip install \"armbert[bench]\" "
             "(onednn-cpu-gomp and onednn-devel-cpu-gomp)")


def cache_dir() -> Path:
    d = Path(os.environ.get("ARMBERT_CACHE_DIR", Path.home() / ".cache" / "armbert")) / "bench"
    d.mkdir(parents=True, exist_ok=True)
    return d


def build_driver() -> Path:
    prefix = onednn_prefix()
    src = HERE / "onednn_linear.cpp"
    out = cache_dir() / "libodnn_linear.so"
    if not out.exists() or out.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["g++", "-O2", "-std=c++17", "-shared", "-fPIC", "-fopenmp", str(src),
                        f"-I{prefix / 'include'}", f"-L{prefix / 'lib'}", "-ldnnl",
                        f"-Wl,-rpath,{prefix / 'lib'}", "-o", str(out)], check=True)
    return out


class OneDnnLinear:
    def __init__(self, dll, rows, int8, w=None, wq=None, ws=None, b=None, input_scale=0.0):
        n, k = (wq if int8 else w).shape
        self.dll = dll
        f32p = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))  # noqa: E731
        self._keep = [a for a in (w, wq, ws, b) if a is not None]
        self.h = dll.odnn_linear_create(
            int(int8), rows, k, n, f32p(w) if w is not None else None,
            wq.ctypes.data_as(ctypes.POINTER(ctypes.c_int8)) if int8 else None,
            f32p(ws) if int8 else None, f32p(b), ctypes.c_float(input_scale), 1)
        if not self.h:
            raise RuntimeError(f"oneDNN: {dll.odnn_error().decode()}")
        self.impl = dll.odnn_linear_impl(self.h).decode()
        self.y = np.empty((rows, n), np.float32)

    def run(self, x: np.ndarray) -> np.ndarray:
        if self.dll.odnn_linear_run(self.h, x.ctypes.data, self.y.ctypes.data):
            raise RuntimeError(f"oneDNN: {self.dll.odnn_error().decode()}")
        return self.y


def fma_peak(core: int) -> dict:
    """This core's fp32 FMA peak (benchmarks/fma_peak.c), GFLOP/s per vector width."""
    exe = cache_dir() / "fma_peak"
    src = HERE / "fma_peak.c"
    if not exe.exists() or exe.stat().st_mtime < src.stat().st_mtime:
        subprocess.run(["gcc", "-O2", str(src), "-o", str(exe)], check=True)
    out = subprocess.run(["taskset", "-c", str(core), str(exe)], check=True,
                         capture_output=True, text=True).stdout
    return {w: float(v) for w, v, _ in (line.split() for line in out.splitlines())}


def load_driver():
    dll = ctypes.CDLL(str(build_driver()))
    dll.odnn_linear_create.restype = ctypes.c_void_p
    dll.odnn_linear_create.argtypes = [ctypes.c_int] * 4 + [ctypes.c_void_p] * 4 + [
        ctypes.c_float, ctypes.c_int]
    dll.odnn_linear_run.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
    dll.odnn_linear_impl.restype = ctypes.c_char_p
    dll.odnn_linear_impl.argtypes = [ctypes.c_void_p]
    dll.odnn_error.restype = ctypes.c_char_p
    return dll


def measure(a) -> dict:
    """One ISA level (whatever the environment set), every shape, both precisions."""
    import timing
    from armbert import _native as nat
    from armbert import quant
    os.sched_setaffinity(0, {a.core})
    dll = load_driver()
    rng = np.random.default_rng(0)
    ctx = nat.Context("host", threads=1)
    settings = timing.QUICK if a.quick else timing.TimingSettings(cap_s=1.5)
    rows = []
    for name in a.shapes.split(","):
        k, n = SHAPES[name]
        x, w = operands(rng, a.rows, k, n)
        b = rng.standard_normal(n).astype(np.float32)
        wq, ws = quant.quantize_weight_per_channel(w)
        wq, ws = np.ascontiguousarray(wq, np.int8), np.ascontiguousarray(ws, np.float32)
        sx = float(np.abs(x).max() / 127)
        for prec in a.precisions.split(","):
            int8 = prec == "int8"
            op = (nat.Linear(ctx, None, b, "int8", weight_i8=wq, weight_scale=ws,
                             input_scale=sx) if int8 else nat.Linear(ctx, w, b))
            op.reshape(1, a.rows)
            xt, yt = nat.Tensor.from_numpy(ctx, x), nat.Tensor(ctx, (a.rows, n))
            od = (OneDnnLinear(dll, a.rows, True, wq=wq, ws=ws, b=b, input_scale=sx) if int8
                  else OneDnnLinear(dll, a.rows, False, w=w, b=b))
            op.run(xt, yt)
            ours, theirs = yt.numpy(), od.run(x).copy()
            # Same exact int32 sums; quantized inputs may differ by one step where the two
            # round a tie differently or oneDNN keeps -128, so compare to the output scale.
            diff = float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))
            st = timing.measure_interleaved({"armbert": lambda: op.run(xt, yt),
                                             "onednn": lambda: od.run(x)}, settings)
            arm, odn = st["armbert"].median_ms, st["onednn"].median_ms
            gf = a.rows * k * n * 2 / 1e6
            rows.append({"shape": name, "K": k, "N": n, "precision": prec,
                         "armbert_ms": arm, "onednn_ms": odn, "ratio": arm / odn,
                         "onednn_impl": od.impl, "max_rel_diff": diff})
            print(f"  {name:16s} {prec:4s} K={k:5d} N={n:5d}  armbert {arm:.3f} "
                  f"({gf / arm:.0f} GOP/s)  oneDNN {odn:.3f} ({gf / odn:.0f}, {od.impl})  "
                  f"armbert/oneDNN {arm / odn:.2f}  max diff {diff:.1e}", flush=True)
    return {"cpu_features": nat.cpu_features(), "isa": os.environ.get("ARMBERT_ISA", "auto"),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", "ALL"), "rows": rows}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=128)
    ap.add_argument("--core", type=int, default=1, help="the core both run on")
    ap.add_argument("--shapes", default=",".join(SHAPES))
    ap.add_argument("--precisions", default="int8,fp32")
    ap.add_argument("--isa", default="auto",
                    help="comma list of armbert levels to cap both at (auto: no cap)")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        a.json.write_text(json.dumps(measure(a)))
        return 0
    levels = a.isa.split(",")
    unknown = [l for l in levels if l != "auto" and l not in ONEDNN_ISA]
    if unknown:
        sys.exit(f"gemm_vs_onednn.py: --isa {','.join(unknown)}: one of auto, "
                 f"{', '.join(ONEDNN_ISA)}")
    peak = fma_peak(a.core)
    print(f"FMA peak on core {a.core}: "
          + ", ".join(f"{w} {v:.0f} GFLOP/s" for w, v in peak.items()))
    results = []
    for level in levels:
        env = dict(os.environ)
        if level != "auto":
            env.update(ARMBERT_ISA=level, ONEDNN_MAX_CPU_ISA=ONEDNN_ISA[level])
        print(f"level {level} (1 thread on core {a.core}, rows {a.rows}; median ms)", flush=True)
        out = Path(os.environ.get("TMPDIR", "/tmp")) / f"gemm_vs_onednn.{os.getpid()}.json"
        cmd = [sys.executable, __file__, "--child", "--json", str(out), "--rows", str(a.rows),
               "--core", str(a.core), "--shapes", a.shapes, "--precisions", a.precisions]
        subprocess.run(cmd + (["--quick"] if a.quick else []), env=env, check=True)
        results.append(json.loads(out.read_text()))
        out.unlink()
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"fma_peak_gflops": peak, "levels": results}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
