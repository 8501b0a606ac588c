"""The CL backend's process-wide runtime: ACL's compiled-program cache is saved at
exit and restored by the next process, CLTuner's table likewise when a tuner mode
is chosen, a bad mode is refused; the device is described. Each case runs in
fresh interpreters: ACL's CLScheduler is set up once per process."""
import textwrap

import pytest

from .conftest import run_python

pytestmark = pytest.mark.usefixtures("cl_is_built")

# A GELU and a linear on the CL device, checked against numpy, then the description.
# Their shapes are the odd ones of tests/kernels (test_eltwise's (3, 1031) and
# test_linear's 14 x 100 -> 37 with a bias): the same OpenCL programs, so under
# emulation the device's own compiler cache already has them and what is timed
# here is ACL's cache, not PoCL's compiler.
RUN_OPS = textwrap.dedent("""
    import numpy as np
    from armbert import _native as nat
    ctx = nat.Context("cl")
    x = np.linspace(-3, 3, 3 * 1031, dtype=np.float32).reshape(3, 1031)
    xl = np.linspace(-1, 1, 14 * 100, dtype=np.float32).reshape(14, 100)
    w = np.linspace(-0.1, 0.1, 37 * 100, dtype=np.float32).reshape(37, 100)
    b = np.linspace(-1, 1, 37, dtype=np.float32)
    gelu, lin = nat.Gelu(ctx, "fp32"), nat.Linear(ctx, w, b, "fp32")
    lin.reshape(1, 14)
    tx, ty = nat.Tensor.from_numpy(ctx, x), nat.Tensor(ctx, (3, 1031))
    txl, tz = nat.Tensor.from_numpy(ctx, xl), nat.Tensor(ctx, (14, 37))
    gelu.run(tx, ty); lin.run(txl, tz)
    from math import erf, sqrt
    ref = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / sqrt(2))))(x.astype(np.float64))
    np.testing.assert_allclose(ty.numpy(), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tz.numpy(), xl.astype(np.float64) @ w.T + b, rtol=1e-4, atol=1e-4)
    print(ctx.describe())
""")


def cache_files(root, prefix):
    return sorted((root / "cl").glob(f"{prefix}-*"))


def test_program_cache_is_saved_and_restored(tmp_path):
    env = {"ARMBERT_CACHE_DIR": str(tmp_path)}
    first = run_python(RUN_OPS, env=env)
    assert "(0 programs restored" in first, first
    files = cache_files(tmp_path, "programs")
    assert len(files) == 1 and files[0].stat().st_size > 0, files
    second = run_python(RUN_OPS, env=env)
    restored = int(second.split(" programs restored")[0].rsplit("(", 1)[1])
    assert restored > 0, second
    assert "tuner none" in second
    # The description names the device, and the Mali generation where there is one.
    assert second.startswith("cl: OpenCL ") and "fp16 " in second, second
    assert "Mali" in second or "not a Mali GPU" in second, second


def test_tuner_table_is_saved_and_loaded(tmp_path):
    env = {"ARMBERT_CACHE_DIR": str(tmp_path), "ARMBERT_CL_TUNER": "rapid"}
    out = run_python(RUN_OPS, env=env)
    assert "tuner rapid" in out, out
    files = cache_files(tmp_path, "tuner")
    assert len(files) == 1, files
    table = files[0].read_text()
    assert table.strip(), "the CLTuner table was saved empty"
    again = run_python(RUN_OPS, env=env)  # loads the table: the same kernels are not re-tuned
    assert "tuner rapid" in again
    assert files[0].read_text() == table


def test_bad_tuner_mode_is_refused():
    out = run_python(textwrap.dedent("""
        from armbert import _native as nat, errors
        try:
            nat.Context("cl")
        except errors.InvalidArgumentError as e:
            print("refused:", e)
    """), env={"ARMBERT_CL_TUNER": "fastest"})
    assert "refused:" in out and "ARMBERT_CL_TUNER=fastest" in out, out

