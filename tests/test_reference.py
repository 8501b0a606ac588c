"""tests/reference.py against transformers' BertModel, and its parts against plain formulas.

Tolerances: HF_FP32_ATOL = 1e-4 is the brief's bar for float32 transformers (its own
rounding is ~1e-5 after six layers, largest on padded positions); against HF run in
float64 the reference must agree to HF_FP64_ATOL = 1e-9, which proves the maths is
the same and not merely close.
"""
import math

import numpy as np
import pytest

from armbert.errors import OutOfRangeError
from armbert.loaders import load
from armbert.text import l2_normalize, mean_pool
from tests import reference as ref

HF_FP32_ATOL = 1e-4
HF_FP64_ATOL = 1e-9
SENTENCES = ["hello world", "ARM boards run BERT encoders through a small C library.",
             "The quick brown fox jumps over the lazy dog, again and again."]


def _hf_outputs(hf, enc, torch):
    inputs = {k: torch.from_numpy(v.astype(np.int64)) for k, v in enc.items()}
    with torch.no_grad():
        out = hf(**inputs)
    pooled = None if out.pooler_output is None else out.pooler_output.numpy()
    return out.last_hidden_state.numpy(), pooled


def _compare(model, hf, enc, torch):
    hidden, pooled = ref.bert_forward(model, enc["input_ids"], enc["attention_mask"],
                                      enc["token_type_ids"])
    h32, p32 = _hf_outputs(hf, enc, torch)
    assert np.abs(hidden - h32).max() < HF_FP32_ATOL
    h64, p64 = _hf_outputs(hf.double(), enc, torch)
    assert np.abs(hidden - h64).max() < HF_FP64_ATOL
    if model.pooler_w is not None:
        assert np.abs(pooled - p32).max() < HF_FP32_ATOL
        assert np.abs(pooled - p64).max() < HF_FP64_ATOL
    return hidden


def test_bundled_minilm_matches_transformers():
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from armbert.loaders.bundled import model_dir
    from armbert.text import Tokenizer

    model = load()
    assert model.pooler_w is not None  # all-MiniLM's safetensors ships the pooler
    enc = Tokenizer(model.tokenizer_path)(SENTENCES)
    assert enc["attention_mask"].min() == 0  # padding is exercised
    hf = transformers.BertModel.from_pretrained(str(model_dir()),
                                                attn_implementation="eager").eval()
    hidden = _compare(model, hf, enc, torch)
    # The sentence-transformers recipe: similar sentences end up closer.
    emb = l2_normalize(mean_pool(hidden, enc["attention_mask"]))
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1, rtol=1e-6)


@pytest.mark.parametrize("with_pooler", [True, False])
def test_small_random_bert_matches_transformers(with_pooler):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(vocab_size=99, hidden_size=72, num_hidden_layers=2,
                                  num_attention_heads=6, intermediate_size=100,
                                  max_position_embeddings=40, attn_implementation="eager")
    hf = transformers.BertModel(cfg, add_pooling_layer=with_pooler).eval()
    with torch.no_grad():  # larger than the 0.02 init so every layer matters
        for p in hf.parameters():
            p.normal_(0, 0.2)
    model = load(hf)
    assert (model.pooler_w is not None) == with_pooler
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 99, (3, 17)).astype(np.int32)
    mask = np.ones_like(ids)
    mask[1, 9:] = 0
    mask[2, 2:] = 0
    types = rng.integers(0, 2, ids.shape).astype(np.int32)
    _compare(model, hf, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types},
             torch)


def test_gelu_is_the_erf_form():
    x = np.linspace(-6, 6, 101)
    expected = [0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x]
    # reference.erf is within 1e-14 of math.erf (test below), so |x| <= 6 keeps 1e-14.
    np.testing.assert_allclose(ref.gelu(x), expected, rtol=0, atol=1e-14)
    assert ref.gelu(np.float32(1.0)).dtype == np.float64


def test_softmax_mask_and_scale():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 5))
    mask = np.zeros((2, 5))
    mask[1, 3:] = ref.F32_MIN
    y = ref.softmax(x, mask, 0.5)
    np.testing.assert_allclose(y.sum(-1), 1, rtol=1e-12)
    assert (y[1, :, 3:] == 0).all()
    z = np.exp(0.5 * x[0]) / np.exp(0.5 * x[0]).sum(-1, keepdims=True)
    np.testing.assert_allclose(y[0], z, rtol=1e-12)
    np.testing.assert_allclose(ref.softmax(x), ref.softmax(x, np.zeros((2, 5))), rtol=1e-15)


def test_attention_against_a_loop_over_heads():
    rng = np.random.default_rng(2)
    batch, seq, heads, d = 2, 4, 3, 5
    hidden = heads * d
    qkv = rng.standard_normal((batch * seq, 3 * hidden))
    mask = ref.additive_mask(np.array([[1, 1, 1, 1], [1, 1, 0, 0]]))
    out = ref.attention(qkv, mask, heads)
    x = qkv.reshape(batch, seq, 3, hidden)
    for b in range(batch):
        for a in range(heads):
            cols = slice(a * d, (a + 1) * d)
            q, k, v = x[b, :, 0, cols], x[b, :, 1, cols], x[b, :, 2, cols]
            s = q @ k.T / math.sqrt(d) + mask[b]
            p = np.exp(s - s.max(-1, keepdims=True))
            p /= p.sum(-1, keepdims=True)
            np.testing.assert_allclose(out.reshape(batch, seq, hidden)[b, :, cols], p @ v,
                                       rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ref.attention(qkv, None, heads, batch=batch),
                               ref.attention(qkv, np.zeros((batch, seq)), heads), rtol=1e-15)


