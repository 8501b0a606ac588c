#!/usr/bin/env python3
"""NEON + CL plans inside the emulated arm64 test bed: the planner's CPU/GPU split
(latency objective: chain DP over measured per-unit latencies and transfer costs,
checked by measuring the plan it picks against each device alone) and a NEON -> CL
pipeline (throughput objective: PipeBERT's binary search), each with its plan JSON
and Gantt chart in benchmarks/results/arm-split/.

EMULATION CAVEAT: the "GPU" here is PoCL on the same emulated CPU, and qemu-user
times are not ARM times: the figures show that the searches, transfers and
executor work end to end on real ACL CL kernels, not what a Mali would gain.

    python3 tools/testbed.py run --peers --env ARMBERT_MODEL_DIR=/cache/minilm -- \\
        sh -c 'sh tools/ocl_test_adapter/build.sh && python3 build.py && \\
               LD_LIBRARY_PATH=/cache/ocl-adapter \\
               OCL_ICD_VENDORS=/cache/ocl-adapter/vendors/pocl \\
               python3 benchmarks/split_arm.py'

(tools/dev.sh arm64-test copies the bundled model to /cache/minilm first.)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from planner.search.cli import plan_main  # noqa: E402

OUT = HERE / "results" / "arm-split"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--items", type=int, default=4)
    ap.add_argument("--final-items", type=int, default=8)
    ap.add_argument("--cpu", default="cpu=neon:0:1", help="the CPU device (one core: the other "
                    "is left to PoCL's worker)")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    common = ["--devices", args.cpu, "gpu=cl", "--seq", str(args.seq), "--repeats",
              str(args.repeats), "--items", str(args.items), "--final-items", str(args.final_items)]
    summary = {}
    for objective in ("latency", "throughput"):
        out = OUT / f"{objective}.plan.json"
        rc = plan_main(["--objective", objective, *common, "--out", str(out)])
        if rc != 0:
            return rc
        meta = json.loads(out.read_text())["meta"]
        keep = ("predicted_ms", "mapping", "measured_ms", "chosen", "search",
                "measured_throughput_inf_s", "measured_steady_inf_s", "measured_stage_ms",
                "measurements", "search_seconds")
        summary[objective] = {k: meta[k] for k in keep if k in meta}
        if "cost_table" in meta:
            summary[objective]["unit_latency_ms"] = meta["cost_table"].get("latency_ms")
            summary[objective]["transfer_ms"] = meta["cost_table"].get("transfer_ms")
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    print(json.dumps(summary, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
