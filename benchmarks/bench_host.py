#!/usr/bin/env python3
"""armbert's host backend against onnxruntime and torch, one process, same threads.

For each model x precision x (batch, seq) the frameworks run the same token ids and
are timed in interleaved rounds (benchmarks/timing.py). Before timing, each
framework's output is checked against torch FP32, so a broken export or a model left
in training mode (dropout) shows up as an error column instead of a fast number.

    python3 benchmarks/bench_host.py [--models minilm,bert-base] [--precisions fp32,int8]
        [--threads 2] [--seq 128] [--batch 1] [--isa auto] [--peers ort,ort-fused,torch]
        [--quick] [--out PATH]

On a smaller x86 CPU than this one (every engine capped, not armbert alone; a
portable build, what a wheel holds, so no AVX-512 registers leak into AVX2 code):

    ARMBERT_PORTABLE=1 python3 build.py && cp armbert/_lib/x86_64/libarmbert.so /tmp/lib.so
    python3 build.py
    ARMBERT_LIBRARY=/tmp/lib.so python3 tools/cpucap/cpucap.py --isa avx2 -- \
        benchmarks/bench_host.py --threads 1 --out benchmarks/results/host-avx2-1t.json

Peers: `ort` (the exported graph, ORT_ENABLE_ALL), `ort-fused` (the same graph through
onnxruntime.transformers.optimizer's BERT fusions: Attention, SkipLayerNorm,
BiasGelu...; int8 by quantize_dynamic of the fused graph) and `torch` (eager; int8 by
quantize_dynamic). --isa takes armbert host ISA levels (kernels/src/host/isa.h):
one armbert column per level, forced with ARMBERT_ISA at engine creation ("auto":
the best this CPU runs, the plain `armbert` column), all timed in the same rounds.
--seq and --batch take comma lists. The JSON (version 2: results keyed by column,
ratios of each armbert column to the best peer) holds the machine, the settings and
one row per config, so the README's numbers can be regenerated.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime
import gc
import json
import logging
import os
import platform
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))  # benchmark the checkout next to this file
sys.path.insert(0, str(HERE))

import timing  # noqa: E402

SCHEMA_VERSION = 2
MODELS = ("minilm", "bert-base")
PRECISIONS = ("fp32", "int8")  # ORT and torch have no CPU fp16 path to compare with
PEERS = ("ort", "ort-fused", "torch")
SEED = 0
CLS, SEP = 101, 102  # BERT uncased vocab; both checkpoints use it
DEFAULT_OUT = HERE / "results" / "host.json"
QUICK_OUT = HERE / "results" / "host-quick.json"  # a smoke run never overwrites the real numbers
OPSET = 17


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def throttled_log(every_s: float) -> Callable[[str], None]:
    last = [0.0]

    def emit(msg: str) -> None:
        if time.monotonic() - last[0] >= every_s:
            last[0] = time.monotonic()
            log("  " + msg)
    return emit


# -- machine -----------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("model name", "Model", "Hardware")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    import armbert
    import onnxruntime
    import torch
    import transformers
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        from armbert import _native
        features = _native.cpu_features()
        levels = _native.host_isa_levels()
    except Exception as e:  # the table is still worth having without it
        features = levels = [f"unavailable: {e}"]
    return {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "armbert_cpu_features": features,
        # tools/cpucap: the level every library's CPUID saw (None: this CPU as it is)
        "cpucap": os.environ.get("ARMBERT_CPUCAP"),
        "armbert_library": os.environ.get("ARMBERT_LIBRARY") or "the package's own",
        "armbert_host_isa_levels": levels,
        "load_avg_start": list(os.getloadavg()),
        "software": {
            "python": platform.python_version(), "numpy": np.__version__,
            "armbert": armbert.__version__, "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__, "transformers": transformers.__version__,
        },
    }


# -- models ------------------------------------------------------------------------

@dataclass
class Model:
    name: str
    torch_fp32: object       # transformers BertModel, eval mode
    armbert_model: object    # armbert BertModel with the same weights
    onnx_fp32: Path
    onnx_fused: Path | None = None  # ORT's BERT fusions applied (None: --peers without it)


def load_torch_and_armbert(name: str):
    import armbert
    import torch
    import transformers
    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    if name == "minilm":
        from armbert.loaders.bundled import model_dir
        module = transformers.BertModel.from_pretrained(str(model_dir()), local_files_only=True)
        return module.eval(), armbert.load()
    if name == "bert-base":
        torch.manual_seed(SEED)
        module = transformers.BertModel(transformers.BertConfig()).eval()
        return module, armbert.load(module)
    raise ValueError(f"unknown model {name!r}: choose from {MODELS}")


def export_onnx(module, path: Path) -> Path:
    """The legacy (TorchScript) export ORT's BERT fusions expect (tools/onnx_export.py)."""
    from tools.onnx_export import export_legacy
    return export_legacy(module, path, OPSET)


