"""What every latency predictor offers: fit, predict, save, load (TVM's cost-model shape).

``fit(space, meter)`` measures through ``meter`` (the explicit callback from
:class:`planner.profiler.Meter`) and keeps the budget it used; ``predict(configs)``
takes ModelConfigs, a column dict or an [N, 6] array and returns milliseconds as a
float64 array, NaN where the predictor cannot answer (a bundle outside its space).
Saved predictors are JSON with a version field; :func:`load` reads any of them.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from armbert.errors import InvalidArgumentError

from ..measure import core_class
from ..space import ConfigsLike, DesignSpace, as_columns

# 2: BERTPerf variants and per-op points, MLP input ranges, the stated error in meta
PREDICTOR_VERSION = 2

# Predictors as data: name -> "module:Class" (nn-Meter keeps the same list in YAML).
REGISTRY = {
    "bertperf": "planner.predictors.bertperf:BERTPerf",
    "parametric": "planner.predictors.parametric:Parametric",
    "opwise": "planner.predictors.opwise:OpWise",
    "mlp": "planner.predictors.mlp:MLP",
    "ours": "planner.predictors.ours:Ours",
}


def predictor_class(name: str):
    if name not in REGISTRY:
        raise InvalidArgumentError(f"unknown predictor {name!r}: choose one of {sorted(REGISTRY)}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


class Predictor:
    name = "base"
    requires: tuple[str, ...] = ()  # optional modules its fit imports (planner/optional.py)

    def __init__(self, **params: Any):
        self.params = dict(params)
        self.space: Optional[DesignSpace] = None
        self.budget: dict = {}
        self.meta: dict = {}

    # -- to implement --
    def fit(self, space: DesignSpace, meter, progress: bool = True) -> "Predictor":
        raise NotImplementedError

    def _predict_columns(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def state(self) -> dict:
        raise NotImplementedError

    def set_state(self, state: Mapping) -> None:
        raise NotImplementedError

    # -- shared --
    def predict(self, configs: ConfigsLike) -> np.ndarray:
        return self._predict_columns(as_columns(configs))

    def extrapolated(self, configs: ConfigsLike) -> np.ndarray:
        """True where an answer is an extrapolation past what the fit saw (default:
        none; table predictors answer NaN there instead)."""
        return np.zeros(len(as_columns(configs)["L"]), dtype=bool)

    def training_points(self) -> list[tuple]:
        """(ModelConfig, measured total ms) the predictor keeps, for the fallback."""
        return []

    def stated_error_pct(self) -> tuple[float, str]:
        """The error bar quoted with a prediction: the evaluation's 95th percentile of
        |error| on held-out models when it wrote one, else a default said as such."""
        e = (self.meta or {}).get("error")
        if e:
            return float(e["p95_pct"]), f"p95 |error| on {e['n']} held-out models"
        return 5.0, "not evaluated: default 5 %"

    def _finish_fit(self, space: DesignSpace, meter) -> None:
        # second line of defence behind the profiler's refusal: a fit that saw a
        # held-out model (through any path) is not evaluated, it is an error
        truth = getattr(getattr(meter, "profiler", None), "truth", frozenset())
        leaked = sorted(set(meter.budget.models) & set(truth))
        if leaked:
            from ..profiler import TruthLeakError
            raise TruthLeakError(f"{self.name}: fitted on {len(leaked)} held-out truth "
                                 f"model(s), e.g. {leaked[0]}")
        self.space = space
        self.budget = meter.budget.to_dict(len(space))
        prof = getattr(meter, "profiler", None)
        self.meta = {"device": meter.device.get("id"),
                     "target": prof.target.to_dict() if prof is not None else None}
        if prof is not None:  # which kind of core it was fitted on (plans match on it)
            self.meta["target"]["core_class"] = core_class(prof.target.cores)
        copy = getattr(prof, "copy_rate", lambda: None)()
        if copy is not None:  # what a plan pays to move the hidden state (planner.copyrate)
            self.meta["copy"] = copy.to_dict()

    def to_dict(self) -> dict:
        return {"version": PREDICTOR_VERSION, "predictor": self.name, "params": self.params,
                "space": self.space.to_dict() if self.space else None,
                "budget": self.budget, "meta": self.meta, "state": self.state()}

    def save(self, path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_dict(), indent=1, sort_keys=True))


def from_dict(d: Mapping) -> Predictor:
    if d.get("version") != PREDICTOR_VERSION:
        raise ValueError(f"predictor file version {d.get('version')!r}, "
                         f"this planner reads version {PREDICTOR_VERSION}")
    p = predictor_class(d["predictor"])(**d["params"])
    p.space = DesignSpace.from_dict(d["space"]) if d.get("space") else None
    p.budget, p.meta = dict(d.get("budget") or {}), dict(d.get("meta") or {})
    p.set_state(d["state"])
    return p


def load(path) -> Predictor:
    return from_dict(json.loads(Path(path).read_text()))


class TablePredictor(Predictor):
    """A predictor that ends its fit with one latency per (bundle, depth) of its space:
    prediction is a vectorized lookup (tens of millions per second)."""

    table: Optional[np.ndarray] = None  # [bundles, depths], ms

    def _predict_columns(self, cols):
        if self.table is None or self.space is None:
            raise RuntimeError(f"{self.name}: predict before fit/load")
        idx = self.space.bundle_index(cols)
        depths = self.space.depths
        L = cols["L"] - depths[0]
        ok = (idx >= 0) & (L >= 0) & (L < len(depths))
        out = np.full(idx.shape, np.nan)
        out[ok] = self.table[idx[ok], L[ok]]
        return out
