"""CPU/GPU mapping that minimises the latency of one inference (ASAP'22 style).

Every op (or unit: embeddings, layer.i) goes to one device. A mapping's
latency is composed from per-op latencies on each device plus the cost of
moving a tensor along each edge whose ends sit on different devices.

Composition model (:func:`makespan`):
- each device runs its ops one at a time in program order (an in-order queue:
  one CPU worker thread, one in-order OpenCL command queue);
- an op starts when its device is free and every input has arrived: a
  predecessor's finish time, plus the edge's transfer cost if the two ops sit
  on different devices;
- transfers are delays on edges, not work on a device (a copy engine or an
  unmap that overlaps with compute); ``source``/``sink`` add the copies of the
  model input from, and of the output back to, the device that holds them;
- so ops on different devices overlap and ops on one device serialize: the
  latency is the finish time of the last op (the longest path through the
  graph once same-device order is added as edges).
For a chain this is the sum of op latencies plus the transfers, which the
dynamic programme :func:`chain_dp` minimises exactly.

Searches: :func:`chain_dp` (exact for chains), :func:`genetic_search` (DAGs
with parallel branches, the ASAP'22 method), :func:`exhaustive_search`
(devices^ops mappings; small cases, to check the other two).
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import numpy as np

from armbert.plan import Device, Placement, Plan

from .costs import CostTable

EXHAUSTIVE_LIMIT = 2_000_000
PAIR_MOVES_UP_TO = 40  # ops; the GA's final polish tries two-op moves on graphs this small


@dataclass(frozen=True)
class OpGraph:
    """Ops in program (topological) order; deps[i] lists the ops op i reads."""

    ops: tuple[str, ...]
    deps: tuple[tuple[int, ...], ...]
    # tensor size on an edge relative to the hidden state [S, H]; missing edges: 1
    edge_scale: Mapping[tuple[int, int], float] = field(default_factory=dict)

    def __post_init__(self):
        if len(self.ops) != len(self.deps):
            raise ValueError("an OpGraph needs one dependency list per op")
        for i, ds in enumerate(self.deps):
            if any(not 0 <= d < i for d in ds):
                raise ValueError(f"op {self.ops[i]} depends on a later op: "
                                 "list ops in program order")

    @classmethod
    def chain(cls, ops: Sequence[str]) -> "OpGraph":
        return cls(tuple(ops), ((),) + tuple((i,) for i in range(len(ops) - 1)))

    @property
    def edges(self) -> list[tuple[int, int]]:
        return [(d, i) for i, ds in enumerate(self.deps) for d in ds]

    def is_chain(self) -> bool:
        return all(ds == ((i - 1,) if i else ()) for i, ds in enumerate(self.deps))

    def sinks(self) -> list[int]:
        used = {d for ds in self.deps for d in ds}
        return [i for i in range(len(self.ops)) if i not in used]

    def scale(self, u: int, v: int) -> float:
        return float(self.edge_scale.get((u, v), 1.0))


# A BERT layer's ops (the engine fuses q/k/v into one GEMM; ARMCL-style runtimes
# can run them as three). Output size of each op relative to [S, H].
BERT_LAYER_OPS = ("q", "k", "v", "attention", "attn_out", "add_ln1", "ffn_in_gelu",
                  "ffn_out", "add_ln2")


def bert_layer_graph(num_layers: int = 1, intermediate_ratio: float = 4.0) -> OpGraph:
    """Op graph of ``num_layers`` BERT layers: q, k and v in parallel from the
    layer input, attention (scores, softmax, context) from all three, then the
    output projection, residual+LayerNorm, FFN in (GELU), FFN out, residual+LayerNorm."""
    ops, deps, scale = [], [], {}
    prev = None  # index of the previous layer's output op

    def add(name, ds, out_scale=1.0):
        ops.append(name)
        deps.append(tuple(d for d in ds if d is not None))
        i = len(ops) - 1
        for d in deps[-1]:
            scale[(d, i)] = out_scale_of[d]
        out_scale_of[i] = out_scale
        return i

    out_scale_of: dict[int, float] = {}
    for l in range(num_layers):
        q = add(f"layer.{l}.q", [prev])
        k = add(f"layer.{l}.k", [prev])
        v = add(f"layer.{l}.v", [prev])
        a = add(f"layer.{l}.attention", [q, k, v])
        o = add(f"layer.{l}.attn_out", [a])
        n1 = add(f"layer.{l}.add_ln1", [o, prev])
        f1 = add(f"layer.{l}.ffn_in_gelu", [n1], intermediate_ratio)
        f2 = add(f"layer.{l}.ffn_out", [f1])
        prev = add(f"layer.{l}.add_ln2", [f2, n1])
    return OpGraph(tuple(ops), tuple(deps), scale)


@dataclass(frozen=True)
class MappingProblem:
    """latency_ms[i, d]: op i on device d (inf: the device cannot run it).
    transfer_ms[a, b]: moving a tensor of scale 1 from device a to b (diagonal 0);
    an edge costs its graph scale times that, unless ``edge_transfer_ms`` gives
    that edge its own [a, b] matrix (measured per edge)."""

    graph: OpGraph
    devices: tuple[str, ...]
    latency_ms: np.ndarray
    transfer_ms: np.ndarray
    source: Optional[str] = None  # where the model input lives
    sink: Optional[str] = None    # where the output must end up
    edge_transfer_ms: Mapping[tuple[int, int], np.ndarray] = field(default_factory=dict)

    def __post_init__(self):
        n, m = len(self.graph.ops), len(self.devices)
        lat = np.asarray(self.latency_ms, dtype=float)
        tr = np.asarray(self.transfer_ms, dtype=float)
        if lat.shape != (n, m):
            raise ValueError(f"latency_ms is {lat.shape}, expected ({n}, {m}) ops x devices")
        if tr.shape != (m, m):
            raise ValueError(f"transfer_ms is {tr.shape}, expected ({m}, {m})")
        if (lat < 0).any() or (tr < 0).any() or np.isnan(lat).any() or np.isnan(tr).any():
            raise ValueError("latencies and transfer costs must be >= 0")
        for name in (self.source, self.sink):
            if name is not None and name not in self.devices:
                raise ValueError(f"{name!r} is not one of the devices {self.devices}")
        object.__setattr__(self, "latency_ms", lat)
        object.__setattr__(self, "transfer_ms", tr * (1 - np.eye(m)))
        edges = {}
        for e, mat in self.edge_transfer_ms.items():
            mat = np.asarray(mat, dtype=float)
            if e not in set(self.graph.edges) or mat.shape != (m, m) or (mat < 0).any():
                raise ValueError(f"edge_transfer_ms[{e}]: not an edge of the graph, or not a "
                                 f"non-negative ({m}, {m}) matrix")
            edges[e] = mat * (1 - np.eye(m))
        object.__setattr__(self, "edge_transfer_ms", edges)
        # plain lists for makespan(): the GA calls it tens of thousands of times
        g = self.graph
        object.__setattr__(self, "_fast", (
            lat.tolist(), self.transfer_ms.tolist(),
            [[(p, self.edge_matrix(p, i).tolist()) for p in ds] for i, ds in enumerate(g.deps)],
            g.sinks()))

    def edge_matrix(self, u: int, v: int) -> np.ndarray:
        """[from device, to device] ms for edge u -> v."""
        if (u, v) in self.edge_transfer_ms:
            return self.edge_transfer_ms[(u, v)]
        return self.graph.scale(u, v) * self.transfer_ms

    @classmethod
    def from_cost_table(cls, table: CostTable, devices: Optional[Sequence[str]] = None,
                        precision: str = "fp32", source: Optional[str] = None,
                        sink: Optional[str] = None) -> "MappingProblem":
        """A chain over the table's units, each edge with the table's cost for it."""
        devs = tuple(devices or table.devices)
        lat = np.array([table.row(d, precision) for d in devs]).T
        per_edge = {(e, e + 1): np.array([[table.transfer(a, b, e) for b in devs] for a in devs])
                    for e in range(len(table.units) - 1)}
        tr = per_edge[(0, 1)] if per_edge else np.zeros((len(devs), len(devs)))
        return cls(OpGraph.chain(table.units), devs, lat, tr, source, sink, per_edge)

    def _dev(self, name):
        return None if name is None else self.devices.index(name)


@dataclass
class MappingResult:
    method: str
    assignment: tuple[str, ...]  # device per op
    latency_ms: float
    evaluations: int
    history: list[float] = field(default_factory=list)  # GA: best per generation

    def to_dict(self) -> dict:
        return {"method": self.method, "assignment": list(self.assignment),
                "latency_ms": self.latency_ms, "evaluations": self.evaluations}


def makespan(problem: MappingProblem, assign: Sequence[int]) -> float:
    """Latency of a mapping (device index per op) under the composition model above."""
    lat, tr, deps, sinks = problem._fast
    src, snk = problem._dev(problem.source), problem._dev(problem.sink)
    assign = [int(a) for a in assign]
    free = [0.0] * len(problem.devices)
    finish = [0.0] * len(deps)
    for i, ds in enumerate(deps):
        d = assign[i]
        if ds:
            ready = max(finish[p] + w[assign[p]][d] for p, w in ds)
        else:
            ready = tr[src][d] if src is not None else 0.0
        start = ready if ready > free[d] else free[d]
        finish[i] = start + lat[i][d]
        free[d] = finish[i]
    return max(finish[i] + (tr[assign[i]][snk] if snk is not None else 0.0) for i in sinks)


def _result(method, problem, assign, ms, evaluations, history=None) -> MappingResult:
    return MappingResult(method, tuple(problem.devices[d] for d in assign), float(ms),
                         evaluations, history or [])


def chain_dp(problem: MappingProblem) -> MappingResult:
    """Exact minimum-latency mapping of a chain: O(ops x devices^2)."""
    g = problem.graph
    if not g.is_chain():
        raise ValueError("chain_dp needs a chain (each op reads only the one before it); "
                         "use genetic_search for graphs with branches")
    lat, tr = problem.latency_ms, problem.transfer_ms
    n, m = lat.shape
    src, snk = problem._dev(problem.source), problem._dev(problem.sink)
    cost = lat[0] + (tr[src] if src is not None else 0.0)
    back = np.zeros((n, m), dtype=int)
    for i in range(1, n):
        step = cost[:, None] + problem.edge_matrix(i - 1, i)  # [from, to]
        back[i] = np.argmin(step, axis=0)
        cost = step[back[i], np.arange(m)] + lat[i]
    if snk is not None:
        cost = cost + tr[:, snk]
    d = int(np.argmin(cost))
    total = float(cost[d])
    assign = [d]
    for i in range(n - 1, 0, -1):
        d = int(back[i][d])
        assign.append(d)
    assign.reverse()
    return _result("chain_dp", problem, assign, total, n * m * m)


def exhaustive_search(problem: MappingProblem) -> MappingResult:
    n, m = problem.latency_ms.shape
    if m ** n > EXHAUSTIVE_LIMIT:
        raise ValueError(f"{m}^{n} mappings is too many to enumerate (limit {EXHAUSTIVE_LIMIT})")
    best, best_ms = None, math.inf
    for assign in itertools.product(range(m), repeat=n):
        ms = makespan(problem, assign)
        if ms < best_ms - 1e-12:
            best, best_ms = assign, ms
    return _result("exhaustive", problem, best, best_ms, m ** n)


@dataclass(frozen=True)
class GASettings:
    population: int = 96
    generations: int = 300
    patience: int = 150         # stop after this many generations without improvement
    crossover: float = 0.9      # uniform crossover probability
    mutation: Optional[float] = None  # per-gene; None: 1 / ops
    tournament: int = 2         # see genetic_search
    elite: int = 2
    local_search: bool = True   # polish the final best with single-op moves
    seed: int = 0


def genetic_search(problem: MappingProblem, settings: GASettings = GASettings()) -> MappingResult:
    """Genetic algorithm over device-per-op genomes (ASAP'22).

    Binary tournaments (mild pressure: larger tournaments collapsed the
    population onto a local optimum in testing), uniform crossover, per-gene
    mutation, elitism; duplicate children are replaced by random immigrants.
    The first population holds every single-device mapping and the chain DP
    over the program order (branches treated as serial: a good start), the
    rest is random. The best three distinct genomes are polished by hill
    climbing. Fitness is :func:`makespan`, cached per genome; ``evaluations``
    counts distinct genomes scored."""
    s = settings
    rng = np.random.default_rng(s.seed)
    n, m = problem.latency_ms.shape
    mut = s.mutation if s.mutation is not None else 1.0 / n
    cache: dict[bytes, float] = {}

    def fit(genome) -> float:
        key = genome.tobytes()
        if key not in cache:
            cache[key] = makespan(problem, genome.tolist())
        return cache[key]

    seeds = [np.full(n, d, dtype=np.int64) for d in range(m)]
    serial = MappingProblem(OpGraph.chain(problem.graph.ops), problem.devices,
                            problem.latency_ms, problem.transfer_ms, problem.source, problem.sink)
    seeds.append(np.array([problem.devices.index(d) for d in chain_dp(serial).assignment],
                          dtype=np.int64))
    rest = max(s.population - len(seeds), 0)
    pop = np.array(seeds + [rng.integers(0, m, n) for _ in range(rest)], dtype=np.int64)
    scores = np.array([fit(g) for g in pop])
    best_ms, history, stale = float(scores.min()), [], 0
    for _ in range(s.generations):
        P, E = s.population, min(s.elite, s.population)
        elite = pop[np.argsort(scores, kind="stable")[:E]]
        # tournaments for both parents of every child at once
        picks = rng.integers(0, len(pop), (2, P - E, s.tournament))
        winners = np.take_along_axis(picks, np.argmin(scores[picks], axis=2)[..., None], 2)[..., 0]
        children = pop[winners[0]].copy()
        cross = (rng.random((P - E, 1)) < s.crossover) & (rng.random((P - E, n)) < 0.5)
        children[cross] = pop[winners[1]][cross]
        if m > 1:
            flip = rng.random((P - E, n)) < mut
            children[flip] = (children[flip] + rng.integers(1, m, int(flip.sum()))) % m
        pop = np.concatenate([elite, children])
        # duplicates carry no new information: replace them with random immigrants
        seen = set()
        for j in range(len(pop)):
            key = pop[j].tobytes()
            if key in seen:
                pop[j] = rng.integers(0, m, n)
            seen.add(pop[j].tobytes())
        scores = np.array([fit(g) for g in pop])
        gen_best = float(scores.min())
        history.append(gen_best)
        if gen_best < best_ms - 1e-12:
            best_ms, stale = gen_best, 0
        else:
            stale += 1
            if stale >= s.patience:
                break
    best = pop[int(np.argmin(scores))].copy()
    if s.local_search:  # polish the best few distinct genomes: they sit in different basins
        tops = []
        for j in np.argsort(scores, kind="stable"):
            if not any((pop[j] == t).all() for t in tops):
                tops.append(pop[j].copy())
            if len(tops) == 3:
                break
        best = min((_polish(t, m, fit) for t in tops), key=fit)
    return _result("genetic", problem, best, fit(best), len(cache), history)


def _polish(genome, m, fit):
    """First-improvement hill climb over moves of one op, then of two ops, to
    another device (two: an op and its partner often only pay off together)."""
    best, best_ms = genome.copy(), fit(genome)
    n = len(best)
    improved = True
    while improved:
        improved = False
        moves = [((i, d),) for i in range(n) for d in range(m)]
        if n <= PAIR_MOVES_UP_TO:
            moves += [((i, d), (j, e)) for i in range(n) for j in range(i + 1, n)
                      for d in range(m) for e in range(m)]
        for move in moves:
            if any(best[i] == d for i, d in move):
                continue
            cand = best.copy()
            for i, d in move:
                cand[i] = d
            ms = fit(cand)
            if ms < best_ms - 1e-12:
                best, best_ms, improved = cand, ms, True
                break
    return best


# ---- plans and measured transfers ----

def chain_plan(devices: Mapping[str, Device], units: Sequence[str], assignment: Sequence[str],
               precisions=None, meta: Optional[Mapping] = None) -> Plan:
    """A one-stage Plan placing each unit (embeddings, layer.i) on its mapped device."""
    by_unit = dict(zip(units, assignment))
    layers = [u for u in units if u.startswith("layer.")]
    precs = precisions or ["fp32"] * len(layers)
    emb_dev = by_unit.get("embeddings", by_unit[layers[0]])
    emb_prec = "fp32" if precs[0] == "int8" else precs[0]
    return Plan({n: devices[n] for n in dict.fromkeys(assignment)},
                Placement(emb_dev, emb_prec, 0),
                tuple(Placement(by_unit[u], precs[i], 0) for i, u in enumerate(layers)),
                dict(meta or {}))


def transfer_table(records: Sequence[tuple[str, str, float]], level: str = "device") -> dict:
    """Median transfer ms per pair from ``engine.last_transfers`` records
    (("big/fp32", "little/fp32", ms), ...), gathered over several runs.
    ``level="device"`` keys "big->little" (device changes only);
    ``"segment"`` keys "big/fp32->big/int8" (precision changes too)."""
    if level not in ("device", "segment"):
        raise ValueError("level must be 'device' or 'segment'")
    by: dict[str, list[float]] = {}
    for src, dst, ms in records:
        if level == "device":
            src, dst = src.split("/")[0], dst.split("/")[0]
            if src == dst:
                continue
        by.setdefault(f"{src}->{dst}", []).append(float(ms))
    return {k: float(np.median(v)) for k, v in sorted(by.items())}
