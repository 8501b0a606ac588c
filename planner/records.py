"""The measurement database: JSON lines, one record per measurement, with a version.

Every line is a complete JSON object with ``"version": RECORD_VERSION`` and a
``kind``: ``device`` (a fingerprint, written once per device id), ``model`` (a
model at a depth, end to end and per component) or ``ops`` (a bundle's ops timed
in isolation). A record is appended and flushed as soon as it is measured, so an
interrupted campaign loses at most the measurement in flight; a torn last line is
ignored on load. Measurements are keyed by (kind, purpose, device id, target,
config): asking again for the same key returns the stored record, which is how
campaigns resume.
"""
from __future__ import annotations

import dataclasses
import json
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping, Optional

import numpy as np

from .measure import OPS, Target
from .space import Bundle, ModelConfig

RECORD_VERSION = 1


class RecordError(ValueError):
    """A database line that is not a record this version can read."""


def record_key(kind: str, purpose: str, device: str, target: Mapping, config: Mapping,
               window: int = 0) -> str:
    """Window 0 keeps the key of records written before windows existed."""
    parts = [kind, purpose, device, dict(target), dict(config)]
    return json.dumps(parts + [window] if window else parts, sort_keys=True)


class Database:
    """Append-only JSONL store with an in-memory index by record key."""

    def __init__(self, path: Optional[str | os.PathLike] = None):
        self.path = Path(path) if path is not None else None
        self._index: dict[str, dict] = {}
        self.devices: dict[str, dict] = {}
        self._order: list[str] = []
        if self.path is not None and self.path.exists():
            self._load()

    def _load(self) -> None:
        raw = self.path.read_bytes()
        lines = raw.split(b"\n")
        offset = 0
        for n, line in enumerate(lines, 1):
            start, offset = offset, offset + len(line) + 1
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                if n == len(lines) or (n == len(lines) - 1 and not lines[-1]):
                    # the last record, torn by an interruption: cut it off
                    warnings.warn(f"{self.path}:{n}: dropping an incomplete last record")
                    with self.path.open("r+b") as f:
                        f.truncate(start)
                    break
                raise RecordError(f"{self.path}:{n}: not JSON") from None
            if rec.get("version") != RECORD_VERSION:
                raise RecordError(f"{self.path}:{n}: record version {rec.get('version')!r}, "
                                  f"this planner reads version {RECORD_VERSION}")
            self._remember(rec)

    def _remember(self, rec: dict) -> None:
        if rec["kind"] == "device":
            self.devices[rec["device"]["id"]] = rec["device"]
            return
        key = record_key(rec["kind"], rec["purpose"], rec["device"], rec["target"],
                         rec["config"], rec.get("window", 0))
        if key not in self._index:
            self._order.append(key)
        self._index[key] = rec

    def get(self, key: str) -> Optional[dict]:
        return self._index.get(key)

    def put(self, rec: dict) -> None:
        rec = {"version": RECORD_VERSION, **rec}
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as f:
                f.write(json.dumps(rec, sort_keys=True) + "\n")
                f.flush()
                os.fsync(f.fileno())
        self._remember(rec)

    def add_device(self, fingerprint: Mapping) -> None:
        if fingerprint["id"] not in self.devices:
            self.put({"kind": "device", "device": dict(fingerprint)})

    def records(self, kind: Optional[str] = None, purpose: Optional[str] = None,
                device: Optional[str] = None) -> Iterator[dict]:
        for key in self._order:
            rec = self._index[key]
            if ((kind is None or rec["kind"] == kind)
                    and (purpose is None or rec["purpose"] == purpose)
                    and (device is None or rec["device"] == device)):
                yield rec

    def __len__(self) -> int:
        return len(self._index)


# ---------------------------------------------------------------- typed views

@dataclass(frozen=True)
class Measurement:
    """One model at one depth, in milliseconds (medians).

    ``emb_term`` is BERTPerf's first term: total - enc1 - (L-1) * enc_rest, i.e. the
    embeddings plus whatever the per-layer medians do not account for, so the three
    terms add up to the measured total exactly.
    """

    config: ModelConfig
    total: float
    emb: float
    enc1: float
    enc_rest: Optional[float]     # None at L = 1
    ops: Mapping[str, Mapping[str, float]]  # {"enc1": {op: ms}, "enc_rest": {...}}
    spread: float
    settled: bool
    timed_s: float
    windows: tuple = (0,)   # the independent windows whose medians this is the median of

    @property
    def emb_term(self) -> float:
        rest = self.enc_rest or 0.0
        return self.total - self.enc1 - (self.config.L - 1) * rest

    @classmethod
    def from_record(cls, rec: Mapping) -> "Measurement":
        st = rec["stats"]
        ops = {pos: {o: st[f"{pos}.{o}"]["median_ms"] for o in OPS if f"{pos}.{o}" in st}
               for pos in ("enc1", "enc_rest")}
        return cls(config=ModelConfig.from_dict(rec["config"]),
                   total=st["total"]["median_ms"], emb=st["emb"]["median_ms"],
                   enc1=st["enc1"]["median_ms"],
                   enc_rest=st["enc_rest"]["median_ms"] if "enc_rest" in st else None,
                   ops={k: v for k, v in ops.items() if v},
                   spread=st["total"]["spread"], settled=rec["settled"],
                   timed_s=rec["timed_s"], windows=(int(rec.get("window", 0)),))

    @classmethod
    def from_records(cls, recs) -> "Measurement":
        """The median across independent windows of each window's medians."""
        recs = list(recs)
        if len(recs) == 1:
            return cls.from_record(recs[0])
        keys = set.intersection(*(set(r["stats"]) for r in recs))
        stats = {k: {"median_ms": float(np.median([r["stats"][k]["median_ms"] for r in recs]))}
                 for k in keys}
        totals = [r["stats"]["total"]["median_ms"] for r in recs]
        stats["total"]["spread"] = float((max(totals) - min(totals)) / np.mean(totals))
        merged = {**recs[0], "stats": stats, "settled": all(r["settled"] for r in recs),
                  "timed_s": float(sum(r["timed_s"] for r in recs))}
        m = cls.from_record(merged)
        return dataclasses.replace(m, windows=tuple(int(r.get("window", 0)) for r in recs))


@dataclass(frozen=True)
class OpMeasurement:
    """A bundle's embeddings and layer ops, each timed alone (warm caches), in ms."""

    bundle: Bundle
    ops: Mapping[str, float]   # "emb" and the names in measure.OPS
    timed_s: float

    @property
    def layer(self) -> float:
        return sum(self.ops[o] for o in OPS)

    @classmethod
    def from_record(cls, rec: Mapping) -> "OpMeasurement":
        c = rec["config"]
        return cls(bundle=Bundle(c["H"], c["B"], c["S"], c["I"], c["A"]),
                   ops={k: v["median_ms"] for k, v in rec["stats"].items()},
                   timed_s=rec["timed_s"])


def target_of(rec: Mapping) -> Target:
    return Target.from_dict(rec["target"])
