"""`armbert plan`: measure this machine, search, write a plan (+ a Gantt PNG).

    armbert plan --objective throughput --devices big=host:0 little=host:1 --out plan.json
    armbert plan --objective latency --devices big=neon:4-7 gpu=cl --precision-budget 0.01
    armbert plan --predictor bertperf.json --devices big=host:0:1 little=host:1:1
    armbert plan --predictor bertperf.json --objective latency --split ga
    armbert plan --objective edp --power-cmd "cat /sys/bus/i2c/.../power_uW | awk '{print $1/1e6}'"
    armbert run --plan plan.json

A device is ``name=backend[:cores[:threads]]``, cores as ``0``, ``0,1`` or ``4-7``.
The plan's ``meta`` records the objective, the predicted and the measured
figures and how many measurements the search took. With ``--predictor`` the search
runs on predicted costs and one run confirms it; a disagreement beyond the
predictor's stated error is reported and the plan is searched again on measured
costs.
"""
from __future__ import annotations

import argparse
import os

import numpy as np
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

from armbert.cli import OneLineParser, count_arg
from armbert.errors import MissingDependencyError
from armbert.plan import PRECISIONS, Device, Plan

from . import objectives as obj
from .measure_engine import EngineRunner, RunSettings, gantt_png, steady_throughput
from .pipeline import Split, TableMeasure, binary_search, exhaustive_search, split_plan
from .precision import Budget, measure_sensitivity, search_precision
from .split import MappingProblem, OpGraph, chain_dp, chain_plan, transfer_table


def parse_device(spec: str) -> tuple[str, Device]:
    """``big=neon:4-7:4`` -> ("big", Device("neon", (4, 5, 6, 7), 4))."""
    if "=" not in spec:
        raise argparse.ArgumentTypeError(f"device {spec!r}: write name=backend[:cores[:threads]]")
    name, rest = spec.split("=", 1)
    parts = rest.split(":")
    if not name or not parts[0] or len(parts) > 3:
        raise argparse.ArgumentTypeError(f"device {spec!r}: write name=backend[:cores[:threads]]")
    cores: list[int] = []
    try:
        for chunk in (parts[1].split(",") if len(parts) > 1 and parts[1] else []):
            if "-" in chunk:
                a, b = chunk.split("-")
                if int(b) < int(a):
                    raise argparse.ArgumentTypeError(
                        f"device {spec!r}: core range {chunk} runs backwards (write {b}-{a})")
                cores += range(int(a), int(b) + 1)
            else:
                cores.append(int(chunk))
        threads = int(parts[2]) if len(parts) > 2 and parts[2] else None
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"device {spec!r}: cores and threads are integers") from None
    return name, Device(parts[0], tuple(cores), threads)


def host_cores() -> set[int]:
    """The machine's CPUs (not this thread's affinity: pinning a context narrows it)."""
    return set(range(os.cpu_count() or 1))


def parse_devices(specs: Sequence[str]) -> dict[str, Device]:
    """Parses and validates --devices: names are unique, no two devices are the same
    backend on the same cores, CPU cores exist (and are ours to use)."""
    devices: dict[str, Device] = {}
    if not specs:
        raise argparse.ArgumentTypeError("--devices: name at least one device")
    cpus = host_cores()
    for spec in specs:
        name, d = parse_device(spec)
        if name in devices:
            raise argparse.ArgumentTypeError(f"device name {name!r} given twice ({spec!r}); "
                                             "each device needs its own name")
        same = [n for n, o in devices.items() if o.backend == d.backend and o.cores == d.cores]
        if same:
            raise argparse.ArgumentTypeError(f"devices {same[0]!r} and {name!r} are the same "
                                             f"{d.backend} device (cores {list(d.cores)})")
        bad = sorted(set(d.cores) - cpus) if d.backend in ("host", "neon") else []
        if bad:
            raise argparse.ArgumentTypeError(f"device {spec!r}: core(s) {bad} do not exist "
                                             f"here (CPUs {min(cpus)}-{max(cpus)})")
        if d.threads is not None and d.threads < 1:
            raise argparse.ArgumentTypeError(f"device {spec!r}: threads must be >= 1")
        devices[name] = d
    return devices


