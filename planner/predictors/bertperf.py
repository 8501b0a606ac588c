"""BERTPerf (Abdelgawad et al., SIPS'22), as PAPERS.md describes it.

Per bundle: profile L=12 and L=1. If encoder 1 at L=1 is within ``tol`` (2 %) of
encoder 1 at L=12 the bundle is *constant*. Otherwise binary-search the smallest L
whose encoder 1 is within ``tol`` of the L=12 value: j_switch; then re-check the
neighbour above (j+1) against noise and search on if it disagrees. The search's
upper bound is inherited from the lower neighbours (next smaller I, next smaller A
of the same H, B, S), since j_switch does not grow with I or A; a bound that a
measurement contradicts falls back to 12.

Prediction: total(L) = emb(L) + enc1(L) + (L-1) enc_rest(L). Below j_switch each
term is a least-squares line in L through the profiled points at depths <= j_switch
(enc_rest from L >= 2); at or above it, the L=12 values. Profiled points return
their measurement.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional

import numpy as np

from ..space import Bundle, DesignSpace
from .base import TablePredictor


@dataclass
class SwitchSearch:
    """Outcome of the j_switch search on one bundle."""

    j_switch: int
    constant: bool
    measured: list = field(default_factory=list)  # depths in the order they were measured
    bound: Optional[int] = None                   # the inherited upper bound, if any
    assumed: bool = False                         # j_switch is the bound, taken on trust
    bound_broken: bool = False                    # a measurement contradicted the bound


def find_switch(enc1_at: Callable[[int], float], bound: Optional[int] = None,
                tol: float = 0.02, recheck: bool = True, top: int = 12,
                verify_bound: bool = False) -> SwitchSearch:
    """Finds j_switch, calling ``enc1_at(L)`` at most once per depth.

    Binary search with ``lo`` measured and not within ``tol`` of the L=top value
    and ``hi`` within: measured, or the inherited bound, which is trusted (as in
    the paper) unless ``verify_bound``. Re-check: when j was measured within, its
    neighbour j+1 is measured too; if that one is not within, j was noise and the
    search goes on above j+1. Any measurement below the bound that contradicts it
    (j+1 not within) drops the bound for 12.
    """
    values: dict[int, float] = {}
    order: list[int] = []

    def at(L: int) -> float:
        if L not in values:
            values[L] = float(enc1_at(L))
            order.append(L)
        return values[L]

    ref = at(top)

    def within(L: int) -> bool:
        return abs(at(L) - ref) <= tol * ref

    if within(1):
        return SwitchSearch(1, True, order, bound)
    lo, hi, broken = 1, top, False
    trusted = bound if bound is not None and 1 < bound < top else None
    if trusted:
        hi = trusted
    while True:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if within(mid):
                hi = mid
            else:
                lo = mid
        j = hi
        if j not in values:  # the inherited bound, never measured
            if not verify_bound:
                return SwitchSearch(j, False, order, bound, assumed=True)
            if not within(j):
                lo, hi, broken = j, top, True
                continue
        if recheck and j + 1 < top and (j + 1) not in values and not within(j + 1):
            lo, hi = j + 1, top  # j was within by noise: search above the neighbour
            broken = broken or trusted is not None
            continue
        return SwitchSearch(j, False, order, bound, bound_broken=broken)


def _line(points: Mapping[int, float]) -> Callable[[float], float]:
    xs = np.array(sorted(points), dtype=np.float64)
    ys = np.array([points[int(x)] for x in xs])
    if len(xs) == 1:
        return lambda L: float(ys[0])
    slope, icpt = np.polyfit(xs, ys, 1)
    return lambda L: float(slope * L + icpt)


def bundle_row(points: Mapping[int, Mapping[str, float]], j: int, depths) -> np.ndarray:
    """Predicted total for each depth from the profiled points {L: terms}. A switch
    taken on trust from the bound (not measured) stands at the L=12 values."""
    top = max(points)
    p12 = points[top]
    below = {L: p for L, p in points.items() if L <= j}
    below.setdefault(j, p12)
    emb = _line({L: p["emb_term"] for L, p in below.items()})
    enc1 = _line({L: p["enc1"] for L, p in below.items()})
    rest_pts = {L: p["enc_rest"] for L, p in below.items() if L >= 2}
    rest = _line(rest_pts) if rest_pts else (lambda L: p12["enc_rest"])
    row = []
    for L in depths:
        if L in points:
            row.append(points[L]["total"])
        elif L >= j:
            row.append(p12["emb_term"] + p12["enc1"] + (L - 1) * p12["enc_rest"])
        else:
            row.append(emb(L) + enc1(L) + (L - 1) * rest(L))
    return np.array(row)


class BERTPerf(TablePredictor):
    name = "bertperf"

    def __init__(self, tol: float = 0.02, recheck: bool = True, inherit: bool = True,
                 verify_bound: bool = False):
        super().__init__(tol=tol, recheck=recheck, inherit=inherit, verify_bound=verify_bound)
        self.bundles: dict[Bundle, dict] = {}

    def fit(self, space: DesignSpace, meter, progress: bool = True) -> "BERTPerf":
        from ..profiler import bar, work
        top = max(space.depths)
        order = space.search_order()
        self.bundles = {}
        for b in bar(order, "bertperf", work([b.at(top) for b in order]), progress):
            bound = None
            if self.params["inherit"]:
                known = [self.bundles[n]["j_switch"] for n in space.lower_neighbours(b)
                         if n in self.bundles]
                bound = min(known) if known else None
            ms = {}

            def enc1_at(L: int) -> float:
                ms[L] = meter(b.at(L))
                return ms[L].enc1

            s = find_switch(enc1_at, bound, self.params["tol"], self.params["recheck"], top,
                            self.params["verify_bound"])
            self.bundles[b] = {
                "j_switch": s.j_switch, "constant": s.constant, "measured": s.measured,
                "bound": s.bound, "assumed": s.assumed, "bound_broken": s.bound_broken,
                "points": {L: {"total": m.total, "emb_term": m.emb_term, "enc1": m.enc1,
                               "enc_rest": m.enc_rest} for L, m in ms.items()}}
        self._finish_fit(space, meter)
        self._build_table()
        return self

    def _build_table(self) -> None:
        rows = []
        for b in self.space.bundles():
            info = self.bundles[b]
            rows.append(bundle_row(info["points"], info["j_switch"], self.space.depths))
        self.table = np.array(rows)

    def summary(self) -> dict:
        info = list(self.bundles.values())
        linear = [i for i in info if not i["constant"]]
        bounded = [i for i in info if i["bound"] is not None and 1 < i["bound"] < 12]
        return {"bundles": len(info), "linear": len(linear), "constant": len(info) - len(linear),
                "j_switch_histogram": {str(j): sum(i["j_switch"] == j for i in info)
                                       for j in sorted({i["j_switch"] for i in info})},
                "measurements_per_bundle": float(np.mean([len(i["measured"]) for i in info])),
                "inherited_bounds_used": len(bounded),
                "switch_taken_from_bound": sum(bool(i.get("assumed")) for i in info),
                "inherited_bounds_broken": sum(bool(i.get("bound_broken")) for i in bounded)}

    def state(self) -> dict:
        return {"bundles": [{"bundle": b.to_dict(), **{k: v for k, v in i.items() if k != "points"},
                             "points": {str(L): p for L, p in i["points"].items()}}
                            for b, i in self.bundles.items()]}

    def set_state(self, state: Mapping) -> None:
        self.bundles = {}
        for item in state["bundles"]:
            info = {k: v for k, v in item.items() if k not in ("bundle", "points")}
            info["points"] = {int(L): p for L, p in item["points"].items()}
            self.bundles[Bundle(**item["bundle"])] = info
        self._build_table()
