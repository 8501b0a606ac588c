#!/usr/bin/env python3
"""The .armbert model file on the bundled all-MiniLM-L6-v2: file sizes, and time to a
first inference from the int8 file against the fp32 checkpoint's load + quantize.

    python3 benchmarks/modelfile_bench.py [--rounds 5] [--threads 1] [--out PATH]

Each round, interleaved (so slow noise hits both paths alike), in this process:

* checkpoint: ``armbert.load()`` (model.safetensors, fp32) + ``armbert.quantize`` on
  the 6 built-in calibration sentences of armbert/cli.py (what ``armbert convert``
  uses without ``--calibration``; more text only makes this path slower) +
  ``Engine`` + one inference;
* file: ``armbert.load("minilm-int8.armbert")`` + ``Engine`` + the same inference.

The inference is B=1, S=16 (a short query). Both outputs are compared (they must be
identical: the file holds what quantize made). The JSON (version 1) has the machine,
its load average before and after (another job on the machine slows both paths; the
ratio is the figure to read), sizes, per-round times and medians.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import numpy as np  # noqa: E402

import armbert  # noqa: E402
from armbert.sample_texts import CALIBRATION  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(HERE / "results" / "modelfile.json"))
    args = ap.parse_args()
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="armbert-modelfile-"))
    base = armbert.load()
    checkpoint = Path(base.source)
    ids = np.random.default_rng(0).integers(1000, base.config.vocab_size, (1, 16))

    def from_checkpoint():
        q = armbert.quantize(armbert.load(), CALIBRATION, activations="dynamic",
                             embeddings="int8", backend="host")
        return q, armbert.Engine(q, backend="host", threads=args.threads).run(ids)

    q, _ = from_checkpoint()
    sizes = {"checkpoint_fp32_safetensors": checkpoint.stat().st_size}
    for precision in ("fp32", "fp16", "int8"):
        path = work / f"minilm-{precision}.armbert"
        armbert.save(q if precision == "int8" else base, path, precision=precision)
        sizes[f"armbert_{precision}"] = path.stat().st_size
    int8_file = work / "minilm-int8.armbert"

    def from_file():
        return armbert.Engine(armbert.load(int8_file), threads=args.threads).run(ids)

    rounds = []
    for _ in range(args.rounds):
        t = time.perf_counter()
        _, a = from_checkpoint()
        t_ckpt = time.perf_counter() - t
        t = time.perf_counter()
        b = from_file()
        t_file = time.perf_counter() - t
        if not np.array_equal(a.last_hidden_state, b.last_hidden_state):
            raise SystemExit("the file's model and the quantized checkpoint differ")
        rounds.append({"checkpoint_load_quantize_s": t_ckpt, "armbert_file_s": t_file})
    med_ckpt = statistics.median(r["checkpoint_load_quantize_s"] for r in rounds)
    med_file = statistics.median(r["armbert_file_s"] for r in rounds)
    result = {
        "version": 1,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                    "loadavg_before": load_before, "loadavg_after": os.getloadavg()},
        "settings": {"rounds": args.rounds, "threads": args.threads,
                     "calibration_texts": len(CALIBRATION), "activations": "dynamic",
                     "embeddings": "int8", "inference": list(ids.shape)},
        "sizes_bytes": sizes,
        "size_ratio_int8_vs_checkpoint": sizes["armbert_int8"] / sizes[
            "checkpoint_fp32_safetensors"],
        "rounds": rounds,
        "median_checkpoint_load_quantize_s": med_ckpt,
        "median_armbert_file_s": med_file,
        "speedup": med_ckpt / med_file,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    mb = {k: f"{v / 1e6:.1f} MB" for k, v in sizes.items()}
    print(f"sizes: {mb}; int8 file / checkpoint = {result['size_ratio_int8_vs_checkpoint']:.3f}")
    print(f"to first inference: checkpoint load+quantize {med_ckpt * 1e3:.0f} ms, "
          f".armbert {med_file * 1e3:.0f} ms: {result['speedup']:.1f}x (median of "
          f"{args.rounds}); wrote {out}")
    for p in work.iterdir():
        p.unlink()
    work.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
