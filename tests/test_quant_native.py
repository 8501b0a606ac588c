"""The native int8 linear on the host backend against armbert.quant, its reference.

Without outlier channels the native result equals quant's reference bit for bit
(the header fixes every float32 operation and its order), with dynamic and static
input scales, with and without bias, for the int8 weights the quantizer makes
(armbert.quant.Int8Weight) and through the engine's own linear wrapper.

With outlier channels the int8 part is the same, but the header leaves the order of
the fp32 outlier sum (sum_j x[o_j] * ow[n, j]) open: the host backend sums it with
sgemm, the reference in float64. There the difference is bounded by float32
rounding of that sum and of the two additions after it (see ``_rounding_bound``),
and is asserted to be no more.
"""
import numpy as np
import pytest

from armbert import _native as nat
from armbert import quant
from armbert.layer import Linear

# (rows, in, out): odd sizes (not multiples of the kernel's 4 and 32 blocks) and
# MiniLM's FFN.
SHAPES = [(1, 7, 5), (13, 100, 37), (24, 384, 1536)]


@pytest.fixture(scope="module")
def ctx():
    with nat.Context("host", threads=2) as c:
        yield c


@pytest.mark.parametrize("rows,k,n", SHAPES)
@pytest.mark.parametrize("input_scale", [None, 0.021], ids=["dynamic", "static"])
@pytest.mark.parametrize("outliers", [False, True], ids=["plain", "outliers"])
@pytest.mark.parametrize("bias", [False, True], ids=["nobias", "bias"])
def test_native_int8_linear_equals_quant_reference(ctx, rows, k, n, input_scale, outliers,
                                                   bias):
    rng = np.random.default_rng(rows * 1000 + k + n)
    x = rng.standard_normal((rows, k)).astype(np.float32)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32) if bias else None
    oc = None
    if outliers:
        oc = np.sort(rng.choice(k, size=min(3, k), replace=False)).astype(np.int32)
        x[:, oc] *= 25  # outlier channels, as all-MiniLM has one
    prepared = quant.Int8Weight.from_float(w, oc)
    args = prepared.linear_args()
    op = nat.Linear(ctx, None, b, "int8", input_scale=input_scale or 0.0, **args)
    op.reshape(1, rows)
    y = nat.Tensor(ctx, (rows, n))
    op.run(nat.Tensor.from_numpy(ctx, x), y)
    got = y.numpy()
    expected = quant.linear_int8_outliers_reference(x, args, b, input_scale)
    if not outliers:
        np.testing.assert_array_equal(got, expected)
        np.testing.assert_array_equal(got, quant.linear_int8_reference(
            x, prepared.weight_i8, prepared.weight_scale, b, input_scale))
    else:
        assert (np.abs(got - expected) <= _rounding_bound(x, args, b, input_scale)).all()


def _rounding_bound(x, args, b, input_scale):
    """How far two float32 evaluations of y = int8_part + sum_j x[o_j] * ow[n, j] + b
    may differ when the int8 part is the same: the native side rounds the O products
    and O - 1 sums (any order, FMA or not) and the two additions, O + 2 roundings at
    most; the reference rounds the float64 sum once and the two additions, 3. Each
    rounding is at most u = 2^-24 relative to a partial sum no larger than
    T = |int8 part| + sum_j |x[o_j] * ow[n, j]| + |b|, so |difference| <= (O + 5) u T."""
    oc, ow = args["outlier_channels"], args["outlier_weight"].astype(np.float64)
    xi = x.copy()
    xi[:, oc] = 0
    q_x, sx = quant.quantize_rows(xi, input_scale)
    acc = q_x.astype(np.int64) @ args["weight_i8"].astype(np.int64).T
    int8_part = np.abs(acc * (sx[:, None].astype(np.float64) * args["weight_scale"][None, :]))
    terms = int8_part + np.abs(x[:, oc].astype(np.float64)) @ np.abs(ow).T
    if b is not None:
        terms += np.abs(b.astype(np.float64))[None, :]
    return (oc.size + 5) * 2.0 ** -24 * terms


def test_engine_linear_wrapper_equals_quant_reference(ctx):
    """armbert.layer.Linear (the engine's int8 linear, from a float weight with dynamic
    scales) runs exactly quant's reference."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 48)).astype(np.float32)
    w = rng.standard_normal((20, 48)).astype(np.float32) / 7
    b = rng.standard_normal(20).astype(np.float32)
    lin = Linear(ctx, "layer.0.qkv", w, b, "int8")
    lin.op.reshape(1, 9)
    y = nat.Tensor(ctx, (9, 20))
    lin.op.run(nat.Tensor.from_numpy(ctx, x), y)
    prepared = quant.Int8Weight.from_float(w)
    np.testing.assert_array_equal(
        y.numpy(), quant.linear_int8_outliers_reference(x, prepared.linear_args(), b, None))
