"""Cost tables: per-unit latency on each device at each precision, plus the cost
of moving the hidden state from one device to another.

A table is JSON with a version field::

    {"version": 1, "kind": "armbert.cost_table",
     "units": ["embeddings", "layer.0", ...],
     "latency_ms": {"big": {"fp32": [0.4, 41.0, ...]}, "little": {...}},
     "transfer_ms": {"big->little": 0.3, "little->big": 0.3},
     "meta": {"source": "measured", ...}}

``transfer_ms`` values are either one number (every layer boundary carries a
hidden state of the same shape, so one cost per device pair) or a list with one
number per edge (edge i joins unit i and unit i+1).

:func:`kirin970` is a table built only from figures published in two papers,
"BERTPerf: Inference Latency Predictor for BERT on ARM big.LITTLE Multi-Core
Processors" (Abdelgawad et al., IEEE SiPS 2022) and "PipeBERT: High-throughput BERT
Inference for ARM Big.LITTLE Multi-core Processors" (Chang et al., Journal of Signal
Processing Systems, 2022);
:func:`planner.search.kirin970.kirin970_report` runs the PipeBERT search on it and
compares with the paper (``armbert plan --kirin970`` prints it).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence, Union

COST_TABLE_VERSION = 1
KIND = "armbert.cost_table"

TransferCost = Union[float, Sequence[float]]


class CostTableError(ValueError):
    """A cost table that is malformed or lacks what a search asks of it."""


@dataclass(frozen=True)
class CostTable:
    units: tuple[str, ...]
    latency_ms: Mapping[str, Mapping[str, tuple[float, ...]]]  # device -> precision -> per unit
    transfer_ms: Mapping[str, TransferCost] = field(default_factory=dict)  # "a->b" -> cost
    meta: Mapping[str, object] = field(default_factory=dict)
    version: int = COST_TABLE_VERSION

    def __post_init__(self):
        n = len(self.units)
        if not self.latency_ms:
            raise CostTableError("cost table has no devices")
        for dev, by_prec in self.latency_ms.items():
            for prec, row in by_prec.items():
                if len(row) != n:
                    raise CostTableError(f"cost table: {dev}/{prec} has {len(row)} latencies "
                                         f"for {n} units")
                if any(not (x >= 0) for x in row):
                    raise CostTableError(f"cost table: {dev}/{prec} has a negative or NaN latency")
        for key, cost in self.transfer_ms.items():
            if "->" not in key:
                raise CostTableError(f"cost table transfer key {key!r} is not 'a->b'")
            if not isinstance(cost, (int, float)) and len(cost) != n - 1:
                raise CostTableError(f"cost table transfer {key} lists {len(cost)} edges, "
                                     f"the chain has {n - 1}")

    # ---- queries ----
    @property
    def devices(self) -> tuple[str, ...]:
        return tuple(self.latency_ms)

    @property
    def num_layers(self) -> int:
        return sum(1 for u in self.units if u.startswith("layer."))

    @property
    def has_embeddings(self) -> bool:
        return bool(self.units) and self.units[0] == "embeddings"

    def row(self, device: str, precision: str = "fp32") -> tuple[float, ...]:
        try:
            return tuple(self.latency_ms[device][precision])
        except KeyError:
            raise CostTableError(f"cost table has no latencies for {device}/{precision} "
                                 f"(it has {self._have()})") from None

    def unit_ms(self, device: str, unit: int, precision: str = "fp32") -> float:
        return self.row(device, precision)[unit]

    def range_ms(self, device: str, lo: int, hi: int, precision: str = "fp32") -> float:
        """Sum of units [lo, hi) on one device."""
        return float(sum(self.row(device, precision)[lo:hi]))

    def transfer(self, src: str, dst: str, edge: int = 0) -> float:
        """Cost of moving the hidden state across edge ``edge`` from src to dst
        (0 on one device; a pair the table lacks costs 0 and is listed by
        :meth:`missing_transfers`)."""
        if src == dst:
            return 0.0
        cost = self.transfer_ms.get(f"{src}->{dst}", 0.0)
        return float(cost if isinstance(cost, (int, float)) else cost[edge])

    def missing_transfers(self) -> list[str]:
        return [f"{a}->{b}" for a in self.devices for b in self.devices
                if a != b and f"{a}->{b}" not in self.transfer_ms]

    def _have(self) -> str:
        return ", ".join(f"{d}/{p}" for d, by in self.latency_ms.items() for p in by)

    # ---- JSON ----
    def to_dict(self) -> dict:
        return {"version": self.version, "kind": KIND, "units": list(self.units),
                "latency_ms": {d: {p: list(map(float, r)) for p, r in by.items()}
                               for d, by in self.latency_ms.items()},
                "transfer_ms": {k: (float(v) if isinstance(v, (int, float)) else list(v))
                                for k, v in self.transfer_ms.items()},
                "meta": dict(self.meta)}

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def from_dict(cls, d: Mapping) -> "CostTable":
        if d.get("version") != COST_TABLE_VERSION:
            raise CostTableError(f"cost table version {d.get('version')!r} is not supported "
                                 f"(this planner reads version {COST_TABLE_VERSION})")
        if d.get("kind", KIND) != KIND:
            raise CostTableError(f"not a cost table: kind {d.get('kind')!r}")
        try:
            return cls(tuple(d["units"]),
                       {dev: {p: tuple(float(x) for x in r) for p, r in by.items()}
                        for dev, by in d["latency_ms"].items()},
                       dict(d.get("transfer_ms", {})), dict(d.get("meta", {})))
        except (KeyError, TypeError, AttributeError) as e:
            raise CostTableError(f"malformed cost table: {e!r}") from e

    @classmethod
    def load(cls, path) -> "CostTable":
        return cls.from_dict(json.loads(Path(path).read_text()))


def layer_units(num_layers: int, embeddings: bool = True) -> tuple[str, ...]:
    return (("embeddings",) if embeddings else ()) + tuple(f"layer.{i}" for i in range(num_layers))


# ---------------------------------------------------------------------------
# Kirin 970 from the papers' published numbers only.

# BERTPerf (the paper above): BERT-base, S=128, TFLite INT8 weights.
KIRIN970_BIG_MS = 492.0      # 4 x Cortex-A73
KIRIN970_LITTLE_MS = 1492.0  # 4 x Cortex-A53
# PipeBERT (the paper above): BERT-base on the 4 big cores alone, then pipelined.
PIPEBERT_BIG_INF_S = 0.73
PIPEBERT_PIPELINED_INF_S = 1.26
PIPEBERT_GAIN = 0.486
BERT_BASE_LAYERS = 12

KIRIN970_ASSUMPTIONS = (
    "layers are uniform: each of the 12 layers costs total/12 on a cluster "
    "(BERTPerf's enc1 != enc_rest is not published as numbers, so it is not modelled)",
    "embeddings cost `embedding_share` of the published total (default 0: no figure is "
    "published; the lookup is small next to a 128-token layer) and ride with stage 0",
    "moving the hidden state between clusters is free (shared DRAM, same process; no "
    "published figure)",
    "the two clusters do not slow each other down when both run (no DRAM or thermal "
    "contention is modelled)",
)


def kirin970(embedding_share: float = 0.0, baseline: str = "bertperf") -> CostTable:
    """Per-layer BERT-base latencies on the Kirin 970's clusters.

    ``baseline="bertperf"`` uses 492 / 1492 ms (TFLite INT8, BERTPerf).
    ``baseline="pipebert"`` rescales both clusters so the big cluster alone gives
    PipeBERT's 0.73 inf/s, keeping BERTPerf's LITTLE/big ratio (PipeBERT publishes
    no LITTLE-alone figure). Assumptions: :data:`KIRIN970_ASSUMPTIONS`.
    """
    if not 0.0 <= embedding_share < 1.0:
        raise CostTableError("embedding_share must be in [0, 1)")
    big, little = KIRIN970_BIG_MS, KIRIN970_LITTLE_MS
    if baseline == "pipebert":
        scale = (1e3 / PIPEBERT_BIG_INF_S) / big
        big, little = big * scale, little * scale
    elif baseline != "bertperf":
        raise CostTableError(f"baseline must be 'bertperf' or 'pipebert', got {baseline!r}")

    def row(total):
        emb = total * embedding_share
        return (emb,) + (((total - emb) / BERT_BASE_LAYERS),) * BERT_BASE_LAYERS

    return CostTable(layer_units(BERT_BASE_LAYERS),
                     {"big": {"int8": row(big)}, "little": {"int8": row(little)}},
                     {"big->little": 0.0, "little->big": 0.0},
                     {"source": "BERTPerf paper (SiPS 2022): 492/1492 ms (BERT-base, S=128, 4xA73/4xA53)"
                                + (", rescaled to PipeBERT's 0.73 inf/s" if baseline == "pipebert"
                                   else ""),
                      "baseline": baseline, "embedding_share": embedding_share,
                      "assumptions": list(KIRIN970_ASSUMPTIONS)})
