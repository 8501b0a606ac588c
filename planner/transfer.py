"""Moving a fitted BERTPerf to a new target (the authors' ``apply_metadata_fn``).

A BERTPerf fit's costly part is its structure: which bundles are constant and, for
the others, the depth j_switch where encoder 1 saturates. The authors reuse that
structure on another target (another cluster, another thread count) and measure
only L=12, L=2 and j per linear bundle (L=12 alone per constant one), then build
the same piecewise-linear prediction from the new points. :func:`transfer` does
that through a meter on the new target; :func:`compare_transfer` scores it and a
full BERTPerf campaign on the new target against the same held-out truth set
(drawn first and excluded from both fits), with the measurement count of each.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .predictors.bertperf import BERTPerf, point


def transfer(source: BERTPerf, meter, progress: bool = True) -> BERTPerf:
    """A BERTPerf for the meter's target with ``source``'s j_switch and constant/linear
    class per bundle; measures L=12, L=2 and j (L=12 alone for constant bundles).
    A held-out depth is replaced by the next allowed one above it."""
    from .profiler import bar, work
    if source.space is None or not source.bundles:
        raise ValueError("transfer needs a fitted BERTPerf")
    space = source.space
    top = max(space.depths)
    allowed = getattr(meter, "allowed", lambda c: True)
    out = BERTPerf(**source.params)
    bundles = space.bundles()
    for b in bar(bundles, "transfer", work([b.at(top) for b in bundles]), progress):
        info = source.bundles[b]
        want = [top] if info["constant"] else sorted({top, 2, info["j_switch"]})
        depths = []
        for L in want:
            L2 = next((d for d in space.depths if d >= L and allowed(b.at(d))), top)
            depths.append(L2)
        ms = {L: meter(b.at(L)) for L in sorted(set(depths))}
        j = info["j_switch"] if info["j_switch"] in ms else min(
            (d for d in ms if d >= info["j_switch"]), default=top)
        out.bundles[b] = {"j_switch": 1 if info["constant"] else j,
                          "constant": info["constant"], "measured": sorted(ms),
                          "bound": None, "assumed": False, "bound_broken": False,
                          "inherited_constant": False, "transferred_from": source.meta.get("target"),
                          "points": {L: point(m) for L, m in ms.items()}}
    out._finish_fit(space, meter)
    out.meta["transferred_from"] = {"target": source.meta.get("target"),
                                    "device": source.meta.get("device")}
    out._build_table()
    return out


def compare_transfer(source: BERTPerf, profiler, n_truth: int = 300, seed: int = 0,
                     progress: bool = True, full: Optional[BERTPerf] = None) -> dict:
    """Transfer vs a full campaign on ``profiler``'s target, on one truth set drawn
    first: accuracy of each and the measurements each took on the new target."""
    from .evaluate import abs_err_pct, draw_truth, error_metrics
    space = source.space
    truth_cfgs = draw_truth(space, n_truth, seed)
    profiler.exclude(truth_cfgs)
    moved = transfer(source, profiler.meter("train"), progress)
    if full is None:
        full = BERTPerf(**source.params).fit(space, profiler.meter("train"), progress)
    if profiler.settings.windows > 1:
        # every window of every config, truth and training interleaved, then both fits
        # replayed on the medians (as the evaluation does)
        for round_ in range(3):
            jobs = [(c, "truth") for c in truth_cfgs]
            jobs += [(c, "train") for c in profiler.measured("train")]
            if profiler.passes(jobs, seed + round_, progress) == 0 and round_:
                break
            moved = transfer(source, profiler.meter("train"), progress)
            full = BERTPerf(**source.params).fit(space, profiler.meter("train"), progress)
    truth = np.array([m.total for m in profiler.campaign(truth_cfgs, "truth", "ground truth",
                                                         progress)])
    res = {}
    for label, p in (("transfer", moved), ("full campaign", full)):
        err = abs_err_pct(p.predict(truth_cfgs), truth)
        p.meta["error"] = {"p95_pct": float(np.nanpercentile(err, 95)), "n": len(truth),
                           "within_2pct": float(np.mean(err <= 2))}
        res[label] = {**error_metrics(p.predict(truth_cfgs), truth), "budget": p.budget}
    return {"source_target": source.meta.get("target"), "target": profiler.target.to_dict(),
            "truth": {"n": len(truth_cfgs), "seed": seed}, "results": res,
            "predictors": {"transfer": moved, "full campaign": full}}


def report(summary: dict) -> str:
    from .evaluate import accuracy_cells
    lines = [f"# BERTPerf transferred from {summary['source_target']} to {summary['target']}",
             "", f"{summary['truth']['n']} held-out models (seed {summary['truth']['seed']}), "
             "drawn first and measured by neither fit.", "",
             "| predictor | measurements on the new target | ±0.5% | ±1% | ±1.5% | ±2% | ±5% "
             "| ±9% | max err |", "|---|---|---|---|---|---|---|---|---|"]
    for k, r in summary["results"].items():
        lines.append(f"| {k} | {r['budget']['measurements']} | {accuracy_cells(r)} |")
    return "\n".join(lines) + "\n"
