"""`armbert bench`: per-op and per-layer latency of a model, in the spirit of TFLite's
benchmark_model.

    armbert bench                                   # bundled MiniLM, best backend, fp32
    armbert bench m.armbert --backend neon --precision int8 --threads 4 --cores 4,5,6,7 \\
        --seq 128 --batch 1 --warmup 3 --runs 20 --json bench.json

Each run feeds the same random token ids (seed 0, [CLS] first) and is timed twice:
- op by op: the embeddings, then each layer's steps in order (``EncoderLayer.calls``,
  the steps of armbert/layer_spec.py), each timed after the device has finished it
  (``Context.synchronize``: nothing on host and NEON, the queue's finish on CL), and
  the copies between segments when a plan places layers on several devices;
- end to end: ``Engine.run`` with no synchronization between ops (the latency a
  caller sees; on CL below the sum of the op times, which each pay a finish).
The warm-up runs (first-run packing, program builds, buffer allocation) are not kept.
The table gives, per op name, the median over runs of its time summed over layers,
its spread (10th-90th percentile), its share of the op-by-op total, and per layer the
median time; the JSON record (``--json``) holds every run's times, the machine's CPU
features and the context descriptions. Its per-op keys are the layer steps' names,
the keys of the planner's op-wise predictor (planner.measure.OPS).
"""
from __future__ import annotations

import json
import os
import platform
import time
from typing import Optional

import numpy as np

from . import _native as nat
from . import argcheck
from .engine import Engine, QuantizedModel
from .errors import InvalidArgumentError
from .loaders import load
from .segment import run_segments

CLS = 101


def add_parser(sub, count) -> None:
    b = sub.add_parser("bench", help="per-op and per-layer latency of a model")
    b.add_argument("model", nargs="?", default=None,
                   help="HF directory, .armbert or .onnx file (default: the bundled MiniLM)")
    b.add_argument("--backend", default=None, choices=nat.BACKENDS,
                   help="default: the model file's plan, else the best backend")
    b.add_argument("--precision", default=None, choices=nat.PRECISIONS,
                   help="default: the model file's (int8 without calibration uses "
                        "dynamic scales), else fp32")
    b.add_argument("--threads", type=count("threads", 1, argcheck.max_threads), default=None)
    b.add_argument("--cores", default=None, help="comma list of cores to pin to")
    b.add_argument("--seq", type=count("seq"), default=128)
    b.add_argument("--batch", type=count("batch"), default=1)
    b.add_argument("--warmup", type=count("warmup", 0), default=2)
    b.add_argument("--runs", type=count("runs"), default=10)
    b.add_argument("--json", default=None, help="write the record here")
    b.add_argument("--task", default=None,
                   help="'encoder' drops a head the checkpoint has (as armbert.load's task=)")
    b.set_defaults(fn=cmd_bench)


def _cores(text: Optional[str]):
    if not text:
        return None
    try:
        return [int(c) for c in text.split(",") if c.strip()]
    except ValueError:
        raise InvalidArgumentError(f"--cores {text!r}: a comma list of core numbers") from None


def token_ids(vocab: int, batch: int, seq: int, seed: int = 0) -> np.ndarray:
    """Random ids from a BERT vocabulary's word pieces (ids below 1000 are special or
    unused in BERT's vocabularies; a smaller vocabulary takes any id past 0), with
    [CLS] first where the vocabulary has it."""
    ids = np.random.default_rng(seed).integers(min(1000, vocab - 1), vocab, (batch, seq))
    if vocab > CLS:
        ids[:, 0] = CLS
    return ids


def timed_ops(engine: Engine, ids: np.ndarray) -> dict[str, float]:
    """One inference op by op (the engine's segment loop with a clock around each op):
    {"embeddings": ms, "layer.<i>.<step>": ms, "transfer.<k>": ms}, each after its
    device has finished; transfer.<k> is the copy into segment k."""
    batch, seq = ids.shape
    ids32, add_mask, types = engine.prepare(ids)
    times: dict[str, float] = {}

    def timed(seg, name, call) -> None:
        t = time.perf_counter()
        call()
        seg.synchronize()
        times[name] = (time.perf_counter() - t) * 1e3

    transfers: list = []
    run_segments(engine.segments, batch, seq, engine.config.hidden_size, add_mask, ids32,
                 types, transfers=transfers, step=timed)
    for k, (_, _, ms) in enumerate(transfers, start=1):  # only the first segment embeds
        times[f"transfer.{k}"] = ms
    return times


