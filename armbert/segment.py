"""Segments of a plan and the one loop that runs them.

A :class:`Segment` is consecutive units (embeddings, layers, then the pooler and a
task head on the last one) on one device, at one precision, in one pipeline stage;
it owns its ops and its activation buffers. :func:`run_segments` runs a chain of
segments, copying the hidden state across contexts (:func:`transfer`) where one
segment ends and the next begins: the engine runs every segment with it, and the
pipelined executor (:mod:`armbert.pipeline`) each stage's.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from . import _native as nat
from .layer import EncoderLayer, Linear, Observer, act_dtype, close_buffers


@dataclass
class Output:
    last_hidden_state: np.ndarray  # [B, S, H] float32
    pooler_output: Optional[np.ndarray]  # [B, H] float32, None without pooler weights
    # Task heads (armbert.heads): classification logits [B, labels] or [B, S, labels];
    # question answering start/end logits [B, S]. None without that head.
    logits: Optional[np.ndarray] = None
    start_logits: Optional[np.ndarray] = None
    end_logits: Optional[np.ndarray] = None


class Segment:
    """Consecutive units on one device, at one precision, in one pipeline stage.

    Owns its ops and its activation buffers; :func:`run_segments` moves the hidden
    state from one segment to the next.
    """

    def __init__(self, ctx: nat.Context, device: str, precision: str, stage: int):
        self.ctx, self.device, self.precision, self.stage = ctx, device, precision, stage
        self.embeddings: Optional[nat.Embeddings] = None
        self.layers: list[EncoderLayer] = []
        self.pooler: Optional[Linear] = None
        self.head: Optional[Linear] = None  # a task head's linear (armbert.heads)
        self.task: Optional[str] = None
        self._io: dict[tuple[int, int], dict[str, nat.Tensor]] = {}

    @property
    def name(self) -> str:
        """``device/precision``, as ``Engine.last_transfers`` names segments."""
        return f"{self.device}/{self.precision}"

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
            c, dt = self.ctx, act_dtype(self.precision)
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
        close_buffers(self._io)
        for layer in self.layers:
            layer.close()
        for op in (self.embeddings, self.pooler and self.pooler.op, self.head and self.head.op):
            if op is not None:
                op.close()

    def run(self, io: dict[str, nat.Tensor], batch: int, seq: int,
            observe: Optional[Observer] = None, step: "StepRunner" = None) -> None:
        """Runs the embeddings (if here) and the layers on io["h"], in place. Each op
        runs through ``step(segment, name, call)`` when given (names "embeddings" and
        "layer.<i>.<step>"; armbert bench times them), else is called directly."""
        h, mask = io["h"], io["mask"]
        if step is None:  # the plain run: no names to format
            if self.embeddings:
                self.embeddings.run(io["ids"], io["types"], h)
            for layer in self.layers:
                for _, call in layer.calls(h, mask, batch, seq, observe):
                    call()
            return
        if self.embeddings:
            step(self, "embeddings", lambda: self.embeddings.run(io["ids"], io["types"], h))
        for layer in self.layers:
            for name, call in layer.calls(h, mask, batch, seq, observe):
                step(self, f"layer.{layer.index}.{name}", call)

    def pool(self, io: dict[str, nat.Tensor], hidden: np.ndarray,
             observe: Optional[Observer] = None) -> np.ndarray:
        cls = hidden[:, 0, :]
        if observe:
            observe("pooler", cls.astype(np.float32))
        io["cls"].write(cls)
        self.pooler.op.run(io["cls"], io["pooled"])
        return io["pooled"].numpy().astype(np.float32, copy=False)

    @property
    def head_dtype(self):
        # int8 runs the head in fp32 (see Engine._build_segments); fp16 in fp16.
        return np.float16 if self.precision == "fp16" else np.float32

    def finish(self, batch: int, seq: int, hidden_size: int,
               observe: Optional[Observer] = None) -> Output:
        """The last segment's outputs after its run: hidden state, pooler, head."""
        io = self.buffers(batch, seq, hidden_size)
        hidden = io["h"].numpy().reshape(batch, seq, -1).astype(np.float32, copy=False)
        pooled = self.pool(io, hidden, observe) if self.pooler else None
        out = Output(hidden, pooled)
        if self.head:
            src = io["pooled"] if self.task == "sequence_classification" else io["h"]
            self.head.op.run(src, io["logits"])
            logits = io["logits"].numpy().astype(np.float32, copy=False)
            if self.task == "sequence_classification":
                out.logits = logits
            elif self.task == "token_classification":
                out.logits = logits.reshape(batch, seq, -1)
            else:
                se = logits.reshape(batch, seq, 2)
                out.start_logits, out.end_logits = se[..., 0].copy(), se[..., 1].copy()
        return out


# Runs one op of a segment: (segment, op name, the call that runs it).
StepRunner = Optional[Callable[[Segment, str, Callable[[], None]], None]]


def seg_name(seg: Segment) -> str:
    return seg.name


def transfer(src: nat.Tensor, dst: nat.Tensor) -> None:
    """Copies an activation tensor across contexts (and precisions)."""
    if src.host_view is not None and dst.host_view is not None:
        np.copyto(dst.host_view, src.host_view, casting="unsafe")
    else:  # a device tensor: read to the host, convert, write
        dst.write(src.numpy().astype(dst.dtype, copy=False))


def run_segments(segments: Sequence[Segment], batch: int, seq: int, hidden_size: int,
                 add_mask: np.ndarray, ids: np.ndarray, types: np.ndarray,
                 hidden: Optional[np.ndarray] = None,
                 transfers: Optional[list] = None,
                 observe: Optional[Observer] = None, step: StepRunner = None) -> nat.Tensor:
    """Runs ``segments`` in order on one input; returns the last one's hidden state
    tensor (on its context).

    A segment with the embeddings starts from ``ids``/``types``; any other takes the
    previous segment's hidden state by :func:`transfer`, or ``hidden`` ([B*S, H],
    numpy) when it is the first (a pipeline stage after the first). With
    ``transfers`` (a list), each copy is timed after the source device has finished
    its queued work, and (source, destination, ms) is appended. ``step``: see
    :meth:`Segment.run`.
    """
    prev_seg: Optional[Segment] = None
    prev_io: Optional[dict[str, nat.Tensor]] = None
    for seg in segments:
        io = seg.buffers(batch, seq, hidden_size)
        io["mask"].write(add_mask)
        if seg.embeddings:
            io["ids"].write(ids)
            io["types"].write(types)
        elif prev_io is None:
            io["h"].write(hidden.astype(io["h"].dtype, copy=False))
        elif transfers is None:
            transfer(prev_io["h"], io["h"])
        else:
            prev_seg.synchronize()  # the copy's time, not the GPU's queued layers
            t = time.perf_counter()
            transfer(prev_io["h"], io["h"])
            transfers.append((prev_seg.name, seg.name, (time.perf_counter() - t) * 1e3))
        seg.run(io, batch, seq, observe, step)
        prev_seg, prev_io = seg, io
    return prev_io["h"]
