"""Costs for the searches from latency predictors instead of measurements.

``armbert plan --predictor FILE`` builds the cost table the searches read (per-unit
ms per device and precision, transfers) from fitted predictors: a predictor
answers for a device when its target matches the device (backend and thread
count); embeddings, layer 1 and later layers come from the predictor's terms
where it has them (BERTPerf, the parametric fallback), else the total is spread
evenly over the layers. A shape outside a predictor's profiled space is answered
by the parametric fallback with its wider error bar. Devices or precisions that no
predictor covers are measured (through ``measure_row``), and the table says which.

Moving the hidden state between two devices costs what the predictors of those
devices recorded when they were profiled (``meta["copy"]``, :mod:`planner.copyrate`:
the engine's copy, timed), the slower when they differ; a pair no such predictor
covers (files from before it was recorded) is priced at :data:`HOST_COPY_MS_PER_BYTE`
and the table's ``meta["transfers"]`` says so.

The per-op costs of the branched layer graph (q, k, v in parallel ...) that the
genetic search maps come from the same terms and the op shares of the profiled
run (:func:`op_graph_problem`).
"""
from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from armbert.plan import Device

from ..copyrate import CopyRate
from ..measure import core_class
from .costs import CostTable, layer_units
from .split import MappingProblem, bert_layer_graph

# hidden-state copies between host contexts when no predictor recorded a rate: an
# assumed 5 GB/s (ms per byte)
HOST_COPY_MS_PER_BYTE = 1.0 / 5e9 * 1e3
ASSUMED_COPY = "assumed 5 GB/s (predictor file has no measured copy rate)"


@dataclass(frozen=True)
class Shape:
    L: int
    H: int
    A: int
    I: int
    S: int
    B: int = 1

    def config(self):
        from ..space import ModelConfig
        return ModelConfig(self.L, self.H, self.A, self.I, self.S, self.B)


@dataclass
class PredictedCosts:
    table: CostTable
    error_pct: float                      # the widest stated error among what was used
    sources: dict = field(default_factory=dict)   # "device/precision" -> what answered
    terms: dict = field(default_factory=dict)     # "device/precision" -> terms (op shares)
    transfers: str = ""                           # where the transfer costs came from

    @property
    def measured_rows(self) -> list[str]:
        return [k for k, v in self.sources.items() if v.startswith("measured")]


def device_threads(d: Device) -> int:
    return int(d.threads or len(d.cores) or os.cpu_count() or 1)


def on_device(pred, d: Device) -> bool:
    """The predictor was fitted on this kind of device: backend, thread count and,
    where both are known, the class of core (a big-core predictor does not answer
    for LITTLE cores with the same thread count). A CL device is the GPU, whatever
    threads or cores the profile or the device were given."""
    t = (pred.meta or {}).get("target") or {}
    if t.get("backend") != d.backend:
        return False
    if d.backend == "cl":  # the GPU: CPU threads and cores do not describe it
        return True
    if int(t.get("threads", -1)) != device_threads(d):
        return False
    fitted, here = t.get("core_class"), core_class(d.cores)
    return not (fitted and here) or list(fitted) == here


def matches(pred, d: Device, precision: str) -> bool:
    t = (pred.meta or {}).get("target") or {}
    return on_device(pred, d) and t.get("precision") == precision


def copy_rates(predictors: Sequence, d: Device) -> list[CopyRate]:
    """The copy rates recorded by the predictors fitted on ``d`` (any precision)."""
    rates = (CopyRate.from_meta(p.meta) for p in predictors if on_device(p, d))
    return [r for r in rates if r is not None]


def transfer_costs(predictors: Sequence, devices: Mapping[str, Device],
                   nbytes: int) -> tuple[dict[str, float], str]:
    """ms per ordered device pair to copy ``nbytes``: the slowest of the copy rates
    recorded by the predictors of either device, else the assumed constant; and a
    line saying which."""
    rates = {n: copy_rates(predictors, d) for n, d in devices.items()}
    tr, assumed, used = {}, [], []
    for a, b in itertools.permutations(devices, 2):
        rs = rates[a] + rates[b]
        if rs:
            used.append(max(rs, key=lambda r: r.ms(nbytes)))
            tr[f"{a}->{b}"] = used[-1].ms(nbytes)
        else:
            tr[f"{a}->{b}"] = nbytes * HOST_COPY_MS_PER_BYTE
            assumed.append(f"{a}->{b}")
    said = []
    if used:
        slow = max(used, key=lambda r: r.ms(nbytes))
        said.append(f"copy rate measured at profiling (slowest {slow.describe()})")
    if assumed:
        said.append(ASSUMED_COPY + (f" for {', '.join(assumed)}" if used else ""))
    return tr, "; ".join(said)


def _terms(pred, cfg) -> tuple[Optional[dict], float, str]:
    """(terms, stated error %, source) of one predictor for one config; terms None
    when neither the predictor nor its fallback can answer."""
    v = float(pred.predict([cfg])[0])
    err, _ = pred.stated_error_pct()
    if np.isfinite(v):
        t = pred.terms(cfg) if hasattr(pred, "terms") else None
        if t is None:
            t = {"emb": 0.0, "enc1": v / cfg.L, "enc_rest": v / cfg.L, "op_shares": {}}
        if pred.extrapolated([cfg])[0]:
            return t, max(err * 3, 15.0), f"{pred.name} (extrapolated)"
        return t, err, pred.name
    if pred.training_points():
        from ..predictors.parametric import fallback_for
        fb = fallback_for(pred)
        fe, _ = fb.stated_error_pct()
        return fb.terms(cfg), fe, f"parametric fallback of {pred.name}"
    return None, float("inf"), "none"


