"""Per-layer precision under an accuracy budget.

1. Sensitivity (measured): for each layer and each lower precision, a plan
   with only that layer lowered; its output's deviation from fp32 on
   calibration inputs (:class:`Deviation`: 1 - min token cosine, max abs diff).
2. Predict: an assignment's deviation is the sum of its layers' sensitivities
   (first-order: small perturbations add) and its latency the sum of its
   layers' latencies at their precisions plus a conversion cost wherever the
   precision changes between layers.
3. Search: the fastest assignment whose predicted deviation fits the budget,
   exactly (every assignment when precisions^layers <= 2e6, i.e. 3 precisions
   up to 12 layers; else the Pareto front of (latency, deviation) by dynamic
   programming).
4. Verify: measure the chosen plan's deviation end to end. Over budget: that
   assignment is excluded, the predictions are scaled by measured/predicted
   (errors compound faster than additively), and the search runs again.

All fp32 is the reference itself (deviation 0), so a budget is always met.
Measuring goes through callbacks: ``deviation(plan) -> Deviation`` and
``layer_ms(precision) -> per-layer ms``; plans come from ``make_plan``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

import numpy as np

from armbert.plan import Plan

ENUMERATE_LIMIT = 2_000_000
LOWER = ("fp16", "int8")


@dataclass(frozen=True)
class Deviation:
    cosine: float   # 1 - min over tokens of cosine(output, fp32 output)
    max_abs: float  # max |output - fp32 output|

    def to_dict(self) -> dict:
        return {"cosine": self.cosine, "max_abs": self.max_abs}

    def within(self, budget: "Budget") -> bool:
        return self.cosine <= budget.cosine and (budget.max_abs is None
                                                 or self.max_abs <= budget.max_abs)


@dataclass(frozen=True)
class Budget:
    cosine: float                   # allowed 1 - min token cosine
    max_abs: Optional[float] = None  # allowed max abs difference (None: not constrained)

    def __post_init__(self):
        if not self.cosine >= 0 or (self.max_abs is not None and not self.max_abs >= 0):
            raise ValueError("a precision budget must be >= 0")


def deviation(reference: Sequence[np.ndarray], outputs: Sequence[np.ndarray],
              masks: Optional[Sequence[Optional[np.ndarray]]] = None) -> Deviation:
    """Deviation of ``outputs`` from ``reference`` ([B, S, H] each) over valid tokens."""
    worst_cos, worst_abs = 1.0, 0.0
    masks = masks if masks is not None else [None] * len(reference)
    for ref, out, mask in zip(reference, outputs, masks):
        r = np.asarray(ref, np.float64).reshape(-1, ref.shape[-1])
        o = np.asarray(out, np.float64).reshape(-1, ref.shape[-1])
        if mask is not None:
            keep = np.asarray(mask).reshape(-1) > 0
            r, o = r[keep], o[keep]
        if not len(r):
            continue
        cos = (r * o).sum(1) / np.maximum(np.linalg.norm(r, axis=1) * np.linalg.norm(o, axis=1),
                                          1e-30)
        worst_cos = min(worst_cos, float(cos.min()))
        worst_abs = max(worst_abs, float(np.abs(r - o).max()))
    return Deviation(max(0.0, 1.0 - worst_cos), worst_abs)


@dataclass
class Sensitivity:
    """Per layer, the deviation when only that layer runs at a lower precision."""

    by_precision: dict[str, list[Deviation]]  # precision -> per layer
    measurements: int = 0

    @property
    def num_layers(self) -> int:
        return len(next(iter(self.by_precision.values())))

    def to_dict(self) -> dict:
        return {"measurements": self.measurements,
                "by_precision": {p: [d.to_dict() for d in v] for p, v in self.by_precision.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Sensitivity":
        return cls({p: [Deviation(**x) for x in v] for p, v in d["by_precision"].items()},
                   int(d.get("measurements", 0)))


PlanMaker = Callable[[Sequence[str]], Plan]
DeviationMeasure = Callable[[Plan], Deviation]


def measure_sensitivity(measure: DeviationMeasure, make_plan: PlanMaker, num_layers: int,
                        precisions: Sequence[str] = LOWER, progress=None) -> Sensitivity:
    by: dict[str, list[Deviation]] = {}
    count = 0
    for p in precisions:
        if p == "fp32":
            continue
        row = []
        for i in range(num_layers):
            assign = ["fp32"] * num_layers
            assign[i] = p
            row.append(measure(make_plan(assign)))
            count += 1
            if progress:
                progress(i, p, row[-1])
        by[p] = row
    return Sensitivity(by, count)


@dataclass
class PrecisionResult:
    precisions: tuple[str, ...]
    predicted_ms: float
    predicted: Deviation        # additive model, before scaling
    measured: Deviation
    within_budget: bool
    measurements: int           # deviation measurements: sensitivity + verification
    tries: list[dict] = field(default_factory=list)  # each verified assignment
    method: str = ""            # "enumeration" or "pareto-dp"

    def to_dict(self) -> dict:
        return {"precisions": list(self.precisions), "method": self.method,
                "predicted_ms": self.predicted_ms,
                "predicted_deviation": self.predicted.to_dict(),
                "measured_deviation": self.measured.to_dict(),
                "within_budget": self.within_budget, "measurements": self.measurements,
                "tries": self.tries}


LayerLatency = Union[Mapping[str, Sequence[float]], Callable[[str], Sequence[float]]]
SwitchCost = Union[Mapping[str, float], Callable[[str, str], float], None]


def latency_table(layer_ms: LayerLatency, precisions: Sequence[str], num_layers: int) -> np.ndarray:
    """[layers, precisions] ms, asking the callback once per precision."""
    cols = []
    for p in precisions:
        row = layer_ms[p] if isinstance(layer_ms, Mapping) else layer_ms(p)
        row = np.asarray(row, dtype=float)
        if row.shape != (num_layers,):
            raise ValueError(f"layer latencies for {p}: {row.shape}, expected ({num_layers},)")
        cols.append(row)
    return np.stack(cols, axis=1)


def _switch_matrix(switch: SwitchCost, precisions) -> np.ndarray:
    P = len(precisions)
    sw = np.zeros((P, P))
    for a in range(P):
        for b in range(P):
            if a == b or switch is None:
                continue
            pa, pb = precisions[a], precisions[b]
            sw[a, b] = switch(pa, pb) if callable(switch) else float(switch.get(f"{pa}->{pb}", 0.0))
    return sw


def _candidates(lat: np.ndarray, cos: np.ndarray, mabs: np.ndarray, sw: np.ndarray,
                budget: Budget):
    """Assignments as codes [N, L] with predicted (ms, cosine, max_abs)."""
    L, P = lat.shape
    if P ** L <= ENUMERATE_LIMIT:
        ms, c, a = lat[0].copy(), cos[0].copy(), mabs[0].copy()
        for i in range(1, L):
            last = np.arange(ms.size) % P
            ms = (ms[:, None] + lat[i][None, :] + sw[last]).ravel()
            c = (c[:, None] + cos[i][None, :]).ravel()
            a = (a[:, None] + mabs[i][None, :]).ravel()
        codes = np.stack(np.unravel_index(np.arange(ms.size), (P,) * L), axis=1).astype(np.int8)
        return codes, ms, c, a, "enumeration"
    # Pareto fronts per last precision over (ms, cosine[, max_abs]); a partial
    # assignment already over budget never fits (deviations only add up).
    use_abs = budget.max_abs is not None

    def fits(c, a):
        return c <= budget.cosine and (not use_abs or a <= budget.max_abs)

    fronts = [[(lat[0, p], cos[0, p], mabs[0, p], (p,))] if fits(cos[0, p], mabs[0, p]) else []
              for p in range(P)]
    for i in range(1, L):
        fronts = [_pareto([(m + sw[q, p] + lat[i, p], c + cos[i, p], a + mabs[i, p], codes + (p,))
                           for q in range(P) for (m, c, a, codes) in fronts[q]
                           if fits(c + cos[i, p], a + mabs[i, p])], use_abs)
                  for p in range(P)]
    allc = _pareto([x for f in fronts for x in f], use_abs)
    return (np.array([x[3] for x in allc], dtype=np.int8).reshape(len(allc), L),
            np.array([x[0] for x in allc]), np.array([x[1] for x in allc]),
            np.array([x[2] for x in allc]), "pareto-dp")


def _pareto(points, use_abs: bool):
    """Points not dominated in (ms, cosine) or, with use_abs, (ms, cosine, max_abs)."""
    points = sorted(points, key=lambda x: (x[0], x[1], x[2]))
    if not use_abs:  # 2-D: keep each point that lowers the best cosine so far
        kept, best = [], np.inf
        for p in points:
            if p[1] < best:
                kept.append(p)
                best = p[1]
        return kept
    kept, kc, ka = [], np.empty(len(points)), np.empty(len(points))
    for p in points:
        n = len(kept)
        if n and ((kc[:n] <= p[1]) & (ka[:n] <= p[2])).any():
            continue
        kc[n], ka[n] = p[1], p[2]
        kept.append(p)
    return kept


def search_precision(sensitivity: Sensitivity, layer_ms: LayerLatency, budget: Budget,
                     measure: DeviationMeasure, make_plan: PlanMaker,
                     precisions: Sequence[str] = ("fp32", "fp16", "int8"),
                     switch_ms: SwitchCost = None, max_tries: int = 8) -> PrecisionResult:
    """The fastest per-layer assignment whose *measured* deviation fits ``budget``."""
    precisions = tuple(precisions)
    if "fp32" not in precisions:
        raise ValueError("fp32 must be a choice: it is the reference that always fits")
    L = sensitivity.num_layers
    lat = latency_table(layer_ms, precisions, L)
    zero = [Deviation(0.0, 0.0)] * L
    rows = [sensitivity.by_precision.get(p) if p != "fp32" else zero for p in precisions]
    missing = [p for p, r in zip(precisions, rows) if r is None]
    if missing:
        raise ValueError(f"no sensitivity measured for {missing}")
    cos = np.array([[r[i].cosine for r in rows] for i in range(L)])
    mabs = np.array([[r[i].max_abs for r in rows] for i in range(L)])
    codes, ms, c, a, how = _candidates(lat, cos, mabs, _switch_matrix(switch_ms, precisions),
                                       budget)
    lowered = (codes != precisions.index("fp32")).sum(1)
    excluded = np.zeros(len(ms), dtype=bool)
    scale_cos = scale_abs = 1.0
    tries: list[dict] = []
    count = sensitivity.measurements
    for _ in range(max_tries):
        ok = ~excluded & (c * scale_cos <= budget.cosine)
        if budget.max_abs is not None:
            ok &= a * scale_abs <= budget.max_abs
        idx = np.flatnonzero(ok)
        if not len(idx):
            break
        # fastest; ties: fewer lowered layers, then smaller predicted deviation
        best = idx[np.lexsort((c[idx], lowered[idx], np.round(ms[idx], 9)))[0]]
        assign = tuple(precisions[k] for k in codes[best])
        predicted = Deviation(float(c[best]), float(a[best]))
        if all(p == "fp32" for p in assign):
            return PrecisionResult(assign, float(ms[best]), predicted, Deviation(0.0, 0.0), True,
                                   count, tries + [{"precisions": list(assign), "measured": None,
                                                    "note": "all fp32 is the reference"}], how)
        got = measure(make_plan(assign))
        count += 1
        tries.append({"precisions": list(assign), "predicted": predicted.to_dict(),
                      "measured": got.to_dict(), "predicted_ms": float(ms[best])})
        if got.within(budget):
            return PrecisionResult(assign, float(ms[best]), predicted, got, True, count, tries, how)
        excluded[best] = True
        if predicted.cosine > 0:
            scale_cos = max(scale_cos, got.cosine / predicted.cosine)
        if predicted.max_abs > 0:
            scale_abs = max(scale_abs, got.max_abs / predicted.max_abs)
    fp32 = ("fp32",) * L
    return PrecisionResult(fp32, float(lat[:, precisions.index("fp32")].sum()),
                           Deviation(0.0, 0.0), Deviation(0.0, 0.0), True, count,
                           tries + [{"precisions": list(fp32), "measured": None,
                                     "note": f"fell back to fp32 after {len(tries)} tries"}], how)
