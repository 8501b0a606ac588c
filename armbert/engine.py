"""The inference engine: a BERT encoder run layer by layer on native ops.

An :class:`Engine` owns one :class:`armbert._native.Context` per placement
(today one for the whole model) and one :class:`EncoderLayer` per layer, each
holding its ops and its activation buffers for the current (batch, seq).
Activations cross contexts by copy, so a plan can put layers on different
backends or core sets without the layers knowing.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from . import _native as nat
from . import errors, quant
from .model import BertModel, LayerWeights

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


@dataclass(frozen=True)
class QuantizedModel:
    """A model plus static int8 input scales from calibration (armbert.quantize)."""

    model: BertModel
    params: "quant.QuantizationParams"


def _act_dtype(precision: str):
    return np.float16 if precision == "fp16" else np.float32


class _Linear:
    """A native linear op built from float weights in the requested precision.
    INT8 takes its static input scale and outlier channels from ``qp``."""

    def __init__(self, ctx, name, w, b, precision, activation="none",
                 qp: Optional["quant.QuantizationParams"] = None):
        self.name = name
        if precision == "int8":
            static = qp is not None and qp.activations == "static"
            prepared = quant.prepare_int8_linear(w, qp.outliers.get(name) if qp else None)
            self.op = nat.Linear(ctx, None, b, "int8", activation,
                                 input_scale=qp.input_scales.get(name, 0.0) if static else 0.0,
                                 **prepared)
        else:
            self.op = nat.Linear(ctx, w, b, precision, activation)


class EncoderLayer:
    """One BERT layer on one context: qkv, attention, output, ln1, FFN, ln2."""

    def __init__(self, ctx: nat.Context, index: int, w: LayerWeights, heads: int, eps: float,
                 precision: str, qp: Optional["quant.QuantizationParams"]):
        self.ctx, self.index, self.precision = ctx, index, precision
        self.hidden, self.inter = w.attn_out_w.shape[0], w.ffn_in_w.shape[0]

        def lin(part, weight, bias, act="none"):
            name = f"layer.{index}.{part}"
            return _Linear(ctx, name, weight, bias, precision, act, qp)

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


class Engine:
    """Runs a BERT encoder on a backend at a precision.

    ``Engine(model, backend="auto", precision="fp32", threads=None, cores=None)``;
    ``model`` is a :class:`BertModel` (see :func:`armbert.load`) or a
    :class:`QuantizedModel` (static int8 scales; precision defaults to int8).
    INT8 without calibration uses dynamic per-row activation scales.
    """

    def __init__(self, model, backend: str = "auto", precision: Optional[str] = None,
                 threads: Optional[int] = None, cores: Optional[Sequence[int]] = None):
        qp = None
        if isinstance(model, QuantizedModel):
            qp = model.params
            precision = precision or "int8"
            model = model.model
        if not isinstance(model, BertModel):
            raise errors.InvalidArgumentError(
                f"Engine needs a BertModel (armbert.load(...)), got {type(model).__name__}")
        precision = precision or "fp32"
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
        cfg = model.config
        self.model, self.config, self.precision, self.backend = model, cfg, precision, backend
        self.ctx = nat.Context(backend, threads, cores)
        eps = cfg.layer_norm_eps
        self.embeddings = nat.Embeddings(self.ctx, model.word, model.position, model.token_type,
                                         model.emb_ln_g, model.emb_ln_b, eps, precision)
        self.layers = [EncoderLayer(self.ctx, i, w, cfg.num_attention_heads, eps, precision,
                                    qp) for i, w in enumerate(model.layers)]
        self.pooler = None
        if model.pooler_w is not None:
            self.pooler = _Linear(self.ctx, "pooler", model.pooler_w, model.pooler_b,
                                  precision, "tanh", qp)
        self._io: dict[tuple[int, int], dict[str, nat.Tensor]] = {}

    def describe(self) -> str:
        return f"{self.precision} on {self.ctx.describe()}"

    # -- input checking: every bad input is an exception naming the problem --
    def _check_inputs(self, input_ids, attention_mask, token_type_ids):
        ids = np.asarray(input_ids)
        if ids.ndim == 1:
            ids = ids[None, :]
        if ids.ndim != 2 or ids.shape[0] < 1 or ids.shape[1] < 1:
            raise errors.ShapeError(
                f"input_ids must be [batch, seq] with batch, seq >= 1, got shape {ids.shape}")
        if not np.issubdtype(ids.dtype, np.integer):
            raise errors.InvalidArgumentError(f"input_ids must be integers, got {ids.dtype}")
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

    def _buffers(self, batch: int, seq: int) -> dict[str, nat.Tensor]:
        key = (batch, seq)
        if key not in self._io:
            self._io.clear()
            c, t, h = self.ctx, batch * seq, self.config.hidden_size
            dt = _act_dtype(self.precision)
            self._io[key] = {
                "ids": nat.Tensor(c, (batch, seq), np.int32),
                "types": nat.Tensor(c, (batch, seq), np.int32),
                "mask": nat.Tensor(c, (batch, seq), np.float32),
                "h": nat.Tensor(c, (t, h), dt),
                "cls": nat.Tensor(c, (batch, h), dt),
                "pooled": nat.Tensor(c, (batch, h), dt),
            }
            self.embeddings.reshape(batch, seq)
            if self.pooler:
                self.pooler.op.reshape(batch, 1)
        return self._io[key]

    def run(self, input_ids, attention_mask=None, token_type_ids=None,
            observe: Optional[Observer] = None) -> Output:
        ids, mask, tt = self._check_inputs(input_ids, attention_mask, token_type_ids)
        batch, seq = ids.shape
        io = self._buffers(batch, seq)
        io["ids"].write(ids)
        io["types"].write(tt)
        io["mask"].write(np.where(mask > 0, 0.0, MASK_VALUE).astype(np.float32))
        self.embeddings.run(io["ids"], io["types"], io["h"])
        for layer in self.layers:
            layer.run(io["h"], io["mask"], batch, seq, observe)
        hidden = io["h"].numpy().reshape(batch, seq, -1)
        pooled = None
        if self.pooler:
            io["cls"].write(hidden[:, 0, :])
            if observe:
                observe("pooler", hidden[:, 0, :].astype(np.float32))
            self.pooler.op.run(io["cls"], io["pooled"])
            pooled = io["pooled"].numpy().astype(np.float32)
        return Output(hidden.astype(np.float32), pooled)

    __call__ = run


def quantize(model: BertModel, calibration=None, activations: str = "dynamic",
             observer: str = "absmax", backend: str = "auto", tokenizer=None,
             outlier_ratio: float = 6.0, max_outliers: int = 8,
             progress: bool = False) -> QuantizedModel:
    """Calibrates int8 quantization of every linear on a few inputs.

    ``calibration``: sentences (tokenized with the model's tokenizer) or a list
    of token-id arrays. Runs the FP32 engine, records each linear's input, and
    picks (a) its outlier channels (kept in fp32, see armbert.quant) and (b),
    for ``activations="static"``, a per-tensor input scale from the other
    channels ("absmax" or "percentile" observer). ``activations="dynamic"``
    keeps per-row scales at run time: more accurate, slightly more work.
    """
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
    return QuantizedModel(model, params)


def _calibration_batches(model, calibration, tokenizer):
    items = list(calibration)
    if all(isinstance(c, str) for c in items):
        from .sentence import tokenizer_for
        enc = (tokenizer or tokenizer_for(model))(items, max_length=model.config.max_position_embeddings)
        return [(enc["input_ids"][i:i + 1, :int(enc["attention_mask"][i].sum())], None)
                for i in range(len(items))]
    return [(np.asarray(c), None) for c in items]