def bench(engine: Engine, batch: int, seq: int, warmup: int, runs: int) -> dict:
    """The record: per-op runs, end-to-end runs and what they ran on."""
    cfg = engine.config
    if seq > cfg.max_position_embeddings:
        raise InvalidArgumentError(
            f"--seq {seq} is longer than the model's {cfg.max_position_embeddings} positions")
    ids = token_ids(cfg.vocab_size, batch, seq)
    with engine._lock:  # one run at a time, as Engine.run
        engine._check_open()
        for _ in range(warmup):
            timed_ops(engine, ids)
        op_runs = [timed_ops(engine, ids) for _ in range(runs)]
    for _ in range(warmup):
        engine.run(ids)
    e2e = []
    for _ in range(runs):
        t = time.perf_counter()
        engine.run(ids)
        e2e.append((time.perf_counter() - t) * 1e3)
    return {
        "model": engine.model.source, "layers": cfg.num_hidden_layers,
        "hidden": cfg.hidden_size, "batch": batch, "seq": seq,
        "warmup": warmup, "runs": runs, "plan": engine.plan.to_dict(),
        "segments": [{"device": s.device, "precision": s.precision,
                      "context": s.ctx.describe()} for s in engine.segments],
        "machine": {"arch": platform.machine(), "cpu_features": nat.cpu_features()},
        "op_runs_ms": op_runs, "end_to_end_ms": e2e,
    }


def _stats(values) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {"median_ms": float(np.median(v)), "p10_ms": float(np.percentile(v, 10)),
            "p90_ms": float(np.percentile(v, 90))}


def summarize(record: dict) -> dict:
    """Per op name (summed over layers), per layer, the op-by-op total and end to end."""
    runs = record["op_runs_ms"]
    by_op: dict[str, list[float]] = {}
    by_layer: dict[str, list[float]] = {}
    for run in runs:
        ops: dict[str, float] = {}
        layers: dict[str, float] = {}
        for key, ms in run.items():
            parts = key.split(".")
            op = parts[2] if parts[0] == "layer" else parts[0]
            ops[op] = ops.get(op, 0.0) + ms
            if parts[0] == "layer":
                layers[f"layer.{parts[1]}"] = layers.get(f"layer.{parts[1]}", 0.0) + ms
        for d, acc in ((ops, by_op), (layers, by_layer)):
            for k, ms in d.items():
                acc.setdefault(k, []).append(ms)
    totals = [sum(run.values()) for run in runs]
    return {"ops": {k: _stats(v) for k, v in by_op.items()},
            "layers": {k: _stats(v) for k, v in by_layer.items()},
            "op_total": _stats(totals), "end_to_end": _stats(record["end_to_end_ms"])}


def print_summary(record: dict, summary: dict) -> None:
    print(f"armbert bench: {record['model']} (L={record['layers']}, H={record['hidden']}), "
          f"B={record['batch']} S={record['seq']}, {record['runs']} runs after "
          f"{record['warmup']} warm-up")
    print(f"machine: {record['machine']['arch']}, cpu features: "
          f"{', '.join(record['machine']['cpu_features']) or 'none detected'}")
    for seg in record["segments"]:
        print(f"on {seg['device']}/{seg['precision']}: {seg['context']}")
    total = summary["op_total"]["median_ms"]
    print(f"\n{'op (all layers)':<18}{'median ms':>11}{'p10-p90 ms':>18}{'share':>8}")
    for name, s in summary["ops"].items():
        print(f"{name:<18}{s['median_ms']:>11.3f}{s['p10_ms']:>9.3f}-{s['p90_ms']:<8.3f}"
              f"{s['median_ms'] / total:>8.1%}")
    print(f"{'op by op, total':<18}{total:>11.3f}{summary['op_total']['p10_ms']:>9.3f}-"
          f"{summary['op_total']['p90_ms']:<8.3f}")
    e = summary["end_to_end"]
    print(f"{'end to end':<18}{e['median_ms']:>11.3f}{e['p10_ms']:>9.3f}-{e['p90_ms']:<8.3f}")
    print("\nper layer (median ms): " + ", ".join(
        f"{k.split('.')[1]}: {s['median_ms']:.3f}" for k, s in summary["layers"].items()))


def cmd_bench(args) -> int:
    if args.json:  # a record that cannot be written is said before the runs, not after
        folder = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise InvalidArgumentError(f"--json {args.json}: {folder} is not a writable folder")
    loaded = load(args.model, task=args.task)
    model = loaded.model if isinstance(loaded, QuantizedModel) else loaded
    engine = Engine(loaded, backend=args.backend, precision=args.precision,
                    threads=args.threads, cores=_cores(args.cores))
    with engine:
        record = bench(engine, args.batch, args.seq, args.warmup, args.runs)
    record["model"] = model.source
    summary = summarize(record)
    print_summary(record, summary)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**record, "summary": summary}, f, indent=1)
        print(f"\nwrote {args.json}")
    return 0
