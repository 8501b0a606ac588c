"""The host backend's ISA levels (kernels/src/host/isa.h): every level this CPU runs,
forced with ARMBERT_ISA (read at each host context's creation, so one process tests
them all), gives the int8 linear's exact int32 sums and bit-identical outputs; a
level the CPU lacks, or an unknown name, is refused with the reason.

The int8 sums are checked exactly: with weight_scale = 1, input_scale = 1 (static)
and integer inputs, q = clamp(x, -127, 127) and y = float32(sum_k q w) with no other
rounding, so y must equal numpy's exact int64 product cast to float32 bit for bit.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors, quant

from .. import reference as ref

ALL_LEVELS = ["scalar", "avx2", "avxvnni", "avx512vnni", "amx"]
LEVELS = nat.host_isa_levels()  # what this CPU runs, lowest first

# (rows, K, N): K not a multiple of 4 (the packing's k groups) or 32; K = 3072
# (BERT-base's FFN-out: several K blocks of 512); rows 1 and 128 (and 53 = one
# full chunk of 48 rows + a partial one, partial tiles of every mr); N not a
# multiple of the 32-column block.
EXACT_SHAPES = [(1, 3072, 70), (128, 3072, 64), (1, 7, 5), (7, 37, 45), (53, 1029, 33),
                (128, 384, 96), (13, 516, 40)]


@pytest.fixture
def isa_context(monkeypatch):
    made = []

    def get(level: str, threads: int = 2) -> nat.Context:
        monkeypatch.setenv("ARMBERT_ISA", level)
        ctx = nat.Context("host", threads=threads)
        made.append(ctx)
        assert f"isa {level} " in ctx.describe(), ctx.describe()
        return ctx

    yield get
    for ctx in made:
        ctx.close()


def run_linear(ctx, x, **kw) -> np.ndarray:
    n = kw["weight_i8"].shape[0] if "weight_i8" in kw else kw["weight"].shape[0]
    precision = kw.pop("precision", "int8")
    dtype = np.float16 if precision == "fp16" else np.float32
    weight = kw.pop("weight", None)
    bias = kw.pop("bias", None)
    act = kw.pop("activation", "none")
    with nat.Linear(ctx, weight, bias, precision, act, **kw) as op:
        op.reshape(1, x.shape[0])
        y = nat.Tensor(ctx, (x.shape[0], n), dtype)
        op.run(nat.Tensor.from_numpy(ctx, x.astype(dtype)), y)
        return y.numpy()


def test_levels_are_reported_and_forced(isa_context, monkeypatch):
    assert LEVELS[0] == "scalar" and set(LEVELS) <= set(ALL_LEVELS), LEVELS
    for level in ALL_LEVELS:
        if level in LEVELS:
            isa_context(level)
        else:  # e.g. avx512vnni on an AVX2-only machine: a clear refusal, no crash
            monkeypatch.setenv("ARMBERT_ISA", level)
            with pytest.raises(errors.UnsupportedError,
                               match=f"ARMBERT_ISA={level}: this CPU cannot run that level"):
                nat.Context("host")
    monkeypatch.setenv("ARMBERT_ISA", "avx9000")
    with pytest.raises(errors.InvalidArgumentError, match="ARMBERT_ISA=avx9000: unknown level"):
        nat.Context("host")
    monkeypatch.setenv("ARMBERT_ISA", "auto")
    assert f"isa {LEVELS[-1]} " in nat.Context("host").describe()
    monkeypatch.delenv("ARMBERT_ISA")
    assert f"isa {LEVELS[-1]} " in nat.Context("host").describe()


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("rows,k,n", EXACT_SHAPES, ids=lambda v: str(v))
def test_int8_sums_exact(isa_context, level, rows, k, n):
    rng = np.random.default_rng(rows * 10007 + k * 31 + n)
    # Activations over the whole int8 range and past it (clamped to +-127 by the
    # quantizer), weights over the whole int8 range including -128: the extremes a
    # saturating u8 x s8 pair (vpmaddubsw) would get wrong.
    x = rng.integers(-140, 141, (rows, k)).astype(np.float32)
    x[:, :3] = [127, -127, 200][:min(3, k)]
    w = rng.integers(-128, 128, (n, k)).astype(np.int8)
    w[: min(2, n), :] = -128
    q = np.clip(x, -127, 127).astype(np.int64)
    expected = (q @ w.astype(np.int64).T).astype(np.float32)
    y = run_linear(isa_context(level), x, weight_i8=w, weight_scale=np.ones(n, np.float32),
                   input_scale=1.0)
    np.testing.assert_array_equal(y, expected)


def pair_safe_weights(rng, n, k):
    """int8 weights at the edge of the AVX2 pairs kernel's bound, every neighbour pair
    |w[2i]| + |w[2i+1]| <= 128 and most at it: (-64, -64), (-128, 0), (127, 1), ..."""
    first = rng.integers(-128, 128, (n, (k + 1) // 2))
    room = 128 - np.abs(first)
    second = np.where(rng.random(first.shape) < 0.5, room, -room)
    w = np.stack([first, np.clip(second, -128, 127)], axis=2).reshape(n, -1)[:, :k]
    w[0, :2] = [-64, -64] if k > 1 else [-128]
    if k % 2:
        w[:, -1] = rng.integers(-128, 128, n)  # the last one's neighbour is padding
    assert quant.pair_sums(w).max() <= quant.PAIR_MAX
    return w.astype(np.int8)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("rows,k,n", EXACT_SHAPES, ids=lambda v: str(v))
def test_int8_sums_exact_on_pair_safe_weights(isa_context, level, rows, k, n):
    """The weights armbert's quantizer makes (pair-safe) take AVX2's vpmaddubsw kernel:
    at the bound, against activations at +-127 (codes 255 and 1), every sum exact."""
    rng = np.random.default_rng(rows * 7 + k * 13 + n)
    x = np.where(rng.random((rows, k)) < 0.5, 127.0, -127.0).astype(np.float32)
    x[-1] = rng.integers(-127, 128, k)
    w = pair_safe_weights(rng, n, k)
    expected = (np.clip(x, -127, 127).astype(np.int64) @ w.astype(np.int64).T)
    y = run_linear(isa_context(level), x, weight_i8=w, weight_scale=np.ones(n, np.float32),
                   input_scale=1.0)
    np.testing.assert_array_equal(y, expected.astype(np.float32))


@pytest.mark.parametrize("level", LEVELS)
def test_one_unsafe_pair_takes_the_exact_widening(isa_context, level):
    """Weights from elsewhere (another quantizer, an old file) may break the pair bound
    in one place; the linear must then not use vpmaddubsw, where (127, 127) against
    codes of 255 would saturate (64,770 > 32,767), but stay exact."""
    rng = np.random.default_rng(5)
    w = pair_safe_weights(rng, 40, 384)
    w[17, 100:102] = 127
    x = np.full((13, 384), 127.0, np.float32)
    expected = (x.astype(np.int64) @ w.astype(np.int64).T).astype(np.float32)
    y = run_linear(isa_context(level), x, weight_i8=w, weight_scale=np.ones(40, np.float32),
                   input_scale=1.0)
    np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("k", [5, 37, 45, 64, 67])  # 45: the 32-wide, 8-wide and scalar loops
@pytest.mark.parametrize("input_scale", [1.0, 0.0], ids=["static", "dynamic"])
def test_int8_quantization_matches_reference(isa_context, level, k, input_scale):
    """The activation quantizer (a table entry too) against quant.quantize_rows: an
    identity weight makes y = float32(q) * (scale_x * 1), so each q shows. Ties round
    to even, values past +-127 clamp, rows of zeros take scale 1."""
    rng = np.random.default_rng(k)
    x = (rng.standard_normal((6, k)) * 60).astype(np.float32)
    ties = np.array([0.5, -0.5, 1.5, 2.5, -2.5, 126.5, 127.5, -127.5, 1e9, -1e9, 3e-39, -0.0],
                    np.float32)
    x[0, :min(k, ties.size)] = ties[:k]
    x[1] = np.round(x[1])
    x[2] = 0
    eye = np.eye(k, dtype=np.int8)
    y = run_linear(isa_context(level), x, weight_i8=eye, weight_scale=np.ones(k, np.float32),
                   input_scale=input_scale)
    q, s = quant.quantize_rows(x, input_scale if input_scale > 0 else None)
    np.testing.assert_array_equal(y, q.astype(np.float32) * s[:, None])


def int8_cases(rng, rows, k, n):
    """A real-valued int8 linear (dynamic and static scales, SmoothQuant, outlier
    channels, GELU, with and without a bias) and its arguments."""
    x = rng.standard_normal((rows, k)).astype(np.float32)
    x[:, 3] *= 40  # an outlier channel
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    wq, ws = quant.quantize_weight_per_channel(w)
    prep = quant.prepare_int8_linear(w, [3])
    smooth = (1 + rng.random(k)).astype(np.float32)
    sq, ss = quant.quantize_weight_per_channel(w * smooth[None, :])
    return x, {
        "dynamic": dict(weight_i8=wq, weight_scale=ws, bias=b),
        "static-gelu": dict(weight_i8=wq, weight_scale=ws, bias=b, activation="gelu",
                            input_scale=float(np.abs(x).max() / 127)),
        "smooth": dict(weight_i8=sq, weight_scale=ss, bias=b, input_smooth=smooth),
        "outliers": dict(bias=b, **{key: prep[key] for key in (
            "weight_i8", "weight_scale", "outlier_channels", "outlier_weight")}),
        # the epilogue's other variants: the extra part and GELU, no bias
        "outliers-gelu": dict(activation="gelu", **{key: prep[key] for key in (
            "weight_i8", "weight_scale", "outlier_channels", "outlier_weight")}),
    }


@pytest.mark.parametrize("rows,k,n", [(1, 3072, 96), (128, 384, 200), (19, 101, 37)],
                         ids=lambda v: str(v))
@pytest.mark.parametrize("threads", [1, 2])
def test_int8_linear_bit_identical_across_levels(isa_context, rows, k, n, threads):
    rng = np.random.default_rng(7)
    x, cases = int8_cases(rng, rows, k, n)
    for name, kw in cases.items():
        outs = {level: run_linear(isa_context(level, threads), x, **dict(kw))
                for level in LEVELS}
        for level in LEVELS[1:]:
            np.testing.assert_array_equal(outs[level], outs["scalar"],
                                          err_msg=f"{name}: {level} vs scalar")
        # And the numpy reference of the same int8 semantics (conftest's int8 bound).
        if name == "dynamic":
            expected = quant.linear_int8_reference(x, kw["weight_i8"], kw["weight_scale"],
                                                   kw["bias"], None)
            np.testing.assert_allclose(outs["scalar"], expected, rtol=1e-5, atol=1e-5)
        if name == "static-gelu":
            pre = quant.linear_int8_reference(x, kw["weight_i8"], kw["weight_scale"],
                                              kw["bias"], kw["input_scale"])
            expected = ref.linear(pre.astype(np.float64), np.eye(n, dtype=np.float32), None,
                                  "gelu")
            np.testing.assert_allclose(outs["scalar"], expected, rtol=1e-4, atol=1e-4)


def test_fp16_conversions_bit_identical_across_levels(isa_context):
    """Software fp16 (scalar) and F16C round alike: an fp16 linear and layernorm
    give the same bits at every level."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((9, 40)).astype(np.float32)
    w = rng.standard_normal((24, 40)).astype(np.float32)
    g, b = (1 + rng.random(40)).astype(np.float32), rng.standard_normal(40).astype(np.float32)
    outs = {}
    for level in LEVELS:
        ctx = isa_context(level)
        y = run_linear(ctx, x, weight=w, precision="fp16")
        with nat.LayerNorm(ctx, g, b, 1e-12, "fp16") as ln:
            ln.reshape(1, 9)
            z = nat.Tensor(ctx, (9, 40), np.float16)
            ln.run(nat.Tensor.from_numpy(ctx, x.astype(np.float16)), None, z)
        outs[level] = (y.view(np.uint16), z.numpy().view(np.uint16))
    for level in LEVELS[1:]:
        for a, s in zip(outs[level], outs["scalar"]):
            np.testing.assert_array_equal(a, s, err_msg=level)


