"""The inference engine: a BERT encoder run as a plan places it, on native ops.

An :class:`Engine` owns one :class:`armbert._native.Context` per device of its plan
and the plan's :class:`~armbert.segment.Segment` s (units on one device at one
precision), each holding its :class:`~armbert.layer.EncoderLayer` s and their
activation buffers for the current (batch, seq). Activations cross contexts by copy
(:func:`armbert.segment.run_segments`), so a plan can put layers on different
backends or core sets without the layers knowing. Where the rest lives:
:mod:`armbert.layer` (the layer as data and its ops), :mod:`armbert.segment`
(segments, transfers, the segment loop), :mod:`armbert.placement` (an op the segment's
backend lacks, run on the host), :mod:`armbert.quant` (the quantizer,
:class:`~armbert.quant.QuantizedModel`), :mod:`armbert.calibrate` (the calibrator and
:func:`~armbert.calibrate.quantize`).
"""
from __future__ import annotations

import threading
from typing import Optional, Sequence

import numpy as np

from . import _native as nat
from . import argcheck, errors, quant
from .layer import EncoderLayer, Linear, Observer, close_buffers
from .model import BertModel
from .placement import Placed, place
from .plan import Placement, Plan
from .quant import QuantizedModel
from .segment import Output, Segment, run_segments, seg_name, transfer

__all__ = ["Engine", "Output", "QuantizedModel", "MASK_VALUE", "backends", "best_backend",
           "EncoderLayer", "Segment", "Observer", "seg_name", "transfer"]

# Additive mask value for padding, as transformers uses for float32.
MASK_VALUE = float(np.finfo(np.float32).min)


def backends() -> list[str]:
    """Backends this build of the native library can run."""
    return nat.backends_compiled()


