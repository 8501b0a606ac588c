"""Handles are freed by close() (idempotent) or by the GC, never twice."""
from armbert import _native as nat


def test_close_is_idempotent_and_gc_safe():
    ctx = nat.Context("host")
    op = nat.Gelu(ctx)
    t = nat.Tensor(ctx, (4,))
    op.close()
    op.close()
    ctx.close()
    ctx.close()
    del t  # its destructor runs after the context was closed: must not crash
