"""Command-line entry points: ``armbert profile``, ``armbert predict`` and the evaluation.

    armbert profile --H 128,256 --S 64 --B 1 --L 1,12          # measure a grid
    armbert profile --configs L12-H768-A12-I3072-S128-B1        # any model
    armbert profile --sample 300 --seed 0 --purpose truth       # a random sample
    armbert profile --fit bertperf,ours                         # fit predictors (they pick
                                                                #   what to measure)
    armbert predict --predictor P.json --L 12 --H 768 --A 12 --I 3072 --S 128 --B 1
    armbert predict --predictor P.json --model minilm.armbert --S 128   # HF dir, .onnx too
    armbert evaluate [--space host] [--truth 300] [--windows 3]  # the full evaluation
    armbert transfer --predictor P.json --threads 2 --cores 0,1  # move a BERTPerf fit

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

from armbert.argcheck import max_threads
from armbert.cli import OneLineParser, count_arg
from armbert.errors import ArmbertError

MAX_DIM = 1 << 20   # a shape number past this is a typo, not a BERT


class CLIError(Exception):
    """A usage problem: printed as one line, exit status 2."""


def results_root() -> Path:
    """Where results go by default: ~/.cache/armbert/planner (XDG_CACHE_HOME honoured),
    never the package's own source tree."""
    import os
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "armbert" / "planner"


def _ints(text: Optional[str], name: str = "value") -> Optional[list[int]]:
    if text is None:
        return None
    out = []
    for x in str(text).split(","):
        if not x.strip():
            continue
        try:
            v = int(x)
        except ValueError:
            raise CLIError(f"--{name} {text!r}: {x.strip()!r} is not an integer") from None
        if not 1 <= v <= MAX_DIM:
            raise CLIError(f"--{name} {x.strip()}: must be between 1 and {MAX_DIM}")
        out.append(v)
    return out


def _one_line(prog: str, fn):
    """Runs a command body; usage problems become one line on stderr and exit 2."""
    from .predictors.parametric import ShapeError
    try:
        return fn()
    except (CLIError, ShapeError, ArmbertError, FileNotFoundError, IsADirectoryError) as e:
        msg = e.strerror + f": {e.filename}" if isinstance(e, OSError) and e.filename else str(e)
        print(f"{prog}: error: {msg}", file=sys.stderr)
        return 2


def _common(p: argparse.ArgumentParser, with_space: bool = True, windows: int = 1) -> None:
    g = p.add_argument_group("device")
    g.add_argument("--backend", default="host")
    g.add_argument("--precision", default="fp32", choices=("fp32", "fp16", "int8"))
    g.add_argument("--threads", type=count_arg("threads", 1, max_threads), default=2)
    g.add_argument("--cores", default="0,1", help="cores to pin the threads to ('' = no "
                   "pinning); one thread per core is the protocol")
    g.add_argument("--fake", action="store_true", help="synthetic device: no timing")
    m = p.add_argument_group("measurement")
    m.add_argument("--quick", action="store_true", help="few repeats, 5 %% spread (smoke runs)")
    m.add_argument("--cooldown", type=float, default=None, help="seconds slept before each measurement")
    m.add_argument("--max-seconds", type=float, default=None, help="timed seconds cap per measurement")
    m.add_argument("--max-spread", type=float, default=None)
    m.add_argument("--windows", type=count_arg("windows"), default=windows,
                   help=f"independent windows per configuration, in round-robin passes "
                        f"(default {windows})")
    m.add_argument("--max-steal", type=float, default=None,
                   help="reject a window with more stolen CPU time (share, default 0.01)")
    m.add_argument("--max-other-load", type=float, default=None,
                   help="reject a window where other processes used more of the machine "
                        "(share of all cores, default 0.25)")
    m.add_argument("--retries", type=count_arg("retries", 0), default=None, help="re-runs of a rejected window (3)")
    m.add_argument("--db", default=None, help="JSONL database (default: OUT/campaign.jsonl)")
    m.add_argument("--out", default=None, help="output folder (default: ~/.cache/armbert/"
                   "planner/SPACE-BACKEND-PRECISION)")
    m.add_argument("--no-progress", action="store_true")
    if with_space:
        s = p.add_argument_group("design space")
        s.add_argument("--space", default="host", help="'host' (S 64,128), 'paper', 'host-S64-128-256'")
        for k in ("H", "A", "I", "S", "B"):
            s.add_argument(f"--{k}", default=None, help=f"keep only these {k} (comma list)")


