"""armbert.quant: the INT8 reference the native linear is tested against, bit for bit."""
import json

import numpy as np
import pytest

from armbert.calibrate import AbsMaxObserver, PercentileObserver
from armbert.errors import InvalidArgumentError
from armbert.quant import (PAIR_MAX, QuantizationParams, int8_matmul_t, linear_int8_reference,
                           linear_names, pair_sums, quantize_rows,
                           quantize_weight_per_channel)

F32 = np.float32
# |w - q*s| <= s/2 holds exactly for w * (1/s); the float32 products that reconstruct
# q*s and the rounded 1/s add a few ulp of slack.
ROUNDTRIP_SLACK = 1 + 2.0 ** -18


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.mark.parametrize("pairs", [False, True])
def test_weight_roundtrip_within_half_a_step(rng, pairs):
    w = (rng.standard_normal((48, 96)) * rng.uniform(0.01, 3, (48, 1))).astype(F32)
    q, s = quantize_weight_per_channel(w, pairs)
    assert q.dtype == np.int8 and q.shape == w.shape
    assert s.dtype == np.float32 and s.shape == (48,)
    assert np.abs(q).max() <= 127 and (q != -128).all()
    err = np.abs(w.astype(np.float64) - q.astype(np.float64) * s[:, None])
    assert (err <= s[:, None] / 2 * ROUNDTRIP_SLACK).all()
    if pairs:
        # The largest pair of neighbours of each row lands on 127 (or 128 by rounding).
        sums = pair_sums(q)
        assert sums.max() <= PAIR_MAX and (sums.max(axis=1) >= 126).all()
        expected = np.maximum(np.abs(w).max(axis=1), pair_sums(w).max(axis=1).astype(F32))
        np.testing.assert_array_equal(s, (expected / F32(127)).astype(F32))
    else:
        # The largest element of each row lands on the edge of the range.
        assert (np.abs(q).max(axis=1) == 127).all()
        np.testing.assert_array_equal(s, (np.abs(w).max(axis=1) / F32(127)).astype(F32))


@pytest.mark.parametrize("k", [1, 2, 7, 96])
def test_weight_pairs_stay_within_the_avx2_bound(rng, k):
    """Every pair of neighbours along K: |q[2i]| + |q[2i+1]| <= 128, what the AVX2
    vpmaddubsw kernel needs (armbert/quant.py). Rows built to round up on both sides:
    equal neighbours (127 / 2 = 63.5 each, a tie), a lone peak, heavy tails, odd K."""
    rows = [np.full(k, 1.0), np.r_[np.full(k - 1, 0.01), 5.0] if k > 1 else np.ones(1),
            rng.standard_t(1.5, k), rng.standard_normal(k) * 1e-30,
            np.full(k, 1e-37),  # 1 / (max / 127) would overflow: the smallest normal scale
            np.tile([1.0, -1.0 + 1e-7], k)[:k]]
    w = np.array(rows, F32)
    q, s = quantize_weight_per_channel(w)
    assert pair_sums(q).max() <= PAIR_MAX
    err = np.abs(w.astype(np.float64) - q.astype(np.float64) * s[:, None])
    assert (err <= s[:, None] / 2 * ROUNDTRIP_SLACK).all()


def test_weight_rows_of_zeros_get_scale_one(rng):
    w = rng.standard_normal((4, 16)).astype(F32)
    w[[1, 3]] = 0
    q, s = quantize_weight_per_channel(w)
    assert s[1] == 1.0 and s[3] == 1.0
    assert (q[[1, 3]] == 0).all()
    assert s[0] != 1.0


def test_weight_quantization_is_float32_arithmetic(rng):
    w = rng.standard_normal((32, 64)).astype(F32)
    q, s = quantize_weight_per_channel(w)
    inv = F32(1) / s  # float32 division, as 1.0f / scale in C
    expected = np.clip(np.rint(w * inv[:, None]), -127, 127).astype(np.int8)
    np.testing.assert_array_equal(q, expected)


def test_weights_past_float32_range_are_refused():
    """A pair whose sum overflows float32 has no finite pair-safe scale: a clear error,
    not a scale of inf (which would dequantize to NaN)."""
    with pytest.raises(InvalidArgumentError, match="weight row 1: values up to 3e"):
        quantize_weight_per_channel(np.array([[1, 2], [3e38, 3e38]], F32))
    q, s = quantize_weight_per_channel(np.array([[3e38, 0, 1, 1]], F32))  # one is fine
    assert np.isfinite(s).all() and q[0, 0] == 127


