"""One BERT encoder layer on native ops, driven by its steps.

:class:`EncoderLayer` binds each step of :data:`armbert.layer_spec.STEPS` (the
layer as data) to its native op; :meth:`EncoderLayer.steps` gives them as (name,
op, inputs, outputs) and :meth:`EncoderLayer.run` runs them in that order. The
segment loop (:mod:`armbert.segment`, used by the engine and the pipeline) runs
layers through :meth:`~EncoderLayer.run`, and the planner's runner
(``planner/runner.py``) times :meth:`~EncoderLayer.calls` one by one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

import numpy as np

from . import _native as nat
from . import errors, quant
from .layer_spec import LINEARS, OP_NAMES, STEPS, StepSpec, buffer_widths
from .model import LayerWeights

__all__ = ["EncoderLayer", "Linear", "Observer", "Step", "STEPS", "OP_NAMES", "LINEARS"]

# Called with (linear name, its fp32 input) during calibration.
Observer = Callable[[str, np.ndarray], None]


@dataclass(frozen=True)
class Step:
    """A step bound to a layer: its spec and the native op that runs it."""

    spec: StepSpec
    op: Any                  # an armbert._native op (Linear, Attention, LayerNorm)
    linear: Optional["Linear"] = None  # the linear wrapper (its quantization name)

    # The spec's name and tensor names, read by the loops that run steps.
    name = property(lambda self: self.spec.name)
    inputs = property(lambda self: self.spec.inputs)
    outputs = property(lambda self: self.spec.outputs)


def act_dtype(precision: str):
    return np.float16 if precision == "fp16" else np.float32


def close_buffers(by_shape: dict) -> None:
    for bufs in by_shape.values():
        for t in bufs.values():
            t.close()
    by_shape.clear()


class Linear:
    """A native linear op in the requested precision. INT8 takes its weights, static
    input scale and outlier channels from ``q`` (a QuantizedModel), else quantizes the
    float weight ``w`` with dynamic per-row input scales."""

    def __init__(self, ctx, name, w, b, precision, activation="none",
                 q: Optional["quant.QuantizedModel"] = None):
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


class EncoderLayer:
    """One BERT layer on one context: the ops of :data:`STEPS` (qkv, attention,
    output, ln1, FFN, ln2) and their activation buffers for the current shape."""

    def __init__(self, ctx: nat.Context, index: int, w: LayerWeights, heads: int,
                 eps: float, precision: str, q: Optional["quant.QuantizedModel"]):
        self.ctx, self.index, self.precision = ctx, index, precision
        self.hidden, self.inter = w.attn_out_b.shape[0], w.ffn_in_b.shape[0]

        activation = {s.name: s.activation for s in STEPS}

        def lin(part, weight, bias):
            return Linear(ctx, f"layer.{index}.{part}", weight, bias, precision,
                          activation[part], q)

        self.qkv = lin("qkv", w.qkv_w, w.qkv_b)
        self.attn = nat.Attention(ctx, self.hidden, heads, precision)
        self.attn_out = lin("attn_out", w.attn_out_w, w.attn_out_b)
        self.ln1 = nat.LayerNorm(ctx, w.ln1_g, w.ln1_b, eps, precision)
        self.ffn_in = lin("ffn_in", w.ffn_in_w, w.ffn_in_b)
        self.ffn_out = lin("ffn_out", w.ffn_out_w, w.ffn_out_b)
        self.ln2 = nat.LayerNorm(ctx, w.ln2_g, w.ln2_b, eps, precision)
        self._steps = tuple(self._bind(spec) for spec in STEPS)
        self._bufs: dict[tuple[int, int], dict[str, nat.Tensor]] = {}
        # The last calls() without an observer: (batch, seq, h, mask, calls).
        self._calls: Optional[tuple] = None

    def _bind(self, spec: StepSpec) -> Step:
        part = getattr(self, spec.name)
        if isinstance(part, Linear):
            return Step(spec, part.op, part)
        return Step(spec, part)

    def steps(self) -> tuple[Step, ...]:
        """The layer's steps in execution order: (name, op, inputs, outputs)."""
        return self._steps

    @property
    def _ops(self) -> list:
        return [s.op for s in self._steps]

    def buffers(self, batch: int, seq: int) -> dict[str, nat.Tensor]:
        key = (batch, seq)
        if key not in self._bufs:
            self._bufs.clear()  # keep one shape: memory stays bounded
            self._calls = None  # they were bound to the old buffers
            t, dt = batch * seq, act_dtype(self.precision)
            self._bufs[key] = {k: nat.Tensor(self.ctx, (t, n), dt)
                               for k, n in buffer_widths(self.hidden, self.inter).items()}
            for op in self._ops:
                op.reshape(batch, seq)
        return self._bufs[key]

    def close(self) -> None:
        self._calls = None
        close_buffers(self._bufs)
        for op in self._ops:
            op.close()

    def calls(self, h: nat.Tensor, mask: nat.Tensor, batch: int, seq: int,
              observe: Optional[Observer] = None) -> tuple[tuple[str, Callable[[], None]], ...]:
        """Each step as (name, a call that runs it on h in place): what :meth:`run`
        runs in order; the planner's runner times them one by one. With ``observe``,
        a linear's call first shows the observer its input (calibration).

        Without an observer the list is kept and returned again for the same shape, h
        and mask (a segment's buffers for a shape are the same tensors every run): on a
        small core, rebuilding it was a share of the Python time of an inference."""
        c = self._calls
        if (observe is None and c is not None and c[0] == batch and c[1] == seq
                and c[2] is h and c[3] is mask):
            return c[4]
        tensors = {**self.buffers(batch, seq), "h": h, "mask": mask}
        out = []
        for step in self._steps:
            args = tuple(tensors[n] for n in step.inputs + step.outputs)
            if observe is not None and step.linear is not None:
                out.append((step.name, _observed(step, args, observe)))
            else:
                out.append((step.name, _call(step.op.run, args)))
        calls = tuple(out)  # immutable: a caller cannot change the kept list
        if observe is None:
            self._calls = (batch, seq, h, mask, calls)
        return calls

    def run(self, h: nat.Tensor, mask: nat.Tensor, batch: int, seq: int,
            observe: Optional[Observer] = None) -> None:
        """Runs the layer in place on h ([B*S, H] on this layer's context)."""
        for _, call in self.calls(h, mask, batch, seq, observe):
            call()


def _call(run, args) -> Callable[[], None]:
    return lambda: run(*args)


def _observed(step: Step, args, observe: Observer) -> Callable[[], None]:
    def call() -> None:
        observe(step.linear.name, args[0].numpy())
        step.op.run(*args)
    return call
