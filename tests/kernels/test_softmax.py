import numpy as np
import pytest

from armbert import _native as nat

from .. import reference as ref
from .conftest import (act_dtype, as_precision, assert_close, backend_params,
                       precision_params, result, shape_params, tensor)


@backend_params
@precision_params
@shape_params("batch,rows,seq", [(1, 1, 1), (2, 3, 7), (2, 12, 12), (2, 12, 128)],
              cl=[(2, 3, 7), (2, 12, 12)])
@pytest.mark.parametrize("with_mask", [False, True])
def test_softmax_matches_reference(contexts, rng, backend, precision, batch, rows, seq,
                                   with_mask):
    ctx = contexts(backend)
    x = (rng.standard_normal((batch, rows, seq)) * 4).astype(np.float32)
    mask = None
    if with_mask:
        mask = np.zeros((batch, seq), np.float32)
        mask[:, seq // 2 + 1:] = np.finfo(np.float32).min
    op = nat.Softmax(ctx, precision, scale=0.125)
    op.reshape(batch, seq)
    y = nat.Tensor(ctx, x.shape, act_dtype(precision))
    op.run(tensor(ctx, x, precision), None if mask is None else nat.Tensor.from_numpy(ctx, mask),
           y)
    expected = ref.softmax(as_precision(x, precision), mask, 0.125)
    assert_close(result(y), expected, precision)
    np.testing.assert_allclose(result(y).sum(-1), 1.0, rtol=0, atol=5e-3)
