"""The only module that touches cffi: loads libarmbert and wraps its handles.

Everything above this sees typed objects: :class:`Context`, :class:`Tensor`
and one class per component. Status codes become the exceptions of
:mod:`armbert.errors`; handles are freed by ``close()``, ``with`` or the GC.

Lifetime: an op or tensor keeps its context alive, in Python (it holds the
:class:`Context`) and in the library (the native context is reference counted by
its ops and tensors). So ``Context.close()`` with live children is deferred: the
context refuses new ops and tensors at once, and its memory goes with its last
child. Any handle used after its own ``close()`` raises
:class:`armbert.errors.ClosedError`.
"""
from __future__ import annotations

import os
import platform
import re
import threading
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from cffi import FFI

from . import argcheck, errors

# The ABI header: the copy build.py puts beside the library it builds (package data,
# present in every install), else the source tree's (a checkout before any build).
HEADERS = (Path(__file__).resolve().parent / "_lib" / "armbert.h",
           Path(__file__).resolve().parent.parent / "kernels" / "include" / "armbert.h")
BACKENDS = ("host", "neon", "cl")
PRECISIONS = ("fp32", "fp16", "int8")
ACTIVATIONS = ("none", "gelu", "tanh")
POOLINGS = ("mean", "cls", "max", "mean_sqrt_len")  # armbert_pooling, in order
_DTYPES = {np.dtype(np.float32): 0, np.dtype(np.float16): 1, np.dtype(np.int8): 2,
           np.dtype(np.int32): 3}
_NP = {v: k for k, v in _DTYPES.items()}


def header_path() -> Path:
    for path in HEADERS:
        if path.is_file():
            return path
    raise errors.UnsupportedError(
        f"armbert.h not found (looked at {', '.join(map(str, HEADERS))}): the package was "
        "installed without its native build; reinstall it, or run `python3 build.py`")


def _cdef_text() -> str:
    text = header_path().read_text()
    body = text.split("/* ARMBERT_CDEF_BEGIN */")[1].split("/* ARMBERT_CDEF_END */")[0]
    body = re.sub(r"/\*.*?\*/", "", body, flags=re.S)
    return body.replace("ARMBERT_API ", "")


def library_path() -> Path:
    env = os.environ.get("ARMBERT_LIBRARY")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent / "_lib" / platform.machine() / "libarmbert.so"


# OpenBLAS (the fp32 GEMM) picks its kernels from the CPU model at load time; a model
# newer than the OpenBLAS build (0.3.21 on Debian 12 for Xeon model 207, for one)
# falls back to its SSE3 "Prescott" kernels, 2-3x slower. Unless the user set
# OPENBLAS_CORETYPE, it is set from the CPU's features while the library loads (and
# restored after): SkylakeX with AVX-512, Haswell with AVX2 + FMA.
_SKYLAKEX_FLAGS = {"avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512cd"}


def openblas_coretype(flags: set[str]) -> Optional[str]:
    """The OPENBLAS_CORETYPE for x86 CPU flags (/proc/cpuinfo's), None elsewhere."""
    if _SKYLAKEX_FLAGS <= flags:
        return "SKYLAKEX"
    if {"avx2", "fma"} <= flags:
        return "HASWELL"
    return None


def _cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _dlopen(path: Path):
    core = None
    if platform.machine() == "x86_64" and "OPENBLAS_CORETYPE" not in os.environ:
        core = openblas_coretype(_cpu_flags())
    if core is None:
        return ffi.dlopen(str(path))
    os.environ["OPENBLAS_CORETYPE"] = core
    try:
        return ffi.dlopen(str(path))
    finally:
        del os.environ["OPENBLAS_CORETYPE"]


ffi = FFI()
ffi.cdef(_cdef_text())
_lib = None
_lock = threading.Lock()


def lib():
    global _lib
    if _lib is None:
        with _lock:
            if _lib is None:
                path = library_path()
                if not path.exists():
                    raise errors.UnsupportedError(
                        f"native library not found at {path}: run `python3 build.py` "
                        "(or set ARMBERT_LIBRARY)")
                try:
                    loaded = _dlopen(path)
                except OSError as e:  # not a shared library, wrong machine, missing deps
                    raise errors.UnsupportedError(
                        f"cannot load the native library {path}: {e} (a build for this "
                        "machine? its OpenBLAS and libgomp installed?)") from None
                if loaded.armbert_abi_version() != loaded.ARMBERT_ABI_VERSION:
                    raise errors.UnsupportedError(
                        f"{path} has ABI {loaded.armbert_abi_version()}, this package "
                        f"expects {loaded.ARMBERT_ABI_VERSION}: rebuild with build.py")
                _lib = loaded
    return _lib


