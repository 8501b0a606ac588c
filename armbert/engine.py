"""The inference engine: a BERT encoder run layer by layer on native ops.

An :class:`Engine` owns one :class:`armbert._native.Context` per placement
(today one for the whole model) and one :class:`EncoderLayer` per layer, each
holding its ops and its activation buffers for the current (batch, seq).
Activations cross contexts by copy, so a plan can put layers on different
backends or core sets without the layers knowing.
"""
from __future__ import annotations

import dataclasses
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from . import _native as nat
from . import argcheck, errors, quant
from .model import BertModel, LayerWeights
from .plan import Placement, Plan

# Additive mask value for padding, as transformers uses for float32.
MASK_VALUE = float(np.finfo(np.float32).min)

# Called with (linear name, its fp32 input) during calibration.
Observer = Callable[[str, np.ndarray], None]


def backends() -> list[str]:
    """Backends this build of the native library can run."""
    return nat.backends_compiled()


def best_backend() -> str:
    have = backends()
    return "neon" if "neon" in have else "host"


@dataclass
class Output:
    last_hidden_state: np.ndarray  # [B, S, H] float32
    pooler_output: Optional[np.ndarray]  # [B, H] float32, None without pooler weights
    # Task heads (armbert.heads): classification logits [B, labels] or [B, S, labels];
    # question answering start/end logits [B, S]. None without that head.
    logits: Optional[np.ndarray] = None
    start_logits: Optional[np.ndarray] = None
    end_logits: Optional[np.ndarray] = None


@dataclass(frozen=True)
class QuantizedModel:
    """A model quantized to int8 by :func:`quantize` (or read from an int8 .armbert file).

    ``params``: calibrated static input scales and outlier channels per linear.
    ``linears``: each linear's int8 weights by name (``layer.0.qkv``...), made once by
    quantize() and used as they are by the engine (a linear missing here is quantized
    when the engine is built, from ``model``'s float weights and ``params``).
    ``word_int8``: the word-embedding table in int8 when quantize(embeddings="int8");
    ``model.word`` is then its dequantized copy, which the engine runs.
    """

    model: BertModel
    params: "quant.QuantizationParams"
    linears: Mapping[str, "quant.Int8Weight"] = field(default_factory=dict)
    word_int8: Optional["quant.Int8Weight"] = None
    calibration_texts: int = 0
    default_plan: Optional[Mapping] = None

    def int8_linear(self, name: str) -> "quant.Int8Weight":
        """The int8 weights of linear ``name``: stored, or quantized now from the float ones."""
        if name in self.linears:
            return self.linears[name]
        w = self.model.linear_weights()[name]
        if isinstance(w, quant.Int8Weight):
            return w
        return quant.Int8Weight.from_float(w, self.params.outliers.get(name))


def _act_dtype(precision: str):
    return np.float16 if precision == "fp16" else np.float32


class _Linear:
    """A native linear op in the requested precision. INT8 takes its weights, static
    input scale and outlier channels from ``q`` (a QuantizedModel), else quantizes the
    float weight ``w`` with dynamic per-row input scales."""

    def __init__(self, ctx, name, w, b, precision, activation="none",
                 q: Optional[QuantizedModel] = None):
        self.name = name
        if precision == "int8":
            qp = q.params if q is not None else None
            static = qp is not None and qp.activations == "static"
            prepared = q.int8_linear(name) if q is not None else \
                w if isinstance(w, quant.Int8Weight) else quant.Int8Weight.from_float(w)
            self.op = nat.Linear(ctx, None, b, "int8", activation,
                                 input_scale=qp.input_scales.get(name, 0.0) if static else 0.0,
                                 **prepared.linear_args())
        elif isinstance(w, quant.Int8Weight):
            raise errors.UnsupportedError(
                f"{name}: this model holds its weights in int8 only (an int8 .armbert "
                f"file), so it cannot run at {precision}; convert the float checkpoint")
        else:
            self.op = nat.Linear(ctx, w, b, precision, activation)