def _space(args):
    from .space import space_by_name
    try:
        sp = space_by_name(args.space)
    except ValueError as e:
        raise CLIError(str(e)) from None
    filters = {k: _ints(getattr(args, k), k) for k in ("H", "A", "I", "S", "B")}
    if any(v is not None for v in filters.values()):
        tag = "-".join(f"{k}{'_'.join(map(str, v))}" for k, v in filters.items() if v)
        sp = sp.subspace(name=f"{sp.name}-{tag}", **filters)
    return sp


def _out(args, space) -> Path:
    if args.out:
        return Path(args.out)
    kind = "fake" if args.fake else args.backend
    return results_root() / f"{space.name}-{kind}-{args.precision}"


def _profiler(args, out: Path):
    from .fake import FakeRunner
    from .measure import FULL, QUICK, Target
    from .runner import ArmbertRunner
    from .profiler import Profiler
    from .records import Database
    settings = QUICK if args.quick else FULL
    over = {k: v for k, v in (("cooldown_s", args.cooldown), ("max_seconds", args.max_seconds),
                              ("max_spread", args.max_spread), ("windows", args.windows),
                              ("max_steal", args.max_steal),
                              ("max_other_load", args.max_other_load),
                              ("retries", args.retries)) if v is not None}
    if over:
        try:
            settings = type(settings)(**{**settings.to_dict(), **over})
        except ValueError as e:
            raise CLIError(str(e)) from None
    try:
        cores = tuple(int(c) for c in str(args.cores).split(",") if c.strip()) if args.cores else ()
    except ValueError:
        raise CLIError(f"--cores {args.cores!r}: a comma list of core numbers") from None
    if args.threads < 1:
        raise CLIError(f"--threads {args.threads}: must be >= 1")
    target = Target(args.backend, args.precision, args.threads, cores)
    runner = FakeRunner(target) if args.fake else ArmbertRunner(target)
    db = Database(args.db or out / "campaign.jsonl")
    sleep = (lambda s: None) if args.fake else time.sleep
    return Profiler(runner, db, settings, sleep=sleep)


def profile_main(argv: Optional[Sequence[str]] = None) -> int:
    p = OneLineParser(prog="armbert profile", description=(
        "Measure armbert on this machine, end to end and per component (embeddings, "
        "encoder 1, later encoders, each op), into a resumable JSONL database."))
    _common(p)
    p.add_argument("--L", default=None, help="depths of the grid (default 1..12)")
    p.add_argument("--sample", type=count_arg("sample"), default=None, help="measure N random models instead of the grid")
    p.add_argument("--configs", default=None,
                   help="explicit models, comma separated, e.g. L12-H768-A12-I3072-S128-B1 "
                        "(need not be in the space)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--purpose", default="train", help="'train' (predictors) or 'truth' (evaluation)")
    p.add_argument("--fit", default=None, help="predictors to fit and save: bertperf,opwise,mlp,ours")
    p.add_argument("--mlp-n", type=count_arg("mlp-n"), default=None, help="MLP training models (default: BERTPerf's budget)")
    args = p.parse_args(argv)
    return _one_line("armbert profile", lambda: _profile(args))


