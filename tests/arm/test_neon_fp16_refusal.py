"""FP16 on the NEON backend needs FP16 arithmetic (HWCAP asimdhp): a Cortex-A53
or A73 lacks it, and the backend must refuse FP16 ops there with
UnsupportedError naming the cause, while FP32 keeps working."""
import textwrap

import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors

from .conftest import emulated, run_python

pytestmark = pytest.mark.usefixtures("neon_is_built")

REFUSAL_CHECK = textwrap.dedent("""
    import numpy as np
    import sys
    from armbert import _native as nat, errors
    assert "neon" in nat.cpu_features(), nat.cpu_features()
    if "asimdhp" in nat.cpu_features():
        print("core has asimdhp")  # QEMU_CPU had no effect: not emulated
        sys.exit(0)
    ctx = nat.Context("neon", threads=1)
    assert "fp16: unsupported" in ctx.describe(), ctx.describe()
    w = np.ones((4, 3), np.float32)
    g, b = np.ones(8, np.float32), np.zeros(8, np.float32)
    makers = {
        "linear": lambda: nat.Linear(ctx, w, None, "fp16"),
        "attention": lambda: nat.Attention(ctx, 8, 2, "fp16"),
        "softmax": lambda: nat.Softmax(ctx, "fp16", scale=1.0),
        "layernorm": lambda: nat.LayerNorm(ctx, g, b, 1e-12, "fp16"),
        "gelu": lambda: nat.Gelu(ctx, "fp16"),
        "add": lambda: nat.Add(ctx, "fp16"),
        "embeddings": lambda: nat.Embeddings(ctx, np.ones((5, 8), np.float32),
                                             np.ones((4, 8), np.float32),
                                             np.ones((2, 8), np.float32), g, b, 1e-12, "fp16"),
    }
    for name, make in makers.items():
        try:
            make()
        except errors.UnsupportedError as e:
            msg = str(e)
            assert "FP16" in msg and "asimdhp" in msg and "Cortex-A53" in msg, msg
        else:
            raise AssertionError(f"fp16 {name} was created on a core without asimdhp")
    # FP32 (ACL) still runs on this core.
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    op = nat.Linear(ctx, w, None, "fp32")
    op.reshape(1, 2)
    y = nat.Tensor(ctx, (2, 4))
    op.run(nat.Tensor.from_numpy(ctx, x), y)
    np.testing.assert_allclose(y.numpy(), x @ w.T, rtol=1e-6)
    print("refused")
""")


def test_fp16_refused_on_cortex_a53():
    out = run_python(REFUSAL_CHECK, cpu="cortex-a53").strip()
    if out == "core has asimdhp":
        assert not emulated(), "under qemu, QEMU_CPU=cortex-a53 should have removed asimdhp"
        pytest.skip("a real core with FP16 arithmetic: QEMU_CPU cannot pick an A53 here "
                    "(test_fp16_follows_this_cores_hwcap covers this core)")
    assert out == "refused", out


def test_fp16_follows_this_cores_hwcap():
    """Whatever core runs this: FP16 ops exist iff the core has asimdhp."""
    ctx = nat.Context("neon", threads=1)
    if "asimdhp" in nat.cpu_features():
        nat.Linear(ctx, np.ones((4, 3), np.float32), None, "fp16")
        assert "fp16: armbert NEON kernels" in ctx.describe()
    else:
        with pytest.raises(errors.UnsupportedError, match="FP16"):
            nat.Linear(ctx, np.ones((4, 3), np.float32), None, "fp16")
