"""The pipelined executor on the ARM backends: two NEON "clusters" (core 0 | core 1)
and a NEON -> CL split return exactly what sequential execution of the same plan
returns (bit for bit: the same ops run on the same devices, only overlapped), in
order, with every stage timed.

The NEON pair takes inputs of varying length; the plan with a CL stage takes five
batches of the shape tests/arm/test_cl_engine.py runs (2 sequences x 12 tokens, one
padded), so its OpenCL programs are those already compiled there: under emulation
each new shape of an ACL kernel is a new program (tests/kernels/conftest.py).
Varying shapes through the pipeline are covered on the host (tests/engine)."""
import numpy as np
import pytest

import armbert
from armbert.pipeline import PipelineExecutor
from armbert.plan import Device, Placement, Plan

from ..helpers import pipeline_inputs as inputs

pytestmark = pytest.mark.usefixtures("neon_is_built", "cl_is_built")


def cl_shaped_inputs(n):
    rng = np.random.default_rng(11)
    out = []
    for _ in range(n):
        ids = rng.integers(1000, 30000, (2, 12))
        mask = np.ones_like(ids)
        mask[1, 7:] = 0
        out.append((ids, mask))
    return out


@pytest.fixture(scope="module")
def model():
    return armbert.load()


def two_stage(first: Device, second: Device, precisions, split=3) -> Plan:
    return Plan({"a": first, "b": second}, Placement("a"),
                tuple(Placement("a" if i < split else "b", p, int(i >= split))
                      for i, p in enumerate(precisions)))


PLANS = {
    "neon-core0|neon-core1": lambda: two_stage(Device("neon", (0,), 1), Device("neon", (1,), 1),
                                               ("fp32",) * 3 + ("int8",) * 3),
    "neon|cl": lambda: two_stage(Device("neon", (0,), 1), Device("cl"), ("fp32",) * 6),
}


@pytest.mark.parametrize("name", list(PLANS))
def test_pipeline_equals_sequential_on_arm(model, name):
    plan = PLANS[name]()
    if any(p.precision == "int8" for p in plan.layers):
        model = armbert.quantize(model, [x[0][0] for x in inputs(3, seq=9)])
    engine = armbert.Engine(model, plan=plan)
    xs = cl_shaped_inputs(5) if any(d.backend == "cl" for d in plan.devices.values()) \
        else inputs(5, seq=11)
    sequential = [engine.run(*x) for x in xs]
    pipe = PipelineExecutor(engine)
    piped = pipe.run(xs)
    assert len(piped) == len(xs)
    for a, b in zip(piped, sequential):
        np.testing.assert_array_equal(a.last_hidden_state, b.last_hidden_state)
        np.testing.assert_array_equal(a.pooler_output, b.pooler_output)
    st = pipe.stats
    print(f"\n{name}: {st.throughput:.2f} inf/s, stage ms {st.stage_ms}")
    assert st.items == len(xs) and set(st.stage_ms) == {0, 1}
    assert all(ms > 0 for ms in st.stage_ms.values())
