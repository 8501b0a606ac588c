"""Bad input gets a clear exception naming the problem, never a crash."""
import numpy as np
import pytest

import armbert
from armbert import errors


@pytest.fixture(scope="module")
def engine():
    return armbert.Engine(armbert.load(), backend="host")


@pytest.mark.parametrize("ids,exc,match", [
    (np.zeros((2, 3, 4), np.int64), errors.ShapeError, "must be \\[batch, seq\\]"),
    (np.zeros((1, 0), np.int64), errors.ShapeError, "batch, seq >= 1"),
    (np.array([[101, 30522, 102]]), errors.OutOfRangeError, "token id 30522 at \\[0, 1\\]"),
    (np.array([[101, -1, 102]]), errors.OutOfRangeError, "outside the vocabulary"),
    (np.zeros((1, 513), np.int64), errors.OutOfRangeError, "longer than the model's 512"),
    (np.array([[0.5, 1.0]]), errors.InvalidArgumentError, "must be integers"),
])
def test_bad_ids(engine, ids, exc, match):
    with pytest.raises(exc, match=match):
        engine.run(ids)


def test_bad_mask_and_types(engine):
    ids = np.array([[101, 2000, 102]])
    with pytest.raises(errors.ShapeError, match="attention_mask has shape"):
        engine.run(ids, np.ones((1, 4)))
    with pytest.raises(errors.InvalidArgumentError, match="only 0 and 1"):
        engine.run(ids, np.array([[1, 2, 1]]))
    with pytest.raises(errors.OutOfRangeError, match="token_type_ids"):
        engine.run(ids, None, np.array([[0, 2, 0]]))


def test_every_error_is_an_armbert_error(engine):
    with pytest.raises(armbert.ArmbertError):
        engine.run(np.array([[99999]]))


def test_bad_engine_options():
    model = armbert.load()
    with pytest.raises(errors.InvalidArgumentError, match="unknown precision 'int4'"):
        armbert.Engine(model, precision="int4")
    with pytest.raises(errors.InvalidArgumentError, match="unknown backend 'gpu'"):
        armbert.Engine(model, backend="gpu")
    missing = [b for b in ("neon", "cl") if b not in armbert.backends()]
    for b in missing:
        with pytest.raises(errors.UnsupportedError, match="not in this build"):
            armbert.Engine(model, backend=b)
    with pytest.raises(errors.InvalidArgumentError, match="core 4096"):
        armbert.Engine(model, backend="host", cores=[4096])
    with pytest.raises(errors.InvalidArgumentError, match="needs a BertModel"):
        armbert.Engine("not a model")


def test_quantize_needs_data():
    with pytest.raises(errors.InvalidArgumentError, match="calibration data"):
        armbert.quantize(armbert.load(), [])
