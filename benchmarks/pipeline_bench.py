#!/usr/bin/env python3
"""Pipelining on this machine: two 1-core "clusters" (core 0 | core 1) against
one stage on both cores (threads=2) and against one core.

For the 2-stage split it runs PipeBERT's binary search (with and without
feedback) and the exhaustive search through the same measurement callback and
reports the split each found and how many measurements each took. Each final
plan is run ``--runs`` times streaming ``--final-items`` inputs; the table gives
the median throughput (wall, and once the pipeline is full) and a Gantt PNG per
plan goes to benchmarks/results/.

    python3 benchmarks/pipeline_bench.py [--seq 128] [--precision fp32|fp16|int8]
        [--items 8] [--final-items 32] [--runs 3] [--repeats 3] [--quick] [--out PATH]

The JSON (version 1) holds the machine, its load average before and after (a
run with load1 >= 0.5 per core is marked "under_load"), the settings and a row
per plan.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # benchmark the checkout next to this file

import armbert  # noqa: E402
from armbert.plan import Device  # noqa: E402
from planner.search.measure_engine import (EngineRunner, RunSettings, gantt_png,  # noqa: E402
                                           steady_throughput)
from planner.search.pipeline import (Split, binary_search, exhaustive_search,  # noqa: E402
                                     split_plan)

SCHEMA_VERSION = 1
DEFAULT_OUT = HERE / "results" / "pipeline.json"
QUICK_OUT = HERE / "results" / "pipeline-quick.json"  # a smoke run never overwrites real numbers


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    ap.add_argument("--items", type=int, default=8, help="inputs per measurement while searching")
    ap.add_argument("--final-items", type=int, default=32, help="inputs per final throughput run")
    ap.add_argument("--runs", type=int, default=3, help="final throughput runs per plan (median)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--stage-timing", choices=("pipelined", "alone"), default="pipelined")
    ap.add_argument("--quick", action="store_true", help="seq 32, few items: a smoke run")
    ap.add_argument("--out", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.seq, args.items, args.final_items, args.runs, args.repeats = 32, 4, 8, 1, 1
    out = Path(args.out) if args.out else (QUICK_OUT if args.quick else DEFAULT_OUT)
    out.parent.mkdir(parents=True, exist_ok=True)
    if (os.cpu_count() or 1) < 2:
        print("pipeline_bench needs 2 cores", file=sys.stderr)
        return 2

    load_before = os.getloadavg()
    model = armbert.load()
    source = armbert.quantize(model, ["The weather is lovely today.", "He plays guitar."]) \
        if args.precision == "int8" else model
    L = model.config.num_hidden_layers
    runner = EngineRunner(source, RunSettings(seq=args.seq, repeats=args.repeats,
                                              items=args.items))
    devices = {"core0": Device("host", (0,), 1), "core1": Device("host", (1,), 1)}
    both = {"cores01": Device("host", (0, 1), 2)}
    measure = runner.stage_measure(args.stage_timing)

    searches = {}
    for name, fn, kw in (("binary+feedback", binary_search, {"feedback": True}),
                         ("binary", binary_search, {"feedback": False}),
                         ("exhaustive", exhaustive_search, {})):
        r = fn(measure, devices, L, args.precision, **kw)
        searches[name] = r
        print(f"search {name:16s} {r.describe():45s} predicted {r.throughput:7.2f} inf/s "
              f"(bottleneck {r.bottleneck_ms:.2f} ms), {r.measurements} measurements",
              flush=True)

    plans = {
        "one core (core 0)": split_plan(devices, Split(("core0",), (), L), args.precision),
        "one stage, 2 cores (threads=2)": split_plan(both, Split(("cores01",), (), L),
                                                     args.precision),
        "2-stage split (binary search)": searches["binary+feedback"].plan,
    }
    if searches["exhaustive"].split != searches["binary+feedback"].split:
        plans["2-stage split (exhaustive)"] = searches["exhaustive"].plan
    rows = []
    for label, plan in plans.items():
        tputs, steadies, stage = [], [], None
        for _ in range(args.runs):
            stats = runner.pipelined(plan, items=args.final_items)
            tputs.append(stats.throughput)
            steadies.append(steady_throughput(stats) or 0.0)
            stage = stats.stage_ms
        slug = "".join(c if c.isalnum() else "_" for c in label).strip("_").lower()
        png = out.parent / f"pipeline_{slug}{'_quick' if args.quick else ''}.png"
        gantt_png(runner.last_stats, png, plan=plan,
                  title=f"{label}: {runner.last_stats.throughput:.2f} inf/s (S={args.seq})")
        rows.append({"plan": label, "units": _units(plan),
                     "throughput_inf_s": statistics.median(tputs),
                     "steady_inf_s": statistics.median(steadies),
                     "runs": tputs, "stage_ms": {str(k): v for k, v in stage.items()},
                     "gantt": png.name})
    load_after = os.getloadavg()
    ncpu = os.cpu_count() or 1
    under_load = max(load_before[0], load_after[0]) >= 0.5 * ncpu

    base = rows[0]["throughput_inf_s"]
    print(f"\nMiniLM-L6 S={args.seq} {args.precision}, {args.final_items} inputs x {args.runs} runs"
          + ("  [UNDER LOAD: load average "
             f"{load_before[0]:.2f} -> {load_after[0]:.2f} on {ncpu} cores]" if under_load else ""))
    print(f"{'plan':34s} {'inf/s':>8s} {'full':>8s} {'vs 1 core':>10s}  stage ms")
    for r in rows:
        print(f"{r['plan']:34s} {r['throughput_inf_s']:8.2f} {r['steady_inf_s']:8.2f} "
              f"{r['throughput_inf_s'] / base:9.2f}x  "
              + " ".join(f"{v:.1f}" for v in r["stage_ms"].values()))
    print("\nmeasurements: " + ", ".join(f"{k} {v.measurements}" for k, v in searches.items()))

    result = {
        "version": SCHEMA_VERSION, "kind": "armbert.pipeline_bench",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": ncpu,
                    "processor": platform.processor()},
        "load_average": {"before": load_before, "after": load_after}, "under_load": under_load,
        "settings": {**vars(args), "out": str(out), "model": str(model.source),
                     "num_layers": L, "stage_timing": args.stage_timing},
        "searches": {k: v.to_dict() for k, v in searches.items()},
        "rows": rows,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


def _units(plan) -> str:
    parts = []
    for unit, p in plan.units():
        if parts and parts[-1][0] == (p.stage, p.device):
            parts[-1][2] = unit
        else:
            parts.append([(p.stage, p.device), unit, unit])
    return " | ".join(f"{k[1]}: {a}" + (f"..{b}" if b != a else "") for k, a, b in parts)


if __name__ == "__main__":
    sys.exit(main())
