"""The real measurement callbacks: plans run on armbert's engine.

:class:`EngineRunner` holds a model and fixed inputs and answers, for a Plan:
- ``latency_ms``: one input through ``Engine.run``, median of repeats;
- ``stage_ms_alone``: each stage run alone (one item through the pipelined
  executor, so no stage overlaps another), median of repeats;
- ``stage_ms_pipelined``: per-stage medians while the pipeline streams
  ``items`` inputs (stages contend for memory, as in production);
- ``throughput``: inferences per second of that streaming run;
- ``layer_ms``: per-unit latency on one device (every unit its own stage);
- ``transfers``: ``engine.last_transfers`` records;
- ``deviation``: output deviation from fp32 on calibration inputs.
Each answer counts as one measurement (``measurements``).
:func:`gantt_png` draws a pipeline run from ``PipelineStats.spans``.
"""
from __future__ import annotations

import statistics
from collections import OrderedDict
from dataclasses import asdict, dataclass
from typing import Mapping, Optional, Sequence

import numpy as np

from armbert.bench import token_ids
from armbert.engine import Engine, QuantizedModel
from armbert.model import BertModel
from armbert.pipeline import PipelineExecutor, PipelineStats
from armbert.plan import Device, Placement, Plan

from .costs import CostTable, layer_units
from .precision import Deviation, deviation
from .split import transfer_table


@dataclass(frozen=True)
class RunSettings:
    seq: int = 128          # tokens per input
    batch: int = 1
    repeats: int = 5        # medians over this many timed runs
    warmup: int = 1         # untimed runs first (packing, buffers, caches)
    items: int = 16         # inputs per streaming pipeline run
    seed: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _strip_meta(plan: Plan) -> str:
    d = plan.to_dict()
    d.pop("meta", None)
    return repr(d)


