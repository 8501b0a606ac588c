"""MLP baseline (HAT-style): scikit-learn MLPRegressor on the six shape numbers.

Trained on ``n`` models drawn at random from the space (held-out truth models
excluded) (the evaluation gives it
BERTPerf's measurement count), target log latency, inputs log2 of L, H, A, I, S, B
standardized. Saved as plain weights; prediction is a numpy forward pass, so a
loaded MLP needs no pickle and answers millions of queries per second.
"""
from __future__ import annotations

from typing import Mapping, Optional

import numpy as np

from ..space import COLUMNS, DesignSpace
from .base import Predictor


def _features(cols: Mapping[str, np.ndarray]) -> np.ndarray:
    return np.log2(np.stack([np.asarray(cols[k], dtype=np.float64) for k in COLUMNS], axis=1))


class MLP(Predictor):
    name = "mlp"
    requires = ("sklearn",)

    # Hyper-parameters chosen with select=True, on a validation split of the MLP's own
    # training models (never on the truth set, which the fit cannot even measure).
    GRID = {"alpha": (1e-4, 1e-2, 1.0), "hidden": ((32, 32), (64, 64))}

    def __init__(self, n: int = 300, seed: int = 0, hidden: tuple = (32, 32),
                 max_iter: int = 5000, alpha: float = 1e-4, select: bool = False,
                 validation: float = 0.2):
        super().__init__(n=n, seed=seed, hidden=list(hidden), max_iter=max_iter, alpha=alpha,
                         select=select, validation=validation)
        self.x_lo: Optional[np.ndarray] = None
        self.x_hi: Optional[np.ndarray] = None
        self.selection: Optional[dict] = None
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        self.mu: Optional[np.ndarray] = None
        self.sd: Optional[np.ndarray] = None
        self.y_mu, self.y_sd = 0.0, 1.0
        self.y_lo, self.y_hi = -50.0, 50.0

    def fit(self, space: DesignSpace, meter, progress: bool = True) -> "MLP":
        from ..profiler import bar, work
        allowed = getattr(meter, "allowed", lambda c: True)
        pool = [c for c in space.models() if allowed(c)]
        pick = np.random.default_rng(self.params["seed"]).choice(
            len(pool), size=min(self.params["n"], len(pool)), replace=False)
        picks = [pool[i] for i in sorted(pick)]
        y = np.array([meter(c).total for c in bar(picks, "mlp", work(picks), progress)])
        if self.params.get("select"):
            self.select(picks, y)
        self.fit_data(picks, y)
        self._finish_fit(space, meter)
        return self

    def select(self, configs, y_ms) -> dict:
        """Chooses alpha and the hidden layers on a held-out validation split of the
        training models (share ``validation``), then keeps the best in params."""
        configs, y_ms = list(configs), np.asarray(y_ms, dtype=np.float64)
        rng = np.random.default_rng(self.params["seed"] + 1)
        order = rng.permutation(len(configs))
        n_val = max(1, int(round(self.params["validation"] * len(configs))))
        val, tr = order[:n_val], order[n_val:]
        scores = {}
        for alpha in self.GRID["alpha"]:
            for hidden in self.GRID["hidden"]:
                trial = MLP(n=len(tr), seed=self.params["seed"], hidden=hidden,
                            max_iter=self.params["max_iter"], alpha=alpha)
                trial.fit_data([configs[i] for i in tr], y_ms[tr])
                pred = trial.predict([configs[i] for i in val])
                err = np.abs(pred / y_ms[val] - 1.0)
                scores[(alpha, hidden)] = float(np.mean(err <= 0.02)), -float(np.mean(err))
        (alpha, hidden) = max(scores, key=scores.get)
        self.params["alpha"], self.params["hidden"] = alpha, list(hidden)
        self.selection = {"validation_models": int(n_val), "train_models": int(len(tr)),
                          "chosen": {"alpha": alpha, "hidden": list(hidden)},
                          "within_2pct": {f"{a}/{h}": v[0] for (a, h), v in scores.items()}}
        return self.selection

    def fit_data(self, configs, y_ms: np.ndarray, forbidden=frozenset()) -> "MLP":
        from ..optional import require
        MLPRegressor = require("sklearn.neural_network", "the MLP predictor").MLPRegressor
        from ..space import as_columns
        configs = list(configs)
        leaked = [c for c in configs if c in forbidden]
        if leaked:
            from ..profiler import TruthLeakError
            raise TruthLeakError(f"mlp: {len(leaked)} training model(s) are held out, "
                                 f"e.g. {leaked[0]}")
        X = _features(as_columns(configs))
        y = np.log(np.asarray(y_ms, dtype=np.float64))
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-9
        self.y_mu, self.y_sd = float(y.mean()), float(y.std() + 1e-9)
        self.x_lo, self.x_hi = X.min(0), X.max(0)
        self.y_lo, self.y_hi = float(y.min()), float(y.max())
        net = MLPRegressor(hidden_layer_sizes=tuple(self.params["hidden"]), activation="relu",
                           solver="lbfgs", alpha=self.params["alpha"],
                           max_iter=self.params["max_iter"], random_state=self.params["seed"])
        from threadpoolctl import threadpool_limits
        with threadpool_limits(1):  # small matrices; spinning BLAS threads only hurt
            net.fit((X - self.mu) / self.sd, (y - self.y_mu) / self.y_sd)
        self._fold = None
        self.weights = [np.asarray(w) for w in net.coefs_]
        self.biases = [np.asarray(b) for b in net.intercepts_]
        return self

    def _predict_columns(self, cols):
        if not self.weights:
            raise RuntimeError("mlp: predict before fit/load")
        n = len(cols["L"])
        x = np.empty((n, len(COLUMNS)), dtype=np.float32)
        for i, k in enumerate(COLUMNS):
            np.log2(np.asarray(cols[k], dtype=np.float32), out=x[:, i])
        # float32, with the input standardization folded into the first layer: ~1e-6
        # relative difference from the float64 net, several times the throughput
        ws, bs = self._folded()
        a = x
        for i, (w, b) in enumerate(zip(ws, bs)):
            a = a @ w
            a += b
            if i < len(ws) - 1:
                np.maximum(a, 0.0, out=a)
        out = a[:, 0].astype(np.float64) * self.y_sd + self.y_mu
        # no clipping: an answer past the training range is returned as computed and
        # flagged by extrapolated() (armbert predict says so)
        return np.exp(out)

    def extrapolated(self, configs) -> np.ndarray:
        """Inputs outside the ranges of the training models (any of the six numbers),
        or an answer outside the range of the training latencies."""
        from ..space import as_columns
        cols = as_columns(configs)
        X = _features(cols)
        out_x = ((X < self.x_lo - 1e-9) | (X > self.x_hi + 1e-9)).any(1)
        y = np.log(self._predict_columns(cols))
        return out_x | (y < self.y_lo - 1e-9) | (y > self.y_hi + 1e-9)

    def _folded(self):
        if getattr(self, "_fold", None) is None:
            w0 = self.weights[0] / self.sd[:, None]
            b0 = self.biases[0] - (self.mu / self.sd) @ self.weights[0]
            ws = [w0] + self.weights[1:]
            bs = [b0] + self.biases[1:]
            self._fold = ([w.astype(np.float32) for w in ws], [b.astype(np.float32) for b in bs])
        return self._fold

    def state(self) -> dict:
        return {"weights": [w.tolist() for w in self.weights],
                "biases": [b.tolist() for b in self.biases], "mu": self.mu.tolist(),
                "sd": self.sd.tolist(), "y_mu": self.y_mu, "y_sd": self.y_sd,
                "y_range": [self.y_lo, self.y_hi],
                "x_range": [self.x_lo.tolist(), self.x_hi.tolist()],
                "selection": self.selection}

    def set_state(self, state: Mapping) -> None:
        self._fold = None
        self.weights = [np.array(w) for w in state["weights"]]
        self.biases = [np.array(b) for b in state["biases"]]
        self.mu, self.sd = np.array(state["mu"]), np.array(state["sd"])
        self.y_mu, self.y_sd = float(state["y_mu"]), float(state["y_sd"])
        self.y_lo, self.y_hi = map(float, state["y_range"])
        self.x_lo, self.x_hi = (np.array(v) for v in state["x_range"])
        self.selection = state.get("selection")
