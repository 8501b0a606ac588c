"""`armbert` command line.

    armbert run                     # bundled MiniLM: similarity matrix + latency per precision
    armbert run --backend host --precisions fp32,int8 --sentences "a" "b"
    armbert run --plan plan.json    # execute a plan (pipelined when it has stages)
    armbert plan ...                # search a plan (planner.search.cli)
    armbert profile / predict / evaluate / transfer   # latency campaigns, predictors (planner.cli)
    armbert convert SRC --precision int8 -o m.armbert   # a ready-to-run model file
    armbert bench [MODEL] --backend --precision --threads --seq --batch --json F  # per-op times
    armbert info                    # backends in this build, CPU features, devices
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time

import numpy as np

from . import _native as nat
from . import argcheck
from .calibrate import quantize
from .engine import Engine, QuantizedModel, backends, best_backend
from .errors import InvalidArgumentError, UnsupportedError
from .loaders import load
from .sample_texts import CALIBRATION, SENTENCES
from .sentence import SentenceEncoder


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up: first-run packing and buffer allocation
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def _print_matrix(sentences, vecs) -> None:
    sim = vecs @ vecs.T
    width = max(len(s) for s in sentences)
    short = [f"s{i}" for i in range(len(sentences))]
    print(" " * (width + 6) + "".join(f"{s:>7}" for s in short))
    for i, s in enumerate(sentences):
        print(f"{short[i]:>3}  {s:<{width}} " + "".join(f"{v:7.3f}" for v in sim[i]))


def _bench_ids(args, model) -> np.ndarray:
    """B=1 ids of --seq tokens, refused past the model's positions (as `bench` does)."""
    from .bench import token_ids
    limit = model.config.max_position_embeddings
    if args.seq > limit:
        raise InvalidArgumentError(f"--seq {args.seq} is longer than the model's {limit} "
                                   "positions (max_position_embeddings)")
    return token_ids(model.config.vocab_size, 1, args.seq)


def cmd_run_plan(args, model, plan, where: str) -> int:
    from .pipeline import PipelineExecutor

    needs_int8 = any(p.precision == "int8" for _, p in plan.units())
    source = model
    if isinstance(model, QuantizedModel):
        model = model.model
    elif needs_int8:
        source = quantize(model, CALIBRATION)
    ids = _bench_ids(args, model)
    engine = Engine(source, plan=plan)
    print(f"plan {where}:\n{engine.describe()}")
    encoder = SentenceEncoder(engine)
    sentences = args.sentences or SENTENCES
    _print_matrix(sentences, encoder.encode(sentences))
    print(f"\nB=1 S={ids.shape[1]} latency: {_median_ms(lambda: engine.run(ids), args.repeats):.1f} ms")
    if engine.last_transfers:
        print("transfers: " + ", ".join(f"{a}->{b} {ms:.2f} ms" for a, b, ms in engine.last_transfers))
    if len(plan.stages()) > 1:
        pipe = PipelineExecutor(engine)
        pipe.run([ids] * max(8, args.repeats))
        st = pipe.stats
        stages = ", ".join(f"stage {k}: {ms:.1f} ms" for k, ms in st.stage_ms.items())
        print(f"pipelined: {st.throughput:.2f} inferences/s ({stages})")
    return 0


def cmd_run(args) -> int:
    from .plan import Plan

    precisions = args.precisions.split(",") if args.precisions else None
    for precision in precisions or ():
        if precision not in nat.PRECISIONS:
            raise InvalidArgumentError(f"--precisions: unknown precision {precision!r}: "
                                       f"choose from {list(nat.PRECISIONS)}")
    loaded = load(args.model, task=args.task)
    # An int8 .armbert file loads as a QuantizedModel: it runs at int8, as stored.
    stored = loaded if isinstance(loaded, QuantizedModel) else None
    model = stored.model if stored else loaded
    if args.plan:
        return cmd_run_plan(args, stored or model, Plan.load(args.plan), args.plan)
    if model.default_plan is not None and not (args.backend or precisions or args.threads):
        # A model file written with a plan runs on it, as Engine(load(file)) does.
        return cmd_run_plan(args, stored or model, Plan.load(model.default_plan),
                            f"stored in {model.source}")
    backend = args.backend or best_backend()
    sentences = args.sentences or SENTENCES
    precisions = precisions or (["int8"] if stored else ["fp32", "fp16", "int8"])
    if stored and precisions != ["int8"]:
        raise UnsupportedError(f"{model.source} holds int8 weights: it runs at int8 only")
    ids = _bench_ids(args, model)
    print(f"model: {model.source} (L={model.config.num_hidden_layers}, "
          f"H={model.config.hidden_size}); backend: {backend}; threads: {args.threads or 'all'}")
    reference = None
    rows = []
    for precision in precisions:
        source = stored or (quantize(model, CALIBRATION, backend=backend)
                            if precision == "int8" else model)
        engine = Engine(source, backend=backend, precision=precision, threads=args.threads)
        encoder = SentenceEncoder(engine)
        vecs = encoder.encode(sentences)
        if reference is None:
            reference = vecs
            print(f"\ncosine similarity ({precision}):")
            _print_matrix(sentences, vecs)
        agree = float(np.min(np.sum(vecs * reference, axis=1)))
        batch_ms = _median_ms(lambda: encoder.encode(sentences), args.repeats)
        seq_ms = _median_ms(lambda: engine.run(ids), args.repeats)
        rows.append((precision, batch_ms, seq_ms, agree))
    print(f"\nlatency on {backend} (median of {args.repeats}):")
    print(f"{'precision':<10}{'sentences (ms)':>16}{f'B=1 S={args.seq} (ms)':>20}"
          f"{'cos vs ' + precisions[0]:>14}")
    for precision, batch_ms, seq_ms, agree in rows:
        print(f"{precision:<10}{batch_ms:>16.1f}{seq_ms:>20.1f}{agree:>14.5f}")
    return 0


