import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors

from .. import reference as ref
from .conftest import (act_dtype, as_precision, assert_close, backend_params,
                       precision_params, result, shape_params, tensor)


@backend_params
@precision_params
@shape_params("rows,hidden", [(1, 72), (7, 72), (14, 384), (24, 384), (5, 1000)],
              cl=[(24, 384), (5, 1000)])
@pytest.mark.parametrize("with_residual", [False, True])
def test_layernorm_matches_reference(contexts, rng, backend, precision, rows, hidden,
                                     with_residual):
    ctx = contexts(backend)
    # An offset mean checks that the variance is computed around the mean.
    x = (rng.standard_normal((rows, hidden)) * 3 + 5).astype(np.float32)
    r = rng.standard_normal((rows, hidden)).astype(np.float32) if with_residual else None
    g = rng.uniform(0.5, 1.5, hidden).astype(np.float32)
    b = rng.standard_normal(hidden).astype(np.float32)
    op = nat.LayerNorm(ctx, g, b, 1e-12, precision)
    op.reshape(1, rows)
    y = nat.Tensor(ctx, (rows, hidden), act_dtype(precision))
    op.run(tensor(ctx, x, precision), None if r is None else tensor(ctx, r, precision), y)
    expected = ref.layernorm(as_precision(x, precision), g, b, 1e-12,
                             None if r is None else as_precision(r, precision))
    assert_close(result(y), expected, precision)


# The output may be the input or the residual: the host forms the sum and normalizes
# in the F32 output row itself (common/rowops.h RowLayerNorm), so a row must be read
# before it is overwritten. Same bound as above.
@backend_params
@precision_params
@pytest.mark.parametrize("alias", ["x", "residual"])
def test_layernorm_in_place(contexts, rng, backend, precision, alias):
    ctx = contexts(backend)
    rows, hidden = 9, 384
    x = (rng.standard_normal((rows, hidden)) * 3 + 5).astype(np.float32)
    r = rng.standard_normal((rows, hidden)).astype(np.float32)
    g = rng.uniform(0.5, 1.5, hidden).astype(np.float32)
    b = rng.standard_normal(hidden).astype(np.float32)
    op = nat.LayerNorm(ctx, g, b, 1e-12, precision)
    op.reshape(1, rows)
    xt, rt = tensor(ctx, x, precision), tensor(ctx, r, precision)
    out = xt if alias == "x" else rt
    op.run(xt, rt, out)
    expected = ref.layernorm(as_precision(x, precision), g, b, 1e-12, as_precision(r, precision))
    assert_close(result(out), expected, precision)


def test_layernorm_rejects_bad_eps(contexts):
    with pytest.raises(errors.InvalidArgumentError, match="eps"):
        nat.LayerNorm(contexts("host"), np.ones(4), np.zeros(4), 0.0)
