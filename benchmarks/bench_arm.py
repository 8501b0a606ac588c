#!/usr/bin/env python3
"""armbert's ACL NEON backend against onnxruntime's aarch64 wheel, inside the
emulated arm64 test bed, in one process: MiniLM, B=1, S=128, FP32 and INT8.

EMULATION CAVEAT: under qemu-user, times are not ARM times. Only the ratio
armbert/ORT, measured in the same run on the same emulated core, means anything,
and even it is skewed by how qemu translates each instruction mix.

    python3 benchmarks/bench_arm.py --prepare        # on the x86 host: export the ONNX files
    python3 tools/testbed.py run --peers -- python3 benchmarks/bench_arm.py [--threads 2]

--prepare exports all-MiniLM-L6-v2 with torch (absent in the tree) to
~/.cache/armbert/testbed-cache/bench/ (= /cache/bench in the tree), FP32 and ORT
dynamic INT8 (QInt8 weights, per channel). armbert INT8 is calibrated
(outlier channels) with dynamic per-row scales, as recommended.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import timing  # noqa: E402

HOST_DIR = Path.home() / ".cache" / "armbert" / "testbed-cache" / "bench"
TREE_DIR = Path("/cache/bench")
CALIBRATION = [np.array([[101, 1996, 4633, 2003, 8403, 2651, 1012, 102]]),
               np.array([[101, 2002, 3248, 2858, 1999, 1037, 2316, 1012, 102]])]


def inputs(seq: int) -> dict[str, np.ndarray]:
    """One fixed MiniLM input of ``seq`` tokens ([CLS] ... [SEP]), B=1, as ORT's feed."""
    ids = np.random.default_rng(0).integers(1000, 30000, (1, seq)).astype(np.int64)
    ids[0, 0], ids[0, -1] = 101, 102
    return {"input_ids": ids, "attention_mask": np.ones_like(ids),
            "token_type_ids": np.zeros_like(ids)}


def ort_session(onnx_file: str, threads: int):
    """ORT's CPU session on one of the prepared ONNX files (ORT_ENABLE_ALL)."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads, so.inter_op_num_threads = threads, 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(TREE_DIR / onnx_file), so, providers=["CPUExecutionProvider"])


def prepare() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import bench_host
    import transformers
    from armbert.loaders.bundled import model_dir
    HOST_DIR.mkdir(parents=True, exist_ok=True)
    module = transformers.BertModel.from_pretrained(str(model_dir())).eval()
    fp32 = bench_host.export_onnx(module, HOST_DIR / "minilm.onnx")
    info = bench_host.quantize_onnx(fp32, HOST_DIR / "minilm-int8.onnx")
    print(f"wrote {HOST_DIR} ({info})")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--prepare", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--cap-s", type=float, default=20.0, help="timed seconds per runner")
    ap.add_argument("--out", default=str(HERE / "results" / "arm-emulated.json"))
    a = ap.parse_args(argv)
    if a.prepare:
        prepare()
        return 0
    import armbert
    import onnxruntime as ort

    feed = inputs(a.seq)
    ids, mask, tt = feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]
    model = armbert.load()
    q = armbert.quantize(model, CALIBRATION, backend="neon")
    settings = timing.TimingSettings(warmup=1, block=2, min_runs=4, window=4, max_spread=0.05,
                                     cap_s=a.cap_s, settle_s=0.01)
    rows = []
    for precision, source, onnx_file in (("fp32", model, "minilm.onnx"),
                                         ("int8", q, "minilm-int8.onnx")):
        engine = armbert.Engine(source, backend="neon", precision=precision, threads=a.threads)
        sess = ort_session(onnx_file, a.threads)
        stats = timing.measure_interleaved(
            {"armbert": lambda: engine.run(ids, mask, tt), "ort": lambda: sess.run(None, feed)},
            settings, progress=lambda m: print(f"  {precision}: {m}", file=sys.stderr))
        rows.append({"precision": precision, "armbert": stats["armbert"].to_dict(),
                     "ort": stats["ort"].to_dict(),
                     "ratio": stats["armbert"].median_ms / stats["ort"].median_ms})
    print(f"MiniLM B=1 S={a.seq}, {a.threads} threads, armbert NEON vs onnxruntime "
          f"{ort.__version__} ({platform.machine()}, EMULATED: ratios only)")
    print(f"{'precision':<10}{'armbert ms':>12}{'ORT ms':>12}{'armbert/ORT':>13}")
    for r in rows:
        print(f"{r['precision']:<10}{r['armbert']['median_ms']:>12.1f}"
              f"{r['ort']['median_ms']:>12.1f}{r['ratio']:>13.2f}")
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps({
        "version": 1, "caveat": "qemu-user emulation: only the ratio is meaningful",
        "machine": platform.machine(), "threads": a.threads, "seq": a.seq,
        "ort_version": ort.__version__, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
