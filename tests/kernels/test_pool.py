"""Pooling over the sequence (armbert_pool, armbert.h): an op on one backend first.

The host backend runs it and matches sentence-transformers' pooling as
armbert.sentence.pool computes it in numpy (and armbert.text.l2_normalize), in every
mode, with and without normalization, at every precision, including a batch row
whose tokens are all dropped. NEON and CL have no pool yet: their validate and
create answer UNSUPPORTED naming the op, the precision and the backend, which is
what the engine asks before it pools on the host instead
(tests/engine/test_sentence.py; tests/arm/test_neon_engine.py, test_cl_engine.py).

Tolerances: fp32 (and int8, whose activations are fp32) rtol = atol = 1e-5: sums
of at most 64 rows of O(1) values in another order than numpy's (~sqrt(64) * 6e-8
relative) and one division. fp16: the input is rounded to fp16 before the
reference runs, so what remains is the fp16 rounding of the output, 2^-11
relative: rtol = atol = 1e-3 (2 ulp).
"""
from __future__ import annotations

import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors
from armbert.sentence import pool as reference_pool
from armbert.text import l2_normalize

from .conftest import act_dtype, as_precision, backend_params, result, tensor

TOL = {"fp32": dict(rtol=1e-5, atol=1e-5), "int8": dict(rtol=1e-5, atol=1e-5),
       "fp16": dict(rtol=1e-3, atol=1e-3)}
PRECISIONS = ["fp32", "fp16", "int8"]


def additive(mask01: np.ndarray) -> np.ndarray:
    return np.where(mask01 > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)


@backend_params
@pytest.mark.parametrize("precision", PRECISIONS)
@pytest.mark.parametrize("mode", nat.POOLINGS)
@pytest.mark.parametrize("normalize", [False, True])
@pytest.mark.parametrize("seq,hidden", [(1, 8), (17, 384), (64, 33)])
def test_pool_matches_sentence_transformers(contexts, rng, backend, precision, mode,
                                            normalize, seq, hidden):
    ctx = contexts(backend)
    if backend != "host":
        reason = nat.Pool.unsupported(ctx, hidden, mode, normalize, precision)
        assert reason is not None and f"pool in {precision}" in reason and backend in reason
        with pytest.raises(errors.UnsupportedError, match=f"not implemented on the {backend}"):
            nat.Pool(ctx, hidden, mode, normalize, precision)
        return
    assert nat.Pool.unsupported(ctx, hidden, mode, normalize, precision) is None
    batch = 3
    h = as_precision((rng.standard_normal((batch, seq, hidden)) * 2).astype(np.float32),
                     precision)
    mask = np.ones((batch, seq), np.int64)
    mask[1, seq // 2 + 1:] = 0   # padding at the end (none when seq is 1)
    mask[2, :] = 0               # no kept token: zeros (mean), -1e9 (max), as s-t
    expected = reference_pool(h, mask, mode)
    if normalize:
        expected = l2_normalize(expected)
    op = nat.Pool(ctx, hidden, mode, normalize, precision)
    op.reshape(batch, seq)
    y = nat.Tensor(ctx, (batch, hidden), act_dtype(precision))
    op.run(tensor(ctx, h.reshape(batch * seq, hidden), precision),
           nat.Tensor.from_numpy(ctx, additive(mask)), y)
    got = result(y)
    if precision == "fp16":  # an fp16 output: -1e9 rounds to -inf, as in torch's half
        with np.errstate(over="ignore"):
            expected = as_precision(expected, precision)
    np.testing.assert_allclose(got, expected, **TOL[precision])


def test_pool_without_mask_keeps_every_token(contexts, rng):
    ctx = contexts("host")
    h = rng.standard_normal((2, 5, 16)).astype(np.float32)
    op = nat.Pool(ctx, 16, "mean")
    op.reshape(2, 5)
    y = nat.Tensor(ctx, (2, 16))
    op.run(nat.Tensor.from_numpy(ctx, h.reshape(10, 16)), None, y)
    np.testing.assert_allclose(y.numpy(), h.mean(axis=1), rtol=1e-5, atol=1e-6)


def test_pool_rejects_bad_descriptors_and_shapes(contexts):
    ctx = contexts("host")
    with pytest.raises(errors.InvalidArgumentError, match="unknown pooling"):
        nat.Pool(ctx, 8, "median")
    with pytest.raises(errors.InvalidArgumentError, match="hidden"):
        nat.Pool(ctx, 0)
    op = nat.Pool(ctx, 8)
    with pytest.raises(errors.InvalidArgumentError, match="reshape"):
        op.run(nat.Tensor(ctx, (6, 8)), None, nat.Tensor(ctx, (2, 8)))
    op.reshape(2, 3)
    with pytest.raises(errors.ShapeError, match="pool output"):
        op.run(nat.Tensor(ctx, (6, 8)), None, nat.Tensor(ctx, (6, 8)))
    with pytest.raises(errors.ShapeError, match="pool input"):
        op.run(nat.Tensor(ctx, (6, 9)), None, nat.Tensor(ctx, (2, 8)))
    with pytest.raises(errors.ShapeError, match="mask"):
        op.run(nat.Tensor(ctx, (6, 8)), nat.Tensor(ctx, (3, 2)), nat.Tensor(ctx, (2, 8)))
