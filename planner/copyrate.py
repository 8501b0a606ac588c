"""The measured cost of copying a hidden state between two contexts of a target.

A plan that crosses devices copies the [B*S, H] hidden state from one segment's
context to the next one's (``armbert.segment.transfer``, which ``Engine.run`` times
into ``last_transfers``). The profiler times that same call between two contexts of
its target for a few sizes (fp32, H = 768, B*S in :data:`COPY_ROWS`) and fits a line,
ms = overhead_ms + ms_per_byte x bytes; fitted predictors keep it in their file's
``meta["copy"]``, and ``armbert plan --predictor`` prices transfers with it
(:mod:`planner.search.predicted`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from .measure import Sample

COPY_HIDDEN = 768
COPY_ROWS = (16, 64, 256, 1024)   # B*S tokens: 48 KiB .. 3 MiB of fp32
COPY_WARMUP = 2
COPY_REPEATS = 9

OpenCopy = Callable[[int, int], Callable[[], Sample]]   # (rows, hidden) -> timed copy


@dataclass(frozen=True)
class CopyRate:
    ms_per_byte: float
    overhead_ms: float = 0.0              # fixed cost per copy
    bytes: tuple[int, ...] = ()           # the sizes timed
    median_ms: tuple[float, ...] = ()     # their medians
    method: str = ""

    def ms(self, nbytes: float) -> float:
        return self.overhead_ms + self.ms_per_byte * nbytes

    def describe(self) -> str:
        return f"{1e-6 / self.ms_per_byte:.2f} GB/s + {1e3 * self.overhead_ms:.1f} us per copy"

    def to_dict(self) -> dict:
        return {"ms_per_byte": self.ms_per_byte, "overhead_ms": self.overhead_ms,
                "bytes": list(self.bytes), "median_ms": list(self.median_ms),
                "method": self.method}

    @classmethod
    def from_meta(cls, meta: Optional[Mapping]) -> Optional["CopyRate"]:
        """The rate a predictor file's meta records; None when it has none (files
        written before it was measured) or a value that is not a rate."""
        d = (meta or {}).get("copy")
        try:
            r = cls(float(d["ms_per_byte"]), float(d.get("overhead_ms", 0.0)),
                    tuple(int(x) for x in d.get("bytes", ())),
                    tuple(float(x) for x in d.get("median_ms", ())), str(d.get("method", "")))
        except (TypeError, KeyError, ValueError):
            return None
        ok = math.isfinite(r.ms_per_byte) and r.ms_per_byte > 0 and \
            math.isfinite(r.overhead_ms) and r.overhead_ms >= 0
        return r if ok else None


def fit_copy_rate(nbytes: Sequence[int], ms: Sequence[float], method: str = "") -> CopyRate:
    """Least squares line through (bytes, ms); a negative intercept (noise at the
    small sizes) is refitted through the origin."""
    x, y = np.asarray(nbytes, float), np.asarray(ms, float)
    slope, icpt = np.polyfit(x, y, 1) if len(x) > 1 else (y[0] / x[0], 0.0)
    if icpt < 0 or slope <= 0:
        slope, icpt = float(x @ y / (x @ x)), 0.0
    return CopyRate(float(slope), float(icpt), tuple(int(b) for b in x),
                    tuple(float(v) for v in y), method)


def measure_copy_rate(open_copy: OpenCopy, method: str = "", rows: Sequence[int] = COPY_ROWS,
                      hidden: int = COPY_HIDDEN, warmup: int = COPY_WARMUP,
                      repeats: int = COPY_REPEATS) -> CopyRate:
    """Median ms of each size (after ``warmup`` untimed copies), then the line."""
    sizes, ms = [], []
    for r in rows:
        run = open_copy(r, hidden)
        for _ in range(warmup):
            run()
        ms.append(1e3 * float(np.median([run()["total"] for _ in range(repeats)])))
        sizes.append(r * hidden * 4)
    return fit_copy_rate(sizes, ms, method)
