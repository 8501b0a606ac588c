"""PipeBERT: split a chain of layers into contiguous pipeline stages, one device
per stage, maximising throughput = 1 / slowest stage.

The searches know devices only by name and learn stage latencies only through
a callback, ``measure(plan) -> {stage: ms}`` (see measure_engine.py for the
engine's, :class:`TableMeasure` for a cost table's). They count the calls.

- :func:`exhaustive_search` measures every split of every device order.
- :func:`binary_search` is PipeBERT's: for a device order, the first stage's
  latency grows with its boundary and the rest's bottleneck shrinks, so the
  best boundary sits where they cross; a binary search finds the crossing,
  moving the boundary toward the slower side. With ``feedback=True`` (the
  paper's variant) the next probe is where the measured per-layer rates say
  the two sides balance, instead of the midpoint. k stages: the rest of the
  chain is solved the same way, recursively, for each candidate boundary.

Exactness. Inside the search a stage may come out empty (its device is
skipped: the plan is a shorter order's split), which keeps the rest's
bottleneck g(b) non-increasing in the boundary b while the first stage's f(b)
rises; min max(f, g) then lies at the crossing or one before it, and both are
compared. So if a stage's latency grows with its layer range and depends only
on (device, range, the device before it), the search returns the exhaustive
optimum for 2 devices, and for k devices when the transfer into a stage does
not depend on which device sends it (none, or one cost for every pair). With a
different cost per device pair and 3+ devices, emptying a stage changes who
sends to the next one and the result may be off the optimum (the tests bound
it). Measured stage latencies are cached per (device before, device, range),
so a plan is measured only when it holds a stage not seen before; stage
latencies measured while pipelining depend a little on the other stages
(contention), which the cache ignores.

The result may use fewer devices than offered, when that is faster.
The embeddings always ride with the first layer (stage 0).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence, Union

from armbert.plan import Device, Placement, Plan

from .costs import CostTable

StageMeasure = Callable[[Plan], Mapping[int, float]]
Devices = Union[Mapping[str, Device], Sequence[str]]

# Plans built from bare device names carry this backend: cost tables accept it,
# the engine refuses it (give real Devices to measure on hardware).
UNSPECIFIED = "unspecified"


@dataclass(frozen=True)
class Split:
    """Stage s runs layers [bounds[s-1], bounds[s]) on order[s], reading
    bounds[-1] as 0 and bounds[k-1] as L."""

    order: tuple[str, ...]
    bounds: tuple[int, ...]  # first layer of stages 1..k-1, increasing
    num_layers: int

    def __post_init__(self):
        edges = (0,) + tuple(self.bounds) + (self.num_layers,)
        if len(self.bounds) != len(self.order) - 1 or any(
                a >= b for a, b in zip(edges, edges[1:])):
            raise ValueError(f"split {self.order} {self.bounds} of {self.num_layers} layers "
                             "must give every stage at least one layer")
        if len(set(self.order)) != len(self.order):
            raise ValueError(f"split uses a device twice: {self.order}")

    def ranges(self) -> list[tuple[int, int]]:
        edges = (0,) + tuple(self.bounds) + (self.num_layers,)
        return list(zip(edges, edges[1:]))

    def stage_keys(self) -> list[tuple[Optional[str], str, int, int]]:
        """(previous device, device, lo, hi) per stage: what a stage's latency depends on."""
        return [(self.order[s - 1] if s else None, self.order[s], lo, hi)
                for s, (lo, hi) in enumerate(self.ranges())]

    def describe(self) -> str:
        parts = []
        for s, (lo, hi) in enumerate(self.ranges()):
            span = f"layer {lo}" if hi - lo == 1 else f"layers {lo}-{hi - 1}"
            parts.append(f"{self.order[s]}: {'embeddings + ' if s == 0 else ''}{span}")
        return " | ".join(parts)