class EngineRunner:
    def __init__(self, model, settings: RunSettings = RunSettings(),
                 calibration: Optional[Sequence] = None, cache_engines: int = 3):
        """model: a BertModel or a QuantizedModel (int8 layers then use its
        calibrated scales). calibration: (ids, mask) pairs for ``deviation``;
        default: the timing inputs."""
        self.model = model
        self.base: BertModel = model.model if isinstance(model, QuantizedModel) else model
        self.settings = s = settings
        cfg = self.base.config
        seq = min(s.seq, cfg.max_position_embeddings)
        rng = np.random.default_rng(s.seed)
        self.inputs = [(token_ids(cfg.vocab_size, s.batch, seq, seed=int(rng.integers(1 << 31))),
                        np.ones((s.batch, seq), dtype=np.int64)) for _ in range(max(s.items, 1))]
        self.calibration = list(calibration) if calibration is not None else self.inputs[:2]
        self.measurements = 0
        self.last_stats: Optional[PipelineStats] = None
        self._engines: "OrderedDict[str, Engine]" = OrderedDict()
        self._cache = cache_engines
        self._references: dict[str, list[np.ndarray]] = {}

    # ---- engines ----
    def engine(self, plan: Plan) -> Engine:
        key = _strip_meta(plan)
        if key in self._engines:
            self._engines.move_to_end(key)
            return self._engines[key]
        eng = Engine(self.model, plan=plan)
        self._engines[key] = eng
        while len(self._engines) > self._cache:
            self._engines.popitem(last=False)
        return eng

    def _timed(self, fn) -> list[float]:
        import time
        for _ in range(self.settings.warmup):
            fn()
        out = []
        for _ in range(self.settings.repeats):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1e3)
        return out

    # ---- measurements ----
    def latency_ms(self, plan: Plan) -> float:
        eng = self.engine(plan)
        x = self.inputs[0]
        self.measurements += 1
        return statistics.median(self._timed(lambda: eng.run(*x)))

    def stage_ms_alone(self, plan: Plan) -> dict[int, float]:
        pipe = PipelineExecutor(self.engine(plan))
        x = [self.inputs[0]]
        for _ in range(self.settings.warmup):
            pipe.run(x)
        by: dict[int, list[float]] = {}
        for _ in range(self.settings.repeats):
            pipe.run(x)
            for sp in pipe.stats.spans:
                by.setdefault(sp.stage, []).append(sp.end_ms - sp.start_ms)
        self.measurements += 1
        return _renumber({k: statistics.median(v) for k, v in by.items()})

    def pipelined(self, plan: Plan, items: Optional[int] = None) -> PipelineStats:
        """One streaming run of ``items`` inputs (default: the settings') after a
        warm-up run of a few."""
        n = items or self.settings.items
        xs = [self.inputs[i % len(self.inputs)] for i in range(n)]
        pipe = PipelineExecutor(self.engine(plan))
        for _ in range(self.settings.warmup):
            pipe.run(xs[:max(2, len(plan.stages()))])
        pipe.run(xs)
        self.measurements += 1
        self.last_stats = pipe.stats
        return pipe.stats

    def stage_ms_pipelined(self, plan: Plan) -> dict[int, float]:
        return _renumber(self.pipelined(plan).stage_ms)

    def throughput(self, plan: Plan) -> float:
        return self.pipelined(plan).throughput

    def stage_measure(self, mode: str = "pipelined"):
        """The ``measure(plan) -> {stage: ms}`` callback for planner.search.pipeline."""
        if mode not in ("pipelined", "alone"):
            raise ValueError("mode must be 'pipelined' or 'alone'")
        return self.stage_ms_pipelined if mode == "pipelined" else self.stage_ms_alone

    def layer_ms(self, name: str, device: Device, precision: str = "fp32") -> list[float]:
        """Per-unit ms on one device: [embeddings, layer.0, ...] (a layer's time
        includes copying its input in, a few microseconds)."""
        L = self.base.config.num_hidden_layers
        emb = "fp32" if precision == "int8" else precision
        plan = Plan({name: device}, Placement(name, emb, 0),
                    tuple(Placement(name, precision, i + 1) for i in range(L)))
        ms = self.stage_ms_alone(plan)
        return [ms[k] for k in range(L + 1)]

    def transfers(self, plan: Plan) -> list[tuple[str, str, float]]:
        eng = self.engine(plan)
        x = self.inputs[0]
        records = []
        for i in range(self.settings.warmup + self.settings.repeats):
            eng.run(*x)
            if i >= self.settings.warmup:
                records += eng.last_transfers
        self.measurements += 1
        return records

    def profile(self, devices: Mapping[str, Device],
                precisions: Sequence[str] = ("fp32",)) -> CostTable:
        """A measured cost table: per-unit ms per device and precision, and the
        median transfer ms per ordered device pair (the hidden state crossing
        mid-model)."""
        L = self.base.config.num_hidden_layers
        lat = {n: {p: tuple(self.layer_ms(n, d, p)) for p in precisions}
               for n, d in devices.items()}
        tr: dict[str, float] = {}
        names = list(devices)
        for a in names:
            for b in names:
                if a == b:
                    continue
                plan = Plan({a: devices[a], b: devices[b]}, Placement(a),
                            tuple(Placement(a if i < L // 2 else b) for i in range(L)))
                tr.update(transfer_table(self.transfers(plan)))
        return CostTable(layer_units(L), lat, tr,
                         {"source": "measured", "settings": self.settings.to_dict(),
                          "devices": {n: d.to_dict() for n, d in devices.items()}})

    def deviation(self, plan: Plan) -> Deviation:
        ref = self._reference(plan)
        eng = self.engine(plan)
        outs = [eng.run(ids, mask).last_hidden_state for ids, mask in self.calibration]
        self.measurements += 1
        return deviation(ref, outs, [m for _, m in self.calibration])

    def _reference(self, plan: Plan) -> list[np.ndarray]:
        """fp32 outputs on the plan's own devices (thread counts change sum order)."""
        fp32 = Plan(plan.devices, Placement(plan.embeddings.device, "fp32", 0),
                    tuple(Placement(p.device, "fp32", 0) for p in plan.layers))
        key = _strip_meta(fp32)
        if key not in self._references:
            eng = Engine(self.base, plan=fp32)
            self._references[key] = [eng.run(ids, mask).last_hidden_state
                                     for ids, mask in self.calibration]
        return self._references[key]


def steady_throughput(stats: PipelineStats) -> Optional[float]:
    """Inferences per second between the first and the last output: the pipeline's
    rate once full, without thread start-up and fill time (``stats.throughput``
    includes them). None with fewer than two outputs."""
    last = max((s.stage for s in stats.spans), default=None)
    ends = sorted(s.end_ms for s in stats.spans if s.stage == last)
    if len(ends) < 2 or ends[-1] <= ends[0]:
        return None
    return 1e3 * (len(ends) - 1) / (ends[-1] - ends[0])


def _renumber(ms: Mapping[int, float]) -> dict[int, float]:
    """Plan stage ids (any increasing ints) -> 0..k-1, as the searches index stages."""
    return {i: ms[k] for i, k in enumerate(sorted(ms))}


def plan_stage_labels(plan: Plan) -> dict[int, str]:
    """stage -> "stage 0: big (embeddings, layer.0-3)" for chart rows."""
    units: dict[int, list[str]] = {}
    dev: dict[int, str] = {}
    for name, p in plan.units():
        units.setdefault(p.stage, []).append(name)
        dev.setdefault(p.stage, p.device)
    out = {}
    for k, us in units.items():
        layers = [u.split(".")[1] for u in us if u.startswith("layer.")]
        span = ""
        if layers:
            span = f"layer.{layers[0]}" + (f"-{layers[-1]}" if len(layers) > 1 else "")
        out[k] = f"stage {k}: {dev[k]}\n" + ", ".join(
            x for x in (("embeddings" if "embeddings" in us else ""), span) if x)
    return out


def gantt_png(stats: PipelineStats, path, title: Optional[str] = None,
              stage_labels: Optional[Mapping[int, str]] = None,
              plan: Optional[Plan] = None) -> str:
    """One row per stage, one bar per item (colour cycles per item); rows are
    labelled from ``plan`` (devices and units) when given."""
    if stage_labels is None and plan is not None:
        stage_labels = plan_stage_labels(plan)
    from ..optional import pyplot
    plt = pyplot("the Gantt chart")

    stages = sorted({s.stage for s in stats.spans})
    fig, ax = plt.subplots(figsize=(10, 1.2 + 0.7 * max(len(stages), 1)))
    colors = plt.get_cmap("tab10").colors
    for sp in stats.spans:
        row = stages.index(sp.stage)
        ax.barh(row, sp.end_ms - sp.start_ms, left=sp.start_ms, height=0.6,
                color=colors[sp.item % len(colors)], edgecolor="black", linewidth=0.3)
        if sp.end_ms - sp.start_ms > 0.04 * max(stats.wall_ms, 1e-9):
            ax.text((sp.start_ms + sp.end_ms) / 2, row, str(sp.item), ha="center",
                    va="center", fontsize=7)
    labels = [(stage_labels or {}).get(s, f"stage {s}") for s in stages]
    ax.set_yticks(range(len(stages)), labels)
    ax.invert_yaxis()
    ax.set_xlabel("ms since start")
    ax.set_title(title or f"{stats.items} items, {stats.throughput:.2f} inf/s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)
