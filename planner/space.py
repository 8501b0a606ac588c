"""The BERTPerf design space: bundles (H, A, I, S, B) times depth L = 1..12.

A *bundle* fixes every shape but the depth; a *model* is a bundle at a depth.
The space of the BERTPerf paper ("BERTPerf: Inference Latency Predictor for BERT on
ARM big.LITTLE Multi-Core Processors", IEEE SiPS 2022) is 350 bundles x 12 depths =
4,200 models with S in {64, 128, 256, 384, 512}. On a 2-core host the long sequences make a campaign
take hours, so :func:`host_space` keeps the same (H, B, A, I) table with
S in {64, 128}: 140 bundles, 1,680 models (see docs/planner.md).

Configurations also travel as columns (``dict`` of int arrays named L, H, A, I, S, B)
so predictors can answer a million queries in one numpy call.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Sequence, Union

import numpy as np

DEPTHS = tuple(range(1, 13))
PAPER_SEQ = (64, 128, 256, 384, 512)
HOST_SEQ = (64, 128)
COLUMNS = ("L", "H", "A", "I", "S", "B")

# H -> (batch sizes, heads, intermediate sizes), the BERTPerf paper's table.
PAPER_TABLE: dict[int, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    128: ((1, 2, 4), (2, 4), (512, 1024)),
    256: ((1, 2), (2, 4, 8), (512, 1024, 1536)),
    384: ((1, 2), (4, 6, 8, 12), (1024, 1536, 2048)),
    512: ((1,), (4, 8), (1536, 2048, 2560)),
    640: ((1,), (8, 10), (2048, 2560, 3072)),
    768: ((1,), (8, 12), (2560, 3072)),
}

# Bytes per weight element as the host backend stores them (fp16 packs halves,
# int8 one byte plus a per-row scale, ignored here).
WEIGHT_BYTES = {"fp32": 4, "fp16": 2, "int8": 1}
ACT_BYTES = {"fp32": 4, "fp16": 2, "int8": 4}  # int8 keeps fp32 activations between ops


@dataclass(frozen=True, order=True)
class Bundle:
    H: int
    B: int
    S: int
    I: int
    A: int

    def at(self, L: int) -> "ModelConfig":
        return ModelConfig(L=L, H=self.H, A=self.A, I=self.I, S=self.S, B=self.B)

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def group(self) -> tuple[int, int, int]:
        """Bundles that differ only in I and A (the inheritance neighbourhood)."""
        return (self.H, self.B, self.S)

    def __str__(self) -> str:
        return f"H{self.H}-A{self.A}-I{self.I}-S{self.S}-B{self.B}"


@dataclass(frozen=True, order=True)
class ModelConfig:
    L: int
    H: int
    A: int
    I: int
    S: int
    B: int

    @property
    def bundle(self) -> Bundle:
        return Bundle(H=self.H, B=self.B, S=self.S, I=self.I, A=self.A)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "ModelConfig":
        return cls(**{k: int(d[k]) for k in COLUMNS})

    def __str__(self) -> str:
        return f"L{self.L}-{self.bundle}"

    @classmethod
    def parse(cls, text: str) -> "ModelConfig":
        """'L12-H768-A12-I3072-S128-B1' (any order; str() of a config) -> ModelConfig."""
        import re
        found = dict(re.findall(r"([LHAISB])(\d+)", text.upper()))
        missing = [k for k in COLUMNS if k not in found]
        if missing:
            raise ValueError(f"config {text!r} lacks {', '.join(missing)} "
                             f"(expected e.g. L12-H768-A12-I3072-S128-B1)")
        return cls(**{k: int(found[k]) for k in COLUMNS})


Columns = Mapping[str, np.ndarray]
ConfigsLike = Union[Columns, Sequence[ModelConfig], np.ndarray]


def as_columns(configs: ConfigsLike) -> dict[str, np.ndarray]:
    """ModelConfigs, a column dict, or an [N, 6] array (L, H, A, I, S, B) -> int64 columns."""
    if isinstance(configs, Mapping):
        return {k: np.asarray(configs[k], dtype=np.int64) for k in COLUMNS}
    if isinstance(configs, np.ndarray):
        if configs.ndim != 2 or configs.shape[1] != len(COLUMNS):
            raise ValueError(f"config array must be [N, 6] (L,H,A,I,S,B), got {configs.shape}")
        return {k: configs[:, i].astype(np.int64) for i, k in enumerate(COLUMNS)}
    rows = list(configs)
    return {k: np.fromiter((getattr(c, k) for c in rows), dtype=np.int64, count=len(rows))
            for k in COLUMNS}


def bundle_code(H, B, S, I, A) -> np.ndarray:
    """One int64 per bundle (mixed radix), for vectorized table lookups."""
    H, B, S, I, A = (np.asarray(x, dtype=np.int64) for x in (H, B, S, I, A))
    return (((H * 4096 + S) * 64 + B) * 16384 + I) * 64 + A


class DesignSpace:
    """Bundles from an (H -> B, A, I) table and a list of sequence lengths."""

    def __init__(self, seq_lengths: Sequence[int] = PAPER_SEQ,
                 table: Mapping[int, tuple] = PAPER_TABLE, depths: Sequence[int] = DEPTHS,
                 name: str = "paper"):
        self.name, self.seq_lengths, self.depths = name, tuple(seq_lengths), tuple(depths)
        self.table = {int(h): tuple(tuple(v) for v in row) for h, row in table.items()}
        self._bundles = sorted(Bundle(H=h, B=b, S=s, I=i, A=a)
                               for h, (bs, heads, inters) in self.table.items()
                               for s in self.seq_lengths for b in bs for a in heads
                               for i in inters)
        self._codes = bundle_code(*zip(*((b.H, b.B, b.S, b.I, b.A) for b in self._bundles)))
        self._order = np.argsort(self._codes)

    def bundles(self) -> list[Bundle]:
        return list(self._bundles)

    def models(self) -> list[ModelConfig]:
        return [b.at(L) for b in self._bundles for L in self.depths]

    def __len__(self) -> int:
        return len(self._bundles) * len(self.depths)

    def to_dict(self) -> dict:
        return {"name": self.name, "seq_lengths": list(self.seq_lengths),
                "depths": list(self.depths),
                "table": {str(h): [list(v) for v in row] for h, row in self.table.items()}}

    @classmethod
    def from_dict(cls, d: Mapping) -> "DesignSpace":
        return cls(d["seq_lengths"], {int(h): row for h, row in d["table"].items()},
                   d["depths"], d.get("name", "custom"))

    def bundle_index(self, cols: Columns) -> np.ndarray:
        """Index into bundles() for each row; -1 where the bundle is not in the space."""
        code = bundle_code(cols["H"], cols["B"], cols["S"], cols["I"], cols["A"])
        sorted_codes = self._codes[self._order]
        pos = np.clip(np.searchsorted(sorted_codes, code), 0, len(sorted_codes) - 1)
        idx = self._order[pos]
        return np.where(sorted_codes[pos] == code, idx, -1)

    def subspace(self, H=None, B=None, A=None, I=None, S=None, name=None) -> "DesignSpace":
        """The bundles whose values are in the given lists (None keeps all)."""
        keep = lambda vals, allowed: tuple(v for v in vals if allowed is None or v in allowed)
        table = {}
        for h, (bs, heads, inters) in self.table.items():
            row = (keep(bs, B), keep(heads, A), keep(inters, I))
            if (H is None or h in H) and all(row):
                table[h] = row
        seqs = keep(self.seq_lengths, S)
        if not table or not seqs:
            raise ValueError("the filters leave no bundle in the space")
        return DesignSpace(seqs, table, self.depths, name or f"{self.name}-subset")

    def sample(self, n: int, seed: int) -> list[ModelConfig]:
        """n distinct models drawn uniformly without replacement, fixed by seed."""
        models = self.models()
        pick = np.random.default_rng(seed).choice(len(models), size=min(n, len(models)),
                                                  replace=False)
        return [models[i] for i in sorted(pick)]

    def lower_neighbours(self, b: Bundle) -> list[Bundle]:
        """Bundles of b's group with the next smaller I (same A) or next smaller A (same I).

        BERTPerf's search bound is inherited from these: j_switch does not grow with
        I or A, so a neighbour with smaller I or A bounds b's switch from above."""
        _, heads, inters = self.table[b.H]
        out = []
        if b.I in inters and inters.index(b.I) > 0:
            out.append(Bundle(b.H, b.B, b.S, inters[inters.index(b.I) - 1], b.A))
        if b.A in heads and heads.index(b.A) > 0:
            out.append(Bundle(b.H, b.B, b.S, b.I, heads[heads.index(b.A) - 1]))
        return out

    def authors_neighbour(self, b: Bundle) -> Optional[Bundle]:
        """The one bundle BERTPerf's code inherits the bound from (train_BERTPerf.py):
        the previous I at the same A when the search moves to a new I (b has the
        group's first A), otherwise the previous A at the same I."""
        _, heads, inters = self.table[b.H]
        a, i = heads.index(b.A), inters.index(b.I)
        if a == 0:
            return Bundle(b.H, b.B, b.S, inters[i - 1], b.A) if i > 0 else None
        return Bundle(b.H, b.B, b.S, b.I, heads[a - 1])

    def search_order(self) -> list[Bundle]:
        """Bundles ordered so that every lower neighbour comes first (I, then A ascending)."""
        return sorted(self._bundles, key=lambda b: (b.H, b.B, b.S, b.I, b.A))


