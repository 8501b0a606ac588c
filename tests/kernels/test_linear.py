import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors, quant

from .. import reference as ref
from .conftest import (act_dtype, as_precision, assert_close, backend_params,
                       precision_params, result, shape_params, tensor)

# (rows, in_features, out_features): S=1, S=7, features that are not multiples
# of 64 (or of the int8 kernel's 4 and 32), and BERT-sized ones: MiniLM's FFN at the
# token count of tests/arm/test_cl_engine.py (2 x 12) and at S=128, and an in_features
# the NEON fp32 GEMM cuts into three K blocks of 336 (neon/gemm_f32.h), with 9 rows and
# 50 channels at the edges of its 8 x 12 tiles. The short CL list is the odd one and the
# MiniLM one (tests/kernels/conftest.py says why).
SHAPES = [(1, 72, 72), (7, 72, 216), (14, 100, 37), (9, 1000, 50), (24, 384, 1536),
          (128, 384, 1536)]
CL_SHAPES = [(14, 100, 37), (24, 384, 1536)]


@backend_params
@precision_params
@pytest.mark.parametrize("activation", ["none", "gelu", "tanh"])
@shape_params("rows,k,n", SHAPES, cl=CL_SHAPES)
def test_linear_matches_reference(contexts, rng, backend, precision, activation, rows, k, n):
    ctx = contexts(backend)
    x = rng.standard_normal((rows, k)).astype(np.float32)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    y = nat.Tensor(ctx, (rows, n), act_dtype(precision))
    if precision == "int8":
        wq, ws = quant.quantize_weight_per_channel(w)
        op = nat.Linear(ctx, None, b, "int8", activation, weight_i8=wq, weight_scale=ws)
        xq, xs = quant.quantize_rows(x)
        acc = ref.int8_product_t(xq, wq)
        pre = (acc * (xs.reshape(-1, 1) * ws.reshape(1, -1))) + b
        expected = ref.activate(pre, activation)
        # Sanity: int8 stays near fp32 (error bound of symmetric 8-bit rounding).
        fp32 = ref.linear(x, w, b, activation)
        assert np.abs(expected - fp32).max() < 0.05 * np.abs(fp32).max() + 0.05
    else:
        op = nat.Linear(ctx, w, b, precision, activation)
        expected = ref.linear(as_precision(x, precision), as_precision(w, precision), b,
                              activation)
    op.reshape(1, rows)
    op.run(tensor(ctx, x, precision), y)
    assert_close(result(y), expected, precision, f"{backend}/{precision}/{activation}")
    if precision == "int8" and activation == "none":
        # Without an activation the header fixes every float32 operation and its order
        # (armbert.quant.linear_int8_reference): every backend must give those bits.
        np.testing.assert_array_equal(
            result(y), quant.linear_int8_reference(x, wq, ws, b, None), err_msg=backend)


@backend_params
def test_int8_static_scale_saturates_like_reference(contexts, rng, backend):
    ctx = contexts(backend)
    # The odd shape of SHAPES: on CL the integer GEMM's programs are those compiled there.
    x = rng.standard_normal((14, 100)).astype(np.float32) * 3
    w = rng.standard_normal((37, 100)).astype(np.float32)
    wq, ws = quant.quantize_weight_per_channel(w)
    scale = 2.0 / 127  # clips everything beyond |2|
    op = nat.Linear(ctx, None, None, "int8", weight_i8=wq, weight_scale=ws, input_scale=scale)
    op.reshape(1, 14)
    y = nat.Tensor(ctx, (14, 37))
    op.run(nat.Tensor.from_numpy(ctx, x), y)
    expected = quant.linear_int8_reference(x, wq, ws, None, scale)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-5, atol=1e-5)


@backend_params
def test_linear_rejects_bad_shapes_and_values(contexts, backend):
    ctx = contexts(backend)
    # The odd shape of SHAPES (14 x 100 -> 37, with a bias): on CL the same program.
    w, b = np.ones((37, 100), np.float32), np.ones(37, np.float32)
    op = nat.Linear(ctx, w, b)
    with pytest.raises(errors.InvalidArgumentError, match="reshape"):
        op.run(nat.Tensor(ctx, (14, 100)), nat.Tensor(ctx, (14, 37)))
    op.reshape(1, 14)
    with pytest.raises(errors.ShapeError, match="linear input has shape"):
        op.run(nat.Tensor(ctx, (14, 101)), nat.Tensor(ctx, (14, 37)))
    with pytest.raises(errors.ShapeError, match="dtype f16, expected f32"):
        op.run(nat.Tensor(ctx, (14, 100), np.float16), nat.Tensor(ctx, (14, 37)))
    with pytest.raises(errors.ShapeError, match="bias"):
        nat.Linear(ctx, w, np.ones(5))
    scales = np.ones(37, np.float32)
    scales[2] = 0
    with pytest.raises(errors.InvalidArgumentError, match="weight_scale"):
        nat.Linear(ctx, None, None, "int8", weight_i8=np.ones((37, 100), np.int8),
                   weight_scale=scales)
    with pytest.raises(errors.InvalidArgumentError, match="unknown precision"):
        nat.Linear(ctx, w, None, "int4")


