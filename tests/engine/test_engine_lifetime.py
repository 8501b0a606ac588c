"""Engine.close() and `with Engine(...)`: everything it made is freed, and using it
afterwards is armbert.ClosedError."""
import numpy as np
import pytest

import armbert
from armbert import errors
from tests.hardening.tiny import tiny_model


def test_engine_close_and_context_manager():
    ids = np.array([[1, 2, 3, 4]])
    with armbert.Engine(tiny_model(), backend="host") as engine:
        first = engine.run(ids).last_hidden_state
    with pytest.raises(errors.ClosedError, match="Engine.*closed"):
        engine.run(ids)
    engine.close()  # idempotent
    again = armbert.Engine(tiny_model(), backend="host")
    np.testing.assert_array_equal(again.run(ids).last_hidden_state, first)
    again.close()
    with pytest.raises(errors.ClosedError):
        again.run(ids)


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_survives_its_contexts_closing(precision):
    engine = armbert.Engine(tiny_model(), backend="host", precision=precision)
    ids = np.array([[5, 6, 7], [8, 9, 10]])
    a = engine.run(ids).last_hidden_state
    for ctx in engine.contexts.values():
        ctx.close()
    np.testing.assert_array_equal(engine.run(ids).last_hidden_state, a)
    engine.close()