def test_layernorm_residual_and_linear_activations():
    rng = np.random.default_rng(3)
    x, r = rng.standard_normal((4, 8)), rng.standard_normal((4, 8))
    g, b = rng.standard_normal(8), rng.standard_normal(8)
    y = ref.layernorm(x, g, b, 1e-12, residual=r)
    s = x + r
    expected = (s - s.mean(1, keepdims=True)) / s.std(1, keepdims=True) * g + b
    np.testing.assert_allclose(y, expected, rtol=1e-10, atol=1e-10)
    w = rng.standard_normal((3, 8))
    np.testing.assert_allclose(ref.linear(x, w, None), x @ w.T, rtol=1e-15)
    np.testing.assert_allclose(ref.linear(x, w, b[:3], "tanh"), np.tanh(x @ w.T + b[:3]))
    np.testing.assert_allclose(ref.linear(x, w, b[:3], "gelu"), ref.gelu(x @ w.T + b[:3]))
    with pytest.raises(ValueError, match="relu"):
        ref.linear(x, w, None, "relu")


def test_remembered_products_are_by_content_and_not_shared():
    # reference.linear remembers x W^T by content: equal operands hit, an operand of
    # the same shape with one value changed does not, and a caller who writes into
    # a result does not change the next one.
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((5, 7)), rng.standard_normal((3, 7))
    first = ref.linear(x, w, None)
    first += 1.0
    np.testing.assert_array_equal(ref.linear(x.copy(), w.copy(), None), x @ w.T)
    x2 = x.copy()
    x2[4, 6] += 0.5
    np.testing.assert_array_equal(ref.linear(x2, w, None), x2 @ w.T)
    np.testing.assert_array_equal(ref.linear(x.astype(np.float32), w, None),
                                  x.astype(np.float32).astype(np.float64) @ w.T)
    for i in range(12):  # more operands than it keeps: still right
        xi = x + i
        np.testing.assert_array_equal(ref.linear(xi, w, None), xi @ w.T)


def test_int8_products_are_exact_and_refuse_other_dtypes():
    rng = np.random.default_rng(9)
    qx = rng.integers(-127, 128, (6, 1536)).astype(np.int8)
    qw = rng.integers(-127, 128, (5, 1536)).astype(np.int8)
    exact = qx.astype(np.int64) @ qw.astype(np.int64).T
    np.testing.assert_array_equal(ref.int8_product_t(qx, qw), exact)
    np.testing.assert_array_equal(ref.int8_product_t(qx, qw), exact)  # the kept one
    with pytest.raises(AssertionError):
        ref.int8_product_t(qx.astype(np.int16), qw)


def test_embeddings_checks_ranges():
    rng = np.random.default_rng(4)
    word, pos, tt = rng.standard_normal((10, 6)), rng.standard_normal((4, 6)), \
        rng.standard_normal((2, 6))
    g, b = np.ones(6), np.zeros(6)
    ids = np.array([[1, 2, 3]])
    out = ref.embeddings(ids, None, word, pos, tt, g, b, 1e-12)
    assert out.shape == (3, 6)
    np.testing.assert_allclose(out, ref.layernorm(word[[1, 2, 3]] + pos[:3] + tt[0], g, b, 1e-12))
    with pytest.raises(OutOfRangeError):
        ref.embeddings(np.array([[10]]), None, word, pos, tt, g, b, 1e-12)
    with pytest.raises(OutOfRangeError):
        ref.embeddings(np.zeros((1, 5), int), None, word, pos, tt, g, b, 1e-12)
    with pytest.raises(OutOfRangeError):
        ref.embeddings(ids, np.full((1, 3), 2), word, pos, tt, g, b, 1e-12)


def test_mean_pool_and_normalize():
    h = np.arange(2 * 3 * 2, dtype=np.float32).reshape(2, 3, 2)
    m = np.array([[1, 1, 0], [0, 0, 0]])
    pooled = mean_pool(h, m)
    np.testing.assert_allclose(pooled[0], h[0, :2].mean(0))
    np.testing.assert_array_equal(pooled[1], [0, 0])  # all padding: zeros, not NaN
    n = l2_normalize(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(n, [[0.6, 0.8], [0, 0]])


def test_vectorized_erf_matches_math_erf():
    """reference.erf replaces math.erf element by element (too slow under emulation);
    it must agree with the correctly rounded one to 1e-14 everywhere, both branches
    and their seam at |x| = 2.5 included."""
    import math

    x = np.concatenate([np.linspace(-9, 9, 40001), [0.0, -0.0, 2.5, -2.5, 2.5000001,
                                                      1e-300, -1e-8, 30.0, -30.0]])
    expected = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(ref.erf(x), expected, rtol=0, atol=1e-14)
    assert np.isnan(ref.erf(np.array([np.nan]))).all()
