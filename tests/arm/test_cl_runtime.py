"""The CL backend's process-wide runtime: ACL's compiled-program cache is saved at
exit and restored by the next process, CLTuner's table likewise when a tuner mode
is chosen, a bad mode is refused; the device is described. Each case runs in
fresh interpreters: ACL's CLScheduler is set up once per process."""
import textwrap

import pytest

from .conftest import run_python

pytestmark = pytest.mark.usefixtures("cl_is_built")

# A GELU and a linear on the CL device, checked against numpy, then the description.
RUN_OPS = textwrap.dedent("""
    import numpy as np
    from armbert import _native as nat
    ctx = nat.Context("cl")
    x = np.linspace(-3, 3, 4 * 24, dtype=np.float32).reshape(4, 24)
    w = np.linspace(-1, 1, 8 * 24, dtype=np.float32).reshape(8, 24)
    gelu, lin = nat.Gelu(ctx, "fp32"), nat.Linear(ctx, w, None, "fp32")
    gelu.reshape(1, 4); lin.reshape(1, 4)
    tx, ty, tz = nat.Tensor.from_numpy(ctx, x), nat.Tensor(ctx, (4, 24)), nat.Tensor(ctx, (4, 8))
    gelu.run(tx, ty); lin.run(tx, tz)
    from math import erf, sqrt
    ref = np.vectorize(lambda v: 0.5 * v * (1 + erf(v / sqrt(2))))(x)
    np.testing.assert_allclose(ty.numpy(), ref, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tz.numpy(), x @ w.T, rtol=1e-4, atol=1e-4)
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

