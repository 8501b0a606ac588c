import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors

from .. import reference as ref
from .conftest import (act_dtype, as_precision, assert_close, backend_params,
                       precision_params, result, shape_params, tensor)

MASK = float(np.finfo(np.float32).min)


def padding_mask(batch, seq, lengths):
    m = np.zeros((batch, seq), np.float32)
    for b, n in enumerate(lengths):
        m[b, n:] = MASK
    return m


# (batch, seq, hidden, heads, lengths): S=1, S=7 with padding, head_dim 12 (H=72),
# MiniLM's attention as tests/arm/test_cl_engine.py runs it, three sequences of
# which one is a single token, and BERT-base's head_dim 64 over S=130 (the host's
# fused kernel: several query blocks and key tiles, both padded at the end), and
# head_dim 10 (not a multiple of 4: NEON's key packing and the tail of its k loop
# over head channels). The short CL list is the S=7 and the MiniLM case.
CASES = [(1, 1, 72, 6, [1]), (2, 7, 72, 6, [7, 4]), (2, 12, 384, 12, [12, 7]),
         (3, 33, 64, 4, [33, 1, 20]), (1, 130, 128, 2, [97]), (2, 9, 30, 3, [9, 5])]
CL_CASES = [(2, 7, 72, 6, [7, 4]), (2, 12, 384, 12, [12, 7])]


@backend_params
@precision_params
@shape_params("batch,seq,hidden,heads,lengths", CASES, cl=CL_CASES)
def test_attention_matches_reference(contexts, rng, backend, precision, batch, seq, hidden,
                                     heads, lengths):
    ctx = contexts(backend)
    qkv = rng.standard_normal((batch * seq, 3 * hidden)).astype(np.float32)
    mask = padding_mask(batch, seq, lengths)
    op = nat.Attention(ctx, hidden, heads, precision)
    op.reshape(batch, seq)
    out = nat.Tensor(ctx, (batch * seq, hidden), act_dtype(precision))
    op.run(tensor(ctx, qkv, precision), nat.Tensor.from_numpy(ctx, mask), out)
    expected = ref.attention(as_precision(qkv, precision), mask, heads)
    assert_close(result(out), expected, precision, f"{backend}/{precision}")


@backend_params
def test_attention_without_mask_equals_zero_mask(contexts, rng, backend):
    ctx = contexts(backend)
    # The odd case of CASES (2 x 7 tokens, hidden 72, 6 heads): on CL its programs.
    qkv = rng.standard_normal((2 * 7, 3 * 72)).astype(np.float32)
    op = nat.Attention(ctx, 72, 6)
    op.reshape(2, 7)
    a, b = nat.Tensor(ctx, (14, 72)), nat.Tensor(ctx, (14, 72))
    x = nat.Tensor.from_numpy(ctx, qkv)
    op.run(x, None, a)
    op.run(x, nat.Tensor.from_numpy(ctx, np.zeros((2, 7), np.float32)), b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_attention_rejects_bad_heads_and_mask(contexts):
    ctx = contexts("host")
    with pytest.raises(errors.InvalidArgumentError, match="not a multiple of heads"):
        nat.Attention(ctx, 70, 6)
    op = nat.Attention(ctx, 24, 2)
    op.reshape(2, 5)
    with pytest.raises(errors.ShapeError, match="mask"):
        op.run(nat.Tensor(ctx, (10, 72)), nat.Tensor(ctx, (2, 4)), nat.Tensor(ctx, (10, 24)))
