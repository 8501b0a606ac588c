"""The threading contract (README "Threads"): one Engine may be called from several
threads; calls are serialized by the engine's lock, so each result equals the
sequential run's bit for bit. Pinning (cores=[...]) never leaks to the caller."""
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import armbert
from tests.hardening.tiny import random_inputs, tiny_model

SHAPES = [(1, 5), (2, 17), (3, 9), (1, 33), (4, 3)]  # (batch, seq), all different
THREADS, ROUNDS = 4, 10


def stress(engine, shapes=SHAPES, threads=THREADS, rounds=ROUNDS):
    """Runs mixed shapes from `threads` threads at once; returns the mismatches
    against the sequential results (0 when the contract holds)."""
    rng = np.random.default_rng(7)
    inputs = [random_inputs(rng, b, s) for b, s in shapes]
    expected = [engine.run(ids, mask).last_hidden_state for ids, mask in inputs]
    mismatches, errors_seen = [], []
    start = threading.Barrier(threads)

    def worker(t):
        start.wait()
        try:
            for r in range(rounds):
                k = (t + r) % len(inputs)
                got = engine.run(*inputs[k]).last_hidden_state
                if not np.array_equal(got, expected[k]):
                    mismatches.append((t, r, float(np.abs(got - expected[k]).max())))
        except Exception as e:  # noqa: BLE001 - reported below
            errors_seen.append(repr(e))

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors_seen, errors_seen
    return mismatches


@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_one_engine_four_threads_mixed_shapes(precision):
    # issue 12: 40/40 results differed from the sequential run (max |diff| 21.5).
    engine = armbert.Engine(tiny_model(), backend="host", precision=precision, threads=2)
    assert stress(engine) == []


def test_fp16_engine_four_threads_does_not_corrupt_the_heap():
    # issue 12: SIGABRT "corrupted double-linked list" (LinearF16::on_reshape written by
    # one thread into another's allocation): a child process, so a crash fails the test.
    code = ("import armbert\n"
            "from tests.hardening.tiny import tiny_model\n"
            "from tests.engine.test_threads import stress\n"
            "e = armbert.Engine(tiny_model(), backend='host', precision='fp16', threads=2)\n"
            "print('mismatches', len(stress(e)))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["mismatches", "0"]


def test_pipeline_and_run_share_the_engine_lock():
    from armbert.pipeline import PipelineExecutor
    engine = armbert.Engine(tiny_model(), backend="host", threads=1)
    ids = np.arange(1, 9)[None, :]
    want = engine.run(ids).last_hidden_state
    outs = []
    t = threading.Thread(target=lambda: outs.extend(
        PipelineExecutor(engine).run([ids] * 20)))
    t.start()
    for _ in range(20):
        np.testing.assert_array_equal(engine.run(np.arange(2, 30)[None, :]).last_hidden_state,
                                      engine.run(np.arange(2, 30)[None, :]).last_hidden_state)
    t.join()
    for o in outs:
        np.testing.assert_array_equal(o.last_hidden_state, want)


def test_pinning_does_not_leak_to_the_calling_thread():
    # issue 12: Engine(m, cores=[0]).run(...) left the caller pinned to core 0 for good.
    before = os.sched_getaffinity(0)
    if len(before) < 2:
        pytest.skip("needs 2 usable cores to tell pinned from unpinned")
    core = min(before)
    for threads in (1, 2):
        engine = armbert.Engine(tiny_model(), backend="host", cores=[core], threads=threads)
        engine.run(np.array([[1, 2, 3, 4, 5, 6, 7, 8]] * 3))
        assert os.sched_getaffinity(0) == before, threads
        engine.close()
