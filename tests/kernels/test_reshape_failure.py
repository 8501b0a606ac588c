"""A failed reshape, the same contract on every backend (armbert.h, armbert_op_reshape).

issue 12: CL attention and embeddings dropped their ACL functions first in
on_reshape, so a reshape that failed after a good one left a null function that the
next run dereferenced. Now a reshape refused by its argument checks changes nothing,
and one that fails while configuring leaves the op unconfigured: run is a clear
InvalidArgumentError until a reshape (to any shape, the previous one too) succeeds.

The failing reshape is attention at seq = 2^24 (the most tokens a reshape takes),
refused by the workspace check of every backend before anything is allocated or
configured (no program is compiled on CL): CL keeps a head's scores (2^48 floats); the
fused kernels of the host and of NEON keep a head's K and V per thread, linear in seq,
so their op has one head of 2^16 (2^17 x 2^24 floats, 8 TiB per thread)."""
import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors

from .conftest import backend_params
from .test_embeddings import tables

BATCH, SEQ, HIDDEN, HEADS = 2, 7, 72, 6  # a shape of the short CL list (test_attention.py)
FUSED_HIDDEN, FUSED_HEADS = 1 << 16, 1  # the failing op of the fused kernels (see above)


def attention_case(ctx, rng, hidden=HIDDEN):
    qkv = nat.Tensor.from_numpy(
        ctx, rng.standard_normal((BATCH * SEQ, 3 * hidden)).astype(np.float32))
    mask = np.zeros((BATCH, SEQ), np.float32)
    mask[1, 4:] = -10000.0
    return qkv, nat.Tensor.from_numpy(ctx, mask), nat.Tensor(ctx, (BATCH * SEQ, hidden))


@backend_params
def test_a_reshape_that_fails_in_the_backend_unconfigures_the_op(contexts, rng, backend):
    ctx = contexts(backend)
    fused = backend in ("host", "neon")
    hidden, heads = (FUSED_HIDDEN, FUSED_HEADS) if fused else (HIDDEN, HEADS)
    qkv, mask, out = attention_case(ctx, rng, hidden)
    op = nat.Attention(ctx, hidden, heads, "fp32")
    op.reshape(BATCH, SEQ)
    op.run(qkv, mask, out)
    good = out.numpy().copy()
    with pytest.raises(errors.OutOfMemoryError, match="attention: workspace needs .* GiB"):
        op.reshape(1, 1 << 24)
    for _ in range(2):  # and stays so: no run reaches the backend
        with pytest.raises(errors.InvalidArgumentError,
                           match="attention: the last reshape failed; reshape again"):
            op.run(qkv, mask, out)
    op.reshape(BATCH, SEQ)  # the shape it had before: configured again, not skipped
    out2 = nat.Tensor(ctx, (BATCH * SEQ, hidden))
    op.run(qkv, mask, out2)
    np.testing.assert_array_equal(out2.numpy(), good)


@backend_params
@pytest.mark.parametrize("bad", [(0, SEQ), (BATCH, 0), (1 << 12, (1 << 12) + 1)],
                         ids=["batch0", "seq0", "over-2^24-tokens"])
def test_a_refused_reshape_keeps_the_configuration(contexts, rng, backend, bad):
    ctx = contexts(backend)
    emb = nat.Embeddings(ctx, *tables(rng), 1e-12)
    emb.reshape(BATCH, SEQ)
    ids = nat.Tensor.from_numpy(ctx, rng.integers(0, 50, (BATCH, SEQ)).astype(np.int32))
    out = nat.Tensor(ctx, (BATCH * SEQ, HIDDEN))
    emb.run(ids, None, out)
    good = out.numpy().copy()
    with pytest.raises(errors.ShapeError):
        emb.reshape(*bad)
    emb.run(ids, None, out)
    np.testing.assert_array_equal(out.numpy(), good)
