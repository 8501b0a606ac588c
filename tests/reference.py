"""numpy references of each native op, computed in float64, following armbert.h exactly.

Results are float64 (inputs of any float dtype are widened first): a test compares a
float32 or float16 native result against them with a tolerance named in the test.
Needs only numpy and the stdlib (erf is vectorized here), so the native tests run in
the arm64 chroot too. The INT8 linear's bit-exact reference is
armbert.quant.linear_int8_reference, not here.
"""
from __future__ import annotations

import hashlib
import math

import numpy as np

from armbert.errors import OutOfRangeError, ShapeError

F32_MIN = float(np.finfo(np.float32).min)  # HF's "masked" additive value

def erf(x) -> np.ndarray:
    """erf in float64, vectorized, within 1e-14 of math.erf (tests/test_reference.py).

    math.erf element by element costs a Python call per value, which under the test
    bed's emulation made the GELU references of the MiniLM-sized cases take about a
    minute each. |x| <= 2.5: the Maclaurin series (terms stay below ~210, so the
    sum keeps 14 digits); beyond: erfc's continued fraction, evaluated bottom-up
    (converged for |x| >= 2.5 well before 80 terms); past 6, |erf| rounds to 1.
    """
    x = _f64(x)
    a = np.abs(x)
    out = np.empty_like(x)
    small = a <= 2.5
    xs = x[small]
    x2 = xs * xs
    term, total = xs.copy(), xs.copy()
    for n in range(1, 80):
        term *= -x2 / n
        total += term / (2 * n + 1)
    out[small] = total * (2.0 / math.sqrt(math.pi))
    big = a[~small]
    t = big.copy()
    for k in range(80, 0, -1):
        t = big + (k / 2.0) / t
    erfc = np.exp(-big * big) / math.sqrt(math.pi) / t
    out[~small] = np.copysign(1.0 - erfc, x[~small])
    return out


