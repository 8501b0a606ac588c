"""BERTPerf, as its paper describes it ("BERTPerf: Inference Latency Predictor for
BERT on ARM big.LITTLE Multi-Core Processors", Abdelgawad et al., IEEE SiPS 2022).

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
from typing import Callable, Mapping, Optional, Sequence

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
                verify_bound: bool = False,
                depths: Optional[Sequence[int]] = None) -> SwitchSearch:
    """Finds j_switch, calling ``enc1_at(L)`` at most once per depth.

    Binary search with ``lo`` measured and not within ``tol`` of the L=top value
    and ``hi`` within: measured, or the inherited bound, which is trusted (as in
    the paper) unless ``verify_bound``. Re-check: when j was measured within, its
    neighbour j+1 is measured too; if that one is not within, j was noise and the
    search goes on above j+1. Any measurement below the bound that contradicts it
    (j+1 not within) drops the bound for 12.

    ``depths``: the depths the search may measure (default 1..top). Held-out truth
    models are left out of it, so the search runs over the remaining depths and
    j_switch is the smallest allowed depth within ``tol``.
    """
    ds = sorted(set(depths)) if depths is not None else list(range(1, top + 1))
    top = ds[-1]
    values: dict[int, float] = {}
    order: list[int] = []

    def at(L: int) -> float:
        if L not in values:
            values[L] = float(enc1_at(L))
            order.append(L)
        return values[L]

    ref = at(top)

    def within(i: int) -> bool:
        return abs(at(ds[i]) - ref) <= tol * ref

    if within(0):
        return SwitchSearch(ds[0], True, order, bound)
    lo, hi, broken = 0, len(ds) - 1, False
    trusted = bound if bound is not None and ds[0] < bound < top else None
    if trusted:
        hi = next(i for i, d in enumerate(ds) if d >= trusted)
    while True:
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if within(mid):
                hi = mid
            else:
                lo = mid
        j = ds[hi]
        if j not in values:  # the inherited bound, never measured
            if not verify_bound:
                return SwitchSearch(j, False, order, bound, assumed=True)
            if not within(hi):
                lo, hi, broken = hi, len(ds) - 1, True
                continue
        if recheck and hi + 1 < len(ds) - 1 and ds[hi + 1] not in values and not within(hi + 1):
            lo, hi = hi + 1, len(ds) - 1  # j was within by noise: search above the neighbour
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


def point(m) -> dict:
    """The terms of a Measurement kept in a fitted BERTPerf (ops for the breakdown)."""
    return {"total": m.total, "emb_term": m.emb_term, "enc1": m.enc1, "enc_rest": m.enc_rest,
            "ops": {pos: dict(v) for pos, v in m.ops.items()}}


def _shares(ops: Optional[Mapping[str, float]]) -> Optional[dict]:
    if not ops:
        return None
    from ..measure import OPS
    tot = sum(ops.values())
    return {o: ops[o] / tot for o in OPS if o in ops} if tot > 0 else None


def terms_at(points: Mapping[int, Mapping[str, float]], j: int, L: int) -> dict:
    """emb, enc1 and enc_rest at depth L from the profiled points (see bundle_row)."""
    p12 = points[max(points)]
    if L >= j:
        return {"emb": p12["emb_term"], "enc1": p12["enc1"], "enc_rest": p12["enc_rest"]}
    below = {d: p for d, p in points.items() if d <= j}
    below.setdefault(j, p12)
    rest_pts = {d: p["enc_rest"] for d, p in below.items() if d >= 2}
    return {"emb": _line({d: p["emb_term"] for d, p in below.items()})(L),
            "enc1": _line({d: p["enc1"] for d, p in below.items()})(L),
            "enc_rest": (_line(rest_pts)(L) if rest_pts else p12["enc_rest"]) if L > 1 else None}


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


VARIANTS = ("authors", "min2")


class BERTPerf(TablePredictor):
    """``variant='authors'`` (default) follows the authors' train_BERTPerf.py: the bound
    comes from ONE neighbour (:meth:`DesignSpace.authors_neighbour`), the search runs
    up to one past the neighbour's j and measures what it returns (searching above
    when nothing below qualifies), and a constant neighbour makes the bundle constant
    (L=12 measured alone). ``variant='min2'`` is armbert's earlier reading: the
    bound is the smallest j of two neighbours (next smaller I, next smaller A),
    trusted without measuring unless ``verify_bound``."""

    name = "bertperf"

    def __init__(self, tol: float = 0.02, recheck: bool = True, inherit: bool = True,
                 verify_bound: bool = False, variant: str = "authors"):
        if variant not in VARIANTS:
            raise ValueError(f"BERTPerf variant {variant!r}: one of {VARIANTS}")
        super().__init__(tol=tol, recheck=recheck, inherit=inherit, verify_bound=verify_bound,
                         variant=variant)
        self.bundles: dict[Bundle, dict] = {}

    def _bound(self, space: DesignSpace, b: Bundle) -> tuple[Optional[int], bool, bool]:
        """(search bound, verify it, bundle is constant by inheritance)."""
        if not self.params["inherit"]:
            return None, False, False
        if self.params.get("variant", "min2") == "authors":
            nb = space.authors_neighbour(b)
            info = self.bundles.get(nb) if nb is not None else None
            if info is None:
                return None, True, False
            if info["constant"]:
                return None, True, True
            return min(info["j_switch"] + 1, max(space.depths)), True, False
        known = [self.bundles[n]["j_switch"] for n in space.lower_neighbours(b)
                 if n in self.bundles]
        return (min(known) if known else None), self.params["verify_bound"], False

    def fit(self, space: DesignSpace, meter, progress: bool = True) -> "BERTPerf":
        from ..profiler import bar, work
        top = max(space.depths)
        order = space.search_order()
        allowed = getattr(meter, "allowed", lambda cfg: True)
        self.bundles = {}
        for b in bar(order, "bertperf", work([b.at(top) for b in order]), progress):
            depths = [L for L in space.depths if allowed(b.at(L))]
            if top not in depths or min(space.depths) not in depths:
                raise ValueError(f"{b}: BERTPerf needs L={min(space.depths)} and L={top}; "
                                 "draw the truth set from the depths between them")
            bound, verify, inherited_constant = self._bound(space, b)
            ms = {}

            def enc1_at(L: int) -> float:
                ms[L] = meter(b.at(L))
                return ms[L].enc1

            if inherited_constant:
                enc1_at(top)
                s = SwitchSearch(min(depths), True, [top], None)
            else:
                s = find_switch(enc1_at, bound, self.params["tol"], self.params["recheck"],
                                top, verify, depths)
            self.bundles[b] = {
                "j_switch": s.j_switch, "constant": s.constant, "measured": s.measured,
                "bound": s.bound, "assumed": s.assumed, "bound_broken": s.bound_broken,
                "inherited_constant": inherited_constant,
                "points": {L: point(m) for L, m in ms.items()}}
        self._finish_fit(space, meter)
        self._build_table()
        return self

    # -- what the CLI shows and the fallback is fitted on --
    def terms(self, cfg) -> Optional[dict]:
        """Predicted emb, enc1 and enc_rest (ms) of a config in the space, plus the
        per-op shares of each layer position from the bundle's deepest profiled run."""
        info = self.bundles.get(cfg.bundle)
        if info is None or cfg.L not in self.space.depths:
            return None
        pts, j = info["points"], info["j_switch"]
        if cfg.L in pts:
            p = pts[cfg.L]
            t = {"emb": p["emb_term"], "enc1": p["enc1"], "enc_rest": p["enc_rest"]}
        else:
            t = terms_at(pts, j, cfg.L)
        deepest = pts[max(pts)]
        t["op_shares"] = {pos: _shares(deepest.get("ops", {}).get(pos))
                          for pos in ("enc1", "enc_rest")}
        return t

    def training_points(self) -> list[tuple]:
        """(ModelConfig, measured total ms) of every profiled point."""
        return [(b.at(L), p["total"]) for b, i in self.bundles.items()
                for L, p in i["points"].items()]

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
                "inherited_bounds_broken": sum(bool(i.get("bound_broken")) for i in bounded),
                "constant_by_inheritance": sum(bool(i.get("inherited_constant")) for i in info),
                "variant": self.params.get("variant", "min2")}

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