def default_devices() -> list[str]:
    import armbert
    if "neon" in armbert.backends():
        return ["big=neon"]
    n = os.cpu_count() or 1
    return ["big=host:0", "little=host:1"] if n >= 2 else ["cpu=host:0"]


def build_parser(prog: str = "armbert plan") -> argparse.ArgumentParser:
    p = OneLineParser(prog=prog, description=__doc__.split("\n\n")[0])
    p.add_argument("--objective", choices=obj.OBJECTIVES, default="throughput")
    p.add_argument("--devices", nargs="*", metavar="NAME=BACKEND[:CORES[:THREADS]]",
                   help=f"devices to place units on (default here: {' '.join(default_devices())})")
    p.add_argument("--precision-budget", type=float, default=None,
                   help="allowed 1 - min token cosine vs fp32; per-layer precision is searched "
                        "(default: everything fp32)")
    p.add_argument("--max-abs-budget", type=float, default=None,
                   help="also bound the max abs difference from fp32")
    p.add_argument("--precisions", default="fp32,fp16,int8", help="precisions to choose from")
    p.add_argument("--model", default=None, help="model path (default: bundled MiniLM)")
    p.add_argument("--seq", type=count_arg("seq"), default=128, help="tokens per input")
    p.add_argument("--repeats", type=count_arg("repeats"), default=5, help="timed runs per measurement (median)")
    p.add_argument("--items", type=count_arg("items"), default=16, help="inputs per pipelined run while searching")
    p.add_argument("--final-items", type=count_arg("final-items"), default=32,
                   help="inputs in the final measured run of the chosen plan (and its Gantt chart)")
    p.add_argument("--search", choices=("binary", "exhaustive"), default="binary",
                   help="pipeline split search (throughput/energy objectives)")
    p.add_argument("--no-feedback", action="store_true",
                   help="plain binary search (midpoint probes) instead of PipeBERT's feedback")
    p.add_argument("--stage-timing", choices=("pipelined", "alone"), default="pipelined",
                   help="stage latencies while the pipeline streams, or each stage alone")
    p.add_argument("--power-cmd", default=None,
                   help="shell command printing the power draw in watts (energy objectives)")
    p.add_argument("--predictor", nargs="+", default=None, metavar="FILE",
                   help="fitted latency predictors (armbert evaluate/profile --fit): search on "
                        "their predicted costs and measure only to confirm; one per "
                        "(backend, threads, precision) target")
    p.add_argument("--split", choices=("dp", "ga"), default="dp",
                   help="latency objective: chain DP over layers, or the genetic algorithm "
                        "over the branched op graph (q/k/v in parallel), with --predictor")
    p.add_argument("--out", default="plan.json")
    p.add_argument("--kirin970", action="store_true",
                   help="print the PipeBERT search on the papers' Kirin 970 figures, and exit")
    p.add_argument("--quiet", action="store_true")
    return p


class _Usage(Exception):
    """A bad argument: printed as ``armbert plan: <message>``, exit status 2."""