def check(status: int) -> None:
    if status != 0:
        msg = ffi.string(lib().armbert_last_error()).decode(errors="replace")
        raise errors.BY_STATUS.get(status, errors.InternalError)(msg)


def backends_compiled() -> list[str]:
    mask = lib().armbert_backends_compiled()
    return [b for i, b in enumerate(BACKENDS) if mask & (1 << i)]


def cpu_features() -> list[str]:
    bits = lib().armbert_cpu_features()
    names = {1: "avx2", 2: "avx512_vnni", 4: "f16c", 8: "avx_vnni", 256: "neon",
             512: "asimdhp", 1024: "asimddp", 2048: "i8mm"}
    return [n for b, n in names.items() if bits & b]


def host_isa_levels() -> list[str]:
    """The host backend's ISA levels this CPU runs, lowest first (the last is the
    default; the environment variable ARMBERT_ISA, read at each host context's
    creation, forces another)."""
    return ffi.string(lib().armbert_host_isa_levels()).decode().split(",")


def _index(name: str, choices: Sequence[str], what: str) -> int:
    if name not in choices:
        raise errors.InvalidArgumentError(f"unknown {what} {name!r}: choose one of {list(choices)}")
    return choices.index(name)


class _Handle:
    """A native handle: ``close()`` (idempotent), ``with``, and ClosedError on use
    after close. ``_h`` is the cffi pointer with its destructor (``ffi.gc``)."""

    _what = "handle"
    _h = None

    def _handle(self):
        if self._h is None:
            raise errors.ClosedError(f"this {self._what} is closed")
        return self._h

    @property
    def closed(self) -> bool:
        return self._h is None

    def close(self) -> None:
        if self._h is not None:
            h, self._h = self._h, None
            ffi.release(h)  # runs the gc destructor now, exactly once

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_DESCRIBE_BUFFER = 1024  # first try of Context.describe (it retries larger)


class Context(_Handle):
    """A backend with its thread count and the cores it is pinned to.
    ``threads``: None or an int in [1, 4 x os.cpu_count()]; ``cores``: distinct core
    numbers of this machine. Neither: one thread per physical core of the fastest
    cluster, pinned (armbert.h, armbert_context_options); ``threads`` alone: that many,
    not pinned; ``cores`` alone: one pinned thread per core."""

    _what = "context"

    def __init__(self, backend: str = "host", threads: Optional[int] = None,
                 cores: Optional[Sequence[int]] = None, cache_dir: Optional[str] = None):
        b = _index(backend, BACKENDS, "backend")
        threads = argcheck.threads(threads)
        cores = argcheck.cores(cores)
        opts = ffi.new("armbert_context_options *")
        opts.num_threads = threads or 0
        self._cores = ffi.new("int32_t[]", list(cores)) if cores else ffi.NULL
        opts.cores = self._cores
        opts.num_cores = len(cores)
        self._cache = ffi.new("char[]", cache_dir.encode()) if cache_dir else ffi.NULL
        opts.cache_dir = self._cache
        out = ffi.new("armbert_context **")
        check(lib().armbert_context_create(b, opts, out))
        self._h = ffi.gc(out[0], lib().armbert_context_destroy)
        self.backend = backend

    def _handle(self):
        if self._h is None:
            raise errors.ClosedError(
                f"this {self.backend} context is closed: it makes no new ops or tensors")
        return self._h

    def describe(self) -> str:
        # The ABI truncates to the buffer: a full buffer may have been cut, so ask again
        # with more room (the text grows with the kernel names and the core list: a
        # many-core machine's "cores=" alone is hundreds of characters).
        size = _DESCRIBE_BUFFER
        while True:
            buf = ffi.new("char[]", size)
            check(lib().armbert_context_describe(self._handle(), buf, size))
            text = ffi.string(buf)
            if len(text) < size - 1 or size >= 1 << 20:
                return text.decode()
            size *= 4

    def synchronize(self) -> None:
        """Returns when the work queued on this context's device has finished: at
        once on host and NEON, after the command queue's finish on CL."""
        check(lib().armbert_context_synchronize(self._handle()))


