"""The profiler: measures configs through a runner, stores them, and resumes.

:meth:`Profiler.measure` returns the stored record when the database already has
this (purpose, device, target, config) and measures otherwise, so a campaign that
is interrupted and started again replays what it has and measures only the rest;
predictors that choose their own measurements (BERTPerf's search) replay their
decisions from the stored values the same way. Predictors get a :class:`Meter`:
the explicit measuring callback, which also counts what each predictor asked for
(its measurement budget).
"""
from __future__ import annotations

import datetime
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional, Sequence

import numpy as np

from .copyrate import CopyRate, measure_copy_rate
from .measure import FULL, MeasureSettings, Runner, WindowProbe, measure_session
from .records import Database, Measurement, OpMeasurement, record_key
from .space import Bundle, ModelConfig, as_columns, flops


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _loadavg() -> Optional[list[float]]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def work(configs: Sequence[ModelConfig]) -> np.ndarray:
    """Relative cost of measuring each config (its FLOPs, plus a floor for tiny ones),
    so progress bars weight a BERT-base at L=12 above an H=128 at L=1 and the ETA holds."""
    if not configs:
        return np.zeros(0)
    f = flops(as_columns(configs)) / 1e9
    return f + 0.05


def bar(items: Sequence, desc: str, weights: Optional[Sequence[float]] = None,
        enabled: bool = True):
    """tqdm over items, advanced by weight (default 1 each); yields the items."""
    weights = list(weights) if weights is not None else [1.0] * len(items)
    if not enabled:
        yield from items
        return
    from tqdm import tqdm
    with tqdm(total=float(sum(weights)), desc=desc, unit="work", file=sys.stderr,
              bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f} [{elapsed}<{remaining}{postfix}]",
              dynamic_ncols=True, mininterval=1.0 if sys.stderr.isatty() else 30.0) as t:
        for item, w in zip(items, weights):
            yield item
            t.update(w)


@dataclass
class Budget:
    """What one predictor asked to have measured."""

    models: set = field(default_factory=set)      # ModelConfig
    op_bundles: set = field(default_factory=set)  # Bundle
    seconds: float = 0.0                          # timed execution of those measurements

    def measurements(self) -> int:
        """Model runs plus op sets; an op set (one layer's ops timed alone) counts as one."""
        return len(self.models) + len(self.op_bundles)

    def to_dict(self, space_size: Optional[int] = None) -> dict:
        d = {"models": len(self.models), "op_sets": len(self.op_bundles),
             "measurements": self.measurements(), "timed_seconds": round(self.seconds, 3)}
        if space_size:
            d["fraction"] = self.measurements() / space_size
        return d


class TruthLeakError(RuntimeError):
    """A held-out (truth) configuration was asked for by a fit: the evaluation would
    score the predictor on a model it has seen."""