def special_rows(rng, rows: int, n: int) -> np.ndarray:
    """Random rows with the values a vector path could treat differently from its
    tail: NaN, +-inf, -0, huge and tiny magnitudes, spread over lanes and tails."""
    x = (rng.standard_normal((rows, n)) * 4).astype(np.float32)
    flat = x.reshape(-1)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 1e30, -1e30, 1e-30, 88.5, -90.0],
                        np.float32)
    flat[rng.choice(flat.size, size=min(flat.size, 3 * specials.size), replace=False)] = \
        np.resize(specials, min(flat.size, 3 * specials.size))
    return x


# The row kernels (rows.cpp: softmax, layernorm, GELU/tanh, the int8 epilogue) are
# one scalar body compiled per level, with no FMA contraction and sums in a fixed
# order, so every level must give the scalar level's bits: row lengths below,
# at and past the 16 lanes of a zmm (tails), and special values.
@pytest.mark.parametrize("n", [1, 7, 16, 37, 384])
def test_row_kernels_bit_identical_across_levels(isa_context, n):
    rng = np.random.default_rng(n)
    x = special_rows(rng, 5, n)
    finite = (rng.standard_normal((5, n)) * 3).astype(np.float32)
    mask = np.where(rng.random((1, n)) < 0.3, np.finfo(np.float32).min, 0).astype(np.float32)
    gamma, beta = (1 + rng.random(n)).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    # The linear's activation over one input feature and no bias: a single product,
    # rounded once in every GEMM (OpenBLAS at the scalar level, the packed kernels
    # above it), so the activation's row kernel is all that differs. (With a bias the
    # packed kernels start their FMA chain from it, one rounding where OpenBLAS and
    # a bias pass take two; test_fp32_linear_every_level bounds that.)
    w = rng.standard_normal((n + 3, 1)).astype(np.float32)
    outs = {}
    for level in LEVELS:
        ctx = isa_context(level)
        rows = {"scalar": "portable", "avxvnni": "avx2", "amx": "avx512"}.get(
            level, level.replace("vnni", ""))
        assert f"row kernels {rows}" in ctx.describe(), ctx.describe()
        got = {}
        with nat.Gelu(ctx) as op:
            y = nat.Tensor(ctx, x.shape, np.float32)
            op.run(nat.Tensor.from_numpy(ctx, x), y)
            got["gelu"] = y.numpy()
        with nat.Softmax(ctx, scale=0.125) as op:
            op.reshape(1, n)
            y = nat.Tensor(ctx, (1, 5, n), np.float32)
            op.run(nat.Tensor.from_numpy(ctx, finite[None]), nat.Tensor.from_numpy(ctx, mask), y)
            got["softmax"] = y.numpy()
        with nat.LayerNorm(ctx, gamma, beta, 1e-12) as op:
            op.reshape(1, 5)
            y = nat.Tensor(ctx, (5, n), np.float32)
            op.run(nat.Tensor.from_numpy(ctx, finite), None, y)
            got["layernorm"] = y.numpy()
        for act in ("gelu", "tanh"):
            got[f"linear {act}"] = run_linear(ctx, finite[:, :1], weight=w,
                                              precision="fp32", activation=act)
        outs[level] = got
    for level in LEVELS[1:]:
        for name, value in outs[level].items():
            np.testing.assert_array_equal(value.view(np.uint32),
                                          outs["scalar"][name].view(np.uint32),
                                          err_msg=f"{name}: {level} vs scalar")