def _f64(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def gelu(x) -> np.ndarray:
    """The erf form: 0.5 x (1 + erf(x / sqrt 2))."""
    x = _f64(x)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layernorm(x, g, b, eps: float, residual=None) -> np.ndarray:
    """Over the last axis of (x + residual); biased variance, as torch."""
    x = _f64(x)
    if residual is not None:
        x = x + _f64(residual)
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * _f64(g) + _f64(b)


def embeddings(ids, type_ids, word, pos, tt, g, b, eps: float) -> np.ndarray:
    """ids, type_ids [B, S] (type_ids None = zeros) -> [B*S, H]; positions 0..S-1."""
    ids = np.asarray(ids)
    batch, seq = ids.shape
    type_ids = np.zeros_like(ids) if type_ids is None else np.asarray(type_ids)
    word, pos, tt = _f64(word), _f64(pos), _f64(tt)
    if type_ids.shape != ids.shape:
        raise ShapeError(f"type_ids {type_ids.shape} != ids {ids.shape}")
    if seq > pos.shape[0]:
        raise OutOfRangeError(f"seq {seq} > max positions {pos.shape[0]}")
    if ids.size and (ids.min() < 0 or ids.max() >= word.shape[0]):
        raise OutOfRangeError(f"token id outside [0, {word.shape[0]})")
    if type_ids.size and (type_ids.min() < 0 or type_ids.max() >= tt.shape[0]):
        raise OutOfRangeError(f"token type id outside [0, {tt.shape[0]})")
    x = word[ids] + pos[np.arange(seq)][None, :, :] + tt[type_ids]
    return layernorm(x, g, b, eps).reshape(batch * seq, -1)


# The last few float64 products x W^T, by content. The kernel tests check every
# backend and activation against the same seeded operands, and under the test bed's
# emulation (floating point runs in qemu helpers) one 128 x 384 x 1536 product takes
# about 15 s: computed once, it serves host, NEON and the three activations.
_PRODUCTS: dict = {}
_PRODUCTS_KEPT = 8


def _product_t(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    def digest(a):
        return hashlib.blake2b(np.ascontiguousarray(a).tobytes(), digest_size=16).digest()
    key = (x.shape, w.shape, digest(x), digest(w))
    y = _PRODUCTS.get(key)
    if y is None:
        y = x @ w.T
        y.flags.writeable = False
        if len(_PRODUCTS) >= _PRODUCTS_KEPT:
            del _PRODUCTS[next(iter(_PRODUCTS))]
        _PRODUCTS[key] = y
    return y


def int8_product_t(q_x: np.ndarray, q_w: np.ndarray) -> np.ndarray:
    """q_x W^T of int8 operands, the exact integers as float64 (exact while below
    2^53: armbert.quant.int8_matmul_t says why), kept like the float products."""
    q_x, q_w = np.asarray(q_x), np.asarray(q_w)
    assert q_x.dtype == np.int8 and q_w.dtype == np.int8, (q_x.dtype, q_w.dtype)
    return _product_t(_f64(q_x), _f64(q_w))


def linear(x, w, b, activation: str = "none") -> np.ndarray:
    """act(x W^T + b); x [rows, in], w [out, in]; activation "none" | "gelu" | "tanh"."""
    y = _product_t(_f64(x), _f64(w))
    return activate(y if b is None else y + _f64(b), activation)


def activate(y, activation: str) -> np.ndarray:
    """The linear's output activation on float64 values: "none" | "gelu" | "tanh"."""
    y = np.array(y, dtype=np.float64)
    if activation == "gelu":
        return gelu(y)
    if activation == "tanh":
        return np.tanh(y)
    if activation != "none":
        raise ValueError(f"unknown activation {activation!r}")
    return y


def softmax(x, mask=None, scale: float = 1.0) -> np.ndarray:
    """x [B, R, S]; mask [B, S] additive, broadcast over rows; softmax(scale * x + mask)."""
    z = _f64(x) * scale
    if mask is not None:
        z = z + _f64(mask)[:, None, :]
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def attention(qkv, mask, heads: int, batch: int | None = None) -> np.ndarray:
    """qkv [B*S, 3H] (Q | K | V, heads contiguous in each), mask [B, S] additive or None
    (then ``batch`` is needed) -> [B*S, H] = merge_heads(softmax(Q K^T / sqrt(d) + mask) V)."""
    qkv = _f64(qkv)
    if mask is not None:
        batch = np.asarray(mask).shape[0]
    if batch is None:
        raise ValueError("attention needs a mask or batch=")
    rows, three_h = qkv.shape
    hidden, seq = three_h // 3, rows // batch
    d = hidden // heads
    parts = qkv.reshape(batch, seq, 3, heads, d).transpose(2, 0, 3, 1, 4)  # 3, B, A, S, d
    q, k, v = parts
    scores = q @ k.transpose(0, 1, 3, 2)  # B, A, S, S
    # Row b*heads + a of the flattened scores belongs to batch b: repeat each mask row.
    flat_mask = None if mask is None else np.repeat(_f64(mask), heads, axis=0)
    probs = softmax(scores.reshape(batch * heads, seq, seq), flat_mask,
                    1.0 / math.sqrt(d)).reshape(batch, heads, seq, seq)
    out = probs @ v  # B, A, S, d
    return out.transpose(0, 2, 1, 3).reshape(batch * seq, hidden)


def additive_mask(attention_mask) -> np.ndarray:
    """[B, S] of 1 (keep) / 0 (pad) -> (1 - m) * finfo(float32).min, as HF builds it."""
    return (1.0 - _f64(attention_mask)) * F32_MIN


def bert_forward(model, input_ids, attention_mask=None, token_type_ids=None):
    """(last_hidden_state [B, S, H], pooler_output [B, H] or None), float64."""
    ids = np.asarray(input_ids)
    batch, seq = ids.shape
    c = model.config
    if attention_mask is None:
        attention_mask = np.ones_like(ids)
    mask = additive_mask(attention_mask)
    x = embeddings(ids, token_type_ids, model.word, model.position, model.token_type,
                   model.emb_ln_g, model.emb_ln_b, c.layer_norm_eps)
    for layer in model.layers:
        qkv = linear(x, layer.qkv_w, layer.qkv_b)
        ctx = attention(qkv, mask, c.num_attention_heads)
        x = layernorm(linear(ctx, layer.attn_out_w, layer.attn_out_b), layer.ln1_g,
                      layer.ln1_b, c.layer_norm_eps, residual=x)
        h = linear(x, layer.ffn_in_w, layer.ffn_in_b, "gelu")
        x = layernorm(linear(h, layer.ffn_out_w, layer.ffn_out_b), layer.ln2_g, layer.ln2_b,
                      c.layer_norm_eps, residual=x)
    hidden = x.reshape(batch, seq, c.hidden_size)
    pooled = None
    if model.pooler_w is not None:
        pooled = linear(hidden[:, 0, :], model.pooler_w, model.pooler_b, "tanh")
    return hidden, pooled
