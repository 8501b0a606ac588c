"""Command-line entry points: ``armbert profile``, ``armbert predict`` and the evaluation.

    armbert profile --H 128,256 --S 64 --B 1 --L 1,12          # measure a grid
    armbert profile --configs L12-H768-A12-I3072-S128-B1        # any model
    armbert profile --sample 300 --seed 0 --purpose truth       # a random sample
    armbert profile --fit bertperf,ours                         # fit predictors (they pick
                                                                #   what to measure)
    armbert predict --predictor P.json --L 12 --H 768 --A 12 --I 3072 --S 128 --B 1
    armbert predict --predictor P.json --hf-config config.json --S 128 --B 1
    python -m planner.evaluate [--space host] [--truth 300]     # the full evaluation

Every measurement goes to a JSONL database (--db); running the same command again
reads back what is there and measures only what is missing, so an interrupted
campaign resumes where it stopped. --fake swaps the device for a synthetic one
(no timing; for trying the pipeline).
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "planner" / "results"


def _ints(text: Optional[str]) -> Optional[list[int]]:
    if text is None:
        return None
    return [int(x) for x in str(text).split(",") if x.strip()]


def _common(p: argparse.ArgumentParser, with_space: bool = True) -> None:
    g = p.add_argument_group("device")
    g.add_argument("--backend", default="host")
    g.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--cores", default="0,1", help="cores to pin the threads to ('' = no pinning)")
    g.add_argument("--fake", action="store_true", help="synthetic device: no timing")
    m = p.add_argument_group("measurement")
    m.add_argument("--quick", action="store_true", help="few repeats, 5 %% spread (smoke runs)")
    m.add_argument("--cooldown", type=float, default=None, help="seconds slept before each measurement")
    m.add_argument("--max-seconds", type=float, default=None, help="timed seconds cap per measurement")
    m.add_argument("--max-spread", type=float, default=None)
    m.add_argument("--db", default=None, help="JSONL database (default: OUT/campaign.jsonl)")
    m.add_argument("--out", default=None, help="output folder (default: benchmarks/planner/"
                   "results/SPACE-BACKEND-PRECISION)")
    m.add_argument("--no-progress", action="store_true")
    if with_space:
        s = p.add_argument_group("design space")
        s.add_argument("--space", default="host", help="'host' (S 64,128), 'paper', 'host-S64-128-256'")
        for k in ("H", "A", "I", "S", "B"):
            s.add_argument(f"--{k}", default=None, help=f"keep only these {k} (comma list)")


def _space(args):
    from .space import space_by_name
    sp = space_by_name(args.space)
    filters = {k: _ints(getattr(args, k)) for k in ("H", "A", "I", "S", "B")}
    if any(v is not None for v in filters.values()):
        tag = "-".join(f"{k}{'_'.join(map(str, v))}" for k, v in filters.items() if v)
        sp = sp.subspace(name=f"{sp.name}-{tag}", **filters)
    return sp


def _out(args, space) -> Path:
    if args.out:
        return Path(args.out)
    kind = "fake" if args.fake else args.backend
    return RESULTS / f"{space.name}-{kind}-{args.precision}"


def _profiler(args, out: Path):
    from .measure import FULL, QUICK, ArmbertRunner, FakeRunner, Target
    from .profiler import Profiler
    from .records import Database
    settings = QUICK if args.quick else FULL
    over = {k: v for k, v in (("cooldown_s", args.cooldown), ("max_seconds", args.max_seconds),
                              ("max_spread", args.max_spread)) if v is not None}
    if over:
        settings = type(settings)(**{**settings.to_dict(), **over})
    target = Target(args.backend, args.precision, args.threads, tuple(_ints(args.cores) or ()))
    runner = FakeRunner(target) if args.fake else ArmbertRunner(target)
    db = Database(args.db or out / "campaign.jsonl")
    sleep = (lambda s: None) if args.fake else time.sleep
    return Profiler(runner, db, settings, sleep=sleep)


def profile_main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="armbert profile", description=(
        "Measure armbert on this machine, end to end and per component (embeddings, "
        "encoder 1, later encoders, each op), into a resumable JSONL database."))
    _common(p)
    p.add_argument("--L", default=None, help="depths of the grid (default 1..12)")
    p.add_argument("--sample", type=int, default=None, help="measure N random models instead of the grid")
    p.add_argument("--configs", default=None,
                   help="explicit models, comma separated, e.g. L12-H768-A12-I3072-S128-B1 "
                        "(need not be in the space)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--purpose", default="train", help="'train' (predictors) or 'truth' (evaluation)")
    p.add_argument("--fit", default=None, help="predictors to fit and save: bertperf,opwise,mlp,ours")
    p.add_argument("--mlp-n", type=int, default=None, help="MLP training models (default: BERTPerf's budget)")
    args = p.parse_args(argv)
    space = _space(args)
    out = _out(args, space)
    prof = _profiler(args, out)
    progress = not args.no_progress
    print(f"device {prof.device['id']} ({prof.device.get('cpu_model')}), target "
          f"{prof.target.to_dict()}, space {space.name}: {len(space.bundles())} bundles, "
          f"database {prof.db.path}", file=sys.stderr)
    if args.fit:
        return _fit(args, prof, space, out, progress)
    if args.configs:
        from .space import ModelConfig
        configs = [ModelConfig.parse(c) for c in args.configs.split(",") if c.strip()]
    elif args.sample:
        configs = space.sample(args.sample, args.seed)
    else:
        depths = _ints(args.L) or list(space.depths)
        configs = [b.at(L) for b in space.bundles() for L in depths]
    ms = prof.campaign(configs, args.purpose, f"profile ({args.purpose})", progress)
    _print_measurements(ms)
    print(f"{prof.new_measurements} measured, {prof.reused} read back from {prof.db.path}",
          file=sys.stderr)
    return 0


def _print_measurements(ms) -> None:
    print(f"{'config':34s} {'total ms':>10s} {'emb':>8s} {'enc1':>9s} {'enc_rest':>9s} "
          f"{'spread':>7s} settled")
    for m in ms:
        rest = f"{m.enc_rest:9.3f}" if m.enc_rest is not None else f"{'-':>9s}"
        print(f"{str(m.config):34s} {m.total:10.3f} {m.emb:8.3f} {m.enc1:9.3f} {rest} "
              f"{100 * m.spread:6.1f}% {'yes' if m.settled else 'no'}")


def _fit(args, prof, space, out: Path, progress: bool) -> int:
    from .predictors.base import predictor_class
    budgets = {}
    for name in [n.strip() for n in args.fit.split(",") if n.strip()]:
        params = {}
        if name == "mlp":
            params = {"n": args.mlp_n or budgets.get("bertperf") or 300, "seed": args.seed}
        pred = predictor_class(name)(**params)
        pred.fit(space, prof.meter("train"), progress)
        budgets[name] = pred.budget["measurements"]
        path = out / "predictors" / f"{name}.json"
        pred.save(path)
        extra = f" {pred.summary()}" if hasattr(pred, "summary") else ""
        print(f"{name}: {pred.budget}{extra} -> {path}")
    return 0


def predict_main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="armbert predict", description=(
        "Predict latency (ms) of BERT configurations with a saved predictor. Comma lists "
        "give every combination."))
    p.add_argument("--predictor", required=True, help="a predictor JSON (armbert profile --fit)")
    for k, help_ in (("L", "layers"), ("H", "hidden size"), ("A", "attention heads"),
                     ("I", "intermediate size"), ("S", "sequence length"), ("B", "batch")):
        p.add_argument(f"--{k}", default=None, help=help_)
    p.add_argument("--hf-config", default=None, help="take L, H, A, I from an HF config.json")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--bench", type=int, default=0,
                   help="also time N vectorized predictions over the predictor's space")
    args = p.parse_args(argv)
    from .predictors.base import load
    from .space import COLUMNS, ModelConfig
    pred = load(args.predictor)
    values = {k: _ints(getattr(args, k)) for k in COLUMNS}
    if args.hf_config:
        cfg = json.loads(Path(args.hf_config).read_text())
        hf = {"L": cfg["num_hidden_layers"], "H": cfg["hidden_size"],
              "A": cfg["num_attention_heads"], "I": cfg["intermediate_size"]}
        for k, v in hf.items():
            values[k] = values[k] or [int(v)]
    values["B"] = values["B"] or [1]
    missing = [k for k in COLUMNS if not values[k]]
    if missing:
        p.error(f"missing {', '.join('--' + k for k in missing)}")
    configs = [ModelConfig(*row) for row in itertools.product(*(values[k] for k in COLUMNS))]
    ms = pred.predict(configs)
    for c, v in zip(configs, ms):
        if args.json:
            print(json.dumps({**c.to_dict(), "latency_ms": None if np.isnan(v) else float(v),
                              "predictor": pred.name}))
        else:
            shown = "outside the predictor's space" if np.isnan(v) else f"{v:.3f} ms"
            print(f"{c}: {shown}")
    if args.bench and pred.space is not None:
        from .evaluate import throughput
        rate = throughput(pred, pred.space, args.bench)
        print(f"{pred.name}: {rate:.3g} predictions/s ({args.bench} configs, vectorized)",
              file=sys.stderr)
    return 0


def evaluate_main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m planner.evaluate", description=(
        "Measure a held-out sample, fit every predictor through the profiler, and write "
        "metrics.json, report.md and the plots. Resumable."))
    _common(p)
    p.add_argument("--truth", type=int, default=300, help="held-out models")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--predictors", default="bertperf,opwise,mlp,ours")
    p.add_argument("--no-variants", action="store_true",
                   help="only the headline predictors (no budget sweep)")
    p.add_argument("--ours-probes", type=int, default=None,
                   help="probe bundles of the headline 'ours' (default 10)")
    p.add_argument("--throughput-n", type=int, default=1_000_000,
                   help="configs per vectorized-throughput timing")
    args = p.parse_args(argv)
    from .evaluate import evaluate
    space = _space(args)
    out = _out(args, space)
    prof = _profiler(args, out)
    print(f"device {prof.device['id']} ({prof.device.get('cpu_model')}), target "
          f"{prof.target.to_dict()}, space {space.name}: {len(space.bundles())} bundles / "
          f"{len(space)} models, database {prof.db.path}", file=sys.stderr)
    summary = evaluate(prof, space, out, args.truth, args.seed,
                       [f.strip() for f in args.predictors.split(",")],
                       variants=not args.no_variants, progress=not args.no_progress,
                       throughput_n=args.throughput_n, ours_probes=args.ours_probes)
    print((out / "report.md").read_text())
    print(f"{prof.new_measurements} measured, {prof.reused} read back; results in {out}",
          file=sys.stderr)
    return 0 if summary else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m planner.cli profile|predict|evaluate ...`` until armbert's CLI has them."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"profile": profile_main, "predict": predict_main, "evaluate": evaluate_main}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m planner.cli {{{','.join(commands)}}} [--help]", file=sys.stderr)
        return 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
