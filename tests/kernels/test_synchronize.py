"""armbert_context_synchronize (armbert.h): returns when the context's queued work is
done, on every backend (a no-op on host and NEON, the queue's finish on CL); the
engine waits with it before timing a transfer between segments."""
import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors

from .conftest import backend_params


@backend_params
def test_synchronize_waits_and_keeps_the_data(contexts, backend):
    ctx = contexts(backend)
    x = np.linspace(-1, 1, 96, dtype=np.float32)
    t = nat.Tensor.from_numpy(ctx, x)  # a write, queued on CL
    ctx.synchronize()
    ctx.synchronize()  # nothing queued: returns at once
    np.testing.assert_array_equal(t.numpy(), x)


@backend_params
def test_synchronize_on_a_closed_context_is_a_clear_error(backend):
    ctx = nat.Context(backend, threads=1)
    ctx.close()
    with pytest.raises(errors.ClosedError, match="context is closed"):
        ctx.synchronize()


def test_the_abi_refuses_a_null_context():
    from armbert._native import lib
    assert lib().armbert_context_synchronize(nat.ffi.NULL) == lib().ARMBERT_ERR_INVALID_ARGUMENT
