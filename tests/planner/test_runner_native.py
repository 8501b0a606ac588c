"""ArmbertRunner on the native host backend with a tiny model: what it times is the
engine's computation, op by op (no timing is asserted)."""
import time

import numpy as np
import pytest

from planner.copyrate import measure_copy_rate
from planner.measure import OPS, QUICK, Target, measure_session
from planner.runner import ArmbertRunner
from planner.space import Bundle

nat = pytest.importorskip("armbert._native")
try:
    HAVE_HOST = "host" in nat.backends_compiled()
except Exception:  # no library built
    HAVE_HOST = False
pytestmark = pytest.mark.skipif(not HAVE_HOST, reason="native host backend not built")

TINY = Bundle(H=64, B=2, S=8, I=128, A=2)


@pytest.fixture(scope="module")
def runner():
    r = ArmbertRunner(Target("host", "fp32", 1, ()))
    yield r
    r.close()


def test_timed_layer_computes_what_encoder_layer_run_computes(runner):
    stack = runner.stack(TINY, 3)
    stack.forward(3, per_op=False)
    plain = stack.h.numpy().copy()
    stack.forward(3, per_op=True)
    np.testing.assert_array_equal(stack.h.numpy(), plain)
    assert np.isfinite(plain).all() and plain.std() > 0


def test_sample_has_every_component_and_adds_up(runner):
    s = runner.open(TINY.at(3)).run()
    for k in ("total", "emb", "enc1", "enc_rest"):
        assert s[k] > 0
    assert {f"enc1.{o}" for o in OPS} <= set(s) and {f"enc_rest.{o}" for o in OPS} <= set(s)
    assert s["total"] == pytest.approx(s["emb"] + s["enc1"] + 2 * s["enc_rest"], rel=1e-9)
    assert sum(s[f"enc1.{o}"] for o in OPS) <= s["enc1"]
    one = runner.open(TINY.at(1)).run()
    assert "enc_rest" not in one


def test_one_stack_serves_every_depth_and_isolated_ops_run(runner):
    s1 = runner.stack(TINY, 1)
    assert runner.stack(TINY, 12) is s1 and len(s1.layers) == 12
    ops = runner.open_ops(TINY)
    assert set(ops) == {"emb", *OPS}
    out = measure_session(ops["ffn_in"], QUICK, sleep=lambda s: None)
    assert out.stats["total"].median_ms > 0


def test_fingerprint_names_the_library_and_the_caches(runner):
    fp = runner.fingerprint()
    assert fp["id"] and fp["library_sha1"] and "host" in fp["backends"]


def test_the_copy_rate_is_timed_on_the_engines_transfer(runner):
    run = runner.open_copy(4, 64)
    assert run()["total"] >= 0
    rate = measure_copy_rate(runner.open_copy, runner.copy_method, rows=(8, 64), hidden=64,
                             repeats=3)
    assert np.isfinite(rate.ms_per_byte) and rate.ms_per_byte > 0
    assert np.isfinite(rate.overhead_ms) and rate.overhead_ms >= 0
    assert rate.bytes == (8 * 64 * 4, 64 * 64 * 4) and "segment.transfer" in rate.method


def test_every_clock_read_waits_for_the_device(runner, monkeypatch):
    # On CL the ops only enqueue: a part timed without the queue's finish charges its
    # work to the next part that waits (the test bed's CL profile put a whole model in
    # the embeddings). Every clock read of a forward synchronizes the context first.
    stack = runner.stack(TINY, 3)
    reads = []
    real = time.perf_counter
    monkeypatch.setattr(type(stack.ctx), "synchronize", lambda self: reads.append("sync"))
    monkeypatch.setattr("planner.runner.time.perf_counter",
                        lambda: reads.append("clock") or real())
    stack.forward(3, per_op=False)
    assert reads and reads == ["sync", "clock"] * (len(reads) // 2)
    assert reads.count("clock") == 1 + 1 + 3  # start, after the embeddings, each layer
