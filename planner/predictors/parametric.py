"""The parametric predictor: a non-negative linear model on FLOPs and bytes.

Answers any shape (S=96, H=1024, L=24 ...), not only the bundles of a design space,
which makes it the fallback of ``armbert predict`` outside a table predictor's
profiled space. Per layer: time = c_gemm * GEMM FLOPs + c_attn * attention FLOPs +
c_soft * softmax elements + c_norm * norm elements + c_w * weight bytes + c_0;
embeddings: c_e * B*S*H + c_e0; total = emb + L * layer. Fitted by non-negative
least squares on relative error over measured (config, total) points: those a
table predictor profiled (:meth:`Predictor.training_points`) or its own fit's.
Its error bar is twice the 95th percentile of its relative residuals on those
points (a floor of 5 %): it is a coarse model and says so.
"""
from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np

from ..space import COLUMNS, DesignSpace, as_columns, layer_features
from .base import Predictor

FEATURES = ("gemm_flops", "attn_flops", "softmax_elems", "norm_elems", "weight_bytes")


class ShapeError(ValueError):
    """A shape no BERT has (H not divisible by the heads, a non-positive size)."""


def check_shapes(cols: Mapping[str, np.ndarray]) -> None:
    for k in COLUMNS:
        v = np.asarray(cols[k])
        if (v < 1).any():
            raise ShapeError(f"{k} must be >= 1, got {int(v.min())}")
    bad = np.asarray(cols["H"]) % np.asarray(cols["A"]) != 0
    if bad.any():
        i = int(np.argmax(bad))
        raise ShapeError(f"hidden size H={int(cols['H'][i])} is not divisible by "
                         f"A={int(cols['A'][i])} attention heads")


def _design(cols: Mapping[str, np.ndarray], precision: str) -> np.ndarray:
    f = layer_features(cols, precision)
    L = np.asarray(cols["L"], dtype=np.float64)
    layer = [f[k] * L for k in FEATURES] + [L]
    emb = [f["tokens"] * np.asarray(cols["H"], dtype=np.float64), np.ones_like(L)]
    return np.stack(layer + emb, axis=1)


class Parametric(Predictor):
    name = "parametric"
    requires = ("scipy",)

    def __init__(self, precision: str = "fp32"):
        super().__init__(precision=precision)
        self.coef = None
        self.lo = self.hi = None   # log2 ranges of the columns it was fitted on
        self.residual_p95 = None

    def fit(self, space: DesignSpace, meter, progress: bool = True) -> "Parametric":
        cfgs = space.sample(min(60, len(space)), seed=0)
        cfgs = [c for c in cfgs if getattr(meter, "allowed", lambda c: True)(c)]
        self.fit_points([(c, meter(c).total) for c in cfgs])
        self._finish_fit(space, meter)
        return self

    def fit_points(self, points: Sequence[tuple]) -> "Parametric":
        from ..optional import require
        nnls = require("scipy.optimize", "the parametric predictor").nnls
        if len(points) < 3:
            raise ValueError(f"the parametric predictor needs >= 3 measured points, got "
                             f"{len(points)}")
        cols = as_columns([c for c, _ in points])
        y = np.array([t for _, t in points], dtype=np.float64)
        X = _design(cols, self.params["precision"])
        scale = X.max(0) + 1e-30
        coef, _ = nnls((X / scale) / y[:, None], np.ones_like(y))
        self.coef = coef / scale
        rel = np.abs(X @ self.coef / y - 1.0) * 100
        self.residual_p95 = float(np.percentile(rel, 95))
        logs = np.log2(np.stack([cols[k] for k in COLUMNS], 1).astype(np.float64))
        self.lo, self.hi = logs.min(0), logs.max(0)
        return self

    def _predict_columns(self, cols):
        if self.coef is None:
            raise RuntimeError("parametric: predict before fit/load")
        check_shapes(cols)
        return _design(cols, self.params["precision"]) @ self.coef

    def terms(self, cfg) -> dict:
        """emb and one layer (ms), and the layer split by cost class."""
        cols = as_columns([cfg])
        check_shapes(cols)
        f = layer_features(cols, self.params["precision"])
        parts = [float(f[k][0]) * c for k, c in zip(FEATURES, self.coef)] + [float(self.coef[5])]
        layer = sum(parts)
        emb = float(f["tokens"][0] * cfg.H * self.coef[6] + self.coef[7])
        names = ("linears", "attention", "softmax", "layernorm", "weight traffic", "fixed")
        shares = {n: v / layer for n, v in zip(names, parts)} if layer > 0 else None
        return {"emb": emb, "enc1": layer, "enc_rest": layer if cfg.L > 1 else None,
                "op_shares": {"enc1": shares, "enc_rest": shares}}

    def extrapolated(self, configs) -> np.ndarray:
        cols = as_columns(configs)
        logs = np.log2(np.stack([cols[k] for k in COLUMNS], 1).astype(np.float64))
        return ((logs < self.lo - 1e-9) | (logs > self.hi + 1e-9)).any(1)

    def stated_error_pct(self) -> tuple[float, str]:
        base, _ = super().stated_error_pct()
        e = max(5.0, 2.0 * (self.residual_p95 or 0.0), 2.0 * base)
        return e, "parametric fallback: 2x its residuals' p95 on the profiled points"

    def state(self) -> dict:
        return {"coef": [float(v) for v in self.coef], "lo": [float(v) for v in self.lo],
                "hi": [float(v) for v in self.hi], "residual_p95": self.residual_p95}

    def set_state(self, state: Mapping) -> None:
        self.coef = np.array(state["coef"])
        self.lo, self.hi = np.array(state["lo"]), np.array(state["hi"])
        self.residual_p95 = state.get("residual_p95")


def fallback_for(pred: Predictor) -> Parametric:
    """A parametric predictor fitted on what ``pred`` measured (same target)."""
    prec = ((pred.meta or {}).get("target") or {}).get("precision", "fp32")
    p = Parametric(precision=prec).fit_points(pred.training_points())
    p.meta = dict(pred.meta or {})
    p.meta.pop("error", None)
    p.meta["fallback_of"] = pred.name
    return p
