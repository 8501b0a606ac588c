import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors

from .. import reference as ref
from .conftest import (act_dtype, assert_close, backend_params, precision_params, result,
                       shape_params)


def tables(rng, vocab=50, pos=16, types=2, hidden=72):
    return (rng.standard_normal((vocab, hidden)).astype(np.float32),
            rng.standard_normal((pos, hidden)).astype(np.float32),
            rng.standard_normal((types, hidden)).astype(np.float32),
            rng.uniform(0.5, 1.5, hidden).astype(np.float32),
            rng.standard_normal(hidden).astype(np.float32))


@backend_params
@precision_params
@shape_params("batch,seq", [(1, 1), (2, 7), (4, 5), (3, 16)], cl=[(2, 7), (3, 16)])
def test_embeddings_match_reference(contexts, rng, backend, precision, batch, seq):
    ctx = contexts(backend)
    w, p, t, g, b = tables(rng)
    ids = rng.integers(0, 50, (batch, seq)).astype(np.int32)
    types = rng.integers(0, 2, (batch, seq)).astype(np.int32)
    op = nat.Embeddings(ctx, w, p, t, g, b, 1e-12, precision)
    op.reshape(batch, seq)
    out = nat.Tensor(ctx, (batch * seq, 72), act_dtype(precision))
    op.run(nat.Tensor.from_numpy(ctx, ids), nat.Tensor.from_numpy(ctx, types), out)
    expected = ref.embeddings(ids, types, w, p, t, g, b, 1e-12)
    assert_close(result(out), expected.reshape(batch * seq, 72), precision)


@backend_params
def test_embeddings_reject_bad_ids_and_long_sequences(contexts, rng, backend):
    ctx = contexts(backend)
    op = nat.Embeddings(ctx, *tables(rng), 1e-12)
    op.reshape(1, 4)
    out = nat.Tensor(ctx, (4, 72))
    with pytest.raises(errors.OutOfRangeError, match="token id 50 .* vocabulary"):
        op.run(nat.Tensor.from_numpy(ctx, np.array([[1, 2, 50, 3]], np.int32)), None, out)
    with pytest.raises(errors.OutOfRangeError, match="token type id 2"):
        op.run(nat.Tensor.from_numpy(ctx, np.array([[1, 2, 3, 4]], np.int32)),
               nat.Tensor.from_numpy(ctx, np.array([[0, 2, 0, 0]], np.int32)), out)
    op.reshape(1, 17)
    with pytest.raises(errors.OutOfRangeError, match="longer than the model's 16 positions"):
        op.run(nat.Tensor.from_numpy(ctx, np.zeros((1, 17), np.int32)), None,
               nat.Tensor(ctx, (17, 72)))
