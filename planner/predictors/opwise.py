"""Operator-wise baseline: a model's latency is the sum of its ops timed in isolation.

Per bundle, the embeddings and the seven ops of one encoder layer are each run back
to back on their own (warm caches, nn-Meter's kernel-level view); a depth-L model is
predicted as emb + L * (sum of the ops). What it cannot see is exactly what BERTPerf
models: layers evicting each other's weights from the caches as L grows.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..measure import OPS
from ..space import Bundle, DesignSpace
from .base import TablePredictor


class OpWise(TablePredictor):
    name = "opwise"

    def __init__(self):
        super().__init__()
        self.ops: dict[Bundle, dict[str, float]] = {}

    def fit(self, space: DesignSpace, meter, progress: bool = True) -> "OpWise":
        from ..profiler import bar, work
        bundles = space.bundles()
        self.ops = {}
        for b in bar(bundles, "opwise", work([b.at(1) for b in bundles]), progress):
            self.ops[b] = dict(meter.ops(b).ops)
        self._finish_fit(space, meter)
        self._build_table()
        return self

    def _build_table(self) -> None:
        L = np.array(self.space.depths, dtype=np.float64)
        rows = []
        for b in self.space.bundles():
            ops = self.ops[b]
            rows.append(ops["emb"] + L * sum(ops[o] for o in OPS))
        self.table = np.array(rows)

    def state(self) -> dict:
        return {"bundles": [{"bundle": b.to_dict(), "ops": o} for b, o in self.ops.items()]}

    def set_state(self, state: Mapping) -> None:
        self.ops = {Bundle(**i["bundle"]): dict(i["ops"]) for i in state["bundles"]}
        self._build_table()