class Profiler:
    def __init__(self, runner: Runner, db: Database, settings: MeasureSettings = FULL,
                 sleep: Callable[[float], None] = time.sleep, per_op: bool = True,
                 probe: Optional[WindowProbe] = None):
        self.runner, self.db, self.settings, self.sleep = runner, db, settings, sleep
        self.per_op = per_op
        # the runner's own probe when it has one: a fake device's windows do not run on
        # this machine, so this machine's load must not reject them
        self.probe = probe or getattr(runner, "window_probe", WindowProbe)()
        self.device = runner.fingerprint()
        self.target = runner.target
        db.add_device(self.device)
        self.new_measurements = 0
        self.rejected_windows = 0
        self.reused = 0
        self.truth: frozenset = frozenset()
        self._copy: Optional[CopyRate] = None

    def copy_rate(self) -> Optional[CopyRate]:
        """The engine's hidden-state copy on this target (:mod:`planner.copyrate`),
        measured once per profiler (well under a second); None for a runner that
        cannot copy."""
        if self._copy is None and hasattr(self.runner, "open_copy"):
            self._copy = measure_copy_rate(self.runner.open_copy,
                                           getattr(self.runner, "copy_method", ""))
        return self._copy

    def exclude(self, truth: Iterable[ModelConfig]) -> None:
        """Held-out models: from now on no purpose but 'truth' may measure them."""
        self.truth = self.truth | frozenset(truth)

    def allowed(self, cfg: ModelConfig, purpose: str = "train") -> bool:
        return purpose == "truth" or cfg not in self.truth

    def _key(self, kind: str, purpose: str, config: dict, window: int = 0) -> str:
        return record_key(kind, purpose, self.device["id"], self.target.to_dict(), config,
                          window)

    def windows_of(self, cfg: ModelConfig, purpose: str = "train") -> list[dict]:
        """The stored windows of a config, in window order."""
        recs = (self.db.get(self._key("model", purpose, cfg.to_dict(), w))
                for w in range(self.settings.windows))
        return [r for r in recs if r is not None]

    def measure(self, cfg: ModelConfig, purpose: str = "train") -> Measurement:
        """The median over the stored windows; window 0 is measured when none is.
        The other windows come from :meth:`passes` (round robin over the campaign)."""
        if not self.allowed(cfg, purpose):
            raise TruthLeakError(f"{cfg} is a held-out truth model: a fit may not measure it")
        recs = self.windows_of(cfg, purpose)
        if not recs:
            recs = [self.measure_window(cfg, purpose, 0)]
        else:
            self.reused += 1
        return Measurement.from_records(recs)

    def measure_window(self, cfg: ModelConfig, purpose: str, window: int) -> dict:
        """One window under the protocol: re-run while the probe saw steal time or
        other load (at most ``retries`` times), CPU time recorded beside wall time."""
        if not self.allowed(cfg, purpose):
            raise TruthLeakError(f"{cfg} is a held-out truth model: a fit may not measure it")
        key = self._key("model", purpose, cfg.to_dict(), window)
        rec = self.db.get(key)
        if rec is not None:
            return rec
        rejected = []
        for attempt in range(self.settings.retries + 1):
            load0, wall0 = _loadavg(), time.perf_counter()
            started = self.probe.start()
            session = self.runner.open(cfg, self.per_op)
            out = measure_session(session.run, self.settings, self.sleep)
            check = self.probe.stop(started)
            if check.ok(self.settings) or attempt == self.settings.retries:
                break
            rejected.append(check.to_dict())
            self.rejected_windows += 1
        rec = self._record("model", purpose, cfg.to_dict(), out, load0, wall0)
        rec.update({"window": window, "check": check.to_dict(), "accepted": check.ok(self.settings),
                    "rejected": rejected})
        self.db.put(rec)
        self.new_measurements += 1
        return self.db.get(key)

    def passes(self, jobs: Sequence[tuple], seed: int = 0, progress: bool = True) -> int:
        """Round-robin passes: pass w takes window w of every (config, purpose) job that
        lacks it, jobs shuffled per pass (truth and training interleaved). Returns the
        number of windows measured."""
        jobs = list(dict.fromkeys((c, p) for c, p in jobs))
        done = 0
        for w in range(self.settings.windows):
            todo = [(c, p) for c, p in jobs
                    if self.db.get(self._key("model", p, c.to_dict(), w)) is None]
            order = np.random.default_rng([seed, w]).permutation(len(todo))
            todo = [todo[i] for i in order]
            for c, p in bar(todo, f"pass {w + 1}/{self.settings.windows}",
                            work([c for c, _ in todo]), progress and bool(todo)):
                self.measure_window(c, p, w)
                done += 1
        return done

    def measured(self, purpose: str = "train") -> list[ModelConfig]:
        """Configs with at least one stored window for this device and target."""
        out = {}
        tgt = self.target.to_dict()
        for rec in self.db.records("model", purpose, self.device["id"]):
            if rec["target"] == tgt:
                out[ModelConfig.from_dict(rec["config"])] = True
        return list(out)

    def measure_ops(self, bundle: Bundle, purpose: str = "train") -> OpMeasurement:
        key = self._key("ops", purpose, bundle.to_dict())
        rec = self.db.get(key)
        if rec is None:
            load0, wall0 = _loadavg(), time.perf_counter()
            stats, settled, repeats, timed = {}, True, 0, 0.0
            for name, run in self.runner.open_ops(bundle).items():
                out = measure_session(run, self.settings, self.sleep)
                stats[name] = out.stats["total"].to_dict()
                settled &= out.settled
                repeats += out.repeats
                timed += out.timed_s
            rec = {"kind": "ops", "purpose": purpose, "device": self.device["id"],
                   "target": self.target.to_dict(), "config": bundle.to_dict(),
                   "settings": self.settings.to_dict(), "stats": stats, "settled": settled,
                   "repeats": repeats, "timed_s": timed, "created": _now(),
                   "wall_s": round(time.perf_counter() - wall0, 3),
                   "load_avg": [load0, _loadavg()]}
            self.db.put(rec)
            self.new_measurements += 1
        else:
            self.reused += 1
        return OpMeasurement.from_record(rec)

    def _record(self, kind, purpose, config, out, load0, wall0) -> dict:
        return {"kind": kind, "purpose": purpose, "device": self.device["id"],
                "target": self.target.to_dict(), "config": config,
                "settings": self.settings.to_dict(),
                "stats": {k: v.to_dict() for k, v in out.stats.items()},
                "settled": out.settled, "repeats": out.repeats, "timed_s": out.timed_s,
                "created": _now(), "wall_s": round(time.perf_counter() - wall0, 3),
                "load_avg": [load0, _loadavg()]}

    def has(self, cfg: ModelConfig, purpose: str = "train") -> bool:
        return bool(self.windows_of(cfg, purpose))

    def campaign(self, configs: Iterable[ModelConfig], purpose: str, desc: str = "",
                 progress: bool = True) -> list[Measurement]:
        """Measures every config (stored ones are read back), with a bar weighted by cost;
        with ``windows`` > 1, every window, in round-robin passes."""
        configs = list(configs)
        todo = [c for c in configs if not self.has(c, purpose)]
        self.reused += len(configs) - len(todo)
        if progress and len(todo) < len(configs):
            print(f"{desc or purpose}: {len(configs) - len(todo)} of {len(configs)} already "
                  f"in {self.db.path}", file=sys.stderr)
        if self.settings.windows > 1:
            self.passes([(c, purpose) for c in configs], progress=progress)
        for c in bar(todo, desc or purpose, work(todo), progress and self.settings.windows == 1):
            self.measure(c, purpose)
        return [Measurement.from_records(self.windows_of(c, purpose)) for c in configs]

    def meter(self, purpose: str = "train") -> "Meter":
        return Meter(self, purpose)