# The fp32 linear per level: OpenBLAS at scalar, the packed-weight GEMM above it
# (kernels/src/host/gemm_f32.cpp: 3x32 ymm tiles twice at avx2/avxvnni, 6x64 zmm at
# avx512vnni/amx). Shapes: a partial last 64-column panel (5, 33, 70, 96), K past one
# 128 block and not a multiple of it (300, 520, 1029), row counts that leave partial
# tiles of 6 and of 3, 140 rows (two row chunks of the driver), and a first chunk
# whose A passes 1 MiB (140 x 2100: K in slabs of 512, the last one partial; the
# second chunk's 8 rows in one pass). Each level against float64 at the fp32 bound
# (1e-4); the packed levels run one FMA chain per output in k order, so they agree
# with each other bit for bit.
@pytest.mark.parametrize("rows,k,n", [(1, 7, 5), (13, 300, 33), (140, 520, 70),
                                      (5, 1029, 96), (128, 384, 64), (140, 2100, 70)],
                         ids=str)
@pytest.mark.parametrize("activation", ["none", "gelu"])
def test_fp32_linear_every_level(isa_context, rows, k, n, activation):
    rng = np.random.default_rng(rows * 7 + k)
    x = rng.standard_normal((rows, k)).astype(np.float32)
    w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float32)
    b = rng.standard_normal(n).astype(np.float32)
    expected = ref.linear(x.astype(np.float64), w.astype(np.float64), b, activation)
    outs = {}
    for level in LEVELS:
        ctx = isa_context(level, threads=2)
        packed = level != "scalar"
        assert ("packed weights" in ctx.describe()) == packed, ctx.describe()
        outs[level] = run_linear(ctx, x, weight=w, bias=b, precision="fp32",
                                 activation=activation)
        np.testing.assert_allclose(outs[level], expected, rtol=1e-4, atol=1e-4, err_msg=level)
    packed_levels = [lv for lv in LEVELS if lv != "scalar"]
    for level in packed_levels[1:]:
        np.testing.assert_array_equal(outs[level], outs[packed_levels[0]], err_msg=level)


