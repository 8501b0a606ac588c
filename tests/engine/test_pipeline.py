"""The pipelined executor returns exactly what sequential execution returns,
in order, shuts down cleanly and propagates errors."""
import threading

import numpy as np
import pytest

import armbert
from armbert import errors
from armbert.pipeline import PipelineExecutor
from armbert.plan import Device, Placement, Plan
from tests.helpers import pipeline_inputs as inputs


@pytest.fixture(scope="module")
def model():
    return armbert.load()


def plan(precisions=("fp32",) * 6, split=3):
    devices = {"big": Device("host", (0,), 1), "little": Device("host", (1,), 1)}
    return Plan(devices, Placement("big"),
                tuple(Placement("big" if i < split else "little", p, int(i >= split))
                      for i, p in enumerate(precisions)))


@pytest.mark.parametrize("precisions", [("fp32",) * 6, ("fp32",) * 3 + ("int8",) * 3,
                                        ("fp16",) * 6])
def test_pipeline_equals_sequential(model, precisions):
    engine = armbert.Engine(model, plan=plan(precisions))
    xs = inputs(7)
    sequential = [engine.run(*x) for x in xs]
    piped = PipelineExecutor(engine).run(xs)
    assert len(piped) == len(xs)
    for a, b in zip(piped, sequential):
        np.testing.assert_array_equal(a.last_hidden_state, b.last_hidden_state)
        np.testing.assert_array_equal(a.pooler_output, b.pooler_output)


def test_a_list_is_a_batch_of_ids_as_in_engine_run(model):
    # A nested list is ids, as Engine.run reads it (a batch of two here), never
    # (ids, mask, types): only a tuple is split.
    engine = armbert.Engine(model, plan=plan())
    ids = [[101, 7592, 102], [101, 2088, 102]]
    piped, = PipelineExecutor(engine).run([ids])
    assert piped.last_hidden_state.shape == (2, 3, 384)
    np.testing.assert_array_equal(piped.last_hidden_state, engine.run(ids).last_hidden_state)
    mask = np.array([[1, 1, 1], [1, 1, 0]])
    with_mask, = PipelineExecutor(engine).run([(np.array(ids), mask)])
    np.testing.assert_array_equal(with_mask.last_hidden_state,
                                  engine.run(ids, mask).last_hidden_state)


def test_stats_and_overlap(model):
    pipe = PipelineExecutor(armbert.Engine(model, plan=plan()))
    pipe.run(inputs(6))
    st = pipe.stats
    assert st.items == 6 and st.throughput > 0
    assert set(st.stage_ms) == {0, 1}
    assert len(st.spans) == 12
    for stage in (0, 1):  # each stage handles items in order
        order = [s.item for s in sorted(st.spans, key=lambda s: s.start_ms) if s.stage == stage]
        assert order == list(range(6))


def test_error_in_a_stage_is_raised_and_threads_stop(model):
    pipe = PipelineExecutor(armbert.Engine(model, plan=plan()))
    before = threading.active_count()
    xs = inputs(4)
    xs[2] = (np.array([[101, 30522, 102]]), None)  # out of vocabulary
    with pytest.raises(errors.OutOfRangeError, match="token id 30522"):
        pipe.run(xs)
    assert threading.active_count() == before
    # A failure inside a running stage: break a stage's op after preparation.
    stage1 = pipe.stages[1][0]
    original = stage1.run
    stage1.run = lambda *a, **k: (_ for _ in ()).throw(errors.BackendError("stage 1 broke"))
    try:
        with pytest.raises(errors.BackendError, match="stage 1 broke"):
            pipe.run(inputs(5))
    finally:
        stage1.run = original
    assert threading.active_count() == before
    assert len(pipe.run(inputs(3))) == 3  # usable again afterwards