class Meter:
    """The measuring callback a predictor's fit gets: ``meter(cfg)`` and ``meter.ops(b)``.

    Keeps the predictor's :class:`Budget`. Measurements are shared through the
    database, so two predictors asking for the same config cost the device once but
    each is charged for it.
    """

    def __init__(self, profiler: Profiler, purpose: str = "train"):
        self.profiler, self.purpose = profiler, purpose
        self.budget = Budget()
        self.device = profiler.device

    def allowed(self, cfg: ModelConfig) -> bool:
        """False for held-out truth models: a fit must not ask for them."""
        return self.profiler.allowed(cfg, self.purpose)

    def __call__(self, cfg: ModelConfig) -> Measurement:
        return self._charge(self.budget.models, cfg, self.profiler.measure(cfg, self.purpose))

    def ops(self, bundle: Bundle) -> OpMeasurement:
        return self._charge(self.budget.op_bundles, bundle,
                            self.profiler.measure_ops(bundle, self.purpose))

    def _charge(self, seen: set, key, m):
        """The measurement's timed seconds go to the budget once per key."""
        if key not in seen:
            seen.add(key)
            self.budget.seconds += m.timed_s
        return m

    def has(self, cfg: ModelConfig) -> bool:
        return self.profiler.has(cfg, self.purpose)