def split_plan(devices: Devices, split: Split, precisions: Union[str, Sequence[str]] = "fp32",
               meta: Optional[Mapping] = None) -> Plan:
    """The Plan that runs ``split``: stage s on device order[s]."""
    devs = _device_map(devices)
    L = split.num_layers
    precs = (precisions,) * L if isinstance(precisions, str) else tuple(precisions)
    if len(precs) != L:
        raise ValueError(f"{len(precs)} precisions for {L} layers")
    layers = []
    for s, (lo, hi) in enumerate(split.ranges()):
        layers += [Placement(split.order[s], precs[i], s) for i in range(lo, hi)]
    emb_prec = "fp32" if precs[0] == "int8" else precs[0]  # no int8 embeddings (Plan.uniform)
    return Plan({n: devs[n] for n in split.order}, Placement(split.order[0], emb_prec, 0),
                tuple(layers), dict(meta or {}))


def _device_map(devices: Devices) -> dict[str, Device]:
    if isinstance(devices, Mapping):
        return dict(devices)
    return {str(n): Device(UNSPECIFIED) for n in devices}


class TableMeasure:
    """``measure(plan)`` from a cost table: a stage costs its units on its device
    at their precisions plus the transfer of the hidden state into it.
    Counts its calls (``calls``)."""

    def __init__(self, table: CostTable, precision: Optional[str] = None):
        self.table, self.precision, self.calls = table, precision, 0

    def __call__(self, plan: Plan) -> dict[int, float]:
        self.calls += 1
        t = self.table
        offset = 1 if t.has_embeddings else 0
        out: dict[int, float] = {}
        prev: Optional[tuple[str, int]] = None  # (device, unit index) of the previous unit
        for name, p in plan.units():
            if name == "embeddings":
                if not t.has_embeddings:
                    continue
                u = 0
            else:
                u = int(name.split(".")[1]) + offset
            ms = t.unit_ms(p.device, u, self.precision or p.precision)
            if prev is not None and prev[0] != p.device:
                ms += t.transfer(prev[0], p.device, prev[1])
            out[p.stage] = out.get(p.stage, 0.0) + ms
            prev = (p.device, u)
        return out


@dataclass
class PipelineResult:
    method: str
    split: Split
    stage_ms: dict[int, float]
    measurements: int
    plan: Plan
    evaluated: list[tuple[Split, dict[int, float]]] = field(default_factory=list)

    @property
    def order(self) -> tuple[str, ...]:
        return self.split.order

    @property
    def bounds(self) -> tuple[int, ...]:
        return self.split.bounds

    @property
    def bottleneck_ms(self) -> float:
        return max(self.stage_ms.values())

    @property
    def throughput(self) -> float:
        """Predicted steady-state inferences per second: 1 / slowest stage."""
        return 1e3 / self.bottleneck_ms if self.bottleneck_ms > 0 else math.inf

    def describe(self) -> str:
        return self.split.describe()

    def to_dict(self) -> dict:
        return {"method": self.method, "order": list(self.order), "bounds": list(self.bounds),
                "split": self.describe(),
                "stage_ms": {str(k): v for k, v in self.stage_ms.items()},
                "bottleneck_ms": self.bottleneck_ms, "throughput_inf_s": self.throughput,
                "measurements": self.measurements}


class _Oracle:
    """Stage latencies through the callback, cached per stage key."""

    def __init__(self, measure: StageMeasure, devices: Devices, num_layers: int,
                 precisions, progress: Optional[Callable[[Split, dict], None]] = None):
        self.measure, self.devices, self.L = measure, _device_map(devices), num_layers
        self.precisions, self.progress = precisions, progress
        self.cache: dict[tuple, float] = {}
        self.calls = 0
        self.evaluated: list[tuple[Split, dict[int, float]]] = []

    def evaluate(self, split: Split) -> dict[int, float]:
        keys = split.stage_keys()
        if not all(k in self.cache for k in keys):
            ms = self.measure(split_plan(self.devices, split, self.precisions))
            self.calls += 1
            if sorted(ms) != list(range(len(keys))):
                raise ValueError(f"measure returned stages {sorted(ms)} for a plan with "
                                 f"{len(keys)} stages")
            for s, k in enumerate(keys):
                self.cache.setdefault(k, float(ms[s]))
            if self.progress:
                self.progress(split, dict(ms))
        result = {s: self.cache[k] for s, k in enumerate(keys)}
        self.evaluated.append((split, result))
        return result

    def stage(self, key) -> float:
        return self.cache[key]