def _profile(args) -> int:
    if args.fit:  # unknown names and missing packages before anything is measured
        from .optional import require_for
        from .predictors.base import predictor_class
        require_for([predictor_class(n.strip()) for n in args.fit.split(",") if n.strip()])
    configs = None
    if args.configs:
        from .space import ModelConfig
        try:
            configs = [ModelConfig.parse(c) for c in args.configs.split(",") if c.strip()]
        except ValueError as e:
            raise CLIError(f"--configs: {e}") from None
    space = _space(args)
    out = _out(args, space)
    prof = _profiler(args, out)
    progress = not args.no_progress
    print(f"device {prof.device['id']} ({prof.device.get('cpu_model')}), target "
          f"{prof.target.to_dict()}, space {space.name}: {len(space.bundles())} bundles, "
          f"database {prof.db.path}", file=sys.stderr)
    if args.fit:
        return _fit(args, prof, space, out, progress)
    if configs is None and args.sample:
        configs = space.sample(args.sample, args.seed)
    elif configs is None:
        depths = _ints(args.L, "L") or list(space.depths)
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
    p = OneLineParser(prog="armbert predict", description=(
        "Predict latency (ms) of BERT configurations with a saved predictor: the target it "
        "was fitted on, an error bar, a per-layer and per-op breakdown. Outside the "
        "profiled space it says so and answers with a parametric fallback (wider bar). "
        "Comma lists give every combination."))
    p.add_argument("--predictor", required=True, help="a predictor JSON (armbert profile --fit, "
                   "armbert evaluate)")
    for k, help_ in (("L", "layers"), ("H", "hidden size"), ("A", "attention heads"),
                     ("I", "intermediate size"), ("S", "sequence length"), ("B", "batch")):
        p.add_argument(f"--{k}", default=None, help=help_)
    p.add_argument("--model", default=None, help="take L, H, A, I from a model: HF directory, "
                   ".onnx or .armbert file (anything armbert.load reads)")
    p.add_argument("--hf-config", default=None, help="take L, H, A, I from an HF config.json")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--no-breakdown", action="store_true", help="totals only")
    p.add_argument("--bench", type=count_arg("bench", 0), default=0,
                   help="also time N vectorized predictions over the predictor's space")
    args = p.parse_args(argv)
    return _one_line("armbert predict", lambda: _predict(args))


def load_predictor(path_text: str):
    """A fitted predictor from its JSON file (`armbert plan --predictor` reads it too);
    CLIError naming the file when it is missing or not a predictor."""
    from .predictors.base import load
    path = Path(path_text)
    if not path.is_file():
        raise CLIError(f"--predictor {path_text}: no such file")
    try:
        return load(path)
    except (ValueError, KeyError, TypeError) as e:
        raise CLIError(f"--predictor {path_text}: not a predictor this planner reads ({e})") \
            from None


def _model_shape(path: str) -> dict:
    import armbert
    try:
        m = armbert.load(path)
    except Exception as e:  # any loader failure is the user's path, said in one line
        raise CLIError(f"--model {path}: {e}".splitlines()[0]) from None
    cfg = getattr(m, "config", None) or m.model.config
    return {"L": cfg.num_hidden_layers, "H": cfg.hidden_size, "A": cfg.num_attention_heads,
            "I": cfg.intermediate_size}


def _outside(pred, c) -> str:
    sp = pred.space
    if sp is None:
        return "the predictor has no space"
    why = []
    if c.L not in sp.depths:
        why.append(f"L={c.L} not in {min(sp.depths)}..{max(sp.depths)}")
    if c.S not in sp.seq_lengths:
        why.append(f"S={c.S} not in {list(sp.seq_lengths)}")
    if c.H not in sp.table:
        why.append(f"H={c.H} not in {sorted(sp.table)}")
    else:
        bs, heads, inters = sp.table[c.H]
        for k, v, allowed in (("B", c.B, bs), ("A", c.A, heads), ("I", c.I, inters)):
            if v not in allowed:
                why.append(f"{k}={v} not in {list(allowed)} for H={c.H}")
    return "; ".join(why) or "not in the profiled space"


def _breakdown(t: dict, L: int) -> list[str]:
    lines = [f"    embeddings {t['emb']:.3f} ms; layer 1 {t['enc1']:.3f} ms"
             + (f"; layers 2..{L} {t['enc_rest']:.3f} ms each" if L > 1 and t.get("enc_rest")
                is not None else "")]
    for pos, name in (("enc1", "layer 1"), ("enc_rest", "layers 2..")):
        sh = (t.get("op_shares") or {}).get(pos)
        base = t.get(pos)
        if sh and base is not None and (pos == "enc1" or L > 1):
            lines.append(f"    {name} per op: " + ", ".join(f"{o} {base * v:.3f}"
                                                         for o, v in sh.items()) + " ms")
    return lines


