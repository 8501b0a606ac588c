#!/usr/bin/env python3
"""Throughput of one Engine shared by 4 Python threads (calls serialized by its lock)
against one Engine per thread, MiniLM on the host backend, mixed sequence lengths.

    python3 benchmarks/threads_bench.py [--items 48] [--rounds 3] [--precision fp32]

Each configuration runs the same items (batch 1, seq drawn from SEQS) split over
4 Python threads; configurations are interleaved round by round, so slow noise from
other jobs on the machine hits all of them; the median round is reported.
Writes benchmarks/results/threads.json.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import threading
import time
from pathlib import Path

import numpy as np

import armbert

SEQS = (16, 32, 64, 128)
PY_THREADS = 4


def make_items(n: int, vocab: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(1000, vocab, (1, SEQS[i % len(SEQS)])) for i in range(n)]


def timed(engines: list, items: list) -> float:
    """Items/s with PY_THREADS threads; thread t uses engines[t % len(engines)]."""
    parts = [items[t::PY_THREADS] for t in range(PY_THREADS)]
    start = threading.Barrier(PY_THREADS + 1)

    def worker(t):
        e = engines[t % len(engines)]
        start.wait()
        for ids in parts[t]:
            e.run(ids)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(PY_THREADS)]
    for t in ts:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return len(items) / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "threads.json"))
    a = ap.parse_args()
    model = armbert.load()
    if a.precision == "int8":
        model = armbert.quantize(model, ["The weather is lovely today.",
                                         "Stock markets fell sharply on Monday."])
    cores = os.cpu_count() or 1
    configs = {
        f"shared engine, threads={cores}":
            [armbert.Engine(model, backend="host", precision=a.precision, threads=cores)],
        "shared engine, threads=1":
            [armbert.Engine(model, backend="host", precision=a.precision, threads=1)],
        "engine per thread, threads=1":
            [armbert.Engine(model, backend="host", precision=a.precision, threads=1)
             for _ in range(PY_THREADS)],
        f"engine per thread, threads={cores}":
            [armbert.Engine(model, backend="host", precision=a.precision, threads=cores)
             for _ in range(PY_THREADS)],
    }
    vocab = (model.model if hasattr(model, "model") else model).config.vocab_size
    items = make_items(a.items, vocab)
    for engines in configs.values():  # warm: buffers for every shape
        for e in engines:
            for s in SEQS:
                e.run(items[SEQS.index(s)])
    rates: dict[str, list[float]] = {k: [] for k in configs}
    for _ in range(a.rounds):
        for name, engines in configs.items():
            time.sleep(0.05)
            rates[name].append(timed(engines, items))
    result = {
        "model": "all-MiniLM-L6-v2", "precision": a.precision, "python_threads": PY_THREADS,
        "seqs": list(SEQS), "items_per_round": a.items, "rounds": a.rounds,
        "cpu_count": cores, "machine": platform.machine(),
        "load_average": list(os.getloadavg()),
        "inferences_per_s": {k: round(statistics.median(v), 2) for k, v in rates.items()},
        "all_rounds": {k: [round(x, 2) for x in v] for k, v in rates.items()},
    }
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(result, indent=2) + "\n")
    for k, v in result["inferences_per_s"].items():
        print(f"{k:<34} {v:8.2f} inf/s")
    print(f"load average {result['load_average']}; wrote {a.out}")


if __name__ == "__main__":
    main()