def paper_space() -> DesignSpace:
    return DesignSpace(PAPER_SEQ, name="paper")


def host_space(seq_lengths: Sequence[int] = HOST_SEQ) -> DesignSpace:
    return DesignSpace(seq_lengths, name="host-S" + "-".join(map(str, seq_lengths)))


def space_by_name(name: str) -> DesignSpace:
    """'paper', 'host' (S 64,128) or 'host-S64-128-256' style lists."""
    if name == "paper":
        return paper_space()
    if name == "host":
        return host_space()
    if name.startswith("host-S"):
        return host_space([int(s) for s in name[len("host-S"):].split("-")])
    raise ValueError(f"unknown design space {name!r}: 'paper', 'host' or 'host-S64-128'")


# ---- analytical per-layer features (FLOPs and bytes), vectorized over columns ----

def layer_features(cols: Columns, precision: str = "fp32") -> dict[str, np.ndarray]:
    """Work and traffic of one encoder layer, per op class, as float64 arrays.

    gemm_flops: the four linears; attn_flops: QK^T and PV; weight_bytes: what the
    layer's linears read from memory when nothing is cached; act_bytes: the
    activations one layer writes (qkv, context, ffn, two residual outputs).
    """
    H, A, I, S, B = (np.asarray(cols[k], dtype=np.float64) for k in ("H", "A", "I", "S", "B"))
    M = B * S
    wb, ab = WEIGHT_BYTES[precision], ACT_BYTES[precision]
    weights = 4 * H * H + 2 * H * I
    return {
        "tokens": M,
        "gemm_flops": 2 * M * weights,
        "attn_flops": 4 * B * S * S * H,
        "softmax_elems": B * A * S * S,
        "norm_elems": 2 * M * H,
        "weight_bytes": weights * wb,
        "act_bytes": M * (3 * H + H + I + 2 * H) * ab,
        "ffn_share": (2 * H * I) / weights,
    }


def flops(cols: Columns) -> np.ndarray:
    """Total FLOPs of each model (encoder layers; embeddings are a gather)."""
    f = layer_features(cols)
    return np.asarray(cols["L"], dtype=np.float64) * (f["gemm_flops"] + f["attn_flops"])