def best_backend() -> str:
    have = backends()
    return "neon" if "neon" in have else "host"


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
    ``backend`` None means "auto". Given no backend, precision, threads, cores or plan,
    a model read from an .armbert file runs at its stored precision and with its stored
    plan. A plan places everything, so it cannot be combined with backend, precision,
    threads or cores (refused). ``engine.precision`` is what the layers run at
    ("mixed" when a plan gives layers different precisions).
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
        placed = {"backend": backend, "precision": precision, "threads": threads,
                  "cores": cores}
        if plan is not None and any(v is not None for v in placed.values()):
            given = ", ".join(k for k, v in placed.items() if v is not None)
            raise errors.InvalidArgumentError(
                f"Engine: plan= places every layer (device, precision, threads, cores); "
                f"pass either a plan or {given}, not both")
        # A plan stored in an .armbert file runs unless the caller places the model.
        stored = all(v is None for v in placed.values())
        from_file = None  # the .armbert file whose stored plan runs
        q = None
        if isinstance(model, QuantizedModel):
            q = model
            if plan is None and stored and model.default_plan is not None:
                plan, from_file = model.default_plan, model.model.source
            if plan is None:
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
        if plan is None and stored and model.default_plan is not None:
            plan, from_file = model.default_plan, model.source  # stored in an .armbert file
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
        try:
            plan = Plan.load(plan).validate(cfg.num_hidden_layers, backends())
        except errors.ArmbertError as e:
            if from_file is None:
                raise
            raise type(e)(f"the plan stored in {from_file}: {e} (Engine(model, backend=..., "
                          f"precision=...) runs it without the plan)") from None
        self.model, self.config, self.plan = model, cfg, plan
        # What the layers run at: one precision, or "mixed" for a per-layer plan.
        layer_precisions = {p.precision for p in plan.layers}
        self.precision = layer_precisions.pop() if len(layer_precisions) == 1 else "mixed"
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
        # Ops after the encoder built on first use (embed's pooling), by key, with
        # where they run (armbert.placement); their buffers for the current shape.
        self.placed: dict[tuple, Placed] = {}
        self._placed_io: dict[tuple, dict[str, nat.Tensor]] = {}
        self._host_ctx: Optional[nat.Context] = None

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
            last.pooler = Linear(last.ctx, "pooler", model.pooler_w, model.pooler_b,
                                  last.precision, "tanh", q)
        if model.head is not None:
            # The head runs on the last layer's device at its precision, except int8:
            # a head has a handful of outputs, kept in fp32 beside the int8 encoder.
            head_precision = "fp32" if last.precision == "int8" else last.precision
            last.task = model.head.task
            last.head = Linear(last.ctx, "head", model.head.weight, model.head.bias,
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
            close_buffers(self._placed_io)
            for p in self.placed.values():
                p.op.close()
            for ctx in list(self.contexts.values()) + [self._host_ctx]:
                if ctx is not None:
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
        parts += [f"[after] {p.describe()}" for p in self.placed.values()]
        return "\n".join(parts)

    # -- input checking: every bad input is an exception naming the problem --
    def _check_inputs(self, input_ids, attention_mask, token_type_ids):
        ids = _array(input_ids, "input_ids")
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
            a = _array(a, name)
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
        if not ((mask == 0) | (mask == 1)).all():  # not np.isin: its Python costs more
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

    def embed(self, input_ids, attention_mask=None, token_type_ids=None,
              pooling: str = "mean", normalize: bool = False) -> np.ndarray:
        """Sentence vectors [batch, hidden] float32: the encoder, then the pool op
        (armbert.h, ``armbert_pool``; ``pooling`` one of mean, cls, max, mean_sqrt_len,
        as sentence-transformers; ``normalize`` an L2 normalization). The op runs on
        the last segment's device when its backend has it, else on a host context on
        the same cores (:mod:`armbert.placement`; ``describe()`` says which)."""
        if pooling not in nat.POOLINGS:
            raise errors.InvalidArgumentError(
                f"unknown pooling {pooling!r}: choose one of {list(nat.POOLINGS)}")
        if not isinstance(normalize, (bool, np.bool_)):  # "no" would normalize
            raise errors.InvalidArgumentError(f"normalize must be True or False, got "
                                              f"{normalize!r}")
        ids, add_mask, tt = self.prepare(input_ids, attention_mask, token_type_ids)
        with self._lock:
            self._check_open()
            batch, seq = ids.shape
            hidden = self.config.hidden_size
            h = self._encode(ids, add_mask, tt)
            placed = self._pool(pooling, bool(normalize))
            io = self._pool_buffers(placed, batch, seq)
            seg = self.segments[-1]
            if placed.ctx is seg.ctx:  # on the segment's device: its own tensors
                x, mask = h, seg.buffers(batch, seq, hidden)["mask"]
            else:
                x, mask = io["x"], io["mask"]
                transfer(h, x)
                mask.write(add_mask)
            placed.op.reshape(batch, seq)
            placed.op.run(x, mask, io["y"])
            return io["y"].numpy().astype(np.float32, copy=False)

    def _pool(self, pooling: str, normalize: bool) -> Placed:
        key = ("pool", pooling, normalize)
        seg, hidden = self.segments[-1], self.config.hidden_size

        def precision(ctx):  # the segment's on its context; fp32 on the host fallback
            return seg.precision if ctx is seg.ctx else "fp32"

        if key not in self.placed:
            self.placed[key] = place(
                "pool", seg.ctx, seg.device,
                lambda ctx: nat.Pool.unsupported(ctx, hidden, pooling, normalize,
                                                 precision(ctx)),
                lambda ctx: nat.Pool(ctx, hidden, pooling, normalize, precision(ctx)),
                self._host_fallback)
        return self.placed[key]

    def _host_fallback(self) -> nat.Context:
        """The host context that runs ops the plan's backends lack: one thread on the
        last segment's cores (a pooling is a few microseconds of work per row)."""
        if self._host_ctx is None:
            cores = self.plan.devices[self.segments[-1].device].cores
            self._host_ctx = nat.Context("host", threads=1, cores=cores[:1] or None)
        return self._host_ctx

    def _pool_buffers(self, placed: Placed, batch: int, seq: int) -> dict[str, nat.Tensor]:
        key = (id(placed), batch, seq)
        if key not in self._placed_io:
            close_buffers(self._placed_io)  # one shape at a time, as the segments
            hidden, c = self.config.hidden_size, placed.ctx
            dt = np.float16 if placed.op.precision == "fp16" else np.float32
            io = {"y": nat.Tensor(c, (batch, hidden), dt)}
            if placed.fallback:
                io["x"] = nat.Tensor(c, (batch * seq, hidden), np.float32)
                io["mask"] = nat.Tensor(c, (batch, seq), np.float32)
            self._placed_io[key] = io
        return self._placed_io[key]

    def _encode(self, ids, add_mask, tt, observe=None) -> nat.Tensor:
        """Every segment on one input (copy times in last_transfers); the last
        segment's hidden state tensor."""
        batch, seq = ids.shape
        self.last_transfers = []
        return run_segments(self.segments, batch, seq, self.config.hidden_size, add_mask,
                            ids, tt, transfers=self.last_transfers, observe=observe)

    def _run(self, ids, add_mask, tt, observe) -> Output:
        batch, seq = ids.shape
        self._encode(ids, add_mask, tt, observe)
        out = self.segments[-1].finish(batch, seq, self.config.hidden_size, observe)
        # The weights are finite (validate) and the ids in range, so inf or NaN here is
        # an overflow inside: said, never returned as a result.
        h = out.last_hidden_state  # min and max carry any NaN or inf, without a bool array
        if h.size and not (np.isfinite(h.min()) and np.isfinite(h.max())):
            where = sorted({s.precision for s in self.segments})
            hint = "; fp16's range ends at 65504: run those layers at fp32" \
                if "fp16" in where else ""
            raise errors.NumericError(
                f"the output has non-finite values (inf or NaN) at {'/'.join(where)}: the "
                f"activations overflowed{hint}")
        return out

    __call__ = run


def _array(x, name: str) -> np.ndarray:
    """x as a numpy array, or a ShapeError naming it (ragged nested lists, strings and
    None are not arrays of ids; numpy's own errors do not say which input)."""
    if x is None or isinstance(x, (str, bytes)):
        raise errors.ShapeError(f"{name} must be an array of integers [batch, seq], got "
                                f"{type(x).__name__}")
    try:
        return np.asarray(x)
    except (ValueError, TypeError) as e:
        raise errors.ShapeError(f"{name} must be a rectangular array [batch, seq] "
                                f"(a ragged list? pad it and pass attention_mask): {e}") from None
    except MemoryError:
        raise errors.OutOfMemoryError(f"{name}: no memory for an array of it") from None


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
