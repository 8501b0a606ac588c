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
"""
from __future__ import annotations

import os

import numpy as np
import pytest

import armbert
from armbert import _native as nat

TOL = {"fp32": dict(rtol=1e-4, atol=1e-4), "fp16": dict(rtol=4e-3, atol=4e-3),
       "int8": dict(rtol=1e-4, atol=1e-4)}
PRECISIONS = ["fp32", "fp16", "int8"]
BACKENDS = armbert.backends()

backend_params = pytest.mark.parametrize("backend", BACKENDS)
precision_params = pytest.mark.parametrize("precision", PRECISIONS)


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
