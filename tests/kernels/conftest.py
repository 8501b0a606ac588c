"""Shared set-up of the kernel accuracy tests: backends x precisions.

Tolerances (each test compares against tests/reference.py, float64 inside):
- FP32: rtol = atol = 1e-4. fp32 sums over K <= 1000 terms of O(1) values
  drift by ~sqrt(K) * 6e-8 relative (~2e-6); our exp/erf approximations add
  < 2e-7. 1e-4 leaves room for blocked summation orders of ACL and OpenBLAS.
- FP16: inputs and weights are rounded to fp16 *before* the reference runs, so
  what remains is the fp16 rounding of outputs (2^-11 = 4.9e-4 relative) and
  of intermediate activations: rtol = atol = 4e-3 (about 8 ulp of fp16).
- INT8: the linear is compared with the exact integer reference of
  armbert.quant (same quantized inputs): only the fp32 epilogue rounds,
  rtol = atol = 1e-4; components that run in fp32 under INT8 use FP32 bounds.

FP16 on an OpenCL device without cl_khr_fp16 (PoCL): the CL backend must refuse
it, so each (cl, fp16) case there asserts that creating the op raises
UnsupportedError naming cl_khr_fp16, and its id ends in "-refused".
ARMBERT_CL_FP16=1 says the device has cl_khr_fp16 (the case must then run and
pass, as on rusticl), =0 that it has not; unset, the CL context's description
decides.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest

import armbert
from armbert import _native as nat
from armbert import errors

TOL = {"fp32": dict(rtol=1e-4, atol=1e-4), "fp16": dict(rtol=4e-3, atol=4e-3),
       "int8": dict(rtol=1e-4, atol=1e-4)}
PRECISIONS = ["fp32", "fp16", "int8"]
BACKENDS = armbert.backends()

# Parametrization marks, expanded by pytest_generate_tests below: together they
# give (precision, backend) ids like "fp32-host", and "fp16-cl-refused".
backend_params = pytest.mark.armbert_backends
precision_params = pytest.mark.armbert_precisions
# shape_params("rows,k,n", SHAPES, cl=CL_SHAPES): the shapes of a backend x precision
# test. Host and NEON sweep every shape, and so does CL by default (a board). With
# ARMBERT_CL_SHAPES=short, CL runs the short list instead: one odd shape and one
# MiniLM-sized shape per component, those of tests/arm/test_cl_engine.py, so their
# programs are compiled once for both. The test bed's PoCL lane sets it: under
# emulation PoCL compiles each new shape of an ACL OpenCL kernel as a new program
# (ACL bakes sizes into its build options; 40-110 s each on qemu's plain "max" core, seconds on the test bed's DEFAULT_CPU), while the
# arithmetic checked does not depend on the sizes beyond edge handling.
# ARMBERT_CL_SHAPES=short:attention,softmax gives the short list to the named
# components only (test_<name>.py) and the sweep to the others: the rusticl lane
# uses it for attention, whose FP16 CLMatMul programs Mesa compiles slowest
# (tools/arm64_suite.sh has the figures).
shape_params = pytest.mark.armbert_shapes
CL_SHAPES = os.environ.get("ARMBERT_CL_SHAPES", "all")


def cl_short_for(module_name: str) -> bool:
    """Whether the CL cases of tests/kernels/<module_name> take the short list."""
    if CL_SHAPES in ("all", "short"):
        return CL_SHAPES == "short"
    kind, _, names = CL_SHAPES.partition(":")
    components = {n.strip() for n in names.split(",") if n.strip()}
    known = {p.stem.removeprefix("test_") for p in Path(__file__).parent.glob("test_*.py")}
    assert kind == "short" and components and components <= known, (
        f"ARMBERT_CL_SHAPES={CL_SHAPES}: all, short, or short:<components> "
        f"with components among {sorted(known)}")
    return module_name.rsplit(".", 1)[-1].removeprefix("test_") in components


@functools.cache
def cl_device_has_fp16() -> bool:
    env = os.environ.get("ARMBERT_CL_FP16")
    if env in ("0", "1"):
        return env == "1"
    if "cl" not in BACKENDS:
        return False
    try:
        return "fp16 yes" in nat.Context("cl").describe()
    except errors.ArmbertError:
        return False  # no usable device: the CL cases fail on their own


def backend_precision_params() -> list:
    params = []
    for b in BACKENDS:
        for p in PRECISIONS:
            if b == "cl" and p == "fp16" and not cl_device_has_fp16():
                params.append(pytest.param(b, p, id=f"{p}-{b}-refused",
                                           marks=pytest.mark.cl_fp16_refused))
            else:
                params.append(pytest.param(b, p, id=f"{p}-{b}"))
    return params


def shaped_params(pairs: list, names: str, every: list, cl: list) -> list:
    """(backend, precision, *shape) cases: every shape on host and NEON, `cl` on CL."""
    params = []
    for pair in pairs:
        backend = pair.values[0]
        for shape in (cl if backend == "cl" else every):
            values = tuple(shape) if "," in names else (shape,)
            sid = "-".join(map(str, shape if isinstance(shape, tuple) else (shape,)))
            params.append(pytest.param(*pair.values, *values, id=f"{sid}-{pair.id}",
                                       marks=pair.marks))
    return params


@pytest.hookimpl(trylast=True)  # after @pytest.mark.parametrize: ids keep their order
def pytest_generate_tests(metafunc):
    by_backend = metafunc.definition.get_closest_marker("armbert_backends") is not None
    by_precision = metafunc.definition.get_closest_marker("armbert_precisions") is not None
    shapes = metafunc.definition.get_closest_marker("armbert_shapes")
    if shapes is not None:
        assert by_backend and by_precision, "shape_params goes with backend and precision params"
        names, every = shapes.args
        cl = shapes.kwargs.get("cl", every)
        assert all(c in every for c in cl), "CL shapes are a subset of the sweep"
        cl = cl if cl_short_for(metafunc.module.__name__) else every
        metafunc.parametrize(f"backend,precision,{names}",
                             shaped_params(backend_precision_params(), names, every, cl))
    elif by_backend and by_precision:
        metafunc.parametrize("backend,precision", backend_precision_params())
    elif by_backend:
        metafunc.parametrize("backend", BACKENDS)
    elif by_precision:
        metafunc.parametrize("precision", PRECISIONS)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """A "-refused" case passes only if the test body fails at creating its FP16 op
    with UnsupportedError naming cl_khr_fp16 (nothing else in it raises that)."""
    if pyfuncitem.get_closest_marker("cl_fp16_refused") is None:
        return None
    args = {name: pyfuncitem.funcargs[name] for name in pyfuncitem._fixtureinfo.argnames}
    with pytest.raises(errors.UnsupportedError, match="cl_khr_fp16"):
        pyfuncitem.obj(**args)
    return True


@pytest.fixture(scope="module")
def contexts():
    cache: dict[str, nat.Context] = {}

    def get(backend: str) -> nat.Context:
        if backend not in cache:
            cache[backend] = nat.Context(backend, threads=2)
        return cache[backend]

    return get


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def act_dtype(precision: str):
    return np.float16 if precision == "fp16" else np.float32


def as_precision(x: np.ndarray, precision: str) -> np.ndarray:
    """The values the kernel really sees: fp16-rounded for FP16."""
    return x.astype(np.float16).astype(np.float32) if precision == "fp16" else x


def tensor(ctx, x: np.ndarray, precision: str) -> nat.Tensor:
    return nat.Tensor.from_numpy(ctx, x.astype(act_dtype(precision)))


def result(t: nat.Tensor) -> np.ndarray:
    return t.numpy().astype(np.float32)


def assert_close(actual, expected, precision: str, what: str = "") -> None:
    np.testing.assert_allclose(actual, expected, err_msg=what, **TOL[precision])


def expected_backends() -> list[str] | None:
    env = os.environ.get("ARMBERT_EXPECT_BACKENDS")
    return env.split(",") if env else None