def plan_main(argv: Optional[Sequence[str]] = None) -> int:
    """`armbert plan`: checks the arguments, picks the per-layer precisions, places the
    units, measures the chosen plan and writes it (with its Gantt chart)."""
    args = build_parser().parse_args(argv)
    if args.kirin970:
        from .kirin970 import print_kirin970_report
        print_kirin970_report()
        return 0
    say = (lambda *a: None) if args.quiet else (lambda *a: print(*a, flush=True))
    try:
        devices, predictors, choices, sensor = _check_args(args, say)
    except _Usage as e:
        print(f"armbert plan: error: {e}", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    model = _load_model(args.model)
    if args.seq > model.config.max_position_embeddings:
        print(f"armbert plan: error: --seq {args.seq} is longer than the model's "
              f"{model.config.max_position_embeddings} positions", file=sys.stderr)
        return 2
    L = model.config.num_hidden_layers
    settings = RunSettings(seq=args.seq, repeats=args.repeats, items=args.items)
    meta: dict = {"objective": args.objective, "created_by": "armbert plan",
                  "settings": settings.to_dict(), "model": str(model.source)}
    precisions = ["fp32"] * L
    runner = EngineRunner(model, settings)
    if args.precision_budget is not None:
        runner, precisions, meta["precision"] = _choose_precisions(
            args, model, settings, devices, predictors, choices, say)
    plan, info = _place(args, runner, model, devices, precisions, choices, predictors, sensor,
                        say)
    _confirm_and_write(args, runner, plan, info, meta, t_start, say)
    return 0


def _load_model(path: Optional[str]):
    """The model to plan for: ``--model``, or the bundled MiniLM."""
    import armbert
    return armbert.load(path) if path else armbert.load()


def _check_args(args, say):
    """Devices, predictors, precision choices and the power sensor from the arguments
    (in this order, each refused with a one-line message by :class:`_Usage`)."""
    try:
        devices = parse_devices(args.devices if args.devices is not None else default_devices())
    except argparse.ArgumentTypeError as e:
        raise _Usage(e) from None
    predictors = []
    if args.predictor:
        from planner.cli import CLIError, load_predictor
        try:
            predictors = [load_predictor(f) for f in args.predictor]
        except CLIError as e:
            raise _Usage(e) from None
    if args.split == "ga" and not predictors:
        raise _Usage("--split ga needs --predictor (per-op costs on every device)")
    choices = tuple(c.strip() for c in args.precisions.split(","))
    if "fp32" not in choices or not set(choices) <= set(PRECISIONS):
        raise _Usage(f"--precisions {args.precisions!r}: choose from {list(PRECISIONS)}, "
                     "fp32 included (it is the reference that always fits the budget)")
    for flag, v in (("--precision-budget", args.precision_budget),
                    ("--max-abs-budget", args.max_abs_budget)):
        if v is not None and not v >= 0:
            raise _Usage(f"{flag} must be >= 0, got {v}")
    sensor = None
    if args.objective in ("energy", "edp"):
        sensor, message = obj.find_power_sensor(args.power_cmd)
        if sensor is None:
            raise _Usage(f"--objective {args.objective}: {message}")
        say(message)
    import armbert
    missing = sorted({d.backend for d in devices.values()} - set(armbert.backends()))
    if missing:
        raise _Usage(f"backend(s) {missing} are not in this build "
                     f"(it has {armbert.backends()})")
    return devices, predictors, choices, sensor


def _choose_precisions(args, model, settings, devices, predictors, choices, say):
    """Per-layer precision under the accuracy budget, on the first device: layer
    sensitivities measured against fp32, layer latencies (predicted where the
    predictors cover them, else measured) and precision-switch costs. Returns the
    runner (calibrated, on the quantized model when int8 is a choice), the
    precisions and the plan's ``meta["precision"]``."""
    import armbert
    from armbert.sample_texts import CALIBRATION, SENTENCES
    from armbert.sentence import tokenizer_for
    L = model.config.num_hidden_layers
    source = armbert.quantize(model, CALIBRATION) if "int8" in choices else model
    tok = tokenizer_for(model)
    enc = tok(SENTENCES, max_length=min(args.seq, model.config.max_position_embeddings))
    calib = [(enc["input_ids"][i:i + 1], enc["attention_mask"][i:i + 1])
             for i in range(len(SENTENCES))]
    runner = EngineRunner(source, settings, calibration=calib)
    name0 = next(iter(devices))
    one = lambda precs: split_plan({name0: devices[name0]}, Split((name0,), (), L), precs)
    lower = [c for c in choices if c != "fp32"]
    say(f"precision: sensitivity of {L} layers x {lower} on {name0} ...")
    sens = measure_sensitivity(runner.deviation, one, L, lower)
    layer_ms = _layer_ms(args, runner, model, devices, name0, predictors, choices, say)
    switch = _switch_costs(runner, one, L, name0, choices, predictors)
    budget = Budget(args.precision_budget, args.max_abs_budget)
    pres = search_precision(sens, layer_ms, budget, runner.deviation, one, choices, switch)
    precisions = list(pres.precisions)
    say(f"precision: {precisions} (measured 1-cos {pres.measured.cosine:.2e}, "
        f"max abs {pres.measured.max_abs:.3g}; "
        f"predicted {pres.predicted_ms:.2f} ms on {name0})")
    return runner, precisions, {"budget": {"cosine": budget.cosine, "max_abs": budget.max_abs},
                                **pres.to_dict(), "sensitivity": sens.to_dict()}


def _layer_ms(args, runner, model, devices, name0, predictors, choices, say) -> dict:
    """Per-layer latency per precision on ``name0``: from the predictors where they
    cover it, else measured."""
    if not predictors:
        return {p: runner.layer_ms(name0, devices[name0], p)[1:] for p in choices}
    from .predicted import Shape, predicted_costs
    c, L = model.config, model.config.num_hidden_layers
    shape = Shape(L, c.hidden_size, c.num_attention_heads, c.intermediate_size,
                  min(args.seq, c.max_position_embeddings), 1)
    pc = predicted_costs(predictors, {name0: devices[name0]}, shape, choices,
                         lambda n, d, p: runner.layer_ms(n, d, p))
    say("precision: layer latencies " + ", ".join(f"{k} <- {v}" for k, v in pc.sources.items()))
    return {p: list(pc.table.row(name0, p))[1:] for p in choices}


def _switch_costs(runner, one, L, name0, choices, predictors) -> dict:
    """The cost of switching precision between layers, per ``a->b``: measured as the
    segment transfer of a half-and-half plan, or taken as free with predictors (a
    conversion, no copy, not predicted)."""
    switch = {}
    for a in choices:
        for b in choices:
            if a != b and predictors:
                switch[f"{a}->{b}"] = 0.0
            elif a != b:
                half = [a] * (L // 2) + [b] * (L - L // 2)
                rec = transfer_table(runner.transfers(one(half)), level="segment")
                switch[f"{a}->{b}"] = rec.get(f"{name0}/{a}->{name0}/{b}", 0.0)
    return switch


def _place(args, runner, model, devices, precisions, choices, predictors, sensor, say):
    """The placement: searched on predicted costs (re-planned on measured ones when
    the confirming run disagrees), or on measured costs for the objective."""
    L = model.config.num_hidden_layers
    if predictors and sensor is None:
        plan, info = _predicted_plan(args, runner, model, devices, precisions, choices,
                                     predictors, say)
        if info.get("replan"):
            say("re-planning on measured costs ...")
            plan, measured_info = (_latency_plan(runner, devices, precisions, L, say)
                                   if args.objective == "latency" else
                                   _pipeline_plan(args, runner, devices, precisions, L, say))
            info["measured_search"] = measured_info
        return plan, info
    if args.objective == "latency":
        return _latency_plan(runner, devices, precisions, L, say)
    say(f"pipeline: {args.search} search over {list(devices)} "
        f"({args.stage_timing} stage timing) ...")
    found = _pipeline_search(args, runner, devices, precisions, L)
    if sensor is not None:
        return _energy_plan(runner, devices, precisions, L, found, sensor, args.objective, say)
    return found.plan, {"search": found.to_dict()}


def _confirm_and_write(args, runner, plan, info, meta, t_start, say) -> None:
    """Measures the chosen plan pipelined, writes it with its meta and Gantt chart."""
    stats = runner.pipelined(plan, items=args.final_items)
    info["measured_throughput_inf_s"] = stats.throughput
    if "predicted_throughput_inf_s" in info and not info.get("replan"):
        say(f"predicted {info['predicted_throughput_inf_s']:.2f} inf/s, measured "
            f"{stats.throughput:.2f} inf/s over {stats.items} inputs")
    info["measured_steady_inf_s"] = steady_throughput(stats)
    info["measured_stage_ms"] = {str(k): v for k, v in stats.stage_ms.items()}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    gantt = out.with_suffix(".gantt.png")
    try:  # the chart is a picture of what the plan's meta records: optional
        gantt_png(stats, gantt, title=f"armbert plan --objective {args.objective}: "
                  f"{stats.throughput:.2f} inf/s", plan=plan)
    except MissingDependencyError as e:
        say(f"no Gantt chart: {e}")
        gantt = None
    meta.update(info)
    meta.update({"measurements": runner.measurements, "gantt": gantt.name if gantt else None,
                 "search_seconds": round(time.perf_counter() - t_start, 2)})
    plan = Plan(plan.devices, plan.embeddings, plan.layers, meta)
    plan.save(out)
    say(f"plan: {_describe(plan)}")
    steady = info["measured_steady_inf_s"]
    say(f"measured: {stats.throughput:.2f} inf/s over {stats.items} inputs"
        + (f" ({steady:.2f} once full)" if steady else "") + ", stage ms "
        f"{ {k: round(v, 2) for k, v in stats.stage_ms.items()} }; "
        f"{runner.measurements} measurements")
    say(f"wrote {out}" + (f" and {gantt}" if gantt else ""))


def _pipeline_search(args, runner, devices, precisions, L):
    search = exhaustive_search if args.search == "exhaustive" else binary_search
    kw = {} if args.search == "exhaustive" else {"feedback": not args.no_feedback}
    return search(runner.stage_measure(args.stage_timing), devices, L, precisions, **kw)


def _pipeline_plan(args, runner, devices, precisions, L, say):
    found = _pipeline_search(args, runner, devices, precisions, L)
    return found.plan, {"search": found.to_dict()}


def _predicted_plan(args, runner, model, devices, precisions, choices, predictors, say):
    """Search on predicted costs; measure the chosen plan once to confirm. A
    disagreement beyond the predictors' stated error is said and asks for a
    re-plan on measured costs (``info['replan']``)."""
    from .predicted import Shape, layer_majority, op_graph_problem, predicted_costs
    from .split import genetic_search
    cfg = model.config
    seq = min(args.seq, cfg.max_position_embeddings)
    shape = Shape(cfg.num_hidden_layers, cfg.hidden_size, cfg.num_attention_heads,
                  cfg.intermediate_size, seq, 1)
    L = shape.L
    need = sorted(set(precisions) | {"fp32" if precisions[0] == "int8" else precisions[0]})
    m0 = runner.measurements

    def measure_row(name, d, prec):
        say(f"  {name}/{prec}: no predictor for this target, measured")
        return runner.layer_ms(name, d, prec)

    costs = predicted_costs(predictors, devices, shape, need, measure_row)
    say("predicted costs: " + ", ".join(f"{k} <- {v}" for k, v in costs.sources.items())
        + f"; stated error ±{costs.error_pct:.1f} %"
        + (f"; transfers: {costs.transfers}" if costs.transfers else ""))
    info: dict = {"predicted_costs": costs.table.to_dict(), "stated_error_pct": costs.error_pct}
    names = list(devices)
    if args.objective == "latency":
        if args.split == "ga":
            prec = precisions[0]
            problem = op_graph_problem(costs, names, prec, shape)
            res = genetic_search(problem)
            per_layer = layer_majority(res.assignment, problem.graph.ops, L,
                                       problem.latency_ms, problem.devices)
            plan = chain_plan(devices, costs.table.units, [per_layer[0]] + per_layer, precisions)
            info["ga"] = {**res.to_dict(), "layer_devices": per_layer}
        else:
            emb_prec = "fp32" if precisions[0] == "int8" else precisions[0]
            unit_prec = [emb_prec] + list(precisions)
            lat = np.array([[costs.table.row(d, unit_prec[u])[u] for d in names]
                            for u in range(len(costs.table.units))])
            tr = np.array([[costs.table.transfer(a, b) for b in names] for a in names])
            best = chain_dp(MappingProblem(OpGraph.chain(costs.table.units), tuple(names),
                                           lat, tr))
            plan = chain_plan(devices, costs.table.units, best.assignment, precisions)
        predicted = sum(TableMeasure(costs.table)(plan).values())
        measured = runner.latency_ms(plan)
        info.update(predicted_ms=predicted, confirm_measured_ms=measured)
        rel = measured / predicted - 1.0
        what = f"latency: predicted {predicted:.2f} ms, measured {measured:.2f} ms"
    else:
        search = exhaustive_search if args.search == "exhaustive" else binary_search
        kw = {} if args.search == "exhaustive" else {"feedback": not args.no_feedback}
        found = search(TableMeasure(costs.table), devices, L, precisions, **kw)
        plan = found.plan
        predicted = found.throughput
        measured = runner.pipelined(plan, items=args.final_items).throughput
        info.update(search=found.to_dict(), predicted_throughput_inf_s=predicted,
                    confirm_measured_inf_s=measured)
        rel = predicted / measured - 1.0 if measured > 0 else float("inf")
        what = f"throughput: predicted {predicted:.2f} inf/s, measured {measured:.2f} inf/s"
    info["confirm_measurements"] = runner.measurements - m0
    info["disagreement_pct"] = 100 * abs(rel)
    if 100 * abs(rel) > costs.error_pct:
        say(f"WARNING: {what}: {100 * abs(rel):.1f} % apart, more than the predictors' stated "
            f"±{costs.error_pct:.1f} %")
        info["replan"] = True
    else:
        say(f"{what}: within the stated ±{costs.error_pct:.1f} %")
    return plan, info


def _describe(plan: Plan) -> str:
    parts, run = [], None
    for unit, p in plan.units():
        key = (p.stage, p.device, p.precision)
        if run and run[0] == key:
            run[2] = unit
        else:
            run = [key, unit, unit]
            parts.append(run)
    return " | ".join(f"s{k[0]} {k[1]}/{k[2]}: {a}" + (f"..{b}" if b != a else "")
                      for k, a, b in parts)


def _latency_plan(runner: EngineRunner, devices, precisions, L, say):
    """Chain DP over measured per-unit latencies and transfers, verified by measuring
    the chosen plan and each device alone (the fastest measured wins)."""
    need = sorted(set(precisions) | {"fp32" if precisions[0] == "int8" else precisions[0]})
    say(f"latency: profiling {list(devices)} at {need} ...")
    table = runner.profile(devices, need)
    emb_prec = "fp32" if precisions[0] == "int8" else precisions[0]
    unit_prec = [emb_prec] + list(precisions)
    names = list(devices)
    lat = np.array([[table.row(d, unit_prec[u])[u] for d in names]
                    for u in range(len(table.units))])
    tr = np.array([[table.transfer(a, b) for b in names] for a in names])
    problem = MappingProblem(OpGraph.chain(table.units), tuple(names), lat, tr)
    best = chain_dp(problem)
    candidates = {"dp": chain_plan(devices, table.units, best.assignment, precisions)}
    for n in names:
        candidates[n] = chain_plan(devices, table.units, [n] * len(table.units), precisions)
    measured = {k: runner.latency_ms(p) for k, p in candidates.items()}
    pick = min(measured, key=measured.get)
    say(f"latency: predicted {best.latency_ms:.2f} ms for {best.assignment}; measured "
        + ", ".join(f"{k} {v:.2f} ms" for k, v in measured.items()))
    return candidates[pick], {"predicted_ms": best.latency_ms, "mapping": list(best.assignment),
                              "measured_ms": measured, "chosen": pick,
                              "cost_table": table.to_dict()}


def _energy_plan(runner, devices, precisions, L, found, sensor, objective, say):
    """Energy/EDP: each device alone and the best pipeline, measured with the sensor."""
    cands = {"pipeline": found.plan}
    for n in devices:
        cands[n] = split_plan(devices, Split((n,), (), L), precisions)
    scores = {}
    for k, plan in cands.items():
        tput = {}

        def run():
            stats = runner.pipelined(plan)
            tput["v"] = stats.throughput
            return stats.items

        energy = obj.measure_energy(run, sensor)
        scores[k] = obj.score(objective, throughput=tput["v"], energy=energy)
        say(f"{objective}: {k}: {scores[k].value:.4g} {scores[k].unit} "
            f"({energy.mean_watts:.2f} W, {tput['v']:.2f} inf/s)")
    pick = min(scores, key=lambda k: scores[k].value)
    return cands[pick], {"search": found.to_dict(), "chosen": pick,
                         "scores": {k: s.to_dict() for k, s in scores.items()}}


def main() -> None:  # python -m planner.search.cli (= armbert plan, its error handling too)
    from armbert.cli import main as armbert_main
    sys.exit(armbert_main(["plan", *sys.argv[1:]]))


if __name__ == "__main__":
    main()
