"""Times armbert's native ops on this machine (the real Runner)."""
from __future__ import annotations

import time
from typing import Callable, Optional

import numpy as np

from .measure import OPS, Sample, Session, Target, host_fingerprint
from .space import Bundle, ModelConfig


class ArmbertRunner:
    """Times armbert's native ops on this machine.

    Weights are random (latency does not depend on their values); one LayerWeights is
    shared by all layers in numpy, but every native op packs its own copy, so each
    layer's weights live at their own address as in a real checkpoint. The
    vocabulary is 1,000 rows: the embedding op gathers S rows whatever the table size.
    One 12-layer stack is built per bundle and the first L layers are run for depth L
    (layers past L are never touched, so they do not disturb the caches).
    """

    def __init__(self, target: Target = Target(), vocab: int = 1000, max_depth: int = 12,
                 seed: int = 0):
        from armbert import _native as nat  # imported here so the fake path needs no library
        self.nat = nat
        self.target, self.vocab, self.max_depth, self.seed = target, vocab, max_depth, seed
        self._stack: Optional[_Stack] = None
        self._ctx = None
        self._copy_ctx = None

    def fingerprint(self) -> dict:
        nat = self.nat
        return host_fingerprint(nat.library_path(), {"cpu_features": nat.cpu_features(),
                                                     "backends": nat.backends_compiled()})

    def context(self):
        if self._ctx is None:
            t = self.target
            self._ctx = self.nat.Context(t.backend, t.threads, list(t.cores) or None)
        return self._ctx

    def stack(self, bundle: Bundle, depth: int) -> "_Stack":
        s = self._stack
        if s is None or s.bundle != bundle or len(s.layers) < depth:
            self._stack = None  # free the previous model's memory before building
            self._stack = _Stack(self, bundle, max(depth, self.max_depth))
        return self._stack

    def open(self, cfg: ModelConfig, per_op: bool = True) -> Session:
        return _ArmbertSession(self.stack(cfg.bundle, cfg.L), cfg.L, per_op)

    def open_ops(self, bundle: Bundle) -> dict[str, Callable[[], Sample]]:
        return self.stack(bundle, 1).isolated_ops()

    copy_method = "armbert.segment.transfer, fp32, between two contexts of the target"

    def open_copy(self, rows: int, hidden: int) -> Callable[[], Sample]:
        """A hidden-state copy as the engine makes it between two segments
        (``armbert.segment.transfer``, timed after the source context synchronizes),
        from this target's context to a second context of the same target."""
        from armbert.segment import transfer
        t = self.target
        if self._copy_ctx is None:
            self._copy_ctx = self.nat.Context(t.backend, t.threads, list(t.cores) or None)
        ctx = self.context()
        src = self.nat.Tensor.from_numpy(ctx, np.ones((rows, hidden), np.float32))
        dst = self.nat.Tensor(self._copy_ctx, (rows, hidden), np.float32)

        def run() -> Sample:
            ctx.synchronize()
            t0 = time.perf_counter()
            transfer(src, dst)
            return {"total": time.perf_counter() - t0}
        return run

    def close(self) -> None:
        # Dropping the references frees ops, then the context (the GC order armbert's
        # handles expect); Context.close() would free the context under live ops.
        self._stack = None
        self._ctx = None
        self._copy_ctx = None


