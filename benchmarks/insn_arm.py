#!/usr/bin/env python3
"""Retired AArch64 instructions per inference: armbert's NEON backend against
onnxruntime's aarch64 wheel, MiniLM B=1, one thread, counted in the arm64 test bed.

Unlike wall time under qemu-user (benchmarks/bench_arm.py), an instruction count does
not depend on how qemu translates each instruction mix nor on the machine's load: the
same binary and input retire the same instructions on a board (the count repeats
exactly; the record holds two counted runs to show it). It is not a time either: a
NEON multiply-accumulate and a scalar add count one each, and memory stalls count
nothing. Read it as the work each engine asks of the core.

    python3 benchmarks/bench_arm.py --prepare        # on the x86 host: the ONNX files
    python3 tools/insncount/insncount.py run --blocks --peers -- \\
        python3 benchmarks/insn_arm.py [--seq 128] [--out benchmarks/results/insn-arm-S128.json]

Per configuration: one warm-up inference (first-run packing, ORT's arena), then two
counted ``run`` calls (the total per inference, with the split by mapped file), then,
for armbert, one inference op by op with a span around each op (the engine's segment
loop, as ``armbert bench`` times it), which gives the per-op counts. ORT is counted as
a whole and by file: its Python API has no per-node hook.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path


HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

import insn_marks  # noqa: E402
from bench_arm import CALIBRATION, inputs, ort_session  # noqa: E402

RUNS = 2  # counted end-to-end inferences per configuration (span ids 1..RUNS)
OP_SPAN0 = 100  # per-op spans: OP_SPAN0 + index in the op list


def marked_ops(engine, ids, marks, names: list[str]) -> None:
    """One inference op by op, a span around each op; names collects the span names."""
    from armbert.segment import run_segments
    batch, seq = ids.shape
    ids32, add_mask, types = engine.prepare(ids)

    def step(seg, name, call) -> None:
        if name not in names:
            names.append(name)
        span = OP_SPAN0 + names.index(name)
        marks.begin(span)
        call()
        seg.synchronize()
        marks.end(span)

    with engine._lock:
        run_segments(engine.segments, batch, seq, engine.config.hidden_size, add_mask,
                     ids32, types, step=step)


def count(name: str, call, marks, engine=None, ids=None, symbols: int = 0) -> dict:
    call()  # warm-up
    maps = insn_marks.mappings()
    marks.reset()
    for r in range(1, RUNS + 1):
        marks.begin(r)
        call()
        marks.end(r)
    c = marks.dump()
    runs = [c.spans[r][1] for r in range(1, RUNS + 1)]
    files = insn_marks.by_file(c.blocks, maps + [m for m in insn_marks.mappings() if m not in maps])
    record = {"name": name, "insns_per_run": runs,
              "by_file": {f: n // RUNS for f, n in sorted(files.items(), key=lambda kv: -kv[1])
                          if n // RUNS >= 0.001 * runs[0]}}
    if symbols:
        record["top_symbols"] = [[n, k // RUNS] for n, k in insn_marks.by_symbol(c.blocks, symbols)]
    if engine is not None:
        names: list[str] = []
        marks.reset()
        marked_ops(engine, ids, marks, names)
        c = marks.dump()
        per_op: dict[str, int] = {}
        for i, op in enumerate(names):
            key = op.split(".")[-1] if op.startswith("layer.") else op
            per_op[key] = per_op.get(key, 0) + c.spans[OP_SPAN0 + i][1]
        record["per_op"] = per_op
        record["per_op_total"] = sum(per_op.values())
    print(f"  {name}: {runs[0] / 1e6:.1f} M instructions per inference "
          f"(runs {', '.join(str(n) for n in runs)})", file=sys.stderr, flush=True)
    return record


def engine_rows(backend: str, precisions: list[str], feed: dict, marks, symbols: int = 0,
                with_ort: bool = True) -> list[dict]:
    """Counted rows: armbert on `backend` per precision (int8 calibrated on CALIBRATION),
    then ORT fp32 and int8 on the prepared ONNX files (bench_arm.TREE_DIR)."""
    import armbert
    ids, mask, tt = feed["input_ids"], feed["attention_mask"], feed["token_type_ids"]
    model = armbert.load()
    rows = []
    for precision in precisions:
        source = armbert.quantize(model, CALIBRATION, backend=backend) if precision == "int8" else model
        engine = armbert.Engine(source, backend=backend, precision=precision, threads=1)
        rows.append({"engine": "armbert", "precision": precision,
                     "context": engine.segments[0].ctx.describe(),
                     **count(f"armbert {backend} {precision}", lambda: engine.run(ids, mask, tt),
                             marks, engine, ids, symbols)})
        engine.close()
    if with_ort:
        import onnxruntime as ort
        for precision, onnx_file in (("fp32", "minilm.onnx"), ("int8", "minilm-int8.onnx")):
            sess = ort_session(onnx_file, 1)
            rows.append({"engine": f"onnxruntime {ort.__version__}", "precision": precision,
                         **count(f"ort {precision}", lambda: sess.run(None, feed), marks,
                                 symbols=symbols)})
    return rows


def ratios_vs_ort(rows: list[dict]) -> dict[str, float]:
    """armbert's count / ORT's per precision (fp16 against ORT fp32, which has no fp16
    CPU kernels); empty without ORT rows."""
    ort_rows = {r["precision"]: r for r in rows if r["engine"].startswith("onnxruntime")}
    if not ort_rows:
        return {}
    return {r["precision"]: r["insns_per_run"][0] /
            (ort_rows.get(r["precision"]) or ort_rows["fp32"])["insns_per_run"][0]
            for r in rows if r["engine"] == "armbert"}


def print_rows(rows: list[dict], title: str, symbols: int = 0) -> None:
    """The table: count per engine and precision, armbert's ratio to ORT, per-op counts."""
    ratios = ratios_vs_ort(rows)
    print(title)
    print(f"{'engine':<24}{'precision':<10}{'M insns':>10}{'vs ORT':>8}")
    for r in rows:
        n = r["insns_per_run"][0]
        ratio = f"{ratios[r['precision']]:.2f}" if r["engine"] == "armbert" and ratios else ""
        print(f"{r['engine']:<24}{r['precision']:<10}{n / 1e6:>10.1f}{ratio:>8}")
    for r in rows:
        for name, n in r.get("top_symbols", [])[:symbols]:
            print(f"  {r['engine']} {r['precision']}: {n / 1e6:8.1f} M  {name[:110]}")
    for r in rows:
        if "per_op" in r:
            ops = ", ".join(f"{k} {v / 1e6:.1f}" for k, v in
                            sorted(r["per_op"].items(), key=lambda kv: -kv[1]))
            print(f"armbert {r['precision']} per op (M): {ops}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--precisions", default="fp32,int8,fp16",
                    help="armbert's; ORT runs fp32 and int8 (it has no fp16 CPU kernels)")
    ap.add_argument("--no-ort", action="store_true", help="armbert only")
    ap.add_argument("--symbols", type=int, default=0,
                    help="also record the N functions that retire the most (needs --blocks)")
    ap.add_argument("--out", default=None, help="JSON record (default: print only)")
    a = ap.parse_args(argv)
    marks = insn_marks.Marks()
    if not marks.available():
        print("not counted: run under tools/insncount/insncount.py (see --help)", file=sys.stderr)
        return 2

    precisions = [p for p in a.precisions.split(",") if p]
    rows = engine_rows("neon", precisions, inputs(a.seq), marks, a.symbols, not a.no_ort)
    print_rows(rows, f"MiniLM B=1 S={a.seq}, 1 thread, retired AArch64 instructions per "
                     f"inference (qemu TCG plugin)", a.symbols)
    if a.out:
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps({
            "version": 1, "what": "retired AArch64 instructions per inference, 1 thread",
            "counter": "tools/insncount (qemu-user TCG plugin, inline count per block)",
            "machine": platform.machine(), "seq": a.seq, "batch": 1,
            "ratios_vs_ort": ratios_vs_ort(rows), "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
