"""Ours: BERTPerf's depth decomposition, with the depth curve and most bundles shared.

BERTPerf pays at least two measurements per bundle (L=1 and L=12) plus a binary
search wherever encoder 1 has not saturated at L=1. Two observations let us pay
far less:

1. *Depth is a cache effect shared by every bundle.* A layer's weights wait for the
   other L-1 layers between two uses, so how much of them comes back from DRAM
   depends on the reuse distance D = L (W + alpha act) (weight and activation-buffer
   bytes of a layer) against the cache C, the same way for every bundle. For
   encoder 1, the later encoders and the embeddings (each its own curve)::

       t(b, L) = hot(b) + kappa(M) * bytes(b) * phi(log2(D / C))

   phi is two logistics (the LLC-to-DRAM step and a lower L2-to-LLC step);
   kappa(M) = exp(k0 + k1 log2(M / 128)) is the cost per byte that misses (M = B*S
   tokens hide more of it); hot(b) is the latency with everything cached. Eight
   numbers per curve, fitted on a few *probe* bundles profiled at several depths;
   every other bundle needs only its L=12 run.
2. *A layer is a sum of ops, and the ops are shared across bundles.* qkv, attn_out
   and the layer norms depend on (H, B, S) only, attention also on A, the FFN on I.
   The per-op times of an L=12 run, with their cache part removed, give hot per-op
   times that carry over: within each (H, B, S) group we profile only a few
   *anchor* bundles that together cover every A and every I of the group, and
   assemble the others from them.

Profiled points return their measurement. Budget on the host space (S 64, 128):
56 anchors + 6 extra depths on each of 10 probes = 116 measurements (6.9 %).
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from ..measure import OPS, llc_bytes
from ..space import ACT_BYTES, WEIGHT_BYTES, Bundle, DesignSpace
from .base import TablePredictor

POSITIONS = ("enc1", "enc_rest")
CURVES = POSITIONS + ("emb",)  # the embeddings' rows wait as long as a layer's weights
# Where a bundle's hot op times come from: anchors with the same A (attention), the
# same I (FFN), or any anchor of its (H, B, S) group (qkv, attn_out, norms, glue).
A_OPS = ("attn",)
I_OPS = ("ffn_in", "ffn_out")
DEFAULT_CACHE = 32 * 2 ** 20


def op_weight_bytes(b: Bundle, precision: str) -> dict[str, float]:
    wb = WEIGHT_BYTES[precision]
    w = {"qkv": 3 * b.H * b.H, "attn_out": b.H * b.H, "ffn_in": b.H * b.I,
         "ffn_out": b.H * b.I}
    return {o: float(w.get(o, 0)) * wb for o in OPS + ("glue",)}


def layer_bytes(b: Bundle, precision: str) -> tuple[float, float]:
    """(weight bytes, activation-buffer bytes) of one layer."""
    W = (4 * b.H * b.H + 2 * b.H * b.I) * WEIGHT_BYTES[precision]
    act = b.B * b.S * (5 * b.H + b.I) * ACT_BYTES[precision]
    return float(W), float(act)


def _sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.clip(z, -60, 60)))


class CacheCurve:
    """The cold part of one position's latency, per byte of weights.

    x = log2(L (W + alpha act) / C) is the reuse distance against the last-level
    cache; cold_ms = kappa(M) * bytes * (sig((x - c1) / s1) + w2 sig((x - c2) / s2)):
    the LLC-to-DRAM step and a lower L2-to-LLC step. Only differences between two
    depths or two bundles enter a prediction (each bundle's hot time absorbs the
    rest), so the curve needs no normalization.
    """

    NAMES = ("k0", "k1", "alpha", "c1", "s1", "w2", "c2", "s2")
    INIT = (np.log(0.05), -0.5, 0.5, -0.5, 0.6, 0.3, -4.0, 0.6)
    LOWER = (-30.0, -3.0, 0.0, -3.0, 0.15, 0.0, -9.0, 0.15)
    UPPER = (5.0, 2.0, 1.5, 3.0, 3.0, 2.0, -1.5, 3.0)

    def __init__(self, *values):
        self.v = np.array(values if values else self.INIT, dtype=np.float64)

    def x(self, L, W, act, cache):
        return np.log2(np.asarray(L, dtype=np.float64) * (W + self.v[2] * act) / cache)

    def shape(self, x):
        k0, k1, a, c1, s1, w2, c2, s2 = self.v
        return _sigmoid((x - c1) / s1) + w2 * _sigmoid((x - c2) / s2)

    def ms_per_byte(self, M):
        return np.exp(self.v[0] + self.v[1] * np.log2(np.asarray(M, dtype=np.float64) / 128.0)) \
            / 2 ** 20

    def cold_ms(self, nbytes, M, L, W, act, cache):
        return self.ms_per_byte(M) * np.asarray(nbytes) * self.shape(self.x(L, W, act, cache))

    def to_list(self):
        return [float(v) for v in self.v]


class Ours(TablePredictor):
    name = "ours"
    requires = ("scipy",)

    def __init__(self, probes: int = 10, probe_depths: tuple = (1, 2, 3, 4, 6, 8),
                 cover: str = "ai", cache_bytes: Optional[float] = None,
                 precision: str = "fp32"):
        super().__init__(probes=probes, probe_depths=list(probe_depths), cover=cover,
                         cache_bytes=cache_bytes, precision=precision)
        self.curves = {p: CacheCurve() for p in CURVES}
        self.meta_fit: dict = {}
        self.points: dict[Bundle, dict[int, dict]] = {}   # measured terms and ops
        self.anchors: list[Bundle] = []
        self.probe_bundles: list[Bundle] = []

    # ------------------------------------------------------------ choosing what to measure
    def choose_probes(self, space: DesignSpace) -> list[Bundle]:
        """Farthest-point sampling in (log2 W, log2 M): probes that span both the cache
        transition (weights per layer) and the compute per byte (tokens)."""
        k = int(self.params["probes"])
        bundles = space.bundles()
        if k <= 0:
            return []
        prec = self.params["precision"]
        pts = np.array([[np.log2(layer_bytes(b, prec)[0]), np.log2(b.B * b.S)]
                        for b in bundles])
        pts = (pts - pts.mean(0)) / (pts.std(0) + 1e-9)
        first = int(np.argmin(np.linalg.norm(pts - np.median(pts, 0), axis=1)))
        chosen = [first]
        dist = np.linalg.norm(pts - pts[first], axis=1)
        while len(chosen) < min(k, len(bundles)):
            nxt = int(np.argmax(dist))
            chosen.append(nxt)
            dist = np.minimum(dist, np.linalg.norm(pts - pts[nxt], axis=1))
        return [bundles[i] for i in chosen]

    def choose_anchors(self, space: DesignSpace, probes: list[Bundle]) -> list[Bundle]:
        """Per (H, B, S) group, bundles that cover every A and every I (greedy cover
        starting from the probes); cover='all' takes every bundle."""
        if self.params["cover"] == "all":
            return space.bundles()
        groups: dict[tuple, list[Bundle]] = {}
        for b in space.bundles():
            groups.setdefault(b.group, []).append(b)
        chosen = set(probes)
        for g, members in groups.items():
            need_a = {b.A for b in members} - {b.A for b in chosen if b.group == g}
            need_i = {b.I for b in members} - {b.I for b in chosen if b.group == g}
            while need_a or need_i:
                best = max(sorted(members, key=lambda b: (b.I, b.A)),
                           key=lambda b: (b.A in need_a) + (b.I in need_i))
                chosen.add(best)
                need_a.discard(best.A)
                need_i.discard(best.I)
        return sorted(chosen)

    # ------------------------------------------------------------ fit
    def fit(self, space: DesignSpace, meter, progress: bool = True) -> "Ours":
        from ..profiler import bar, work
        if self.params["cache_bytes"] is None:
            self.params["cache_bytes"] = float(llc_bytes(meter.device) or DEFAULT_CACHE)
        self.params["precision"] = meter.profiler.target.precision \
            if hasattr(meter, "profiler") else self.params["precision"]
        top = max(space.depths)
        self.probe_bundles = self.choose_probes(space)
        self.anchors = self.choose_anchors(space, self.probe_bundles)
        todo = [b.at(top) for b in self.anchors]
        todo += [b.at(L) for b in self.probe_bundles for L in self.params["probe_depths"]
                 if L != top]
        allowed = getattr(meter, "allowed", lambda c: True)
        todo = [c for c in todo if allowed(c)]  # a held-out probe depth is skipped
        self.points = {}
        for cfg in bar(todo, "ours", work(todo), progress):
            m = meter(cfg)
            self.points.setdefault(cfg.bundle, {})[cfg.L] = {
                "total": m.total, "emb": m.emb_term, "enc1": m.enc1, "enc_rest": m.enc_rest,
                "ops": {p: dict(v) for p, v in m.ops.items()}}
        self.space = space
        self._fit_curves()
        self._finish_fit(space, meter)
        self._build_table()
        return self

    def _cold(self, pos: str, b: Bundle, L, nbytes) -> np.ndarray:
        W, act = layer_bytes(b, self.params["precision"])
        return self.curves[pos].cold_ms(nbytes, b.B * b.S, L, W, act, self.params["cache_bytes"])

    def _emb_cold(self, b: Bundle, L) -> np.ndarray:
        return self._cold("emb", b, L, b.B * b.S * b.H * 4.0)

    def _fit_curves(self) -> None:
        """Shared curve parameters from the probes (robust least squares on relative
        error, a few starts); the probes' hot times are fitted alongside."""
        from ..optional import require
        least_squares = require("scipy.optimize", "our predictor's fit").least_squares
        probes = [b for b in self.probe_bundles if len(self.points.get(b, {})) >= 2]
        if not probes:  # no probes: no depth effect, every depth like L = 12
            self.curves = {p: CacheCurve(-50.0, *CacheCurve.INIT[1:]) for p in CURVES}
            self.meta_fit = {"probe_points": 0}
            return
        prec, cache = self.params["precision"], self.params["cache_bytes"]
        rows = []  # (probe, L, column: 0 enc1, 1 enc_rest, 2 emb, observed ms)
        for i, b in enumerate(probes):
            for L, p in self.points[b].items():
                rows += [(i, L, 0, p["enc1"]), (i, L, 2, p["emb"])]
                if p["enc_rest"] is not None:
                    rows.append((i, L, 1, p["enc_rest"]))
        idx, Ls, col, obs = (np.array(c) for c in zip(*rows))
        Ls, obs = Ls.astype(np.float64), obs.astype(np.float64)
        W, act = (np.array([layer_bytes(probes[i], prec)[j] for i in idx]) for j in (0, 1))
        M = np.array([probes[i].B * probes[i].S for i in idx], dtype=np.float64)
        E = np.array([probes[i].B * probes[i].S * probes[i].H * 4.0 for i in idx])
        n, k = len(probes), len(CacheCurve.NAMES)

        # Each row's curve is its column's: evaluate each curve on its own rows only.
        parts = [np.flatnonzero(col == j) for j in range(3)]
        nbytes = np.where(col == 2, E, W)

        def predict(v):
            hot = v[3 * k:].reshape(n, 3)
            out = hot[idx, col].copy()
            for j, r in enumerate(parts):
                out[r] += CacheCurve(*v[j * k:(j + 1) * k]).cold_ms(
                    nbytes[r], M[r], Ls[r], W[r], act[r], cache)
            return out

        # Forward differences as least_squares' own "2-point" takes them (step
        # sqrt(eps) sign(v) max(1, |v|), turned back at a bound), but perturbing together
        # the parameters that move disjoint rows: parameter i of the three curves (each
        # moves its column's rows), and every hot time (each moves its probe's column).
        # k + 1 evaluations per Jacobian instead of 3k + 3n, the same derivatives.
        groups = [np.array([j * k + i for j in range(3)]) for i in range(k)]
        groups.append(np.arange(3 * k, 3 * k + 3 * n))
        owner = np.zeros((len(obs), 3 * k + 3 * n), dtype=bool)
        for j, r in enumerate(parts):
            owner[r, j * k:(j + 1) * k] = True
        owner[np.arange(len(obs)), 3 * k + idx * 3 + col] = True

        def residual(v):
            return (predict(v) - obs) / obs

        def jacobian(v):
            f0 = residual(v)
            h = np.sqrt(np.finfo(np.float64).eps) * np.where(v >= 0, 1.0, -1.0) \
                * np.maximum(1.0, np.abs(v))
            h = np.where((v + h > hi) | (v + h < lo), -h, h)
            J = np.zeros((len(obs), len(v)))
            for g in groups:
                step = np.zeros_like(v)
                step[g] = h[g]
                dv = (v + step)[g] - v[g]  # the step as the floats took it
                df = residual(v + step) - f0
                for c, d in zip(g, dv):
                    J[owner[:, c], c] = df[owner[:, c]] / d
            return J

        hot0 = np.array([[obs[(idx == i) & (col == j)].min() if ((idx == i) & (col == j)).any()
                          else 1e-3 for j in range(3)] for i in range(n)]) * 0.9
        lo = np.concatenate([CacheCurve.LOWER * 3, np.zeros(3 * n)])
        hi = np.concatenate([CacheCurve.UPPER * 3, np.full(3 * n, np.inf)])
        best = None
        # one BLAS thread: the matrices are small, and a loaded 2-core machine makes
        # OpenBLAS's spinning threads 100x slower than a single one
        from threadpoolctl import threadpool_limits
        limiter = threadpool_limits(1)
        for c1 in (-1.5, -0.5, 0.5):
            init = list(CacheCurve.INIT)
            init[3] = c1
            v0 = np.clip(np.concatenate([init * 3, hot0.ravel()]), lo, hi)
            fit = least_squares(residual, v0, jac=jacobian, bounds=(lo, hi),
                                loss="soft_l1", f_scale=0.01, max_nfev=3000)
            if best is None or fit.cost < best.cost:
                best = fit
        limiter.restore_original_limits()
        v = best.x
        self.curves = {p: CacheCurve(*v[j * k:(j + 1) * k]) for j, p in enumerate(CURVES)}
        rel = (predict(v) - obs) / obs
        self.meta_fit = {"probe_points": int(len(obs)),
                         "rms_rel": float(np.sqrt(np.mean(rel ** 2))),
                         "max_rel": float(np.abs(rel).max())}

    # ------------------------------------------------------------ assemble predictions
    def _hot_ops(self, b: Bundle) -> dict:
        """Hot per-op times of a profiled bundle (cache part removed), the median over
        its profiled depths; 'glue' is the layer time the op clocks do not cover."""
        wo = op_weight_bytes(b, self.params["precision"])
        out = {}
        for pos in POSITIONS:
            acc: dict[str, list] = {}
            for L, p in self.points[b].items():
                if p[pos] is None or pos not in p["ops"]:
                    continue
                ops = dict(p["ops"][pos])
                ops["glue"] = p[pos] - sum(ops.values())
                for o, v in ops.items():
                    acc.setdefault(o, []).append(v - float(self._cold(pos, b, L, wo[o])))
            out[pos] = {o: float(np.median(v)) for o, v in acc.items()}
        out["emb"] = float(np.median([p["emb"] - float(self._emb_cold(b, L))
                                      for L, p in self.points[b].items()]))
        return out

    def _build_table(self) -> None:
        space, prec = self.space, self.params["precision"]
        hot = {b: self._hot_ops(b) for b in self.anchors if b in self.points}
        by_group: dict[tuple, list[Bundle]] = {}
        for a in hot:
            by_group.setdefault(a.group, []).append(a)
        depths = np.array(space.depths, dtype=np.float64)
        rows = []
        for b in space.bundles():
            donors = by_group.get(b.group, [])
            row = np.full(len(depths), np.nan)
            if donors:
                W = layer_bytes(b, prec)[0]
                terms = {}
                for pos in POSITIONS:
                    h = 0.0
                    for o in OPS + ("glue",):
                        src = donors
                        if o in A_OPS:
                            src = [d for d in donors if d.A == b.A] or donors
                        elif o in I_OPS:
                            src = [d for d in donors if d.I == b.I] or donors
                        vals = [hot[d][pos][o] for d in src if o in hot[d][pos]]
                        h += float(np.mean(vals)) if vals else 0.0
                    terms[pos] = h + self._cold(pos, b, depths, W)
                emb = float(np.mean([hot[d]["emb"] for d in donors])) + self._emb_cold(b, depths)
                row = emb + terms["enc1"] + (depths - 1) * terms["enc_rest"]
            for L, p in self.points.get(b, {}).items():
                row[space.depths.index(L)] = p["total"]
            rows.append(row)
        self.table = np.array(rows)

    def training_points(self) -> list[tuple]:
        return [(b.at(L), p["total"]) for b, d in self.points.items() for L, p in d.items()]

    # ------------------------------------------------------------ persistence
    def state(self) -> dict:
        return {"curves": {p: c.to_list() for p, c in self.curves.items()},
                "anchors": [b.to_dict() for b in self.anchors],
                "probes": [b.to_dict() for b in self.probe_bundles],
                "points": [{"bundle": b.to_dict(), "depths": {str(L): p for L, p in d.items()}}
                           for b, d in self.points.items()],
                "fit": getattr(self, "meta_fit", None)}

    def set_state(self, state: Mapping) -> None:
        self.curves = {p: CacheCurve(*v) for p, v in state["curves"].items()}
        self.anchors = [Bundle(**d) for d in state["anchors"]]
        self.probe_bundles = [Bundle(**d) for d in state["probes"]]
        self.points = {Bundle(**i["bundle"]): {int(L): p for L, p in i["depths"].items()}
                       for i in state["points"]}
        self.meta_fit = state.get("fit")
        self._build_table()