def test_rint_rounds_half_to_even():
    # scale exactly 1.0 (row max 127), so w * (1/s) is w itself: ties are exact.
    w = np.array([[127, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5]], F32)
    q, s = quantize_weight_per_channel(w, pairs=False)
    assert s[0] == 1.0
    np.testing.assert_array_equal(q[0], [127, 0, 2, 2, 0, -2, -2, 4])
    x = np.array([[0.5, 1.5, 2.5, -3.5, 126.5]], F32)
    qx, _ = quantize_rows(x, 1.0)
    np.testing.assert_array_equal(qx[0], [0, 2, 2, -4, 126])


def test_static_scale_clips_and_repeats(rng):
    x = rng.standard_normal((5, 20)).astype(F32) * 4
    q, s = quantize_rows(x, 0.01)
    np.testing.assert_array_equal(s, np.full(5, F32(0.01)))
    assert q.max() == 127 and q.min() == -127  # |x| / 0.01 is far beyond the range
    inv = F32(1) / F32(0.01)
    np.testing.assert_array_equal(q, np.clip(np.rint(x * inv), -127, 127).astype(np.int8))


def test_dynamic_rows(rng):
    x = rng.standard_normal((6, 33)).astype(F32) * rng.uniform(0.1, 10, (6, 1)).astype(F32)
    x[2] = 0
    for dynamic in (None, 0.0, -1.0):  # the C descriptor's input_scale <= 0 means dynamic
        q, s = quantize_rows(x, dynamic)
        assert s[2] == 1.0 and (q[2] == 0).all()
        expected = np.where(np.abs(x).max(1) > 0, np.abs(x).max(1) / F32(127), F32(1))
        np.testing.assert_array_equal(s, expected.astype(F32))
        assert (np.abs(np.delete(q, 2, axis=0)).max(axis=1) == 127).all()


def test_static_and_dynamic_agree_when_the_scale_is_the_row_max(rng):
    x = rng.standard_normal((1, 40)).astype(F32)
    qd, sd = quantize_rows(x)
    qs, ss = quantize_rows(x, float(sd[0]))
    np.testing.assert_array_equal(qd, qs)
    np.testing.assert_array_equal(sd, ss)


def test_linear_int8_is_the_header_formula(rng):
    x = rng.standard_normal((7, 64)).astype(F32)
    w = rng.standard_normal((24, 64)).astype(F32) * 0.1
    b = rng.standard_normal(24).astype(F32)
    qw, sw = quantize_weight_per_channel(w)
    for input_scale in (None, 0.03):
        y = linear_int8_reference(x, qw, sw, b, input_scale)
        qx, sx = quantize_rows(x, input_scale)
        acc = qx.astype(np.int32) @ qw.astype(np.int32).T
        expected = acc.astype(F32) * (sx[:, None] * sw[None, :]) + b
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, expected)
        # ...and it approximates the float linear (8-bit steps on both operands).
        exact = x.astype(np.float64) @ w.T.astype(np.float64) + b
        assert np.abs(y - exact).max() < 0.05 * np.abs(exact).max()


def test_linear_int8_without_bias_and_wide_accumulation():
    k = 4096
    x = np.ones((2, k), F32)
    qw = np.full((3, k), 127, np.int8)
    y = linear_int8_reference(x, qw, np.ones(3, F32), None, None)
    # Every input quantizes to 127 with scale 1/127: acc = k * 127 * 127, no overflow.
    np.testing.assert_array_equal(y, np.full((2, 3), F32(k * 127 * 127) * (F32(1) / F32(127))))


def test_int8_matmul_is_exact_up_to_the_int32_bound(rng):
    # Through float64: exact for every K int32 can hold, extremes included (all
    # -127 against all 127, and mixed random values against numpy's integer matmul);
    # beyond the int32 bound it refuses rather than wraps.
    for k in (1, 37, 4096, 133_000):
        qx = np.full((2, k), -127, np.int8)
        qw = np.full((3, k), 127, np.int8)
        np.testing.assert_array_equal(int8_matmul_t(qx, qw), np.full((2, 3), -k * 127 * 127))
    qx = rng.integers(-127, 128, (9, 1031)).astype(np.int8)
    qw = rng.integers(-127, 128, (13, 1031)).astype(np.int8)
    acc = int8_matmul_t(qx, qw)
    assert acc.dtype == np.int32
    np.testing.assert_array_equal(acc, qx.astype(np.int64) @ qw.astype(np.int64).T)
    with pytest.raises(InvalidArgumentError, match="overflow"):
        int8_matmul_t(np.ones((1, 134_000), np.int8), np.ones((1, 134_000), np.int8))


