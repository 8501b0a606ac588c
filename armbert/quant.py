"""The quantizer: INT8 math in numpy (the bit-exact reference of the native INT8
linear), int8 weights (:class:`Int8Weight`) and the quantized model
(:class:`QuantizedModel`, made by :func:`quantize_weights`). The calibrator, which
runs the float engine to pick outlier channels and static input scales, is
:mod:`armbert.calibrate`, apart as in ONNX Runtime's quantization tools
(``calibrate.py`` beside ``quantize.py``).

What is int8 (armbert.h): only the linear ops, i.e. each layer's fused QKV, attention
output, FFN in and FFN out (and optionally the pooler). Their weights are int8,
symmetric, one float32 scale per output channel; their float32 inputs are quantized
to int8 on the fly with a static per-tensor scale (from calibration) or a dynamic
per-row scale; products accumulate in int32 and are dequantized to float32.
Embeddings, layernorm, softmax, GELU and the attention products stay float32.
The weights are also pair-safe: along K, every two neighbours have |q[2i]| +
|q[2i+1]| <= 128 (:func:`quantize_weight_per_channel`), the bound under which an AVX2
CPU's int8 instruction (vpmaddubsw) is exact, so that level multiplies 32 bytes per
instruction instead of 16 and still gives every other level's bits.

Outlier channels (Dettmers et al., "LLM.int8(): 8-bit Matrix Multiplication for
Transformers at Scale", NeurIPS 2022): BERT's hidden states carry a
few input channels tens of times larger than the rest (all-MiniLM-L6-v2: one
channel at ~28 where the median is ~1.2). They would set every row's scale and
crush the other channels to a few levels, so calibration lists them per linear
(:func:`select_outliers`), their weight columns stay float32 and are computed
apart, and the int8 part sees them as 0 (:func:`prepare_int8_linear`).

Everything is computed in float32 in the order the header gives, so a native kernel
that does the same (and is compiled without contracting a*b+c into FMA) matches bit
for bit: the host backend's does (``tests/test_quant_native.py``). The one exception
is the fp32 sum over outlier channels, whose order the header leaves open: the
reference sums it in float64, the host backend with sgemm, so with outlier channels
the two differ by float32 rounding of that sum (bounded in that test). ``1/scale`` is a float32 division, as ``1.0f / scale`` is in C.
Rounding is round-half-to-even (``np.rint`` = C ``rintf`` in the default mode).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Mapping, Optional

import numpy as np

from armbert.errors import CheckpointError, InvalidArgumentError
from armbert.layer_spec import LINEARS

if TYPE_CHECKING:  # armbert.model imports this module
    from armbert.model import BertModel

QMAX = 127  # symmetric: -128 is never produced, so |q| * |q| sums cannot overflow early
_F32 = np.float32


def scales_from_absmax(absmax: np.ndarray) -> np.ndarray:
    """Symmetric int8 scales max|x| / 127 (float32), 1 where the max is 0.

    At least float32's smallest normal (FLT_MIN): below a max of 127 * FLT_MIN (1.5e-36)
    max / 127 is subnormal, its inverse inf, and a 0 in the row would quantize to
    0 * inf = NaN. The kernels' dynamic scales are the same (kernels/src/common/int8.h
    scale_from_absmax)."""
    absmax = np.asarray(absmax, dtype=_F32)
    # All-zero rows get scale 1: any scale quantizes them to 0, and 1 avoids 1/0.
    with np.errstate(under="ignore"):
        scale = np.maximum(absmax / _F32(QMAX), np.finfo(_F32).tiny)
    return np.where(absmax > 0, scale, _F32(1.0)).astype(_F32)


def _normal_float32(s: float) -> bool:
    """Whether a static input scale is usable: finite, and a normal float32 once the C
    descriptor holds it (float32 turns 1e-50 into 0, which means dynamic there, and a
    subnormal scale has an inverse of inf). kernels/src/core/op.cpp checks the same."""
    return math.isfinite(s) and np.float32(s) >= np.finfo(_F32).tiny


def _quantize(x: np.ndarray, scale: np.ndarray) -> np.ndarray:
    inv = _F32(1.0) / scale.astype(_F32)
    return np.clip(np.rint(x * inv), -QMAX, QMAX).astype(np.int8)


PAIR_MAX = 128  # |q[n, 2i]| + |q[n, 2i + 1]| of pair-safe int8 weights, at most


def pair_sums(a: np.ndarray) -> np.ndarray:
    """|a[:, 2i]| + |a[:, 2i + 1]| of a 2-D array (an odd last column pairs with 0)."""
    a = np.asarray(a)
    a = np.abs(a.astype(np.float64 if a.dtype.kind == "f" else np.int32))
    if a.shape[1] % 2:
        a = np.concatenate([a, np.zeros((a.shape[0], 1), a.dtype)], axis=1)
    return a[:, 0::2] + a[:, 1::2]


def quantize_weight_per_channel(w: np.ndarray, pairs: bool = True
                                ) -> tuple[np.ndarray, np.ndarray]:
    """w float [N, K] -> (q int8 [N, K], scale float32 [N]).

    pairs=False: scale = max|w_row| / 127. pairs=True (every linear's weights): scale =
    the row's largest |w[2i]| + |w[2i+1]| over 127 (at least max|w_row| / 127), so that
    every pair of neighbours along K has |q[2i]| + |q[2i+1]| <= PAIR_MAX = 128 (their
    sum is 127 before rounding, up to a few float32 ulps, and rounding each adds less
    than 1/2). Why: AVX2's vpmaddubsw adds two u8 x s8 products into a saturating
    int16; with activation codes up to 255 a pair of such weights stays within 255 * 128
    = 32,640, so the AVX2 kernel may use it and still give the exact sums of every other
    ISA level (kernels/src/host/gemm_s8_avx2.cpp). The cost is a coarser step on rows
    whose largest weight has a large neighbour; all-MiniLM's end-to-end cosines moved by
    under 0.0005 (docs/performance.md)."""
    w = np.asarray(w, dtype=_F32)
    if w.ndim != 2:
        raise InvalidArgumentError(f"weight must be 2-D [out, in], got shape {w.shape}")
    if not w.shape[1]:
        absmax = np.zeros(w.shape[0], _F32)
    elif pairs:  # a pair past float32's range counts as its largest float (then refused)
        absmax = np.maximum(np.abs(w).max(axis=1),
                            np.minimum(pair_sums(w).max(axis=1), np.finfo(_F32).max).astype(_F32))
    else:
        absmax = np.abs(w).max(axis=1)
    scale = scales_from_absmax(absmax)  # a row under 1.5e-36 gets FLT_MIN: codes in range
    q = _quantize(w, scale[:, None])
    if pairs and w.shape[1]:
        over = np.flatnonzero((pair_sums(q) > PAIR_MAX).any(axis=1))
        if over.size:  # only rows whose pairs overflow float32 (|w| near 1.7e38)
            bad = int(over[0])
            raise InvalidArgumentError(
                f"weight row {bad}: values up to {float(np.abs(w[bad]).max()):.3g} are too "
                f"large for float32 int8 scales")
    return q, scale


def quantize_rows(x: np.ndarray, scale: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """x float [M, K] -> (q int8 [M, K], scales float32 [M]).

    ``scale`` None (or <= 0, as in the C descriptor): dynamic, max|x_row| / 127 per
    row. Otherwise static: that one scale for every row (returned repeated).
    """
    x = np.asarray(x, dtype=_F32)
    if x.ndim != 2:
        raise InvalidArgumentError(f"x must be 2-D [rows, features], got shape {x.shape}")
    if scale is None or scale <= 0:
        scales = scales_from_absmax(np.abs(x).max(axis=1) if x.shape[1]
                                     else np.zeros(x.shape[0]))
    else:
        if not _normal_float32(scale):
            raise InvalidArgumentError(f"input scale must be finite and >= float32's "
                                       f"smallest normal, got {scale}")
        scales = np.full(x.shape[0], _F32(scale), dtype=_F32)
    return _quantize(x, scales[:, None]), scales


def int8_matmul_t(q_x: np.ndarray, q_w: np.ndarray) -> np.ndarray:
    """q_x [rows, K] @ q_w[out, K]^T of int8 values, exactly, as int32.

    Through float64 BLAS: every product is below 2^14 and a sum of K of them below
    K * 2^14, an integer float64 holds exactly while it is under 2^53, so for any K
    below 2^39 the result is the exact integer (numpy's integer matmul has no BLAS
    and is ~50x slower, minutes under the emulated test bed). int32 holds it for
    K < 133,000 (|acc| <= K * 127 * 127); past that it is refused, not wrapped."""
    k = q_x.shape[-1]
    if k * 127 * 127 >= 2**31:
        raise InvalidArgumentError(f"int8 matmul over K={k} could overflow int32")
    acc = q_x.astype(np.float64) @ q_w.astype(np.float64).T
    return acc.astype(np.int32)


def linear_int8_reference(x: np.ndarray, q_w: np.ndarray, w_scale: np.ndarray,
                          bias: np.ndarray | None, input_scale: float | None) -> np.ndarray:
    """y = float(acc_int32) * (scale_x * w_scale[n]) + b[n], all float32, in that order."""
    q_w = np.asarray(q_w)
    if q_w.dtype != np.int8 or q_w.ndim != 2:
        raise InvalidArgumentError(f"q_w must be int8 [out, in], got {q_w.dtype} {q_w.shape}")
    x = np.asarray(x, dtype=_F32)
    if x.ndim != 2 or x.shape[1] != q_w.shape[1]:
        raise InvalidArgumentError(f"x {x.shape} does not fit weight {q_w.shape}")
    q_x, sx = quantize_rows(x, input_scale)
    acc = int8_matmul_t(q_x, q_w)
    combined = sx[:, None] * np.asarray(w_scale, dtype=_F32)[None, :]
    y = acc.astype(_F32) * combined
    if bias is not None:
        y = y + np.asarray(bias, dtype=_F32)[None, :]
    return y.astype(_F32)


def select_outliers(channel_absmax: np.ndarray, ratio: float = 6.0,
                    max_channels: int = 8) -> np.ndarray:
    """Input channels whose calibrated max|x| exceeds ``ratio`` x the median channel's,
    the largest ``max_channels`` of them, sorted (int32)."""
    a = np.asarray(channel_absmax, dtype=np.float64).ravel()
    if not a.size:
        return np.zeros(0, np.int32)
    order = np.argsort(-a, kind="stable")[:max_channels]
    return np.sort(order[a[order] > ratio * np.median(a)]).astype(np.int32)


def prepare_int8_linear(w: np.ndarray, outlier_channels=None,
                        pairs: bool = True) -> dict[str, np.ndarray]:
    """Arguments of the native int8 linear for weight ``w`` [N, K]: the outlier
    columns are taken out (kept float32) before per-channel quantization (pair-safe
    unless pairs=False: :func:`quantize_weight_per_channel`)."""
    w = np.asarray(w, dtype=_F32)
    oc = np.asarray([] if outlier_channels is None else outlier_channels, dtype=np.int32)
    if oc.size and (oc.min() < 0 or oc.max() >= w.shape[1]):
        raise InvalidArgumentError(f"outlier channels {oc.tolist()} outside [0, {w.shape[1]})")
    outlier_weight = np.ascontiguousarray(w[:, oc])
    if oc.size:
        w = w.copy()
        w[:, oc] = 0
    q, scale = quantize_weight_per_channel(w, pairs)
    return {"weight_i8": q, "weight_scale": scale, "outlier_channels": oc,
            "outlier_weight": outlier_weight}


@dataclass(frozen=True)
class Int8Weight:
    """A float32 matrix [N, K] as int8 rows with one float32 scale per row, its
    outlier columns kept float32: the native int8 linear's weight arguments
    (:func:`prepare_int8_linear`), made once by :func:`armbert.quantize` and stored
    as is in an int8 ``.armbert`` file. Also a compressed embedding table (no outliers)."""

    weight_i8: np.ndarray         # int8 [N, K]; the outlier columns are 0
    weight_scale: np.ndarray      # float32 [N]
    outlier_channels: np.ndarray  # int32 [O], sorted
    outlier_weight: np.ndarray    # float32 [N, O]

    @classmethod
    def from_float(cls, w: np.ndarray, outlier_channels=None,
                   pairs: bool = True) -> "Int8Weight":
        """pairs=False for a table no GEMM reads (the embeddings): its plain scales."""
        return cls(**prepare_int8_linear(w, outlier_channels, pairs))

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.weight_i8.shape)

    def linear_args(self) -> dict[str, np.ndarray]:
        """Keyword arguments of :class:`armbert._native.Linear` at int8."""
        return {"weight_i8": self.weight_i8, "weight_scale": self.weight_scale,
                "outlier_channels": self.outlier_channels, "outlier_weight": self.outlier_weight}

    def dequantize(self) -> np.ndarray:
        """float32 [N, K]: q * scale per row, the outlier columns as stored."""
        w = self.weight_i8.astype(_F32) * self.weight_scale[:, None]
        w[:, self.outlier_channels] = self.outlier_weight
        return w

    def validate(self, source: str, name: str) -> "Int8Weight":
        """CheckpointError naming ``name`` unless the four arrays fit together."""
        def bad(what: str) -> CheckpointError:
            return CheckpointError(f"{source}: int8 weight {name}: {what}")

        q, s, oc, ow = (self.weight_i8, self.weight_scale, self.outlier_channels,
                        self.outlier_weight)
        if not all(isinstance(a, np.ndarray) for a in (q, s, oc, ow)):
            raise bad("every part must be a numpy array")
        if q.dtype != np.int8 or q.ndim != 2:
            raise bad(f"weight_i8 must be int8 [out, in], got {q.dtype} {list(q.shape)}")
        n, k = q.shape
        if s.dtype != _F32 or s.shape != (n,) or not (np.isfinite(s).all() and (s > 0).all()):
            raise bad(f"weight_scale must be {n} positive finite float32 values")
        if oc.dtype != np.int32 or oc.ndim != 1 or (oc.size and (
                oc.min() < 0 or oc.max() >= k or (np.diff(oc) <= 0).any())):
            raise bad(f"outlier_channels must be sorted distinct int32 in [0, {k})")
        if ow.dtype != _F32 or ow.shape != (n, oc.size) or not np.isfinite(ow).all():
            raise bad(f"outlier_weight must be finite float32 [{n}, {oc.size}]")
        return self


def linear_int8_outliers_reference(x, prepared: Mapping[str, np.ndarray], bias,
                                   input_scale: float | None,
                                   input_smooth: np.ndarray | None = None) -> np.ndarray:
    """The header's int8 linear with outlier channels: int8 part on x' = x * (1 / smooth)
    (x itself without SmoothQuant factors) with the outliers zeroed, plus the float32
    outlier part on the raw x, plus bias (float32, in order)."""
    x = np.asarray(x, dtype=_F32)
    oc = prepared["outlier_channels"]
    if input_smooth is None:
        xi = x.copy()
    else:
        inv = _F32(1) / np.asarray(input_smooth, dtype=_F32)
        xi = (x * inv[None, :]).astype(_F32)
    xi[:, oc] = 0
    q_x, sx = quantize_rows(xi, input_scale)
    acc = int8_matmul_t(q_x, prepared["weight_i8"])
    y = acc.astype(_F32) * (sx[:, None] * prepared["weight_scale"][None, :])
    if oc.size:
        y = y + (x[:, oc].astype(np.float64) @ prepared["outlier_weight"].T.astype(np.float64)
                 ).astype(_F32)
    if bias is not None:
        y = y + np.asarray(bias, dtype=_F32)[None, :]
    return y.astype(_F32)


def linear_names(num_layers: int, pooler: bool = False) -> list[str]:
    """Keys of QuantizationParams.input_scales, in execution order."""
    names = [f"layer.{i}.{op}" for i in range(num_layers) for op in LINEARS]
    return names + (["pooler"] if pooler else [])


@dataclass(frozen=True)
class QuantizationParams:
    """Calibrated static input scales per linear (``layer.0.qkv``...), saved as JSON."""

    input_scales: Mapping[str, float] = field(default_factory=dict)
    method: str = "absmax"  # or "percentile"
    percentile: float | None = None
    version: int = 1
    # Input channels kept in float32 per linear (LLM.int8() outliers).
    outliers: Mapping[str, list] = field(default_factory=dict)
    # "dynamic": per-row scales at run time (input_scales unused); "static": input_scales.
    activations: str = "static"

    VERSION = 1

    def __post_init__(self) -> None:
        if self.version != self.VERSION:
            raise InvalidArgumentError(f"quantization params version {self.version} is not "
                                       f"supported (expected {self.VERSION})")
        if self.method not in ("absmax", "percentile"):
            raise InvalidArgumentError(f"unknown calibration method {self.method!r}")
        if self.activations not in ("static", "dynamic"):
            raise InvalidArgumentError(f"activations must be 'static' or 'dynamic', "
                                       f"got {self.activations!r}")
        outliers = {}
        for name, chans in dict(self.outliers).items():
            if not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) and c >= 0
                       for c in chans):
                raise InvalidArgumentError(f"outlier channels of {name!r} must be "
                                           f"non-negative integers, got {chans!r}")
            outliers[str(name)] = sorted(int(c) for c in chans)
        object.__setattr__(self, "outliers", outliers)
        scales = {}
        for name, s in dict(self.input_scales).items():
            if isinstance(s, bool) or not isinstance(s, (int, float)) or \
                    not _normal_float32(s):
                raise InvalidArgumentError(f"input scale of {name!r} must be a finite "
                                           f"number >= {float(np.finfo(_F32).tiny):.4g} "
                                           f"(float32's smallest normal), got {s!r}")
            # Stored as the float32 the C descriptor will hold, so JSON round-trips exactly.
            scales[str(name)] = float(np.float32(s))
        object.__setattr__(self, "input_scales", scales)

    def to_dict(self) -> dict:
        return {"version": self.version, "method": self.method, "percentile": self.percentile,
                "input_scales": dict(self.input_scales), "outliers": dict(self.outliers),
                "activations": self.activations}

    @classmethod
    def from_dict(cls, d: Mapping) -> "QuantizationParams":
        if not isinstance(d, Mapping) or "version" not in d:
            raise InvalidArgumentError("quantization params need a 'version' field")
        unknown = set(d) - {"version", "method", "percentile", "input_scales", "outliers",
                            "activations"}
        if unknown:
            raise InvalidArgumentError(f"unknown quantization params key(s) {sorted(unknown)}")
        return cls(input_scales=dict(d.get("input_scales", {})), method=d.get("method", "absmax"),
                   percentile=d.get("percentile"), version=d["version"],
                   outliers=dict(d.get("outliers", {})),
                   activations=d.get("activations", "static"))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "QuantizationParams":
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise InvalidArgumentError(f"quantization params are not valid JSON: {e}") from e
        return cls.from_dict(d)


@dataclass(frozen=True)
class QuantizedModel:
    """A model quantized to int8 by :func:`armbert.quantize` (or read from an int8
    .armbert file).

    ``params``: calibrated static input scales and outlier channels per linear.
    ``linears``: each linear's int8 weights by name (``layer.0.qkv``...), made once by
    quantize() and used as they are by the engine (a linear missing here is quantized
    when the engine is built, from ``model``'s float weights and ``params``).
    ``word_int8``: the word-embedding table in int8 when quantize(embeddings="int8");
    ``model.word`` is then its dequantized copy, which the engine runs.
    """

    model: "BertModel"
    params: QuantizationParams
    linears: Mapping[str, Int8Weight] = field(default_factory=dict)
    word_int8: Optional[Int8Weight] = None
    calibration_texts: int = 0
    default_plan: Optional[Mapping] = None

    def int8_linear(self, name: str) -> Int8Weight:
        """The int8 weights of linear ``name``: stored, or quantized now from the float ones."""
        if name in self.linears:
            return self.linears[name]
        w = self.model.linear_weights()[name]
        if isinstance(w, Int8Weight):
            return w
        return Int8Weight.from_float(w, self.params.outliers.get(name))


def quantize_weights(model: "BertModel", params: QuantizationParams,
                     word_int8: Optional[Int8Weight] = None,
                     calibration_texts: int = 0) -> QuantizedModel:
    """The quantizer: every linear of ``model`` as int8 weights, with the outlier
    channels ``params`` lists (from the calibrator, :mod:`armbert.calibrate`) kept in
    float32."""
    linears = {n: Int8Weight.from_float(w, params.outliers.get(n))
               for n, w in model.linear_weights().items()}
    return QuantizedModel(model, params, linears, word_int8,
                          calibration_texts=calibration_texts)
