"""Property-based tests (Hypothesis) of the host kernels (here, not in tests/kernels,
which the arm64 test bed runs without Hypothesis; the host suite and tools/sanitize.sh
run this file) against the numpy reference
(tests/reference.py): random shapes, precisions, activations, masks, and input
arrays in any memory layout (strided, Fortran-order, big-endian), each within the
tolerances of tests/kernels/conftest.py (TOL).

Examples per run: EXAMPLES per test (below), derandomized, so CI sees the same
cases every run; HYPOTHESIS_PROFILE=explore draws new ones (20x as many).
"""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from armbert import _native as nat
from armbert import quant
from tests import reference as ref
from tests.kernels.conftest import TOL, act_dtype, as_precision

EXAMPLES = 100
settings.register_profile("ci", max_examples=EXAMPLES, deadline=None, derandomize=True,
                          database=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", max_examples=20 * EXAMPLES, deadline=None, database=None)
settings.load_profile(__import__("os").environ.get("HYPOTHESIS_PROFILE", "ci"))

precisions = st.sampled_from(["fp32", "fp16"])
layouts = st.sampled_from(["c", "fortran", "strided", "big-endian"])


@pytest.fixture(scope="module")
def ctx():
    with nat.Context("host", threads=2) as c:
        yield c


def laid_out(x: np.ndarray, layout: str) -> np.ndarray:
    """The same values in another memory layout."""
    if layout == "fortran":
        return np.asfortranarray(x)
    if layout == "strided":
        return np.repeat(x[..., None], 2, axis=-1)[..., 1]  # every other element
    if layout == "big-endian":
        return x.astype(x.dtype.newbyteorder(">"))
    return x


def values(draw, shape, scale=3.0) -> np.ndarray:
    seed = draw(st.integers(0, 2**32 - 1))
    return (np.random.default_rng(seed).standard_normal(shape) * scale).astype(np.float32)


def to_tensor(ctx, x, precision, layout="c"):
    return nat.Tensor.from_numpy(ctx, laid_out(x.astype(act_dtype(precision)), layout))


def close(actual, expected, precision):
    np.testing.assert_allclose(actual.astype(np.float32), expected, **TOL[precision])


@given(data=st.data(), precision=precisions, layout=layouts,
       shape=st.lists(st.integers(1, 40), min_size=1, max_size=3))
def test_gelu_and_add(ctx, data, precision, layout, shape):
    x, y0 = values(data.draw, shape), values(data.draw, shape)
    xp, yp = as_precision(x, precision), as_precision(y0, precision)
    out = nat.Tensor(ctx, shape, act_dtype(precision))
    with nat.Gelu(ctx, precision) as gelu:
        gelu.run(to_tensor(ctx, x, precision, layout), out)
        close(out.numpy(), as_precision(ref.gelu(xp), precision), precision)
    with nat.Add(ctx, precision) as add:
        add.run(to_tensor(ctx, x, precision, layout), to_tensor(ctx, y0, precision), out)
        close(out.numpy(), as_precision(xp + yp, precision), precision)


@given(data=st.data(), precision=precisions, layout=layouts, batch=st.integers(1, 3),
       seq=st.integers(1, 12), hidden=st.integers(1, 80), residual=st.booleans(),
       eps=st.sampled_from([1e-12, 1e-5, 0.1]))
def test_layernorm(ctx, data, precision, layout, batch, seq, hidden, residual, eps):
    x, r = values(data.draw, (batch * seq, hidden)), values(data.draw, (batch * seq, hidden))
    g, b = 1 + values(data.draw, hidden, 0.1), values(data.draw, hidden, 0.1)
    op = nat.LayerNorm(ctx, g, b, eps, precision)
    op.reshape(batch, seq)
    y = nat.Tensor(ctx, x.shape, act_dtype(precision))
    op.run(to_tensor(ctx, x, precision, layout), to_tensor(ctx, r, precision) if residual
           else None, y)
    expected = ref.layernorm(as_precision(x, precision), g, b, eps,
                             as_precision(r, precision) if residual else None)
    if hidden == 1:  # variance 0: (x - mean) = 0 exactly, the output is beta
        expected = np.broadcast_to(b, expected.shape)
    close(y.numpy(), expected, precision)


def mask_rows(data, batch, seq) -> np.ndarray:
    """An additive mask with at least one kept position per sequence (position 0,
    as a real [CLS] is)."""
    keep = np.array(data.draw(st.lists(st.booleans(), min_size=batch * seq,
                                       max_size=batch * seq))).reshape(batch, seq)
    keep[:, 0] = True
    return np.where(keep, 0.0, ref.F32_MIN).astype(np.float32)


@given(data=st.data(), precision=precisions, batch=st.integers(1, 3), rows=st.integers(1, 6),
       seq=st.integers(1, 40), masked=st.booleans(), scale=st.sampled_from([1.0, 0.125]))
def test_softmax_with_mask(ctx, data, precision, batch, rows, seq, masked, scale):
    x = values(data.draw, (batch, rows, seq))
    mask = mask_rows(data, batch, seq) if masked else None
    op = nat.Softmax(ctx, precision, scale)
    op.reshape(batch, seq)
    y = nat.Tensor(ctx, x.shape, act_dtype(precision))
    op.run(to_tensor(ctx, x, precision),
           nat.Tensor.from_numpy(ctx, mask) if masked else None, y)
    close(y.numpy(), ref.softmax(as_precision(x, precision), mask, scale), precision)


@given(data=st.data(), precision=precisions, batch=st.integers(1, 3), seq=st.integers(1, 20),
       heads=st.integers(1, 4), head_dim=st.integers(1, 16), masked=st.booleans())
def test_attention(ctx, data, precision, batch, seq, heads, head_dim, masked):
    hidden = heads * head_dim
    qkv = values(data.draw, (batch * seq, 3 * hidden), 1.0)
    mask = mask_rows(data, batch, seq) if masked else None
    op = nat.Attention(ctx, hidden, heads, precision)
    op.reshape(batch, seq)
    out = nat.Tensor(ctx, (batch * seq, hidden), act_dtype(precision))
    op.run(to_tensor(ctx, qkv, precision),
           nat.Tensor.from_numpy(ctx, mask) if masked else None, out)
    close(out.numpy(), ref.attention(as_precision(qkv, precision), mask, heads, batch),
          precision)


@given(data=st.data(), precision=st.sampled_from(["fp32", "fp16", "int8"]),
       rows=st.integers(1, 20), k=st.integers(1, 90), n=st.integers(1, 90),
       activation=st.sampled_from(["none", "gelu", "tanh"]), bias=st.booleans(),
       layout=layouts)
def test_linear(ctx, data, precision, rows, k, n, activation, bias, layout):
    x = values(data.draw, (rows, k), 1.0)
    w = values(data.draw, (n, k), 1.0 / np.sqrt(k))
    b = values(data.draw, n, 0.5) if bias else None
    if precision == "int8":
        wq, ws = quant.quantize_weight_per_channel(w)
        op = nat.Linear(ctx, None, b, "int8", activation, weight_i8=laid_out(wq, layout),
                        weight_scale=ws)
        pre = quant.linear_int8_reference(x, wq, ws, b, 0.0)
        expected = ref.activate(pre, activation)
    else:
        op = nat.Linear(ctx, laid_out(w, layout), b, precision, activation)
        expected = ref.linear(as_precision(x, precision), as_precision(w, precision), b,
                              activation)
    op.reshape(1, rows)
    y = nat.Tensor(ctx, (rows, n), act_dtype(precision))
    op.run(to_tensor(ctx, x, precision, layout), y)
    close(y.numpy(), expected, precision)


@given(data=st.data(), precision=precisions, batch=st.integers(1, 3), seq=st.integers(1, 16),
       hidden=st.integers(1, 48), types=st.booleans(), layout=layouts)
def test_embeddings(ctx, data, precision, batch, seq, hidden, types, layout):
    vocab, positions = 30, 16
    word, pos = values(data.draw, (vocab, hidden)), values(data.draw, (positions, hidden))
    tt, g, b = values(data.draw, (2, hidden)), 1 + values(data.draw, hidden, 0.1), \
        values(data.draw, hidden, 0.1)
    seed = data.draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocab, (batch, seq)).astype(np.int32)
    type_ids = rng.integers(0, 2, (batch, seq)).astype(np.int32) if types else None
    op = nat.Embeddings(ctx, laid_out(word, layout), pos, tt, g, b, 1e-5, precision)
    op.reshape(batch, seq)
    out = nat.Tensor(ctx, (batch * seq, hidden), act_dtype(precision))
    op.run(nat.Tensor.from_numpy(ctx, laid_out(ids, layout)),
           nat.Tensor.from_numpy(ctx, type_ids) if types else None, out)
    expected = ref.embeddings(ids, type_ids, word, pos, tt, g, b, 1e-5)
    if hidden == 1:
        expected = np.broadcast_to(b, expected.shape)
    close(out.numpy(), expected, precision)


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_nan_propagates_through_exp_paths(ctx, precision):
    # fast_exp (kernels/src/host/vecmath.h) converted NaN to int32: undefined behaviour
    # (UBSan: float-to-int overflow) and garbage out. NaN in gives NaN out now.
    x = np.array([np.nan, 0.0, 1.0, -np.nan, 3.0, np.inf, -np.inf, 0.5], np.float32)
    y = nat.Tensor(ctx, x.shape, act_dtype(precision))
    nat.Gelu(ctx, precision).run(to_tensor(ctx, x, precision), y)
    got = y.numpy().astype(np.float32)
    assert np.isnan(got[[0, 3]]).all()
    np.testing.assert_allclose(got[[1, 2, 4, 7]], ref.gelu(x[[1, 2, 4, 7]]), **TOL[precision])
    sm = nat.Softmax(ctx, precision)
    sm.reshape(1, 8)
    s = nat.Tensor(ctx, (1, 1, 8), act_dtype(precision))
    sm.run(to_tensor(ctx, x.reshape(1, 1, 8), precision), None, s)
    assert np.isnan(s.numpy().astype(np.float32)).all()  # a NaN score poisons its row