def test_linear_int8_rejects_bad_operands(rng):
    with pytest.raises(InvalidArgumentError, match="int8"):
        linear_int8_reference(np.ones((2, 4), F32), np.ones((3, 4), F32), np.ones(3, F32), None, 0)
    with pytest.raises(InvalidArgumentError, match="does not fit"):
        linear_int8_reference(np.ones((2, 5), F32), np.ones((3, 4), np.int8), np.ones(3, F32),
                              None, 0)
    with pytest.raises(InvalidArgumentError, match="2-D"):
        quantize_weight_per_channel(np.ones(4, F32))


def test_absmax_observer(rng):
    obs = AbsMaxObserver()
    with pytest.raises(InvalidArgumentError, match="no data"):
        obs.compute()
    batches = [rng.standard_normal((4, 8)).astype(F32) * k for k in (1, 5, 2)]
    for batch in batches:
        obs.collect(batch)
    absmax = max(np.abs(b).max() for b in batches)
    assert obs.compute() == float(F32(absmax) / F32(127))
    zeros = AbsMaxObserver()
    zeros.collect(np.zeros(10, F32))
    assert zeros.compute() == 1.0


def test_percentile_observer_matches_numpy_percentile(rng):
    data = rng.standard_normal(200_000).astype(F32)
    obs = PercentileObserver(p=99.9)
    # A small first batch fixes a narrow bin width; the later ones force doublings.
    obs.collect(data[:100] * 0.01)
    for chunk in np.split(data[100:], 10):
        obs.collect(chunk)
    every = np.abs(np.concatenate([data[:100] * 0.01, data[100:]]))
    exact = np.percentile(every, 99.9)
    assert abs(obs.threshold() - exact) <= 2 * obs.width
    assert obs.compute() == pytest.approx(obs.threshold() / 127, rel=1e-6)
    assert obs.threshold() < every.max()  # outliers are cut, which is the point


def test_percentile_100_is_the_max_and_zeros_are_safe(rng):
    data = rng.standard_normal(5000).astype(F32)
    obs = PercentileObserver(p=100)
    obs.collect(data)
    assert obs.threshold() == pytest.approx(float(np.abs(data).max()))
    zeros = PercentileObserver()
    zeros.collect(np.zeros(50, F32))
    assert zeros.compute() == 1.0
    zeros.collect(np.full(50, 2.0, F32))  # the first non-zero batch sets the bins
    assert zeros.threshold() == pytest.approx(2.0)
    with pytest.raises(InvalidArgumentError):
        PercentileObserver(p=0)
    with pytest.raises(InvalidArgumentError, match="no data"):
        PercentileObserver().compute()


def test_quantization_params_json_roundtrip():
    names = linear_names(2, pooler=True)
    assert names[:4] == ["layer.0.qkv", "layer.0.attn_out", "layer.0.ffn_in", "layer.0.ffn_out"]
    assert names[-1] == "pooler" and len(names) == 9
    params = QuantizationParams({n: 0.1 * (i + 1) for i, n in enumerate(names)},
                                method="percentile", percentile=99.99)
    text = params.to_json()
    assert json.loads(text)["version"] == 1
    back = QuantizationParams.from_json(text)
    assert back == params
    # Scales are stored as the float32 the C descriptor holds.
    assert back.input_scales["layer.0.qkv"] == float(F32(0.1))


def test_quantization_params_refuse_bad_input():
    with pytest.raises(InvalidArgumentError, match="version"):
        QuantizationParams.from_dict({"version": 2, "input_scales": {}})
    with pytest.raises(InvalidArgumentError, match="version"):
        QuantizationParams.from_dict({"input_scales": {}})
    with pytest.raises(InvalidArgumentError, match="layer.0.qkv"):
        QuantizationParams({"layer.0.qkv": -1.0})
    with pytest.raises(InvalidArgumentError, match="layer.0.qkv"):
        QuantizationParams({"layer.0.qkv": float("nan")})
    with pytest.raises(InvalidArgumentError, match="unknown"):
        QuantizationParams.from_dict({"version": 1, "scales": {}})
    with pytest.raises(InvalidArgumentError, match="method"):
        QuantizationParams(method="kl")
    with pytest.raises(InvalidArgumentError, match="JSON"):
        QuantizationParams.from_json("{not json")