class Tensor(_Handle):
    """Backend memory. Host/NEON tensors expose a zero-copy numpy view
    (``host_view``), valid until the tensor is closed: do not keep it longer."""

    _what = "tensor"

    def __init__(self, ctx: Context, shape: Sequence[int], dtype=np.float32):
        dt = np.dtype(dtype)
        if dt not in _DTYPES:
            raise errors.InvalidArgumentError(f"unsupported tensor dtype {dt}")
        shape = tuple(argcheck.integer(d, "tensor dims", errors.ShapeError, 1, 2**40)
                      for d in shape)
        dims = ffi.new("int64_t[]", list(shape))
        out = ffi.new("armbert_tensor **")
        check(lib().armbert_tensor_create(ctx._handle(), _DTYPES[dt], len(shape), dims, out))
        self._h = ffi.gc(out[0], lib().armbert_tensor_destroy)
        self.ctx, self.shape, self.dtype = ctx, tuple(int(d) for d in shape), dt
        self.nbytes = int(np.prod(self.shape)) * dt.itemsize
        ptr = lib().armbert_tensor_data(self._h)
        self._view = (np.frombuffer(ffi.buffer(ptr, self.nbytes), dtype=dt).reshape(self.shape)
                      if ptr != ffi.NULL else None)

    @classmethod
    def from_numpy(cls, ctx: Context, array: np.ndarray) -> "Tensor":
        array = np.asarray(array)
        # Any layout and byte order: the tensor holds the values in native order.
        t = cls(ctx, array.shape, array.dtype.newbyteorder("="))
        t.write(array)
        return t

    @property
    def host_view(self) -> Optional[np.ndarray]:
        self._handle()
        return self._view

    def write(self, array: np.ndarray) -> None:
        h = self._handle()
        a = np.ascontiguousarray(array, dtype=self.dtype)
        if a.size * a.itemsize != self.nbytes:
            raise errors.ShapeError(f"cannot write {a.shape} into a tensor of {self.shape}")
        check(lib().armbert_tensor_write(h, ffi.from_buffer(a), self.nbytes))

    def numpy(self) -> np.ndarray:
        h = self._handle()
        out = np.empty(self.shape, self.dtype)
        check(lib().armbert_tensor_read(h, ffi.from_buffer(out), self.nbytes))
        return out

    def close(self) -> None:
        self._view = None
        super().close()


def _h(t: Optional[Tensor]):
    if t is None:
        return ffi.NULL
    if not isinstance(t, Tensor):
        raise errors.InvalidArgumentError(f"expected an armbert Tensor, got {type(t).__name__}")
    return t._handle()


def _f32(a, n: Optional[int] = None, what: str = "array") -> np.ndarray:
    arr = np.ascontiguousarray(a, dtype=np.float32)
    if n is not None and arr.size != n:
        raise errors.ShapeError(f"{what} has {arr.size} values, expected {n}")
    return arr


class Op(_Handle):
    """Common part of every component: reshape and lifetime."""

    _what = "op"

    def __init__(self, ctx: Context, desc, create):
        out = ffi.new("armbert_op **")
        check(create(ctx._handle(), desc, out))
        self._h = ffi.gc(out[0], lib().armbert_op_destroy)
        self.ctx = ctx
        self._shape = None

    def reshape(self, batch: int, seq: int) -> None:
        h = self._handle()
        if self._shape != (batch, seq):
            batch = argcheck.integer(batch, "batch", errors.ShapeError, 1, 2**31 - 1)
            seq = argcheck.integer(seq, "seq", errors.ShapeError, 1, 2**31 - 1)
            # A reshape that fails in the backend leaves the op unconfigured
            # (armbert.h): the next reshape must reach the library, whatever shape.
            self._shape = None
            check(lib().armbert_op_reshape(h, batch, seq))
            self._shape = (batch, seq)


def unsupported(ctx: Context, validate, desc) -> Optional[str]:
    """None when ``ctx``'s backend runs the op ``desc`` describes (``validate`` is its
    armbert_X_validate), else the library's reason. Any other problem with the
    descriptor raises as create would."""
    status = validate(ctx._handle(), desc)
    if status == lib().ARMBERT_ERR_UNSUPPORTED:
        return ffi.string(lib().armbert_last_error()).decode(errors="replace")
    check(status)
    return None