class _Stack:
    """Embeddings and ``depth`` encoder layers of one bundle, with their buffers."""

    def __init__(self, runner: ArmbertRunner, b: Bundle, depth: int):
        from armbert.layer import EncoderLayer
        from armbert.model import LayerWeights
        nat, prec = runner.nat, runner.target.precision
        ctx = runner.context()
        rng = np.random.default_rng(runner.seed)
        H, I = b.H, b.I

        def w(*shape):
            return (rng.standard_normal(shape, dtype=np.float32) * 0.02)

        ones = np.ones(H, np.float32)
        lw = LayerWeights(qkv_w=w(3 * H, H), qkv_b=w(3 * H), attn_out_w=w(H, H),
                          attn_out_b=w(H), ln1_g=ones, ln1_b=w(H), ffn_in_w=w(I, H),
                          ffn_in_b=w(I), ffn_out_w=w(H, I), ffn_out_b=w(H), ln2_g=ones,
                          ln2_b=w(H))
        positions = max(512, b.S)
        self.bundle, self.ctx = b, ctx
        self.embeddings = nat.Embeddings(ctx, w(runner.vocab, H), w(positions, H), w(2, H),
                                         ones, w(H), 1e-12, prec)
        self.layers = [EncoderLayer(ctx, i, lw, b.A, 1e-12, prec, None) for i in range(depth)]
        act = np.float16 if prec == "fp16" else np.float32
        self.ids = nat.Tensor.from_numpy(
            ctx, rng.integers(0, runner.vocab, (b.B, b.S)).astype(np.int32))
        self.types = nat.Tensor.from_numpy(ctx, np.zeros((b.B, b.S), np.int32))
        self.mask = nat.Tensor.from_numpy(ctx, np.zeros((b.B, b.S), np.float32))
        self.h = nat.Tensor(ctx, (b.B * b.S, H), act)
        self.embeddings.reshape(b.B, b.S)
        self.bufs = [layer.buffers(b.B, b.S) for layer in self.layers]

    def clock(self) -> float:
        """The time once the device has finished what was queued: on CL the ops
        only enqueue, so a clock read without it charges a part's work to the next
        part that waits (the embeddings of the next run took a whole model's time).
        At once on host and NEON."""
        self.ctx.synchronize()
        return time.perf_counter()

    def forward(self, depth: int, per_op: bool) -> Sample:
        b, clock = self.bundle, self.clock
        t0 = clock()
        self.embeddings.run(self.ids, self.types, self.h)
        t1 = clock()
        out = {"emb": t1 - t0}
        rest = np.zeros(len(OPS))
        prev = t1
        for i in range(depth):
            if per_op:
                ops = self._timed_layer(i)
                now = clock()
                if i == 0:
                    out["enc1"] = now - prev
                    out.update({f"enc1.{o}": v for o, v in zip(OPS, ops)})
                else:
                    rest += ops
            else:
                self.layers[i].run(self.h, self.mask, b.B, b.S)
                now = clock()
                if i == 0:
                    out["enc1"] = now - prev
            prev = now
        out["total"] = prev - t0
        if depth > 1:
            out["enc_rest"] = (prev - t1 - out["enc1"]) / (depth - 1)
            if per_op:
                out.update({f"enc_rest.{o}": v / (depth - 1) for o, v in zip(OPS, rest)})
        return out

    def _timed_layer(self, i: int) -> np.ndarray:
        # EncoderLayer.run, step by step, with a clock between steps.
        calls = self.layers[i].calls(self.h, self.mask, self.bundle.B, self.bundle.S)
        clock = self.clock
        t = [clock()]
        for _, call in calls:
            call()
            t.append(clock())
        return np.diff(t)

    def isolated_ops(self) -> dict[str, Callable[[], Sample]]:
        b = self.bundle
        calls = {"emb": lambda: self.embeddings.run(self.ids, self.types, self.h),
                 **dict(self.layers[0].calls(self.h, self.mask, b.B, b.S))}
        self.forward(1, False)  # valid activations in every buffer

        def timed(fn):
            def run() -> Sample:
                t = self.clock()
                fn()
                return {"total": self.clock() - t}
            return run
        return {k: timed(fn) for k, fn in calls.items()}


class _ArmbertSession:
    def __init__(self, stack: _Stack, depth: int, per_op: bool):
        self.stack, self.depth, self.per_op = stack, depth, per_op

    def run(self) -> Sample:
        return self.stack.forward(self.depth, self.per_op)
