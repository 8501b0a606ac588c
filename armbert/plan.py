"""Plans: where each unit of the model runs, at which precision, in which
pipeline stage. The planner writes them; :class:`armbert.Engine` executes them.

A plan is JSON with a version field (its schema is what :meth:`Plan.from_dict` reads
and :meth:`Plan.validate` checks)::

    {"version": 1,
     "devices": {"big": {"backend": "neon", "cores": [4, 5, 6, 7]},
                 "gpu": {"backend": "cl"}},
     "embeddings": {"device": "big", "precision": "fp32", "stage": 0},
     "layers": [{"device": "big", "precision": "int8", "stage": 0}, ...],
     "meta": {"objective": "latency", "predicted_ms": 41.0}}

The pooler runs where the last layer runs. Validation refuses, with a message
naming the problem, a device whose backend this build lacks, a core this
machine does not have, an unknown precision, the wrong number of layers, and
stages that go backwards.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Optional, Sequence

from . import argcheck, errors

PLAN_VERSION = 1
PRECISIONS = ("fp32", "fp16", "int8")


class PlanError(errors.InvalidArgumentError):
    """A plan that is malformed or does not fit the model."""


@dataclass(frozen=True)
class Device:
    backend: str
    cores: tuple[int, ...] = ()
    threads: Optional[int] = None  # None: one per core (or the backend default)

    def to_dict(self) -> dict:
        d = {"backend": self.backend, "cores": list(self.cores)}
        if self.threads is not None:
            d["threads"] = self.threads
        return d


@dataclass(frozen=True)
class Placement:
    device: str
    precision: str = "fp32"
    stage: int = 0

    def to_dict(self) -> dict:
        return {"device": self.device, "precision": self.precision, "stage": self.stage}


@dataclass(frozen=True)
class Plan:
    devices: Mapping[str, Device]
    embeddings: Placement
    layers: tuple[Placement, ...]
    meta: Mapping[str, object] = field(default_factory=dict)
    version: int = PLAN_VERSION

    @classmethod
    def uniform(cls, num_layers: int, backend: str = "host", precision: str = "fp32",
                cores: Sequence[int] = (), threads: Optional[int] = None) -> "Plan":
        dev = {"cpu" if backend != "cl" else "gpu": Device(backend, tuple(cores), threads)}
        name = next(iter(dev))
        return cls(dev, Placement(name, precision if precision != "int8" else "fp32"),
                   tuple(Placement(name, precision) for _ in range(num_layers)))

    def units(self) -> list[tuple[str, Placement]]:
        """("embeddings", p), ("layer.0", p), ... in execution order."""
        return [("embeddings", self.embeddings)] + [
            (f"layer.{i}", p) for i, p in enumerate(self.layers)]

    def stages(self) -> list[int]:
        return sorted({p.stage for _, p in self.units()})

    # ---- validation ----
    def validate(self, num_layers: Optional[int] = None,
                 available_backends: Optional[Sequence[str]] = None,
                 cpu_count: Optional[int] = None, this_machine: bool = True) -> "Plan":
        """The plan's structure (devices, layers, precisions, stages) and, with
        ``this_machine``, that its cores and threads exist here; without it (a plan
        written on a dev box for a board: armbert.save) only that they are numbers the
        board can check, which Engine does where it runs."""
        if self.version != PLAN_VERSION:
            raise PlanError(f"plan version {self.version} is not supported "
                            f"(this armbert reads version {PLAN_VERSION})")
        if not self.devices:
            raise PlanError("plan has no devices")
        cpu_count = cpu_count or os.cpu_count() or 1
        for name, dev in self.devices.items():
            if available_backends is not None and dev.backend not in available_backends:
                raise errors.UnsupportedError(
                    f"plan device {name!r} uses backend {dev.backend!r}, which this build "
                    f"does not have (it has {', '.join(available_backends)})")
            for c in dev.cores:
                if isinstance(c, bool) or not isinstance(c, int) or c < 0:
                    raise PlanError(f"plan device {name!r} names core {c!r}: cores are "
                                    "numbers from 0")
                if this_machine and c >= cpu_count:
                    raise PlanError(f"plan device {name!r} names core {c!r}, but this machine "
                                    f"has cores 0-{cpu_count - 1}")
            if len(set(dev.cores)) != len(dev.cores):
                raise PlanError(f"plan device {name!r} names a core twice: {list(dev.cores)}")
            if dev.threads is not None:
                what = f"plan device {name!r}: threads"
                if this_machine:
                    argcheck.threads(dev.threads, what, PlanError)
                else:
                    argcheck.integer(dev.threads, what, PlanError, minimum=1)
        if num_layers is not None and len(self.layers) != num_layers:
            raise PlanError(f"plan places {len(self.layers)} layers, the model has {num_layers}")
        last_stage = -1
        for unit, p in self.units():
            if p.device not in self.devices:
                raise PlanError(f"plan puts {unit} on device {p.device!r}, which the plan "
                                f"does not define (devices: {', '.join(self.devices)})")
            if p.precision not in PRECISIONS:
                raise PlanError(f"plan gives {unit} precision {p.precision!r}; "
                                f"choose one of {list(PRECISIONS)}")
            argcheck.integer(p.stage, f"plan {unit}: stage", PlanError, minimum=0)
            if p.stage < last_stage:
                raise PlanError(f"plan stage of {unit} is {p.stage}, after stage {last_stage}: "
                                "stages must not go backwards")
            last_stage = p.stage
        return self

    # ---- JSON ----
    def to_dict(self) -> dict:
        return {"version": self.version,
                "devices": {n: d.to_dict() for n, d in self.devices.items()},
                "embeddings": self.embeddings.to_dict(),
                "layers": [p.to_dict() for p in self.layers],
                "meta": dict(self.meta)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path) -> None:
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def from_dict(cls, d: Mapping) -> "Plan":
        if not isinstance(d, Mapping):
            raise PlanError(f"a plan is a JSON object, got {type(d).__name__}")
        missing = [k for k in ("version", "devices", "embeddings", "layers") if k not in d]
        if missing:
            raise PlanError(f"plan lacks {', '.join(missing)}")
        unknown = set(d) - {"version", "devices", "embeddings", "layers", "meta"}
        if unknown:
            raise PlanError(f"plan has unknown key(s) {sorted(unknown)}")
        try:
            devices = {str(n): _device(str(n), v) for n, v in dict(d["devices"]).items()}
            layers = d["layers"]
            if not isinstance(layers, list):
                raise PlanError(f"plan layers must be a list, got {type(layers).__name__}")
            return cls(devices, _placement("embeddings", d["embeddings"]),
                       tuple(_placement(f"layer.{i}", p) for i, p in enumerate(layers)),
                       dict(d.get("meta", {})),
                       argcheck.integer(d["version"], "plan version", PlanError))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if isinstance(e, PlanError):
                raise
            raise PlanError(f"malformed plan: {e!r}") from e

    @classmethod
    def load(cls, source) -> "Plan":
        """A Plan, a dict, a JSON string or a path to a JSON file."""
        if isinstance(source, Plan):
            return source
        if isinstance(source, Mapping):
            return cls.from_dict(source)
        if isinstance(source, (bytes, bytearray)):
            source = _utf8(bytes(source), "plan argument")
        if not isinstance(source, (str, os.PathLike)):
            raise PlanError(f"a plan is a Plan, a dict, JSON text or a path, got "
                            f"{type(source).__name__}")
        text = os.fspath(source)
        if isinstance(text, bytes):
            text = _utf8(text, "plan path")
        if not text.lstrip().startswith("{"):
            p = Path(text)
            try:
                exists = p.is_file()
            except (OSError, ValueError):  # a name too long, or with a NUL in it
                exists = False
            if not exists:
                shown = text if len(text) <= 80 else text[:77] + "..."
                raise PlanError(f"plan file {shown!r} does not exist (and is not JSON text)")
            try:
                text = _utf8(p.read_bytes(), f"plan file {p}")
            except OSError as e:
                raise PlanError(f"plan file {p} cannot be read: {e.strerror}") from e
        try:
            return cls.from_dict(json.loads(text))
        except json.JSONDecodeError as e:
            raise PlanError(f"plan is not valid JSON: {e}") from e


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PlanError(f"{what} is not UTF-8 text (byte {e.start}: "
                        f"{data[e.start:e.start + 1]!r}): not a plan") from None


def _string(value, what: str) -> str:
    if not isinstance(value, str):
        raise PlanError(f"{what} must be a string, got {value!r}")
    return value


def _known_keys(entry: Mapping, keys: set, what: str) -> None:
    """A misspelt key ("precison", "thread") would be ignored and its default run."""
    unknown = set(entry) - keys
    if unknown:
        raise PlanError(f"{what} has unknown key(s) {sorted(map(str, unknown))}: "
                        f"it takes {sorted(keys)}")


def _device(name: str, v: Mapping) -> Device:
    if not isinstance(v, Mapping):
        raise PlanError(f"plan device {name!r} must be an object, got {type(v).__name__}")
    what = f"plan device {name!r}"
    _known_keys(v, {"backend", "cores", "threads"}, what)
    if "backend" not in v:
        raise PlanError(f"{what} names no backend")
    cores = v.get("cores", ())
    if isinstance(cores, (str, bytes)) or not isinstance(cores, (list, tuple)):
        raise PlanError(f"{what}: cores must be a list of core numbers, got {cores!r}")
    for c in cores:
        if isinstance(c, bool) or not isinstance(c, int):
            raise PlanError(f"{what}: cores must be integers, got {c!r}")
    threads = v.get("threads")
    if threads is not None:  # the range depends on the machine: validate() checks it
        argcheck.integer(threads, f"{what}: threads", PlanError, minimum=1)
    return Device(_string(v["backend"], f"{what}: backend"), tuple(cores), threads)


def _placement(unit: str, p: Mapping) -> Placement:
    if not isinstance(p, Mapping):
        raise PlanError(f"plan entry of {unit} must be an object, got {type(p).__name__}")
    _known_keys(p, {"device", "precision", "stage"}, f"plan entry of {unit}")
    if "device" not in p:
        raise PlanError(f"plan entry of {unit} names no device")
    return Placement(_string(p["device"], f"plan {unit}: device"),
                     _string(p.get("precision", "fp32"), f"plan {unit}: precision"),
                     argcheck.integer(p.get("stage", 0), f"plan {unit}: stage", PlanError,
                                      minimum=0))
