"""Property-based tests (Hypothesis) of the loaders: mutated safetensors headers and
bytes, config.json, plan JSON and .armbert files either load or raise a class of
armbert.errors, never anything else (no KeyError, no UnicodeDecodeError, no crash).

Examples per run: EXAMPLES per test, derandomized (HYPOTHESIS_PROFILE=explore: 20x,
random)."""
import json
import os
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import armbert
from armbert import errors
from armbert.config import BertConfig
from armbert.loaders import safetensors as sf
from armbert.plan import Plan
from tests.hardening.tiny import CONFIG, tiny_model

EXAMPLES = 100
settings.register_profile("loaders-ci", max_examples=EXAMPLES, deadline=None,
                          derandomize=True, database=None,
                          suppress_health_check=[HealthCheck.too_slow,
                                                 HealthCheck.function_scoped_fixture])
settings.register_profile("loaders-explore", max_examples=20 * EXAMPLES, deadline=None,
                          database=None,
                          suppress_health_check=[HealthCheck.function_scoped_fixture])
settings.load_profile("loaders-explore" if os.environ.get("HYPOTHESIS_PROFILE") == "explore"
                      else "loaders-ci")

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                         st.floats(allow_nan=True), st.text(max_size=12))
json_values = st.recursive(json_scalars, lambda c: st.one_of(
    st.lists(c, max_size=4), st.dictionaries(st.text(max_size=8), c, max_size=4)),
    max_leaves=8)


def scratch(factory, name: str):
    """One file per test, rewritten by each example (no directory per example)."""
    return factory.getbasetemp() / name


def mutated(data: bytes, flips, cut) -> bytes:
    """data with bytes set at (position, value) pairs, then cut to `cut` bytes."""
    blob = bytearray(data)
    for pos, byte in flips:
        if pos < len(blob):
            blob[pos] = byte
    return bytes(blob if cut is None else blob[:cut])


def only_armbert_errors(fn):
    """Runs fn; a non-armbert exception fails the test (with its type named)."""
    try:
        return fn()
    except errors.ArmbertError:
        return None


# ---- safetensors ----
def safetensors_bytes(header: dict, data: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + data


BASE_HEADER = {"a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
               "b": {"dtype": "I8", "shape": [4], "data_offsets": [24, 28]}}
BASE_DATA = bytes(range(28))


@given(name=st.sampled_from(["a", "b", "__metadata__"]),
       key=st.sampled_from(["dtype", "shape", "data_offsets", "extra"]), value=json_values)
def test_mutated_safetensors_header(tmp_path_factory, name, key, value):
    header = json.loads(json.dumps(BASE_HEADER))
    if name == "__metadata__":
        header[name] = value
    else:
        header[name][key] = value
    path = scratch(tmp_path_factory, "m.safetensors")
    path.write_bytes(safetensors_bytes(header, BASE_DATA))
    out = only_armbert_errors(lambda: sf.load_file(path))
    if out is not None:
        assert set(out) <= {"a", "b"}


@given(flips=st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)), min_size=1,
                      max_size=6), cut=st.one_of(st.none(), st.integers(0, 200)))
def test_mutated_safetensors_bytes(tmp_path_factory, flips, cut):
    path = scratch(tmp_path_factory, "m.safetensors")
    path.write_bytes(mutated(safetensors_bytes(BASE_HEADER, BASE_DATA), flips, cut))
    only_armbert_errors(lambda: sf.load_file(path))


# ---- config.json ----
@given(changes=st.dictionaries(st.sampled_from(
    ["vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
     "intermediate_size", "max_position_embeddings", "type_vocab_size", "layer_norm_eps",
     "hidden_act", "model_type", "position_embedding_type", "is_decoder"]),
    json_values, max_size=3))
def test_mutated_config(changes):
    d = {**CONFIG, **changes}
    cfg = only_armbert_errors(lambda: BertConfig.from_dict(d))
    if cfg is not None:
        assert cfg.hidden_size % cfg.num_attention_heads == 0


# ---- plan JSON ----
PLAN = {"version": 1, "devices": {"cpu": {"backend": "host", "cores": [0]}},
        "embeddings": {"device": "cpu", "precision": "fp32", "stage": 0},
        "layers": [{"device": "cpu", "precision": "fp32", "stage": 0},
                   {"device": "cpu", "precision": "int8", "stage": 1}]}
PLAN_PATHS = [("version",), ("devices",), ("devices", "cpu"), ("devices", "cpu", "backend"),
              ("devices", "cpu", "cores"), ("devices", "cpu", "threads"), ("embeddings",),
              ("embeddings", "stage"), ("layers",), ("layers", 0), ("layers", 1, "stage"),
              ("layers", 1, "precision"), ("layers", 0, "device"), ("meta",)]


@given(path=st.sampled_from(PLAN_PATHS), value=json_values)
def test_mutated_plan(path, value):
    d = json.loads(json.dumps(PLAN))
    target = d
    for k in path[:-1]:
        target = target[k]
    target[path[-1]] = value
    plan = only_armbert_errors(lambda: Plan.load(d).validate(2, ["host"]))
    if plan is not None:  # a plan that validates has the types the engine relies on
        for _, p in plan.units():
            assert type(p.stage) is int and isinstance(p.precision, str)


@given(text=st.one_of(st.text(max_size=300), st.binary(max_size=300)))
def test_plan_from_arbitrary_text(text):
    only_armbert_errors(lambda: Plan.load(text))


# ---- .armbert files ----
@pytest.fixture(scope="module")
def armbert_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("mf") / "tiny.armbert"
    armbert.save(tiny_model(), path)
    return path.read_bytes()


@settings(max_examples=EXAMPLES // 2)
@given(flips=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1,
                      max_size=4), cut=st.one_of(st.none(), st.integers(0, 50000)))
def test_mutated_armbert_file(armbert_file, tmp_path_factory, flips, cut):
    path = scratch(tmp_path_factory, "m.armbert")
    path.write_bytes(mutated(armbert_file, flips, cut))
    model = only_armbert_errors(lambda: armbert.load(path))
    if model is not None:  # what loads, runs
        with armbert.Engine(model, backend="host", threads=1) as e:
            assert np.isfinite(e.run(np.array([[1, 2, 3]])).last_hidden_state).all()
