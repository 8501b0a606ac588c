import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors

from .. import reference as ref
from .conftest import (act_dtype, as_precision, assert_close, backend_params,
                       precision_params, result, shape_params, tensor)

SHAPES = [(1, 1), (7, 72), (24, 1536), (128, 1536), (3, 1031)]
CL_SHAPES = [(24, 1536), (3, 1031)]  # MiniLM's FFN width at 2 x 12 tokens, an odd one


@backend_params
@precision_params
@shape_params("shape", SHAPES, cl=CL_SHAPES)
def test_gelu_matches_reference(contexts, rng, backend, precision, shape):
    ctx = contexts(backend)
    x = (rng.standard_normal(shape) * 3).astype(np.float32)
    op = nat.Gelu(ctx, precision)
    y = nat.Tensor(ctx, shape, act_dtype(precision))
    op.run(tensor(ctx, x, precision), y)
    assert_close(result(y), ref.gelu(as_precision(x, precision)), precision)


@backend_params
@precision_params
@shape_params("shape", SHAPES, cl=CL_SHAPES)
def test_add_matches_reference(contexts, rng, backend, precision, shape):
    ctx = contexts(backend)
    a = rng.standard_normal(shape).astype(np.float32)
    b = rng.standard_normal(shape).astype(np.float32)
    op = nat.Add(ctx, precision)
    y = nat.Tensor(ctx, shape, act_dtype(precision))
    op.run(tensor(ctx, a, precision), tensor(ctx, b, precision), y)
    assert_close(result(y), as_precision(a, precision) + as_precision(b, precision), precision)


def test_add_rejects_mismatched_shapes(contexts):
    ctx = contexts("host")
    op = nat.Add(ctx)
    with pytest.raises(errors.ShapeError, match="add input b"):
        op.run(nat.Tensor(ctx, (2, 3)), nat.Tensor(ctx, (2, 4)), nat.Tensor(ctx, (2, 3)))
