"""Measuring: the settings record, the stopping rule, and the runners that time armbert.

A *runner* turns a :class:`~planner.space.ModelConfig` into a session whose ``run()``
executes the model once and returns component times in seconds (``total``, ``emb``,
``enc1``, ``enc_rest`` and per-op keys ``enc1.qkv`` ...). The stopping rule
(:func:`measure_session`) only sees those numbers, so :class:`FakeRunner` (a
synthetic device, in the style of nn-Meter: "nn-Meter: Towards Accurate Latency
Prediction of Deep-Learning Model Inference on Diverse Edge Devices", MobiSys 2021)
drives the whole pipeline in tests without timing anything, and
:class:`ArmbertRunner` times the real engine.

What "latency" means here: embeddings plus every encoder layer, back to back on the
engine's ops, for fixed token ids already on the device. Not included: Engine.run's
argument checks, writing the ids, reading the hidden state back, the pooler.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Mapping, Optional, Protocol, Sequence

import numpy as np

from armbert.layer_spec import OP_NAMES

from .space import Bundle, ModelConfig

# The encoder layer's ops in execution order (armbert.layer_spec.STEPS): the per-op
# keys of a sample (enc1.qkv ...) and of the predictors.
OPS = OP_NAMES
TERMS = ("total", "emb", "enc1", "enc_rest")

Sample = dict  # component name -> seconds, for one execution


@dataclass(frozen=True)
class MeasureSettings:
    """How one measurement is taken (TVM's measure settings, as one typed record).

    Runs ``warmup`` untimed executions, then timed ones until the last ``window``
    end-to-end times satisfy (max - min) / mean < ``max_spread`` (at least
    ``min_repeats`` runs), or until ``max_repeats`` runs / ``max_seconds`` of timed
    execution. ``cooldown_s`` is slept before each measurement.
    """

    warmup: int = 3
    min_repeats: int = 5
    max_repeats: int = 60
    window: int = 5
    max_spread: float = 0.02
    max_seconds: float = 8.0
    cooldown_s: float = 0.0
    # The protocol across windows (docs/planner.md, "Measurement protocol"): each
    # configuration is measured in ``windows`` independent windows, taken in separate
    # round-robin passes over the campaign; a window during which the kernel reports
    # more than ``max_steal`` of the CPU time stolen (/proc/stat), or other processes
    # used more than ``max_other_load`` of the machine, is rejected and re-run (at most
    # ``retries`` times; the last one is kept and marked).
    windows: int = 1
    max_steal: float = 0.01
    max_other_load: float = 0.25
    retries: int = 3

    def __post_init__(self) -> None:
        if self.window < 2 or self.min_repeats < self.window or self.max_repeats < self.min_repeats:
            raise ValueError(f"need 2 <= window <= min_repeats <= max_repeats, got {self}")
        if self.windows < 1 or self.retries < 0:
            raise ValueError(f"need windows >= 1 and retries >= 0, got {self}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping) -> "MeasureSettings":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


FULL = MeasureSettings()
QUICK = MeasureSettings(warmup=1, min_repeats=3, max_repeats=10, window=3, max_spread=0.05,
                        max_seconds=1.0)
# The protocol the evaluation uses: three independent windows per configuration.
PROTOCOL = MeasureSettings(windows=3)


@dataclass(frozen=True)
class CpuStat:
    """The machine-wide counters of /proc/stat's ``cpu`` line, in clock ticks."""

    busy: int      # user + nice + system + irq + softirq
    idle: int      # idle + iowait
    steal: int

    @property
    def total(self) -> int:
        return self.busy + self.idle + self.steal


def read_proc_stat(path: str = "/proc/stat") -> Optional[CpuStat]:
    """The ``cpu`` line of /proc/stat; None where there is none (not Linux)."""
    text = _read(path)
    if not text:
        return None
    for line in text.splitlines():
        if line.startswith("cpu "):
            v = [int(x) for x in line.split()[1:]] + [0] * 8
            user, nice, system, idle, iowait, irq, softirq, steal = v[:8]
            return CpuStat(busy=user + nice + system + irq + softirq, idle=idle + iowait,
                           steal=steal)
    return None


@dataclass(frozen=True)
class WindowCheck:
    """What the machine did during one window: stolen share, others' load, CPU time."""

    steal: float          # stolen ticks / all ticks of the window
    other_load: float     # CPU the other processes used, in cores / cores of the machine
    cpu_s: float          # this process's CPU time during the window
    wall_s: float

    def ok(self, s: MeasureSettings) -> bool:
        return self.steal <= s.max_steal and self.other_load <= s.max_other_load

    def to_dict(self) -> dict:
        return {k: round(v, 5) for k, v in asdict(self).items()}


class WindowProbe:
    """Reads /proc/stat and the process CPU clock around a window (both injectable:
    tests pass a scripted reader and clocks)."""

    def __init__(self, stat: Callable[[], Optional[CpuStat]] = read_proc_stat,
                 cpu_clock: Callable[[], float] = time.process_time,
                 wall_clock: Callable[[], float] = time.perf_counter,
                 cpus: Optional[int] = None, hz: Optional[int] = None):
        self.stat, self.cpu_clock, self.wall_clock = stat, cpu_clock, wall_clock
        self.cpus = cpus or os.cpu_count() or 1
        self.hz = hz or (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)

    def start(self):
        return self.stat(), self.cpu_clock(), self.wall_clock()

    def stop(self, started) -> WindowCheck:
        s0, c0, w0 = started
        s1, c1, w1 = self.stat(), self.cpu_clock(), self.wall_clock()
        cpu, wall = max(0.0, c1 - c0), max(1e-9, w1 - w0)
        if s0 is None or s1 is None:
            return WindowCheck(0.0, 0.0, cpu, wall)
        ticks = max(1, s1.total - s0.total)
        busy_s = (s1.busy - s0.busy) / self.hz
        other = max(0.0, busy_s - cpu) / (wall * self.cpus)
        return WindowCheck((s1.steal - s0.steal) / ticks, other, cpu, wall)


@dataclass(frozen=True)
class Stat:
    median_ms: float
    min_ms: float
    max_ms: float
    spread: float   # (max - min) / mean over the reported samples
    runs: int       # samples reported (the settled window, or all when capped)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Outcome:
    stats: dict[str, Stat]
    settled: bool
    repeats: int        # timed runs made
    timed_s: float      # sum of end-to-end times of the timed runs


def _stat(values_s: np.ndarray) -> Stat:
    ms = np.asarray(values_s, dtype=np.float64) * 1e3
    mean = float(ms.mean())
    return Stat(median_ms=float(np.median(ms)), min_ms=float(ms.min()), max_ms=float(ms.max()),
                spread=float((ms.max() - ms.min()) / mean) if mean > 0 else 0.0, runs=len(ms))


def window_spread(totals: Sequence[float], window: int) -> float:
    last = np.asarray(totals[-window:], dtype=np.float64)
    return float((last.max() - last.min()) / last.mean())


def measure_session(run: Callable[[], Sample], settings: MeasureSettings,
                    sleep: Callable[[float], None] = time.sleep) -> Outcome:
    """The stopping rule. ``run`` executes once and returns component times (s).

    Settled: the medians come from the last ``window`` runs, whose totals agree
    within ``max_spread``. Capped: from all timed runs, and ``settled`` is False.
    """
    if settings.cooldown_s > 0:
        sleep(settings.cooldown_s)
    for _ in range(settings.warmup):
        run()
    samples: list[Sample] = []
    timed, settled = 0.0, False
    while True:
        s = run()
        samples.append(s)
        timed += s["total"]
        n = len(samples)
        if n >= settings.min_repeats and window_spread(
                [x["total"] for x in samples], settings.window) < settings.max_spread:
            settled = True
            break
        if n >= settings.max_repeats or (timed >= settings.max_seconds
                                         and n >= settings.min_repeats):
            break
    used = samples[-settings.window:] if settled else samples
    keys = [k for k in samples[0] if all(k in x for x in used)]
    stats = {k: _stat(np.array([x[k] for x in used])) for k in keys}
    return Outcome(stats=stats, settled=settled, repeats=len(samples), timed_s=timed)


# ---------------------------------------------------------------- targets and devices

@dataclass(frozen=True)
class Target:
    """Where the model runs: backend, precision, threads and the cores they are pinned to."""

    backend: str = "host"
    precision: str = "fp32"
    threads: int = 2
    cores: tuple[int, ...] = (0, 1)

    def to_dict(self) -> dict:
        return {"backend": self.backend, "precision": self.precision, "threads": self.threads,
                "cores": list(self.cores)}

    @classmethod
    def from_dict(cls, d: Mapping) -> "Target":
        return cls(d["backend"], d["precision"], int(d["threads"]), tuple(d.get("cores") or ()))


def _read(path: str) -> Optional[str]:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


CPU_SYSFS = "/sys/devices/system/cpu"


def core_class(cores, root: Optional[str] = None) -> Optional[list[int]]:
    """What kind of core ``cores`` are, as the kernel ranks them: their distinct
    cpu_capacity values (big.LITTLE: 1024 for the big cluster, less for LITTLE),
    else their cpuinfo_max_freq; None when unknown (no cores named, or no sysfs).
    A predictor fitted on one class says nothing about cores of another."""
    root, values = root or CPU_SYSFS, set()
    for c in cores or ():
        v = _read(f"{root}/cpu{int(c)}/cpu_capacity") or \
            _read(f"{root}/cpu{int(c)}/cpufreq/cpuinfo_max_freq")
        if v is None or not v.isdigit():
            return None
        values.add(int(v))
    return sorted(values) or None


def _caches() -> list[dict]:
    out = []
    base = Path("/sys/devices/system/cpu/cpu0/cache")
    for d in sorted(base.glob("index*")):
        out.append({k: _read(str(d / k)) for k in ("level", "type", "size")})
    return out


def _cpu_model() -> str:
    text = _read("/proc/cpuinfo") or ""
    for line in text.splitlines():
        if line.lower().startswith(("model name", "hardware", "cpu part")):
            return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _file_digest(path: Path) -> Optional[str]:
    try:
        return hashlib.sha1(path.read_bytes()).hexdigest()[:12]
    except OSError:
        return None


def host_fingerprint(library: Optional[Path] = None, extra: Optional[Mapping] = None) -> dict:
    """Device conditions. ``id`` hashes what changes latency: CPU, caches, core count,
    the native library's bytes; measurements are only reused under the same id."""
    stable = {"machine": platform.machine(), "cpu_model": _cpu_model(),
              "cpus": os.cpu_count(), "caches": _caches(),
              "library_sha1": _file_digest(library) if library else None}
    if extra:
        stable.update(extra)
    ident = hashlib.sha1(json.dumps(stable, sort_keys=True).encode()).hexdigest()[:12]
    governor = _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor")
    return {"id": ident, **stable, "governor": governor, "kernel": platform.release(),
            "python": platform.python_version(), "numpy": np.__version__}


def llc_bytes(fingerprint: Mapping) -> Optional[int]:
    """Size of the largest cache level in a fingerprint, when known."""
    best = None
    for c in fingerprint.get("caches") or []:
        size = (c.get("size") or "").upper()
        mult = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
        try:
            n = int(size.rstrip("KM")) * mult
        except ValueError:
            continue
        best = max(best or 0, n)
    return best


# ---------------------------------------------------------------- runners

class Session(Protocol):
    def run(self) -> Sample: ...


class Runner(Protocol):
    """What the profiler needs from a device (nn-Meter's BaseBackend)."""

    target: Target

    def fingerprint(self) -> dict: ...

    def open(self, cfg: ModelConfig, per_op: bool = True) -> Session: ...

    def open_ops(self, bundle: Bundle) -> dict[str, Callable[[], Sample]]: ...