# The fused attention's fp32 tiles, one per level (scalar: 4x16 at the build's
# baseline; avx2 and avxvnni: 4x16 ymm FMA; avx512vnni: 8x32 zmm FMA): every level against the
# float64 reference at the fp32 bound of the kernel tests (1e-4; the levels differ
# by FMA rounding only, ~1e-7 relative per product). Shapes: S=33 (one partial key
# tile and query block on every level), S=130 with head_dim 64 and padding, and S=5 and
# S=1, fewer queries than any level's block of rows (AVX2's is 6).
@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("batch,seq,hidden,heads,length",
                         [(2, 33, 64, 4, 20), (1, 130, 128, 2, 97), (3, 5, 64, 4, 4),
                          (2, 1, 32, 2, 1)])
def test_attention_every_level(isa_context, rng, level, batch, seq, hidden, heads, length):
    ctx = isa_context(level)
    tiles = {"scalar": "portable", "avxvnni": "avx2", "amx": "avx512"}.get(
        level, level.replace("vnni", ""))
    assert f"fp32 tiles {tiles} " in ctx.describe(), ctx.describe()
    qkv = rng.standard_normal((batch * seq, 3 * hidden)).astype(np.float32)
    mask = np.zeros((batch, seq), np.float32)
    mask[0, length:] = np.finfo(np.float32).min
    with nat.Attention(ctx, hidden, heads) as op:
        op.reshape(batch, seq)
        out = nat.Tensor(ctx, (batch * seq, hidden), np.float32)
        op.run(nat.Tensor.from_numpy(ctx, qkv), nat.Tensor.from_numpy(ctx, mask), out)
        np.testing.assert_allclose(out.numpy(), ref.attention(qkv, mask, heads),
                                   rtol=1e-4, atol=1e-4, err_msg=level)


def test_openblas_core_follows_cpu_features():
    """OpenBLAS's own CPU-model table misses CPUs newer than its build and falls back to
    SSE3 "Prescott" kernels (2-3x slower fp32); armbert/_native.py sets
    OPENBLAS_CORETYPE from the CPU's features while the library loads."""
    assert nat.openblas_coretype({"avx2", "fma", "avx512f", "avx512bw", "avx512dq",
                                  "avx512vl", "avx512cd"}) == "SKYLAKEX"
    assert nat.openblas_coretype({"avx2", "fma", "avx512f"}) == "HASWELL"
    assert nat.openblas_coretype({"sse4_2"}) is None
    desc = nat.Context("host", threads=1).describe()
    core = desc.split("OpenBLAS (")[1].split(")")[0]
    if "avx2" in nat.cpu_features() and "OPENBLAS_CORETYPE" not in os.environ:
        assert core.lower() not in ("prescott", "core2", "nehalem", "sandybridge"), desc
