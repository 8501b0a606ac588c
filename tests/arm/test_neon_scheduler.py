"""ACL's scheduler is one per process; armbert installs one that runs each
call on the team of the calling thread's context. Two contexts with different
thread counts and core sets, driven from two Python threads at once (two
pipeline stages), must both get right answers, and a context's thread count
must not leak into the other's ACL functions (assembly GEMMs size per-thread
workspaces by it)."""
import os
import threading
from math import erf

import numpy as np
import pytest

from armbert import _native as nat

pytestmark = pytest.mark.usefixtures("neon_is_built")


def _linear_job(ctx, seed, results, key, iterations=4):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((64, 96)).astype(np.float32)
    w = (rng.standard_normal((160, 96)) / 10).astype(np.float32)
    b = rng.standard_normal(160).astype(np.float32)
    op = nat.Linear(ctx, w, b, "fp32")
    op.reshape(1, 64)
    y = nat.Tensor(ctx, (64, 160))
    xt = nat.Tensor.from_numpy(ctx, x)
    worst = 0.0
    for _ in range(iterations):
        op.run(xt, y)
        worst = max(worst, float(np.abs(y.numpy() - (x @ w.T + b)).max()))
    results[key] = worst


def test_two_contexts_run_acl_concurrently():
    cores = list(range(os.cpu_count() or 1))
    big = nat.Context("neon", threads=2, cores=cores[-2:])
    little = nat.Context("neon", threads=1, cores=cores[:1])
    results = {}
    threads = [threading.Thread(target=_linear_job, args=(big, 1, results, "big")),
               threading.Thread(target=_linear_job, args=(little, 2, results, "little"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert set(results) == {"big", "little"}, results
    assert results["big"] < 1e-3 and results["little"] < 1e-3, results


def test_reshape_reconfigures_under_another_thread_count():
    """The same weights on contexts of 1 and 2 threads, and a second shape."""
    rng = np.random.default_rng(3)
    w = rng.standard_normal((40, 24)).astype(np.float32)
    for threads in (1, 2):
        ctx = nat.Context("neon", threads=threads)
        op = nat.Linear(ctx, w, None, "fp32", "gelu")
        for rows in (5, 33):
            x = rng.standard_normal((rows, 24)).astype(np.float32)
            op.reshape(1, rows)
            y = nat.Tensor(ctx, (rows, 40))
            op.run(nat.Tensor.from_numpy(ctx, x), y)
            h = x.astype(np.float64) @ w.T
            ref = 0.5 * h * (1 + np.vectorize(erf)(h / np.sqrt(2)))
            np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-4)


def test_acl_work_does_not_leave_the_calling_thread_pinned():
    # issue 12: the scheduler pinned the calling thread (it runs workload 0) to the
    # context's first core and never put its affinity back.
    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip("needs 2 usable cores to tell pinned from unpinned")
    rng = np.random.default_rng(4)
    w = rng.standard_normal((40, 24)).astype(np.float32)
    x = rng.standard_normal((33, 24)).astype(np.float32)
    for threads in (1, 2):
        ctx = nat.Context("neon", threads=threads, cores=[min(before)])
        op = nat.Linear(ctx, w, None, "fp32")
        op.reshape(1, 33)
        y = nat.Tensor(ctx, (33, 40))
        op.run(nat.Tensor.from_numpy(ctx, x), y)
        assert os.sched_getaffinity(0) == before, threads
        np.testing.assert_allclose(y.numpy(), x @ w.T, rtol=1e-4, atol=1e-4)
