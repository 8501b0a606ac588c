"""MLP baseline (HAT-style): scikit-learn MLPRegressor on the six shape numbers.

Trained on ``n`` models drawn at random from the space (the evaluation gives it
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

    def __init__(self, n: int = 300, seed: int = 0, hidden: tuple = (32, 32),
                 max_iter: int = 5000, alpha: float = 1e-4):
        super().__init__(n=n, seed=seed, hidden=list(hidden), max_iter=max_iter, alpha=alpha)
        self.weights: list[np.ndarray] = []
        self.biases: list[np.ndarray] = []
        self.mu: Optional[np.ndarray] = None
        self.sd: Optional[np.ndarray] = None
        self.y_mu, self.y_sd = 0.0, 1.0
        self.y_lo, self.y_hi = -50.0, 50.0

    def fit(self, space: DesignSpace, meter, progress: bool = True) -> "MLP":
        from ..profiler import bar, work
        picks = space.sample(self.params["n"], seed=self.params["seed"])
        y = np.array([meter(c).total for c in bar(picks, "mlp", work(picks), progress)])
        self.fit_data(picks, y)
        self._finish_fit(space, meter)
        return self

    def fit_data(self, configs, y_ms: np.ndarray) -> "MLP":
        from sklearn.neural_network import MLPRegressor
        from ..space import as_columns
        X = _features(as_columns(configs))
        y = np.log(np.asarray(y_ms, dtype=np.float64))
        self.mu, self.sd = X.mean(0), X.std(0) + 1e-9
        self.y_mu, self.y_sd = float(y.mean()), float(y.std() + 1e-9)
        # an MLP extrapolates wildly; keep answers within e^1 of the training range
        self.y_lo, self.y_hi = float(y.min()) - 1.0, float(y.max()) + 1.0
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
        return np.exp(np.clip(out, self.y_lo, self.y_hi))

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
                "y_range": [self.y_lo, self.y_hi]}

    def set_state(self, state: Mapping) -> None:
        self._fold = None
        self.weights = [np.array(w) for w in state["weights"]]
        self.biases = [np.array(b) for b in state["biases"]]
        self.mu, self.sd = np.array(state["mu"]), np.array(state["sd"])
        self.y_mu, self.y_sd = float(state["y_mu"]), float(state["y_sd"])
        self.y_lo, self.y_hi = map(float, state["y_range"])