def _predict(args) -> int:
    from .predictors.parametric import check_shapes, fallback_for
    from .space import COLUMNS, ModelConfig, as_columns
    pred = load_predictor(args.predictor)
    values = {k: _ints(getattr(args, k), k) for k in COLUMNS}
    shape = {}
    if args.model:
        shape = _model_shape(args.model)
    elif args.hf_config:
        try:
            cfg = json.loads(Path(args.hf_config).read_text())
            shape = {"L": cfg["num_hidden_layers"], "H": cfg["hidden_size"],
                     "A": cfg["num_attention_heads"], "I": cfg["intermediate_size"]}
        except (OSError, ValueError, KeyError) as e:
            raise CLIError(f"--hf-config {args.hf_config}: {e}") from None
    for k, v in shape.items():
        values[k] = values[k] or [int(v)]
    values["B"] = values["B"] or [1]
    missing = [k for k in COLUMNS if not values[k]]
    if missing:
        raise CLIError(f"missing {', '.join('--' + k for k in missing)}")
    configs = [ModelConfig(*row) for row in itertools.product(*(values[k] for k in COLUMNS))]
    check_shapes(as_columns(configs))
    err, err_src = pred.stated_error_pct()
    meta = pred.meta or {}
    variant = pred.params.get("variant")
    if not args.json:
        print(f"predictor {pred.name}{f' ({variant})' if variant else ''} fitted on target "
              f"{meta.get('target')} of device {meta.get('device')}, space "
              f"{pred.space.name if pred.space else '-'}; error bar ±{err:.1f} % ({err_src})")
    ms = pred.predict(configs)
    ext = pred.extrapolated(configs)
    fb = None
    if np.isnan(ms).any() and pred.training_points():
        fb = fallback_for(pred)
    for i, (c, v) in enumerate(zip(configs, ms)):
        row = {**c.to_dict(), "predictor": pred.name, "target": meta.get("target")}
        terms = pred.terms(c) if hasattr(pred, "terms") and not np.isnan(v) else None
        if not np.isnan(v):
            row.update(latency_ms=float(v), error_pct=err, source=pred.name,
                       extrapolated=bool(ext[i]))
            text = f"{c}: {v:.3f} ms ± {err:.1f} % (± {v * err / 100:.3f} ms)"
            if ext[i]:
                text += (f"  EXTRAPOLATED: outside the {pred.name}'s training range, "
                         "the error bar does not hold")
        else:
            reason = _outside(pred, c)
            row.update(outside=reason)
            if fb is None:
                row.update(latency_ms=None, source=None)
                text = f"{c}: outside the predictor's space ({reason}); no fallback"
            else:
                fv = float(fb.predict([c])[0])
                fe, _ = fb.stated_error_pct()
                fext = bool(fb.extrapolated([c])[0])
                if fext:  # past every profiled shape: a wider bar still, and said
                    fe *= 3
                terms = fb.terms(c)
                row.update(latency_ms=fv, error_pct=fe, source="parametric", extrapolated=fext)
                text = (f"{c}: outside the profiled space ({reason}); parametric fallback "
                        f"{fv:.3f} ms ± {fe:.1f} % (± {fv * fe / 100:.3f} ms)"
                        + ("; EXTRAPOLATED past the profiled shapes (bar tripled, a guess)"
                           if fext else ""))
        if terms is not None:
            row["breakdown"] = terms
        if args.json:
            print(json.dumps(row))
        else:
            print(text)
            if terms is not None and not args.no_breakdown:
                print("\n".join(_breakdown(terms, c.L)))
    if args.bench and pred.space is not None:
        from .evaluate import throughput
        rate = throughput(pred, pred.space, args.bench)
        print(f"{pred.name}: {rate:.3g} predictions/s ({args.bench} configs, vectorized)",
              file=sys.stderr)
    return 0