class Embeddings(Op):
    def __init__(self, ctx, word, position, token_type, gamma, beta, eps, precision="fp32"):
        self._keep = [_f32(word), _f32(position), _f32(token_type), _f32(gamma), _f32(beta)]
        w, p, t, g, b = self._keep
        # The descriptor carries sizes and bare pointers: the library reads exactly
        # what these shapes say, so they must agree before it sees them.
        if w.ndim != 2 or p.ndim != 2 or t.ndim != 2 or p.shape[1] != w.shape[1] or \
                t.shape[1] != w.shape[1] or g.shape != (w.shape[1],) or b.shape != g.shape:
            raise errors.ShapeError(
                f"embeddings tables disagree: word {w.shape}, position {p.shape}, token type "
                f"{t.shape}, gamma {g.shape}, beta {b.shape} (all [*, hidden] / [hidden])")
        d = ffi.new("armbert_embeddings_desc *")
        d.vocab_size, d.hidden = w.shape
        d.max_positions, d.type_vocab_size = p.shape[0], t.shape[0]
        d.eps = eps
        d.precision = _index(precision, PRECISIONS, "precision")
        d.word, d.position, d.token_type = (ffi.from_buffer("float[]", x) for x in (w, p, t))
        d.gamma, d.beta = ffi.from_buffer("float[]", g), ffi.from_buffer("float[]", b)
        super().__init__(ctx, d, lib().armbert_embeddings_create)
        self._keep = None  # packed by the library

    def run(self, ids: Tensor, type_ids: Optional[Tensor], out: Tensor) -> None:
        check(lib().armbert_embeddings_run(self._handle(), _h(ids), _h(type_ids), _h(out)))


class Linear(Op):
    """y = act(x W^T + b). INT8: pass weight_i8 + weight_scale (see armbert.quant)."""

    def __init__(self, ctx, weight=None, bias=None, precision="fp32", activation="none",
                 weight_i8=None, weight_scale=None, input_scale=0.0, input_smooth=None,
                 outlier_channels=None, outlier_weight=None):
        d = ffi.new("armbert_linear_desc *")
        d.precision = _index(precision, PRECISIONS, "precision")
        d.activation = _index(activation, ACTIVATIONS, "activation")
        keep = []
        if precision == "int8":
            if weight_i8 is None or weight_scale is None:
                raise errors.InvalidArgumentError("int8 linear needs weight_i8 and weight_scale")
            wq = np.ascontiguousarray(weight_i8, dtype=np.int8)
            d.out_features, d.in_features = wq.shape
            ws = _f32(weight_scale, wq.shape[0], "weight_scale")
            keep += [wq, ws]
            d.weight_i8 = ffi.from_buffer("int8_t[]", wq)
            d.weight_scale = ffi.from_buffer("float[]", ws)
            d.input_scale = float(input_scale)
            if input_smooth is not None:
                sm = _f32(input_smooth, wq.shape[1], "input_smooth")
                keep.append(sm)
                d.input_smooth = ffi.from_buffer("float[]", sm)
            if outlier_channels is not None and len(outlier_channels):
                oc = np.ascontiguousarray(outlier_channels, dtype=np.int32)
                ow = _f32(outlier_weight, wq.shape[0] * oc.size, "outlier_weight")
                keep += [oc, ow]
                d.outlier_channels = ffi.from_buffer("int32_t[]", oc)
                d.num_outliers = oc.size
                d.outlier_weight = ffi.from_buffer("float[]", ow)
        else:
            w = _f32(weight)
            if w.ndim != 2:
                raise errors.ShapeError(f"linear weight must be 2-D [out, in], got {w.shape}")
            d.out_features, d.in_features = w.shape
            keep.append(w)
            d.weight = ffi.from_buffer("float[]", w)
        if bias is not None:
            b = _f32(bias, d.out_features, "bias")
            keep.append(b)
            d.bias = ffi.from_buffer("float[]", b)
        self.in_features, self.out_features = d.in_features, d.out_features
        super().__init__(ctx, d, lib().armbert_linear_create)

    def run(self, x: Tensor, y: Tensor) -> None:
        check(lib().armbert_linear_run(self._handle(), _h(x), _h(y)))