def predicted_costs(predictors: Sequence, devices: Mapping[str, Device], shape: Shape,
                    precisions: Sequence[str],
                    measure_row: Optional[Callable[[str, Device, str], Sequence[float]]] = None
                    ) -> PredictedCosts:
    cfg = shape.config()
    units = layer_units(shape.L)
    lat: dict[str, dict[str, tuple]] = {}
    sources, terms, errs = {}, {}, []
    for name, d in devices.items():
        lat[name] = {}
        for prec in precisions:
            key = f"{name}/{prec}"
            pred = next((p for p in predictors if matches(p, d, prec)), None)
            t, err, src = _terms(pred, cfg) if pred is not None else (None, 0.0, "none")
            if t is None:
                if measure_row is None:
                    have = [(p.meta or {}).get("target") for p in predictors]
                    raise ValueError(f"no predictor for device {name} ({d.backend}, "
                                     f"{device_threads(d)} threads) at {prec}; "
                                     f"predictors are fitted on {have}")
                lat[name][prec] = tuple(float(x) for x in measure_row(name, d, prec))
                sources[key] = "measured (no predictor for this device/precision)"
                continue
            rest = t["enc_rest"] if t.get("enc_rest") is not None else t["enc1"]
            row = (float(t["emb"]), float(t["enc1"])) + (float(rest),) * (shape.L - 1)
            if min(row) < 0:
                # A fitted line's term can come out below zero (the test bed's CL fit
                # gave the embeddings -14.5 ms from 6 noisy points): no part takes
                # less than nothing, and the table refuses negative costs.
                src += f" (terms below 0 ms taken as 0: {[round(x, 3) for x in row if x < 0]})"
                row = tuple(max(0.0, x) for x in row)
            lat[name][prec] = row
            sources[key], terms[key] = src, t
            errs.append(err)
    tr, said = transfer_costs(predictors, devices, shape.B * shape.S * shape.H * 4)
    meta = {"source": "predicted", "sources": sources, "shape": shape.__dict__}
    if said:
        meta["transfers"] = said
    table = CostTable(units, lat, tr, meta)
    return PredictedCosts(table, max(errs) if errs else 0.0, sources, terms, said)


# the branched layer graph's ops -> (the profiled op they come from, share of it)
GRAPH_OPS = {"q": ("qkv", 1 / 3), "k": ("qkv", 1 / 3), "v": ("qkv", 1 / 3),
             "attention": ("attn", 1.0), "attn_out": ("attn_out", 1.0),
             "add_ln1": ("ln1", 1.0), "ffn_in_gelu": ("ffn_in", 1.0),
             "ffn_out": ("ffn_out", 1.0), "add_ln2": ("ln2", 1.0)}
# a layer without op shares: split by FLOPs of a BERT layer with I = 4H
DEFAULT_SHARES = {"qkv": 0.25, "attn": 0.08, "attn_out": 0.083, "ln1": 0.004,
                  "ffn_in": 0.33, "ffn_out": 0.33, "ln2": 0.004}


def op_graph_problem(costs: PredictedCosts, devices: Sequence[str], precision: str,
                     shape: Shape) -> MappingProblem:
    """The GA's problem: the branched graph of ``shape.L`` layers with predicted
    per-op ms on each device (layer ms x the op's share in the profiled run)."""
    graph = bert_layer_graph(shape.L, shape.I / shape.H)
    lat = np.zeros((len(graph.ops), len(devices)))
    for j, dev in enumerate(devices):
        row = costs.table.row(dev, precision)
        t = costs.terms.get(f"{dev}/{precision}") or {}
        for i, op in enumerate(graph.ops):
            _, layer, kind = op.split(".")
            pos = "enc1" if layer == "0" else "enc_rest"
            shares = (t.get("op_shares") or {}).get(pos) or DEFAULT_SHARES
            src, part = GRAPH_OPS[kind]
            if src not in shares:
                shares = DEFAULT_SHARES
            total = sum(shares[k] for k in DEFAULT_SHARES if k in shares) or 1.0
            lat[i, j] = row[1 + int(layer)] * shares[src] / total * part
    tr = np.array([[costs.table.transfer(a, b) for b in devices] for a in devices])
    return MappingProblem(graph, tuple(devices), lat, tr)


def layer_majority(assignment: Sequence[str], graph_ops: Sequence[str], L: int,
                   latency_ms: Optional[np.ndarray] = None,
                   devices: Sequence[str] = ()) -> list[str]:
    """Per-layer device of an op-level mapping (the engine places whole layers): the
    device that runs most of the layer's predicted time (``latency_ms[op, device]``
    with ``devices`` its columns; without them, most of its ops). A tie goes to the
    previous layer's device, which saves a switch, else to the first in the mapping."""
    col = {d: j for j, d in enumerate(devices)}
    out: list[str] = []
    for l in range(L):
        weight: dict[str, float] = {}
        for i, (a, op) in enumerate(zip(assignment, graph_ops)):
            if op.startswith(f"layer.{l}."):
                w = float(latency_ms[i, col[a]]) if latency_ms is not None else 1.0
                weight[a] = weight.get(a, 0.0) + w
        best = max(weight.values())
        tied = [d for d, w in weight.items() if w >= best * (1 - 1e-12)]
        out.append(out[-1] if out and out[-1] in tied else tied[0])
    return out