@backend_params
def test_int8_gelu_saturates_for_large_inputs(contexts, backend):
    """The int8 epilogue's GELU at the far ends (each backend's own code: the host's
    portable one, NEON's fused one with FMA): x for large x, 0 for large negative x (a
    quotient left a hair below 1 would give -0.03 at -1e6), NaN for NaN. Each row is
    one value, so its dynamic scale makes every q = +-127 and the pre-activation is
    the value itself to float rounding."""
    ctx = contexts(backend)
    values = np.array([-1e6, -1e3, -30.0, -6.0, -1.0, 1.0, 6.0, 30.0, 1e3, 1e6], np.float32)
    k = 8
    x = np.repeat(values[:, None], k, axis=1)
    wq = np.zeros((k, k), np.int8)
    wq[:, 0] = 127  # every output is 127 * q[0]
    ws = np.full(k, 1.0 / 127, np.float32)
    op = nat.Linear(ctx, None, None, "int8", "gelu", weight_i8=wq, weight_scale=ws)
    op.reshape(1, len(values))
    y = nat.Tensor(ctx, (len(values), k))
    op.run(nat.Tensor.from_numpy(ctx, x), y)
    got = y.numpy()
    expected = ref.activate(x.astype(np.float64), "gelu")
    # 1e-4 relative to the value's size (fp32 rounding of the scales) and absolute.
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4, err_msg=backend)


@backend_params
def test_int8_tiny_rows_keep_zero_codes(contexts, backend):
    """A row whose max |x| is below 127 * FLT_MIN (1.5e-36) would get a subnormal
    dynamic scale max / 127 with an inverse of inf, and its zeros would quantize to
    0 * inf = NaN (-127 on the host). Its scale is FLT_MIN instead (common/int8.h
    scale_from_absmax, armbert.quant.scales_from_absmax): codes rint(x / FLT_MIN),
    zeros stay 0. Checked through the codes themselves: the output of such a row is
    the bias (its scale times any int32 sum is below 1e-30), so the first row adds
    a weight of 1e30, and the reference must agree to float rounding."""
    ctx = contexts(backend)
    k, n = 8, 4
    x = np.zeros((3, k), np.float32)
    x[0, :2] = [1e-37, -2e-37]  # max 2e-37: scale FLT_MIN, codes 9 and -17, zeros 0
    x[1, 0] = np.float32(1e-40)  # subnormal max
    x[2] = np.linspace(-1, 1, k)  # an ordinary row beside them
    q, s = quant.quantize_rows(x)
    assert np.isfinite(1 / s).all() and (s >= np.finfo(np.float32).tiny).all()
    np.testing.assert_array_equal(q[0], [9, -17, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(q[1, 1:], 0)
    wq = np.ones((n, k), np.int8)
    ws = np.full(n, 1e30, np.float32)  # FLT_MIN * 1e30 * (9 - 17) = -9.4e-8
    b = np.arange(n, dtype=np.float32)
    op = nat.Linear(ctx, None, b, "int8", weight_i8=wq, weight_scale=ws)
    op.reshape(1, 3)
    y = nat.Tensor(ctx, (3, n))
    op.run(nat.Tensor.from_numpy(ctx, x), y)
    got = y.numpy()
    expected = quant.linear_int8_reference(x, wq, ws, b, None)
    assert np.isfinite(got).all(), got
    # the -9.4e-8 of row 0 is below b's ulp for b >= 1: compare the differences
    np.testing.assert_allclose(got[0] - b, expected[0] - b, rtol=1e-5, atol=1e-12,
                               err_msg=backend)
    np.testing.assert_allclose(got[1:], expected[1:], rtol=1e-5, atol=1e-5, err_msg=backend)
    # a static scale float32 cannot hold as a normal number is refused, not taken as 0
    with pytest.raises(errors.InvalidArgumentError, match="smallest normal"):
        nat.Linear(ctx, None, b, "int8", weight_i8=wq, weight_scale=ws, input_scale=1e-40)
    with pytest.raises(errors.InvalidArgumentError, match="smallest normal"):
        quant.quantize_rows(x, 1e-50)
