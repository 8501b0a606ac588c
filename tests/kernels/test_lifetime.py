"""The lifetime model (armbert/_native.py, kernels/src/core/context.h).

A context is reference counted by its ops and tensors: closing it (or losing it to
the GC) only drops the caller's reference, and the native context is freed when
the last op or tensor made from it is freed. So no close order can free memory
that a live handle still uses. A handle used after its own close() raises
armbert.ClosedError; a closed context refuses new ops and tensors.

The crash reproductions run in a child process: before this model they died with
SIGSEGV, which would take pytest down with them."""
import itertools
import subprocess
import sys

import numpy as np
import pytest

from armbert import _native as nat
from armbert import errors


def run_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)


def test_op_runs_after_its_context_is_closed():
    # issue 12: SIGSEGV (use after free in host::team_size) before the lifetime model.
    r = run_child(
        "import numpy as np\n"
        "from armbert import _native as nat\n"
        "ctx = nat.Context('host'); op = nat.Gelu(ctx); x = nat.Tensor(ctx, (4096,))\n"
        "x.write(np.ones(4096, np.float32)); ctx.close(); op.run(x, x)\n"
        "print('ok', float(x.numpy()[0]))\n")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split()[0] == "ok" and abs(float(r.stdout.split()[1]) - 0.8413447) < 1e-5


def test_engine_runs_after_its_contexts_are_closed():
    # issue 12: SIGSEGV (heap-use-after-free in check_tensor via EmbeddingsOp::run).
    r = run_child(
        "import numpy as np, armbert\n"
        "from tests.hardening.tiny import tiny_model\n"
        "e = armbert.Engine(tiny_model(), backend='host')\n"
        "a = e.run(np.array([[1, 2, 3]])).last_hidden_state\n"
        "for c in e.contexts.values(): c.close()\n"
        "b = e.run(np.array([[1, 2, 3]])).last_hidden_state\n"
        "print('ok', float(abs(a - b).max()))\n")
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["ok", "0.0"]


@pytest.mark.parametrize("order", list(itertools.permutations(["ctx", "op", "x", "y"])),
                         ids="-".join)
def test_every_close_order(order):
    """Close the four handles in every order, using the others between closes: a use
    of a closed handle raises ClosedError, a use of an open one works."""
    ctx = nat.Context("host")
    handles = {"ctx": ctx, "op": nat.Gelu(ctx), "x": nat.Tensor(ctx, (64,)),
               "y": nat.Tensor(ctx, (64,))}
    handles["x"].write(np.linspace(-3, 3, 64, dtype=np.float32))
    closed = set()
    for name in order:
        handles[name].close()
        closed.add(name)
        if {"op", "x", "y"} & closed:
            with pytest.raises(errors.ClosedError):
                handles["op"].run(handles["x"], handles["y"])
        else:
            handles["op"].run(handles["x"], handles["y"])
            assert handles["y"].numpy()[-1] == pytest.approx(2.99595, abs=1e-4)
        for t in ("x", "y"):
            if t in closed:
                with pytest.raises(errors.ClosedError, match="closed"):
                    handles[t].numpy()
            else:
                assert handles[t].numpy().shape == (64,)
        if "ctx" in closed:
            with pytest.raises(errors.ClosedError, match="context"):
                nat.Tensor(ctx, (4,))
            with pytest.raises(errors.ClosedError, match="context"):
                nat.Gelu(ctx)


def test_use_after_close_is_a_closed_error_not_a_type_error():
    ctx = nat.Context("host")
    op, t = nat.Gelu(ctx), nat.Tensor(ctx, (4,))
    op.close()
    t.close()
    for call in (lambda: op.run(t, t), lambda: op.reshape(1, 4), lambda: t.write(np.zeros(4)),
                 lambda: t.numpy(), lambda: t.host_view):
        with pytest.raises(errors.ClosedError, match="closed"):
            call()
    assert issubclass(errors.ClosedError, errors.ArmbertError)
    ctx.close()
    with pytest.raises(errors.ClosedError):
        ctx.describe()


def test_close_is_idempotent_and_gc_safe():
    ctx = nat.Context("host")
    op = nat.Gelu(ctx)
    t = nat.Tensor(ctx, (4,))
    op.close()
    op.close()
    ctx.close()
    ctx.close()
    del t  # its destructor runs after the context was closed: must not crash


def test_handles_are_context_managers():
    with nat.Context("host") as ctx:
        with nat.Gelu(ctx) as op, nat.Tensor(ctx, (8,)) as x:
            x.write(np.zeros(8))
            op.run(x, x)
        with pytest.raises(errors.ClosedError):
            op.run(x, x)
    with pytest.raises(errors.ClosedError):
        nat.Gelu(ctx)


def test_gc_frees_children_before_or_after_their_context():
    # Children alive while the context object is collected, then collected themselves.
    # gc.collect(1): the young generations, where this iteration's objects are; a full
    # collection walks every object of the process (torch's too on the host suite) and
    # made this test take about a minute.
    import gc
    for _ in range(50):
        ctx = nat.Context("host")
        ops = [nat.Gelu(ctx) for _ in range(3)]
        ts = [nat.Tensor(ctx, (16,)) for _ in range(3)]
        del ctx
        gc.collect(1)
        ops[0].run(ts[0], ts[1])
        del ops, ts
        gc.collect(1)