class Softmax(Op):
    def __init__(self, ctx, precision="fp32", scale=1.0):
        d = ffi.new("armbert_softmax_desc *")
        d.precision = _index(precision, PRECISIONS, "precision")
        d.scale = scale
        super().__init__(ctx, d, lib().armbert_softmax_create)

    def run(self, x: Tensor, mask: Optional[Tensor], y: Tensor) -> None:
        check(lib().armbert_softmax_run(self._handle(), _h(x), _h(mask), _h(y)))


class Attention(Op):
    def __init__(self, ctx, hidden: int, heads: int, precision="fp32"):
        d = ffi.new("armbert_attention_desc *")
        d.hidden, d.heads = hidden, heads
        d.precision = _index(precision, PRECISIONS, "precision")
        super().__init__(ctx, d, lib().armbert_attention_create)

    def run(self, qkv: Tensor, mask: Optional[Tensor], out: Tensor) -> None:
        check(lib().armbert_attention_run(self._handle(), _h(qkv), _h(mask), _h(out)))


class LayerNorm(Op):
    def __init__(self, ctx, gamma, beta, eps: float, precision="fp32"):
        g, b = _f32(gamma), _f32(beta, np.size(gamma), "beta")
        d = ffi.new("armbert_layernorm_desc *")
        d.hidden, d.eps = g.size, eps
        d.precision = _index(precision, PRECISIONS, "precision")
        d.gamma, d.beta = ffi.from_buffer("float[]", g), ffi.from_buffer("float[]", b)
        super().__init__(ctx, d, lib().armbert_layernorm_create)

    def run(self, x: Tensor, residual: Optional[Tensor], y: Tensor) -> None:
        check(lib().armbert_layernorm_run(self._handle(), _h(x), _h(residual), _h(y)))


class Gelu(Op):
    def __init__(self, ctx, precision="fp32"):
        d = ffi.new("armbert_eltwise_desc *")
        d.precision = _index(precision, PRECISIONS, "precision")
        super().__init__(ctx, d, lib().armbert_gelu_create)

    def run(self, x: Tensor, y: Tensor) -> None:
        check(lib().armbert_gelu_run(self._handle(), _h(x), _h(y)))


class Add(Op):
    def __init__(self, ctx, precision="fp32"):
        d = ffi.new("armbert_eltwise_desc *")
        d.precision = _index(precision, PRECISIONS, "precision")
        super().__init__(ctx, d, lib().armbert_add_create)

    def run(self, a: Tensor, b: Tensor, y: Tensor) -> None:
        check(lib().armbert_add_run(self._handle(), _h(a), _h(b), _h(y)))


class Pool(Op):
    """Pooling over the sequence (armbert.h, armbert_pool_desc): x [batch*seq, hidden]
    and the additive mask [batch, seq] to y [batch, hidden]; ``mode`` one of POOLINGS,
    ``normalize`` an L2 normalization after it. Host backend only so far:
    :meth:`unsupported` says why another context cannot run it."""

    def __init__(self, ctx, hidden: int, mode: str = "mean", normalize: bool = False,
                 precision: str = "fp32"):
        super().__init__(ctx, self._desc(hidden, mode, normalize, precision),
                         lib().armbert_pool_create)
        self.hidden, self.mode, self.normalize = hidden, mode, bool(normalize)
        self.precision = precision

    @staticmethod
    def _desc(hidden, mode, normalize, precision):
        d = ffi.new("armbert_pool_desc *")
        d.hidden = argcheck.integer(hidden, "hidden", errors.InvalidArgumentError, 1, 2**31 - 1)
        d.mode = _index(mode, POOLINGS, "pooling")
        d.normalize = 1 if normalize else 0
        d.precision = _index(precision, PRECISIONS, "precision")
        return d

    @classmethod
    def unsupported(cls, ctx, hidden: int, mode: str = "mean", normalize: bool = False,
                    precision: str = "fp32") -> Optional[str]:
        return unsupported(ctx, lib().armbert_pool_validate,
                           cls._desc(hidden, mode, normalize, precision))

    def run(self, x: Tensor, mask: Optional[Tensor], y: Tensor) -> None:
        check(lib().armbert_pool_run(self._handle(), _h(x), _h(mask), _h(y)))