def evaluate_main(argv: Optional[Sequence[str]] = None,
                  default_out: Optional[Path] = None) -> int:
    p = OneLineParser(prog="armbert evaluate", description=(
        "Draw the held-out truth set first, fit every predictor without it, measure every "
        "configuration in independent windows (round-robin passes), and write metrics.json, "
        "report.md and the plots. Resumable."))
    _common(p, windows=3)
    p.add_argument("--truth", type=count_arg("truth"), default=300, help="held-out models")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--predictors", default="bertperf,opwise,mlp,ours")
    p.add_argument("--no-variants", action="store_true",
                   help="only the headline predictors (no budget sweep)")
    p.add_argument("--ours-probes", type=count_arg("ours-probes"), default=None,
                   help="probe bundles of the headline 'ours' (default 10)")
    p.add_argument("--throughput-n", type=count_arg("throughput-n"), default=1_000_000,
                   help="configs per vectorized-throughput timing")
    args = p.parse_args(argv)
    if default_out is not None and args.out is None:
        args.out = str(default_out)
    return _one_line("armbert evaluate", lambda: _evaluate(args))


def _evaluate(args) -> int:
    from .evaluate import evaluate
    space = _space(args)
    out = _out(args, space)
    prof = _profiler(args, out)
    print(f"device {prof.device['id']} ({prof.device.get('cpu_model')}), target "
          f"{prof.target.to_dict()}, space {space.name}: {len(space.bundles())} bundles / "
          f"{len(space)} models, database {prof.db.path}", file=sys.stderr)
    try:
        summary = evaluate(prof, space, out, args.truth, args.seed,
                           [f.strip() for f in args.predictors.split(",")],
                           variants=not args.no_variants, progress=not args.no_progress,
                           throughput_n=args.throughput_n, ours_probes=args.ours_probes)
    except ValueError as e:
        raise CLIError(str(e)) from None
    print((out / "report.md").read_text())
    print(f"{prof.new_measurements} measured, {prof.reused} read back, "
          f"{prof.rejected_windows} windows rejected and re-run; results in {out}",
          file=sys.stderr)
    return 0 if summary else 1


def transfer_main(argv: Optional[Sequence[str]] = None) -> int:
    p = OneLineParser(prog="armbert transfer", description=(
        "Move a fitted BERTPerf to this target (--threads/--cores/--backend/--precision): "
        "reuse its j_switch and constant/linear class per bundle, measure L=12, L=2 and j, "
        "and compare with a full BERTPerf campaign here on one held-out truth set."))
    p.add_argument("--predictor", required=True, help="a fitted BERTPerf JSON (other target)")
    _common(p, with_space=False, windows=3)
    p.add_argument("--truth", type=count_arg("truth"), default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    return _one_line("armbert transfer", lambda: _transfer(args))


def _transfer(args) -> int:
    from .transfer import compare_transfer, report
    src = load_predictor(args.predictor)
    if src.name != "bertperf":
        raise CLIError(f"--predictor {args.predictor}: a BERTPerf fit is needed, got {src.name}")
    out = Path(args.out) if args.out else results_root() / (
        f"transfer-{src.space.name}-{'fake' if args.fake else args.backend}-{args.precision}"
        f"-{args.threads}t")
    prof = _profiler(args, out)
    if args.fake:  # a second fake device that differs from the first one
        from .fake import FakeRunner
        prof.runner = FakeRunner(prof.target, seed=1, gflops=200.0, llc=16 * 2 ** 20)
    try:
        summary = compare_transfer(src, prof, args.truth, args.seed, not args.no_progress)
    except ValueError as e:
        raise CLIError(str(e)) from None
    for label, pr in summary.pop("predictors").items():
        pr.save(out / "predictors" / f"bertperf-{label.replace(' ', '_')}.json")
    (out / "transfer.json").write_text(json.dumps(summary, indent=1, sort_keys=True, default=str))
    (out / "report.md").write_text(report(summary))
    print(report(summary))
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m planner.cli profile|predict|evaluate|transfer ...`` (= ``armbert ...``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"profile": profile_main, "predict": predict_main, "evaluate": evaluate_main,
                "transfer": transfer_main}
    if not argv or argv[0] not in commands:
        print(f"usage: python -m planner.cli {{{','.join(commands)}}} [--help]", file=sys.stderr)
        return 2
    from armbert.cli import main as armbert_main
    return armbert_main(argv)  # the same error handling: one line, never a traceback


if __name__ == "__main__":
    sys.exit(main())