def _close_buffers(by_shape: dict[tuple[int, int], dict[str, nat.Tensor]]) -> None:
    for bufs in by_shape.values():
        for t in bufs.values():
            t.close()
    by_shape.clear()


class EncoderLayer:
    """One BERT layer on one context: qkv, attention, output, ln1, FFN, ln2."""

    def __init__(self, ctx: nat.Context, index: int, w: LayerWeights, heads: int, eps: float,
                 precision: str, q: Optional[QuantizedModel]):
        self.ctx, self.index, self.precision = ctx, index, precision
        self.hidden, self.inter = w.attn_out_b.shape[0], w.ffn_in_b.shape[0]

        def lin(part, weight, bias, act="none"):
            name = f"layer.{index}.{part}"
            return _Linear(ctx, name, weight, bias, precision, act, q)

        self.qkv = lin("qkv", w.qkv_w, w.qkv_b)
        self.attn = nat.Attention(ctx, self.hidden, heads, precision)
        self.attn_out = lin("attn_out", w.attn_out_w, w.attn_out_b)
        self.ln1 = nat.LayerNorm(ctx, w.ln1_g, w.ln1_b, eps, precision)
        self.ffn_in = lin("ffn_in", w.ffn_in_w, w.ffn_in_b, "gelu")
        self.ffn_out = lin("ffn_out", w.ffn_out_w, w.ffn_out_b)
        self.ln2 = nat.LayerNorm(ctx, w.ln2_g, w.ln2_b, eps, precision)
        self._ops = [self.qkv.op, self.attn, self.attn_out.op, self.ln1, self.ffn_in.op,
                     self.ffn_out.op, self.ln2]
        self._bufs: dict[tuple[int, int], dict[str, nat.Tensor]] = {}

    def buffers(self, batch: int, seq: int) -> dict[str, nat.Tensor]:
        key = (batch, seq)
        if key not in self._bufs:
            self._bufs.clear()  # keep one shape: memory stays bounded
            t, dt = batch * seq, _act_dtype(self.precision)
            shapes = {"qkv": 3 * self.hidden, "ctx": self.hidden, "tmp": self.hidden,
                      "ffn": self.inter}
            self._bufs[key] = {k: nat.Tensor(self.ctx, (t, n), dt) for k, n in shapes.items()}
            for op in self._ops:
                op.reshape(batch, seq)
        return self._bufs[key]

    def close(self) -> None:
        _close_buffers(self._bufs)
        for op in self._ops:
            op.close()

    def run(self, h: nat.Tensor, mask: nat.Tensor, batch: int, seq: int,
            observe: Optional[Observer] = None) -> None:
        """Runs the layer in place on h ([B*S, H] on this layer's context)."""
        b = self.buffers(batch, seq)
        if observe:
            observe(self.qkv.name, h.numpy())
        self.qkv.op.run(h, b["qkv"])
        self.attn.run(b["qkv"], mask, b["ctx"])
        if observe:
            observe(self.attn_out.name, b["ctx"].numpy())
        self.attn_out.op.run(b["ctx"], b["tmp"])
        self.ln1.run(b["tmp"], h, h)
        if observe:
            observe(self.ffn_in.name, h.numpy())
        self.ffn_in.op.run(h, b["ffn"])
        if observe:
            observe(self.ffn_out.name, b["ffn"].numpy())
        self.ffn_out.op.run(b["ffn"], b["tmp"])
        self.ln2.run(b["tmp"], h, h)