def _score(split: Split, ms: Mapping[int, float], order_rank: Mapping[tuple, int]):
    """Smaller is better: bottleneck, then fewer stages, then less total work."""
    return (round(max(ms.values()), 9), len(split.order), round(sum(ms.values()), 9),
            order_rank.get(split.order, 0), split.bounds)


def _orders(devices: Devices, stage_counts: Optional[Sequence[int]],
            orders: Optional[Sequence[Sequence[str]]]) -> list[tuple[str, ...]]:
    names = list(_device_map(devices))
    if len(names) < 1:
        raise ValueError("no devices to place stages on")
    if orders is not None:
        return [tuple(o) for o in orders]
    counts = stage_counts or range(1, len(names) + 1)
    return [o for k in counts for o in itertools.permutations(names, k)]


def exhaustive_search(measure: StageMeasure, devices: Devices, num_layers: int,
                      precision: Union[str, Sequence[str]] = "fp32",
                      stage_counts: Optional[Sequence[int]] = None,
                      orders: Optional[Sequence[Sequence[str]]] = None,
                      progress=None) -> PipelineResult:
    """Measures every split of every device order (stage counts 1..#devices by default)."""
    oracle = _Oracle(measure, devices, num_layers, precision, progress)
    all_orders = [o for o in _orders(devices, stage_counts, orders) if len(o) <= num_layers]
    rank = {o: i for i, o in enumerate(all_orders)}
    best = None
    for order in all_orders:
        for bounds in itertools.combinations(range(1, num_layers), len(order) - 1):
            split = Split(order, bounds, num_layers)
            ms = oracle.evaluate(split)
            if best is None or _score(split, ms, rank) < _score(*best, rank):
                best = (split, ms)
    return _result("exhaustive", best, oracle, devices, precision)


def binary_search(measure: StageMeasure, devices: Devices, num_layers: int,
                  precision: Union[str, Sequence[str]] = "fp32", feedback: bool = True,
                  stage_counts: Optional[Sequence[int]] = None,
                  orders: Optional[Sequence[Sequence[str]]] = None,
                  progress=None) -> PipelineResult:
    """PipeBERT's binary search on the split point(s), per device order.

    Each device alone is measured first (it is a candidate, and its total gives
    the per-layer rate that places the first feedback probe)."""
    oracle = _Oracle(measure, devices, num_layers, precision, progress)
    all_orders = [o for o in _orders(devices, stage_counts, orders) if len(o) <= num_layers]
    rank = {o: i for i, o in enumerate(all_orders)}
    rate: dict[str, float] = {}  # ms per layer, from single-device runs
    best = None

    def consider(split, ms):
        nonlocal best
        if best is None or _score(split, ms, rank) < _score(*best, rank):
            best = (split, ms)

    for order in sorted(all_orders, key=len):  # singles first: their rates guide the rest
        if len(order) == 1:
            split = Split(order, (), num_layers)
            ms = oracle.evaluate(split)
            rate[order[0]] = ms[0] / num_layers
            consider(split, ms)
            continue
        split, ms = _search_order(oracle, order, num_layers, feedback, rate, rank)
        consider(split, ms)
    return _result("binary+feedback" if feedback else "binary", best, oracle, devices, precision)


def _reduce(order: tuple[str, ...], edges: tuple[int, ...], L: int) -> Split:
    """The Split of boundaries that may leave stages empty: empty stages dropped."""
    full = (0,) + edges + (L,)
    keep = [s for s in range(len(order)) if full[s + 1] > full[s]]
    return Split(tuple(order[s] for s in keep), tuple(full[s] for s in keep[1:]), L)


