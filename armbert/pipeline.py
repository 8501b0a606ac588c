"""Pipelined execution of a plan (PipeBERT style).

The engine's segments are grouped by their plan stage; each stage runs on its
own worker thread (its native ops pin the thread to the stage's cores), stages
are joined by bounded queues, and successive inputs are in flight at once, so
throughput is set by the slowest stage. Outputs come back in input order; an
error in any stage stops the pipeline and is raised to the caller.

    with PipelineExecutor(Engine(model, plan=plan)) as pipe:
        outputs = pipe.run(batches)         # [(input_ids, attention_mask), ...]
        print(pipe.stats.throughput, pipe.stats.stage_ms)
"""
from __future__ import annotations

import queue
import statistics
import threading
import time
from dataclasses import dataclass, field
from typing import Iterable, Optional, Sequence

import numpy as np

from . import errors
from .engine import Engine
from .segment import Output, Segment, run_segments

_STOP = object()


@dataclass
class Span:
    stage: int
    item: int
    start_ms: float
    end_ms: float


@dataclass
class PipelineStats:
    items: int = 0
    wall_ms: float = 0.0
    spans: list[Span] = field(default_factory=list)  # for Gantt charts

    @property
    def throughput(self) -> float:
        """Inferences per second over the whole run."""
        return 1e3 * self.items / self.wall_ms if self.wall_ms else 0.0

    @property
    def stage_ms(self) -> dict[int, float]:
        """Median time per item of each stage."""
        by: dict[int, list[float]] = {}
        for s in self.spans:
            by.setdefault(s.stage, []).append(s.end_ms - s.start_ms)
        return {k: statistics.median(v) for k, v in sorted(by.items())}


@dataclass
class _Item:
    index: int
    ids: np.ndarray
    add_mask: np.ndarray
    types: np.ndarray
    hidden: Optional[np.ndarray] = None  # [B*S, H] leaving a stage
    output: Optional[Output] = None


class PipelineExecutor:
    def __init__(self, engine: Engine, queue_size: int = 2):
        self.engine = engine
        groups: dict[int, list[Segment]] = {}
        for seg in engine.segments:
            groups.setdefault(seg.stage, []).append(seg)
        self.stages = [groups[k] for k in sorted(groups)]
        self.stage_ids = sorted(groups)
        self.queue_size = queue_size
        self.stats = PipelineStats()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def _run_stage(self, k: int, item: _Item) -> None:
        batch, seq = item.ids.shape
        hidden_size = self.engine.config.hidden_size
        h = run_segments(self.stages[k], batch, seq, hidden_size, item.add_mask, item.ids,
                         item.types, hidden=item.hidden)
        if k == len(self.stages) - 1:
            item.output = self.stages[k][-1].finish(batch, seq, hidden_size)
        else:
            item.hidden = h.numpy()  # a copy: this stage's buffers move on

    def _worker(self, k: int, inq: queue.Queue, outq: queue.Queue, t0: float,
                failed: threading.Event) -> None:
        while True:
            item = inq.get()
            if item is _STOP or failed.is_set():
                outq.put(_STOP if item is _STOP else item)
                if item is _STOP:
                    return
                continue
            if isinstance(item, BaseException):
                outq.put(item)
                continue
            start = (time.perf_counter() - t0) * 1e3
            try:
                self._run_stage(k, item)
            except BaseException as e:  # handed downstream, raised by run()
                failed.set()
                outq.put(e)
                continue
            end = (time.perf_counter() - t0) * 1e3
            self.stats.spans.append(Span(self.stage_ids[k], item.index, start, end))
            outq.put(item)

    def run(self, inputs: Iterable) -> list[Output]:
        """inputs: each a tuple (input_ids[, attention_mask[, token_type_ids]]) or the
        input ids alone (an array or nested lists, as Engine.run takes them). Only a
        tuple is split: a list is ids, so [[101, 7592], [101, 2088]] is a batch of two."""
        prepared = []
        for x in inputs:
            args = x if isinstance(x, tuple) else (x,)
            prepared.append(self.engine.prepare(*args))  # errors surface before any thread
        # The stages use the engine's segments: Engine.run on another thread waits.
        with self.engine._lock:
            self.engine._check_open()
            return self._run(prepared)

    def _run(self, prepared: list) -> list[Output]:
        self.stats = PipelineStats()
        n = len(self.stages)
        queues = [queue.Queue(maxsize=self.queue_size) for _ in range(n + 1)]
        failed = threading.Event()
        t0 = time.perf_counter()
        workers = [threading.Thread(target=self._worker, name=f"armbert-stage-{k}",
                                    args=(k, queues[k], queues[k + 1], t0, failed), daemon=True)
                   for k in range(n)]
        for w in workers:
            w.start()
        results: list[Output] = []
        error: Optional[BaseException] = None

        def feed():
            for i, (ids, mask, types) in enumerate(prepared):
                if failed.is_set():
                    break
                queues[0].put(_Item(i, ids, mask, types))
            queues[0].put(_STOP)

        feeder = threading.Thread(target=feed, name="armbert-feeder", daemon=True)
        feeder.start()
        while True:
            item = queues[n].get()
            if item is _STOP:
                break
            if isinstance(item, BaseException):
                error = error or item
                continue
            if not failed.is_set():
                results.append(item.output)
        feeder.join()
        for w in workers:
            w.join()
        self.stats.items = len(results)
        self.stats.wall_ms = (time.perf_counter() - t0) * 1e3
        if error is not None:
            if isinstance(error, errors.ArmbertError):
                raise error
            raise errors.InternalError(f"pipeline stage failed: {error!r}") from error
        return results
