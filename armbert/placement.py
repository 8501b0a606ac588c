"""Where an op runs when the backend of its segment does not have it.

The native library's backends are tables (kernels/src/core/backend.h): one entry per
(op, precision), so an op may exist on one backend first. Before it builds such an
op, the engine asks the segment's context (``armbert_X_validate``, through
:func:`armbert._native.unsupported`); when the answer is UNSUPPORTED it builds the op
on a host context instead, which has every op, and copies the op's inputs there.
:class:`Placed` records where the op went and the library's reason, and
``Engine.describe()`` prints it.

Today the one such op is the sentence pooling (``armbert_pool``, host only), which
:meth:`armbert.engine.Engine.embed` places after the last segment.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from . import _native as nat


@dataclass
class Placed:
    name: str
    op: nat.Op
    ctx: nat.Context  # the context the op runs on
    device: str  # the plan's device name, or "host" for the fallback
    reason: Optional[str] = None  # why not on the segment's device; None when it is

    @property
    def fallback(self) -> bool:
        return self.reason is not None

    def describe(self) -> str:
        where = f"{self.name} on {self.device}"
        return where + (f" (fallback: {self.reason})" if self.fallback else "")


def place(name: str, ctx: nat.Context, device: str,
          unsupported: Callable[[nat.Context], Optional[str]],
          make: Callable[[nat.Context], nat.Op],
          host: Callable[[], nat.Context]) -> Placed:
    """Builds an op on ``ctx`` (the segment's context, plan device ``device``) when its
    backend runs it, else on ``host()`` (a host context, made on first need)."""
    reason = unsupported(ctx)
    if reason is None:
        return Placed(name, make(ctx), ctx, device)
    fallback = host()
    return Placed(name, make(fallback), fallback, "host", reason)