def _search_order(oracle: _Oracle, order: tuple[str, ...], L: int, feedback: bool,
                  rate: Mapping[str, float], rank) -> tuple[Split, dict[int, float]]:
    """Binary search on each boundary of ``order``, recursively.

    Stages may come out empty here (the device is then skipped): that keeps the
    rest's bottleneck g(b) non-increasing in b, which the nonempty constraint
    breaks (a forced one-layer stage can be worse than a wider choice). A split
    with an empty stage is the same plan as a shorter order's split."""
    k = len(order)

    def solve(prefix: tuple[int, ...], start: int, s: int,
              prev: Optional[str]) -> tuple[float, tuple[int, ...]]:
        """Best bottleneck of stages s..k-1 over layers [start, L), given the prefix;
        prev: the device of the last nonempty stage before s."""
        if start == L:  # stages s.. are empty; measure the prefix so its stages are known
            oracle.evaluate(_reduce(order, prefix + (L,) * (k - 1 - len(prefix)), L))
            return 0.0, (L,) * (k - 1 - s)
        if s == k - 1:
            split = _reduce(order, prefix, L)
            return oracle.evaluate(split)[len(split.order) - 1], ()
        memo: dict[int, tuple[float, float, tuple[int, ...]]] = {}

        def ev(b: int):
            if b not in memo:
                nxt = order[s] if b > start else prev
                g, suffix = solve(prefix + (b,), b, s + 1, nxt)
                # every plan solve() measured holds stage s = [start, b): it is cached
                f = oracle.stage((prev, order[s], start, b)) if b > start else 0.0
                memo[b] = (f, g, suffix)
            return memo[b]

        a, z = start, L  # first b with f(b) >= g(b) is in [a, z]; at b = L, g = 0
        last: Optional[tuple[int, float, float]] = None
        streak, prev_side = 0, None  # feedback probes in a row that moved the same end
        while a < z:
            p = _feedback_probe(order, s, start, L, last, rate) \
                if feedback and streak < 2 else None
            if p is None:  # plain bisection (or interpolation creeping: bisect once)
                p, streak, prev_side, fed = (a + z) // 2, 0, None, False
            else:
                fed = True
            p = min(max(p, a), z - 1)
            f, g, _ = ev(p)
            last = (p, f, g)
            side = f >= g
            if fed:
                streak = streak + 1 if side == prev_side else 1
                prev_side = side
            if side:
                z = p
            else:
                a = p + 1
        cands = [b for b in (a - 1, a) if start <= b <= L]
        b = min(cands, key=lambda b: (max(ev(b)[0], ev(b)[1]), b))
        f, g, suffix = ev(b)
        return max(f, g), (b,) + suffix

    _, edges = solve((), 0, 0, None)
    split = _reduce(order, edges, L)
    return split, oracle.evaluate(split)


def _feedback_probe(order, s, start, L, last, rate) -> Optional[int]:
    """Where stage s and the stages after it balance, by measured per-layer rates.

    With a measurement at boundary p (stage s took f, the rest's bottleneck g):
    rates f/(p-start) and g/(L-p). Before one, the single-device rates: stage s
    gets its device's share of the rest's combined speed."""
    if last is not None:
        p, f, g = last
        if p <= start or p >= L:
            return None
        rf, rg = f / (p - start), g / (L - p)
        if rf + rg <= 0:
            return None
        x = (rf * start + rg * L) / (rf + rg)
    else:
        speeds = [1.0 / rate[d] if rate.get(d, 0) > 0 else None for d in order[s:]]
        if any(v is None for v in speeds):
            return None
        x = start + (L - start) * speeds[0] / sum(speeds)
    return math.ceil(x - 1e-9)


def _result(method, best, oracle: _Oracle, devices, precision) -> PipelineResult:
    if best is None:
        raise ValueError("no split fits: more stages than layers for every device order")
    split, ms = best
    plan = split_plan(devices, split, precision, meta={
        "objective": "throughput", "search": method, "split": split.describe(),
        "predicted_stage_ms": {str(k): round(v, 4) for k, v in ms.items()},
        "predicted_throughput_inf_s": round(1e3 / max(ms.values()), 4)
        if max(ms.values()) > 0 else None,
        "measurements": oracle.calls})
    return PipelineResult(method, split, dict(ms), oracle.calls, plan, oracle.evaluated)
