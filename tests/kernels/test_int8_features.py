"""The INT8 linear's optional features on every backend, against armbert.quant:
LLM.int8() outlier channels (kept in fp32), SmoothQuant factors (x / smooth before
quantizing), dynamic and static input scales. (On CL this replaces the CL-only test
tests/arm/test_cl_engine.py had, same shape, seed and bound.)

Tolerance: the int8 part is exact integers scaled in float32 (the header fixes that
order); the fp32 outlier sum's order is left open by the header (sgemm, NEON or
OpenCL dot products against the reference's float64), and 1/smooth may round once
more or less. Outputs here reach |y| ~ 200, where a float32 ulp is 1.5e-5: measured
1.5e-5 (raw) and 3.0e-5 (smoothed) on host, NEON and CL alike, so atol 1e-4 (~6 ulp,
rtol 1e-5 beside it, as in tests/arm/test_cl_engine.py) passes rounding and nothing
else: a dropped outlier channel moves outputs by tens.
The shape is test_linear.py's odd one (14 x 100 -> 37), so on CL the
program is the one compiled for it.
"""
import numpy as np
import pytest

from armbert import _native as nat
from armbert import quant

from .conftest import backend_params

OUTLIERS = [3, 17]


@backend_params
@pytest.mark.parametrize("smoothed", [False, True], ids=["raw", "smoothed"])
@pytest.mark.parametrize("scale", [0.0, 0.05], ids=["dynamic", "static"])
def test_int8_outliers_and_smoothing_match_reference(contexts, backend, smoothed, scale):
    ctx = contexts(backend)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((14, 100)).astype(np.float32)
    x[:, OUTLIERS] *= 30
    w = rng.standard_normal((37, 100)).astype(np.float32)
    b = rng.standard_normal(37).astype(np.float32)
    smooth = rng.uniform(0.5, 2.0, 100).astype(np.float32) if smoothed else None
    prepared = quant.prepare_int8_linear(w if smooth is None else w * smooth[None, :],
                                         OUTLIERS)
    op = nat.Linear(ctx, None, b, "int8", input_scale=scale, input_smooth=smooth, **prepared)
    op.reshape(1, 14)
    y = nat.Tensor(ctx, (14, 37))
    op.run(nat.Tensor.from_numpy(ctx, x), y)

    expected = quant.linear_int8_outliers_reference(x, prepared, b, scale or None, smooth)
    got = y.numpy()
    print(f"\n{backend} int8 outliers {'smoothed' if smoothed else 'raw'} "
          f"{'static' if scale else 'dynamic'}: max |diff| {np.abs(got - expected).max():.2e}"
          f"{' (bit-exact)' if np.array_equal(got, expected) else ''}")
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