class Segment:
    """Consecutive units on one device, at one precision, in one pipeline stage.

    Owns its ops and its activation buffers; the engine (or the pipelined
    executor) moves the hidden state from one segment to the next.
    """

    def __init__(self, ctx: nat.Context, device: str, precision: str, stage: int):
        self.ctx, self.device, self.precision, self.stage = ctx, device, precision, stage
        self.embeddings: Optional[nat.Embeddings] = None
        self.layers: list[EncoderLayer] = []
        self.pooler: Optional[_Linear] = None
        self.head: Optional[_Linear] = None  # a task head's linear (armbert.heads)
        self.task: Optional[str] = None
        self._io: dict[tuple[int, int], dict[str, nat.Tensor]] = {}

    def synchronize(self) -> None:
        """Waits for the work queued on this segment's device (armbert.h,
        armbert_context_synchronize: a no-op on host and NEON). A context the caller
        has closed is skipped: the next read of its tensors waits for the device
        anyway; only the timing of the transfer would include the device's work."""
        if not self.ctx.closed:
            self.ctx.synchronize()

    @property
    def units(self) -> list[str]:
        return (["embeddings"] if self.embeddings else []) + \
            [f"layer.{l.index}" for l in self.layers] + (["pooler"] if self.pooler else []) + \
            (["head"] if self.head else [])

    def buffers(self, batch: int, seq: int, hidden: int) -> dict[str, nat.Tensor]:
        key = (batch, seq)
        if key not in self._io:
            self._io.clear()
            c, dt = self.ctx, _act_dtype(self.precision)
            io = {"h": nat.Tensor(c, (batch * seq, hidden), dt),
                  "mask": nat.Tensor(c, (batch, seq), np.float32)}
            if self.embeddings:
                io["ids"] = nat.Tensor(c, (batch, seq), np.int32)
                io["types"] = nat.Tensor(c, (batch, seq), np.int32)
                self.embeddings.reshape(batch, seq)
            if self.pooler:
                io["cls"] = nat.Tensor(c, (batch, hidden), dt)
                io["pooled"] = nat.Tensor(c, (batch, hidden), dt)
                self.pooler.op.reshape(batch, 1)
            if self.head:
                rows = batch if self.task == "sequence_classification" else batch * seq
                io["logits"] = nat.Tensor(c, (rows, self.head.op.out_features),
                                          self.head_dtype)
                self.head.op.reshape(batch, rows // batch)
            self._io[key] = io
        return self._io[key]

    def close(self) -> None:
        _close_buffers(self._io)
        for layer in self.layers:
            layer.close()
        for op in (self.embeddings, self.pooler and self.pooler.op, self.head and self.head.op):
            if op is not None:
                op.close()

    def run(self, io: dict[str, nat.Tensor], batch: int, seq: int,
            observe: Optional[Observer] = None) -> None:
        """Runs the embeddings (if here) and the layers on io["h"], in place."""
        if self.embeddings:
            self.embeddings.run(io["ids"], io["types"], io["h"])
        for layer in self.layers:
            layer.run(io["h"], io["mask"], batch, seq, observe)

    def pool(self, io: dict[str, nat.Tensor], hidden: np.ndarray,
             observe: Optional[Observer] = None) -> np.ndarray:
        cls = hidden[:, 0, :]
        if observe:
            observe("pooler", cls.astype(np.float32))
        io["cls"].write(cls)
        self.pooler.op.run(io["cls"], io["pooled"])
        return io["pooled"].numpy().astype(np.float32)

    @property
    def head_dtype(self):
        # int8 runs the head in fp32 (see _build_segments); fp16 in fp16.
        return np.float16 if self.precision == "fp16" else np.float32

    def finish(self, batch: int, seq: int, hidden_size: int,
               observe: Optional[Observer] = None) -> Output:
        """The last segment's outputs after its run: hidden state, pooler, head."""
        io = self.buffers(batch, seq, hidden_size)
        hidden = io["h"].numpy().reshape(batch, seq, -1).astype(np.float32)
        pooled = self.pool(io, hidden, observe) if self.pooler else None
        out = Output(hidden, pooled)
        if self.head:
            src = io["pooled"] if self.task == "sequence_classification" else io["h"]
            self.head.op.run(src, io["logits"])
            logits = io["logits"].numpy().astype(np.float32)
            if self.task == "sequence_classification":
                out.logits = logits
            elif self.task == "token_classification":
                out.logits = logits.reshape(batch, seq, -1)
            else:
                se = logits.reshape(batch, seq, 2)
                out.start_logits, out.end_logits = se[..., 0].copy(), se[..., 1].copy()
        return out


def transfer(src: nat.Tensor, dst: nat.Tensor) -> None:
    """Copies an activation tensor across contexts (and precisions)."""
    if src.host_view is not None and dst.host_view is not None:
        np.copyto(dst.host_view, src.host_view, casting="unsafe")
    else:  # a device tensor: read to the host, convert, write
        dst.write(src.numpy().astype(dst.dtype, copy=False))


class Engine:
    """Runs a BERT encoder on a backend at a precision, or as a plan says.

    ``Engine(model, backend="auto", precision="fp32", threads=None, cores=None)``
    runs everything on one context. ``Engine(model, plan=...)`` (an
    :class:`armbert.plan.Plan`, dict, JSON text or path) places each unit on a
    device at a precision; the hidden state is copied where placement changes
    and the copy times are kept in ``last_transfers``.
    ``model`` is a :class:`BertModel` (see :func:`armbert.load`) or a
    :class:`QuantizedModel` (calibrated int8; precision defaults to int8).
    INT8 without calibration uses dynamic per-row scales and no outlier channels.
    ``backend`` None means "auto". Given no backend, precision or plan, a model read
    from an .armbert file runs at its stored precision and with its stored plan.
    A task head (model.head) runs after the last layer: see :class:`Output`.

    The model is validated first, as the loaders do (every tensor's shape against the
    config, float32, finite): a model edited in memory into disagreement raises
    :class:`armbert.CheckpointError`. ``threads``: None or an int in
    [1, 4 x os.cpu_count()]; ``cores``: distinct core numbers of this machine.

    Threads: an Engine may be called from several threads. Its calls are serialized
    by one lock per engine (its ops keep workspaces and buffers for the current
    shape), so each result equals the one a sequential run gives; for parallel
    throughput make one Engine per thread (``benchmarks/threads_bench.py``).
    Pinning (``cores``) applies to the engine's worker threads while an op runs;
    the calling thread's affinity is restored after each op.

    Lifetime: ``close()`` (or ``with Engine(...) as e:``) frees its ops, buffers and
    contexts; a closed engine raises :class:`armbert.ClosedError`. Closing one of
    ``engine.contexts`` alone is deferred until the engine's ops are freed.
    """

    def __init__(self, model, backend: Optional[str] = None, precision: Optional[str] = None,
                 threads: Optional[int] = None, cores: Optional[Sequence[int]] = None,
                 plan=None):
        q = None
        if isinstance(model, QuantizedModel):
            q = model
            if plan is None and backend is None and precision is None:
                plan = model.default_plan
            precision = precision or "int8"
            model = model.model
        if not isinstance(model, BertModel):
            raise errors.InvalidArgumentError(
                f"Engine needs a BertModel (armbert.load(...)), got {type(model).__name__}")
        model.validate()
        if q is not None:
            _validate_int8_linears(q, model)
        threads = argcheck.threads(threads)
        cores = argcheck.cores(cores)
        if plan is None and backend is None and precision is None:
            plan = model.default_plan  # a plan stored in an .armbert file
        backend = backend or "auto"
        cfg = model.config
        if plan is None:
            precision = precision or model.default_precision
            if precision not in nat.PRECISIONS:
                raise errors.InvalidArgumentError(
                    f"unknown precision {precision!r}: choose one of {list(nat.PRECISIONS)}")
            if backend == "auto":
                backend = best_backend()
            if backend not in nat.BACKENDS:
                raise errors.InvalidArgumentError(
                    f"unknown backend {backend!r}: choose one of {list(nat.BACKENDS)}")
            if backend not in backends():
                raise errors.UnsupportedError(
                    f"backend {backend!r} is not in this build (it has {backends()})")
            plan = Plan.uniform(cfg.num_hidden_layers, backend, precision, cores or (), threads)
            plan = Plan(plan.devices, Placement(plan.embeddings.device, precision),
                        plan.layers)
        plan = Plan.load(plan).validate(cfg.num_hidden_layers, backends())
        self.model, self.config, self.plan = model, cfg, plan
        self.precision = precision or plan.layers[-1].precision
        self._lock = threading.Lock()  # one run at a time (see the class docstring)
        self._closed = False
        self.contexts = {name: nat.Context(d.backend, d.threads, d.cores or None)
                         for name, d in plan.devices.items()
                         if any(p.device == name for _, p in plan.units())}
        first = plan.devices[plan.embeddings.device]
        self.backend = first.backend
        self.ctx = self.contexts[plan.embeddings.device]
        self.segments = self._build_segments(model, plan, q)
        self.last_transfers: list[tuple[str, str, float]] = []

    def _build_segments(self, model: BertModel, plan: Plan, q) -> list[Segment]:
        cfg, eps = model.config, model.config.layer_norm_eps
        segments: list[Segment] = []
        for unit, p in plan.units():
            seg = segments[-1] if segments else None
            if seg is None or (seg.device, seg.precision, seg.stage) != \
                    (p.device, p.precision, p.stage):
                seg = Segment(self.contexts[p.device], p.device, p.precision, p.stage)
                segments.append(seg)
            if unit == "embeddings":
                seg.embeddings = nat.Embeddings(seg.ctx, model.word, model.position,
                                                model.token_type, model.emb_ln_g,
                                                model.emb_ln_b, eps, p.precision)
            else:
                i = int(unit.split(".")[1])
                seg.layers.append(EncoderLayer(seg.ctx, i, model.layers[i],
                                               cfg.num_attention_heads, eps, p.precision, q))
        last = segments[-1]
        if model.pooler_w is not None:
            last.pooler = _Linear(last.ctx, "pooler", model.pooler_w, model.pooler_b,
                                  last.precision, "tanh", q)
        if model.head is not None:
            # The head runs on the last layer's device at its precision, except int8:
            # a head has a handful of outputs, kept in fp32 beside the int8 encoder.
            head_precision = "fp32" if last.precision == "int8" else last.precision
            last.task = model.head.task
            last.head = _Linear(last.ctx, "head", model.head.weight, model.head.bias,
                                head_precision)
        return segments

    def close(self) -> None:
        """Frees every op, buffer and context of this engine (idempotent). Waits for a
        run in progress on another thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            for seg in self.segments:
                seg.close()
            for ctx in self.contexts.values():
                ctx.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> "Engine":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise errors.ClosedError("this Engine is closed: make a new one")

    def describe(self) -> str:
        self._check_open()
        parts = []
        for seg in self.segments:
            units = seg.units
            span = units[0] if len(units) == 1 else f"{units[0]}..{units[-1]}"
            parts.append(f"[stage {seg.stage}] {span}: {seg.precision} on {seg.ctx.describe()}")
        return "\n".join(parts)

    # -- input checking: every bad input is an exception naming the problem --
    def _check_inputs(self, input_ids, attention_mask, token_type_ids):
        ids = np.asarray(input_ids)
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2 or ids.shape[0] < 1 or ids.shape[1] < 1:
            raise errors.ShapeError(
                f"input_ids must be [batch, seq] with batch, seq >= 1, got shape {ids.shape}")
        _integers(ids, "input_ids")
        batch, seq = ids.shape
        cfg = self.config
        if seq > cfg.max_position_embeddings:
            raise errors.OutOfRangeError(
                f"sequence length {seq} is longer than the model's "
                f"{cfg.max_position_embeddings} positions")
        bad = (ids < 0) | (ids >= cfg.vocab_size)
        if bad.any():
            b, s = map(int, np.argwhere(bad)[0])
            raise errors.OutOfRangeError(
                f"token id {int(ids[b, s])} at [{b}, {s}] is outside the vocabulary "
                f"[0, {cfg.vocab_size})")

        def same_shape(a, name, default):
            if a is None:
                return default
            a = np.asarray(a)
            if name == "token_type_ids":
                _integers(a, name)
            elif a.dtype.kind not in "biuf":
                raise errors.InvalidArgumentError(
                    f"{name} must be numeric (0 and 1), got dtype {a.dtype}")
            if a.ndim == 1:
                a = a[None, :]
            if a.shape != ids.shape:
                raise errors.ShapeError(f"{name} has shape {a.shape}, input_ids {ids.shape}")
            return a

        mask = same_shape(attention_mask, "attention_mask", np.ones_like(ids))
        if not np.isin(mask, (0, 1)).all():
            raise errors.InvalidArgumentError("attention_mask must hold only 0 and 1")
        tt = same_shape(token_type_ids, "token_type_ids", np.zeros_like(ids))
        if ((tt < 0) | (tt >= cfg.type_vocab_size)).any():
            raise errors.OutOfRangeError(
                f"token_type_ids must be in [0, {cfg.type_vocab_size})")
        return ids.astype(np.int32), mask, tt.astype(np.int32)

    def prepare(self, input_ids, attention_mask=None, token_type_ids=None):
        """Checks the inputs; returns (ids int32, additive mask f32, types int32)."""
        ids, mask, tt = self._check_inputs(input_ids, attention_mask, token_type_ids)
        return ids, np.where(mask > 0, 0.0, MASK_VALUE).astype(np.float32), tt

    def run(self, input_ids, attention_mask=None, token_type_ids=None,
            observe: Optional[Observer] = None) -> Output:
        """Runs a batch; thread-safe (calls are serialized, see the class docstring)."""
        ids, add_mask, tt = self.prepare(input_ids, attention_mask, token_type_ids)
        with self._lock:
            self._check_open()
            return self._run(ids, add_mask, tt, observe)

    def _run(self, ids, add_mask, tt, observe) -> Output:
        batch, seq = ids.shape
        hidden_size = self.config.hidden_size
        self.last_transfers = []
        prev = None
        for seg in self.segments:
            io = seg.buffers(batch, seq, hidden_size)
            io["mask"].write(add_mask)
            if seg.embeddings:
                io["ids"].write(ids)
                io["types"].write(tt)
            else:
                prev_seg.synchronize()  # the copy's time, not the GPU's queued layers
                t = time.perf_counter()
                transfer(prev, io["h"])
                self.last_transfers.append(
                    (seg_name(prev_seg), seg_name(seg), (time.perf_counter() - t) * 1e3))
            seg.run(io, batch, seq, observe)
            prev, prev_seg = io["h"], seg
        return self.segments[-1].finish(batch, seq, hidden_size, observe)

    __call__ = run


def _integers(a: np.ndarray, name: str) -> None:
    # bool is refused: True/False as token ids is a caller's bug, not ids 1/0.
    if a.dtype.kind not in "iu":
        raise errors.InvalidArgumentError(
            f"{name} must be integers, got dtype {a.dtype}"
            + (" (floats are not truncated)" if a.dtype.kind == "f" else ""))


def _validate_int8_linears(q: QuantizedModel, model: BertModel) -> None:
    """The stored int8 weights of a QuantizedModel fit together and the model's shapes."""
    shapes = {n: (w.shape if isinstance(w, (np.ndarray, quant.Int8Weight)) else None)
              for n, w in model.linear_weights().items()}
    for name, w in q.linears.items():
        if name not in shapes:
            raise errors.CheckpointError(f"{model.source}: int8 weight {name} is not a linear "
                                         f"of this model")
        w.validate(model.source, name)
        if tuple(w.shape) != tuple(shapes[name]):
            raise errors.CheckpointError(
                f"{model.source}: int8 weight {name} has shape {list(w.shape)}, expected "
                f"{list(shapes[name])}")


def seg_name(seg: Segment) -> str:
    return f"{seg.device}/{seg.precision}"


def quantize(model: BertModel, calibration=None, activations: str = "dynamic",
             observer: str = "absmax", backend: str = "auto", tokenizer=None,
             outlier_ratio: float = 6.0, max_outliers: int = 8,
             progress: bool = False, embeddings: str = "fp32") -> QuantizedModel:
    """Calibrates int8 quantization of every linear on a few inputs, and quantizes
    their weights (QuantizedModel.linears), once.

    ``calibration``: sentences (tokenized with the model's tokenizer) or a list
    of token-id arrays. Runs the FP32 engine, records each linear's input, and
    picks (a) its outlier channels (kept in fp32, see armbert.quant) and (b),
    for ``activations="static"``, a per-tensor input scale from the other
    channels ("absmax" or "percentile" observer). ``activations="dynamic"``
    keeps per-row scales at run time: more accurate, slightly more work.
    ``embeddings="int8"`` also stores the word-embedding table as int8 rows with a
    scale each (a quarter of its bytes in an .armbert file); the engine runs its
    dequantized copy, which calibration already sees. Default "fp32": unchanged.
    """
    if embeddings not in ("fp32", "int8"):
        raise errors.InvalidArgumentError(
            f"embeddings must be 'fp32' or 'int8', got {embeddings!r}")
    if isinstance(model, BertModel) and model.int8_only:
        raise errors.InvalidArgumentError(
            f"{model.source}: this model is already int8 (an .armbert file); quantize the "
            f"float checkpoint instead")
    if calibration is None or len(calibration) == 0:
        raise errors.InvalidArgumentError(
            "quantize needs calibration data (sentences or id arrays); for no calibration "
            "use Engine(model, precision='int8'), which uses dynamic per-row scales")
    make = {"absmax": quant.AbsMaxObserver, "percentile": quant.PercentileObserver}
    if observer not in make:
        raise errors.InvalidArgumentError(f"unknown observer {observer!r}: {list(make)}")
    if activations not in ("static", "dynamic"):
        raise errors.InvalidArgumentError(
            f"activations must be 'static' or 'dynamic', got {activations!r}")
    word_int8 = None
    if embeddings == "int8":
        word_int8 = quant.Int8Weight.from_float(model.word)
        model = dataclasses.replace(model, word=word_int8.dequantize())
    batches = _calibration_batches(model, calibration, tokenizer)
    engine = Engine(model, backend=backend, precision="fp32")

    def sweep(observe, what):
        items = batches
        if progress:
            from tqdm import tqdm
            items = tqdm(batches, desc=f"calibration: {what}", unit="input")
        for ids, mask in items:
            engine.run(ids, mask, observe=observe)

    channel_max: dict[str, np.ndarray] = {}
    sweep(lambda n, x: channel_max.__setitem__(
        n, np.maximum(channel_max.get(n, 0.0), np.abs(x).max(axis=0))), "channel ranges")
    outliers = {n: quant.select_outliers(a, outlier_ratio, max_outliers)
                for n, a in channel_max.items()}
    scales: dict[str, float] = {}
    if activations == "static":
        observers: dict[str, object] = {}

        def observe(name: str, x: np.ndarray) -> None:
            rest = np.delete(np.asarray(x, np.float32), outliers[name], axis=1)
            observers.setdefault(name, make[observer]()).collect(rest)

        if observer == "absmax":  # the channel maxima already hold the answer
            for n, a in channel_max.items():
                o = quant.AbsMaxObserver()
                o.collect(np.delete(a, outliers[n]))
                observers[n] = o
        else:
            sweep(observe, "percentiles")
        scales = {n: o.compute() for n, o in observers.items() if o.compute() > 0}
    params = quant.QuantizationParams(
        input_scales=scales, method=observer, activations=activations,
        percentile=99.99 if observer == "percentile" else None,
        outliers={n: o.tolist() for n, o in outliers.items() if o.size})
    linears = {n: quant.Int8Weight.from_float(w, params.outliers.get(n))
               for n, w in model.linear_weights().items()}
    return QuantizedModel(model, params, linears, word_int8, calibration_texts=len(batches))


def _calibration_batches(model, calibration, tokenizer):
    items = list(calibration)
    if all(isinstance(c, str) for c in items):
        from .sentence import tokenizer_for
        enc = (tokenizer or tokenizer_for(model))(items, max_length=model.config.max_position_embeddings)
        return [(enc["input_ids"][i:i + 1, :int(enc["attention_mask"][i].sum())], None)
                for i in range(len(items))]
    return [(np.asarray(c), None) for c in items]