def cmd_info(args) -> int:
    print(f"backends in this build: {', '.join(backends())}")
    print(f"cpu features: {', '.join(nat.cpu_features()) or 'none detected'}")
    isa = os.environ.get("ARMBERT_ISA") or "auto"
    print(f"host isa levels: {', '.join(nat.host_isa_levels())} (ARMBERT_ISA={isa})")
    print(f"library: {nat.library_path()}")
    for b in backends():
        try:
            with nat.Context(b) as ctx:
                print(f"  {ctx.describe()}")
        except Exception as e:  # a backend compiled in but without a device
            print(f"  {b}: unavailable: {e}")
    return 0


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line naming the problem, exit status 2 (argparse's own
    status), without the usage block (every armbert subcommand, the planner's too)."""

    def error(self, message: str):
        message = re.sub(r"^argument (\S+): must", r"\1 must", message)
        self.exit(2, f"{self.prog}: error: {message}\n")


def count_arg(name: str, minimum: int = 1, maximum=None):
    """An argparse type: an integer in [minimum, maximum], named in the error."""
    def parse(text: str) -> int:
        top = maximum() if callable(maximum) else maximum
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (top is not None and value > top):
            span = f">= {minimum}" if top is None else f"in [{minimum}, {top}]"
            raise argparse.ArgumentTypeError(f"must be an integer {span}, got {text!r}")
        return value
    parse.__name__ = name
    return parse


def _fail(message: str) -> int:
    print(f"armbert: error: {' '.join(str(message).split())}", file=sys.stderr)
    return 2


# Subcommands implemented by the planner package (name, module, function, help).
PLANNER_COMMANDS = [
    ("plan", "planner.search.cli", "plan_main", "search a plan: pipeline split, CPU/GPU, precision"),
    ("profile", "planner.cli", "profile_main", "profiling campaign (BERTPerf design space)"),
    ("predict", "planner.cli", "predict_main", "predict latency of a config from a fitted predictor"),
    ("evaluate", "planner.cli", "evaluate_main", "evaluate predictors against held-out measurements"),
    ("transfer", "planner.cli", "transfer_main", "move a fitted BERTPerf to this target"),
]


def main(argv=None) -> int:
    ap = OneLineParser(prog="armbert", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="embed sentences with the bundled model, show latency")
    r.add_argument("--model", default=None,
                   help="HF directory, .armbert or .onnx file (default: bundled)")
    r.add_argument("--backend", default=None, choices=nat.BACKENDS)
    r.add_argument("--precisions", default=None,
                   help="default fp32,fp16,int8 (an int8 .armbert file: int8)")
    r.add_argument("--threads", type=count_arg("threads", 1, argcheck.max_threads), default=None)
    r.add_argument("--seq", type=count_arg("seq"), default=128)
    r.add_argument("--repeats", type=count_arg("repeats"), default=10)
    r.add_argument("--sentences", nargs="+", default=None)
    r.add_argument("--plan", default=None, help="a plan JSON file (armbert plan writes one)")
    r.add_argument("--task", default=None,
                   help="'encoder' drops a head the checkpoint has (as armbert.load's task=)")
    r.set_defaults(fn=cmd_run)
    for name, module, fn, text in PLANNER_COMMANDS:
        sp = sub.add_parser(name, help=text, add_help=False)
        sp.set_defaults(fn=None, planner=(module, fn))
    from .convert import add_parser as add_convert
    add_convert(sub)
    from .bench import add_parser as add_bench
    add_bench(sub, count_arg)
    i = sub.add_parser("info", help="backends, CPU features, devices")
    i.set_defaults(fn=cmd_info)
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in {c[0] for c in PLANNER_COMMANDS}:
        # The planner parses its own arguments.
        module, fn = next((m, f) for n, m, f, _ in PLANNER_COMMANDS if n == argv[0])

        def call():
            import importlib
            return getattr(importlib.import_module(module), fn)(argv[1:]) or 0
    else:
        args = ap.parse_args(argv)

        def call():
            return args.fn(args)
    from .errors import ArmbertError
    try:
        return call()
    except ArmbertError as e:
        return _fail(e)
    except UnicodeDecodeError as e:  # a text file (--calibration ...) that is not UTF-8
        return _fail(f"a text file is not UTF-8: {e}")
    except OSError as e:  # a file that is not there or not readable
        return _fail(f"{e.filename or ''}: {e.strerror or e}" if e.filename else e)
    except KeyboardInterrupt:
        print("armbert: interrupted", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - a bug still gets one line, never a traceback
        if os.environ.get("ARMBERT_TRACEBACK") == "1":
            raise
        return _fail(f"internal error ({type(e).__name__}: {e}); "
                     "ARMBERT_TRACEBACK=1 shows where")


if __name__ == "__main__":
    sys.exit(main())