def fuse_onnx(src: Path, dst: Path, module) -> Path:
    """onnxruntime.transformers.optimizer's BERT fusions (what ORT's BERT docs advise)."""
    from onnxruntime.transformers.optimizer import optimize_model
    cfg = module.config
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        m = optimize_model(str(src), model_type="bert", num_heads=cfg.num_attention_heads,
                           hidden_size=cfg.hidden_size)
        log(f"  ORT BERT fusions: {m.get_fused_operator_statistics()}")
        m.save_model_to_file(str(dst))
    finally:
        root.setLevel(level)
    return dst


def quantize_onnx(src: Path, dst: Path) -> dict:
    """ORT dynamic INT8 (QInt8 weights); per-channel when it works, per-tensor otherwise.
    DefaultTensorType: ONNX shape inference cannot type the outputs of the fused
    graph's com.microsoft ops (Attention, SkipLayerNormalization), which are float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic
    extra = {"DefaultTensorType": onnx.TensorProto.FLOAT}
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # "consider pre-processing" advice on every call
    try:
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options=extra)
            return {"weight_type": "QInt8", "per_channel": True}
        except Exception as e:
            log(f"  ORT per-channel quantization failed ({e}); using per-tensor")
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=False,
                             extra_options=extra)
            return {"weight_type": "QInt8", "per_channel": False,
                    "per_channel_error": str(e)}
    finally:
        root.setLevel(level)


def token_ids(batch: int, seq: int, vocab: int) -> np.ndarray:
    rng = np.random.default_rng(SEED)
    ids = rng.integers(1000, vocab, size=(batch, seq), dtype=np.int64)
    ids[:, 0] = CLS
    ids[:, -1] = SEP
    return ids


# -- runners: () -> last_hidden_state as numpy ----------------------------------------

Runner = Callable[[], np.ndarray]


def armbert_runner(model: Model, precision: str, threads: int, ids, mask, tt,
                   isa: str = "auto") -> Runner:
    """ARMBERT_ISA is read when the engine makes its contexts (here), not when it runs."""
    import armbert
    old = os.environ.get("ARMBERT_ISA")
    os.environ["ARMBERT_ISA"] = isa
    try:
        engine = armbert.Engine(model.armbert_model, backend="host", precision=precision,
                                threads=threads)
    finally:
        if old is None:
            os.environ.pop("ARMBERT_ISA", None)
        else:
            os.environ["ARMBERT_ISA"] = old
    return lambda: engine.run(ids, mask, tt).last_hidden_state


def armbert_column(isa: str) -> str:
    return "armbert" if isa == "auto" else f"armbert[{isa}]"


def ort_runner(onnx_path: Path, threads: int, ids, mask, tt) -> Runner:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt}
    return lambda: sess.run(None, feed)[0]


def torch_runner(module, ids, mask, tt) -> Runner:
    import torch
    ids_t, mask_t, tt_t = (torch.from_numpy(a) for a in (ids, mask, tt))

    def run():
        with torch.inference_mode():
            return module(input_ids=ids_t, attention_mask=mask_t,
                          token_type_ids=tt_t).last_hidden_state.numpy()
    return run


def torch_int8(module):
    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notice
        return torch.ao.quantization.quantize_dynamic(module, {torch.nn.Linear},
                                                      dtype=torch.qint8)


def accuracy(out: np.ndarray, ref: np.ndarray) -> dict:
    a, r = out.reshape(-1, out.shape[-1]), ref.reshape(-1, ref.shape[-1])
    cos = (a * r).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(r, axis=-1))
    return {"max_abs_err": float(np.abs(a - r).max()), "min_cosine": float(cos.min())}


# -- one config ----------------------------------------------------------------------

def run_config(model: Model, precision: str, batch: int, seq: int, threads: int,
               settings: timing.TimingSettings, onnx_int8: dict[str, Path],
               isas: list[str], peers: list[str]) -> dict:
    ids = token_ids(batch, seq, model.armbert_model.config.vocab_size)
    mask, tt = np.ones_like(ids), np.zeros_like(ids)
    ref = torch_runner(model.torch_fp32, ids, mask, tt)()

    makers: dict[str, Callable[[], Runner]] = {
        armbert_column(isa): (lambda isa=isa: armbert_runner(model, precision, threads, ids,
                                                             mask, tt, isa))
        for isa in isas}
    peer_makers: dict[str, Callable[[], Runner]] = {
        "ort": lambda: ort_runner(model.onnx_fp32 if precision == "fp32" else onnx_int8["ort"],
                                  threads, ids, mask, tt),
        "ort-fused": lambda: ort_runner(model.onnx_fused if precision == "fp32"
                                        else onnx_int8["ort-fused"], threads, ids, mask, tt),
        "torch": lambda: torch_runner(model.torch_fp32 if precision == "fp32"
                                      else torch_int8(model.torch_fp32), ids, mask, tt),
    }
    makers.update({p: peer_makers[p] for p in peers})
    runners: dict[str, Runner] = {}
    row = {"model": model.name, "precision": precision, "batch": batch, "seq": seq,
           "results": {}}
    for fw, make in makers.items():
        try:
            runners[fw] = make()
            row["results"][fw] = {"check_vs_torch_fp32": accuracy(runners[fw](), ref)}
        except Exception as e:
            log(f"  {fw}: {type(e).__name__}: {e}")
            row["results"][fw] = {"error": f"{type(e).__name__}: {e}"}
            runners.pop(fw, None)
    if runners:
        stats = timing.measure_interleaved(runners, settings, progress=throttled_log(1.0))
        for fw, st in stats.items():
            row["results"][fw].update(st.to_dict())
    row["ratios"] = {}
    peer_ms = {p: row["results"].get(p, {}).get("median_ms") for p in peers}
    peer_ms = {p: v for p, v in peer_ms.items() if v}
    best = min(peer_ms, key=peer_ms.get) if peer_ms else None
    row["best_peer"] = best
    for isa in isas:
        a = row["results"].get(armbert_column(isa), {}).get("median_ms")
        for other in peers:
            b = peer_ms.get(other)
            row["ratios"][f"{armbert_column(isa)}/{other}"] = a / b if a and b else None
        row["ratios"][f"{armbert_column(isa)}/best"] = (a / peer_ms[best] if a and best
                                                       else None)
    del runners
    gc.collect()
    return row


# -- table and CLI -------------------------------------------------------------------

def fmt_ms(r: dict) -> str:
    if "error" in r:
        return "error"
    if "median_ms" not in r:
        return "n/a"
    return f"{r['median_ms']:.2f} [{r['p10_ms']:.1f}-{r['p90_ms']:.1f}]" + (
        "" if r["settled"] else "*")


def table(rows: list[dict]) -> str:
    columns = list(dict.fromkeys(fw for r in rows for fw in r["results"]))
    mine = [c for c in columns if c.startswith("armbert")]
    head = ["model", "prec", "B", "S", *(f"{c} ms" for c in columns),
            *(f"{c}/best" for c in mine)]
    lines = [head]
    for r in rows:
        res, rat = r["results"], r["ratios"]
        lines.append([r["model"], r["precision"], str(r["batch"]), str(r["seq"]),
                      *(fmt_ms(res.get(fw, {})) for fw in columns),
                      *(f"{rat[k]:.2f} ({r['best_peer']})" if rat.get(k) else "-"
                        for k in (f"{c}/best" for c in mine))])
    widths = [max(len(l[i]) for l in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) if i < 4 else c.rjust(w) for i, (c, w) in
                     enumerate(zip(l, widths))) for l in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    notes = ["ms: median [p10-p90] of timed runs; * = stopped by the time cap before the "
             "spread settled", f"min token cosine vs torch FP32 ({' / '.join(columns)}):"]
    for r in rows:
        cos = [r["results"].get(fw, {}).get("check_vs_torch_fp32", {}).get("min_cosine")
               for fw in columns]
        notes.append(f"  {r['model']} {r['precision']} B={r['batch']} S={r['seq']}: " +
                     " / ".join("-" if c is None else f"{c:.4f}" for c in cos))
    return "\n".join(out + notes)


def csv_list(kind, choices=None):
    def parse(text: str):
        items = [kind(x.strip()) for x in text.split(",") if x.strip()]
        if not items:
            raise argparse.ArgumentTypeError("empty list")
        bad = [x for x in items if choices and x not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"{bad} not in {list(choices)}")
        return items
    return parse


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", type=csv_list(str, MODELS), default=list(MODELS),
                   help=f"comma list of {','.join(MODELS)}")
    p.add_argument("--precisions", type=csv_list(str, PRECISIONS), default=list(PRECISIONS),
                   help=f"comma list of {','.join(PRECISIONS)}")
    p.add_argument("--threads", type=int, default=2, help="intra-op threads, every framework")
    p.add_argument("--seq", type=csv_list(int), default=[128], help="comma list of lengths")
    p.add_argument("--batch", type=csv_list(int), default=[1], help="comma list of sizes")
    p.add_argument("--isa", type=csv_list(str), default=["auto"],
                   help="comma list of armbert host ISA levels (ARMBERT_ISA), e.g. avx2,auto")
    p.add_argument("--peers", type=csv_list(str, PEERS), default=list(PEERS),
                   help=f"comma list of {','.join(PEERS)}")
    p.add_argument("--quick", action="store_true", help="short time caps: a smoke run")
    p.add_argument("--out", type=Path, default=None,
                   help=f"JSON path (default {DEFAULT_OUT.relative_to(ROOT)}, "
                        f"with --quick {QUICK_OUT.relative_to(ROOT)})")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    args.out = args.out or (QUICK_OUT if args.quick else DEFAULT_OUT)
    import torch
    torch.set_num_threads(args.threads)
    with contextlib.suppress(RuntimeError):  # only allowed before any inter-op work
        torch.set_num_interop_threads(1)
    settings = timing.QUICK if args.quick else timing.FULL
    t_start = time.time()
    machine = machine_info()
    load = machine["load_avg_start"][0]
    log(f"{machine['cpu_model']}, {machine['usable_cores']} usable cores, "
        f"load average {load:.2f}, {args.threads} threads per framework")
    if load > 0.5:
        log("  warning: the machine is busy; numbers will be noisy")

    configs = [(p, b, s) for p in args.precisions for b in args.batch for s in args.seq]
    total, done = len(args.models) * len(configs), 0
    rows, ort_int8 = [], {}
    with tempfile.TemporaryDirectory(prefix="armbert-bench-") as tmp:
        for name in args.models:
            log(f"[{name}] loading, exporting ONNX (opset {OPSET})")
            module, am = load_torch_and_armbert(name)
            model = Model(name, module, am, export_onnx(module, Path(tmp) / f"{name}.onnx"))
            if "ort-fused" in args.peers:
                log(f"[{name}] ORT BERT fusions (onnxruntime.transformers.optimizer)")
                model.onnx_fused = fuse_onnx(model.onnx_fp32, Path(tmp) / f"{name}.fused.onnx",
                                             module)
            onnx_int8 = {}
            if "int8" in args.precisions:
                log(f"[{name}] ORT dynamic INT8 quantization")
                for peer, src in (("ort", model.onnx_fp32), ("ort-fused", model.onnx_fused)):
                    if peer in args.peers:
                        onnx_int8[peer] = Path(tmp) / f"{name}.{peer}.int8.onnx"
                        ort_int8[f"{name}/{peer}"] = quantize_onnx(src, onnx_int8[peer])
            for precision, batch, seq in configs:
                done += 1
                log(f"[{done}/{total}] {name} {precision} B={batch} S={seq}")
                rows.append(run_config(model, precision, batch, seq, args.threads,
                                       settings, onnx_int8, args.isa, args.peers))
            del model, module, am
            gc.collect()

    machine["load_avg_end"] = list(os.getloadavg())
    result = {
        "version": SCHEMA_VERSION,
        "benchmark": "host_frameworks",
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join([Path(sys.argv[0]).name, *(argv or sys.argv[1:])]),
        "machine": machine,
        "threads": args.threads,
        "quick": args.quick,
        "timing": settings.to_dict(),
        "frameworks": {
            "armbert": {"backend": "host", "int8": "per-channel weights, dynamic per-row "
                                                   "activation scales",
                        "isa": {armbert_column(i): i for i in args.isa}},
            "ort": {"export": f"torch.onnx.export dynamo=False opset {OPSET}, dynamic axes",
                    "session": {"intra_op_num_threads": args.threads, "inter_op_num_threads": 1,
                                "graph_optimization_level": "ORT_ENABLE_ALL"},
                    "fused": "onnxruntime.transformers.optimizer.optimize_model "
                             "model_type=bert (the ort-fused column)",
                    "int8": ort_int8},
            "torch": {"fp32": "eager BertModel (default attention) under inference_mode",
                      "int8": "torch.ao.quantization.quantize_dynamic nn.Linear qint8",
                      "quantized_engine": torch.backends.quantized.engine,
                      "num_threads": torch.get_num_threads()},
        },
        "rows": rows,
        "wall_s": round(time.time() - t_start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    print(table(rows))
    print(f"wrote {args.out} ({result['wall_s']} s; load average {load:.2f} at start, "
          f"{machine['load_avg_end'][0]:.2f} at end)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
