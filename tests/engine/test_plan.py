"""Plans: validation errors name the problem; placed execution equals the
uniform engine (same arithmetic, only the contexts and copies differ)."""
import json

import numpy as np
import pytest

import armbert
from armbert import errors
from armbert.plan import Device, Placement, Plan, PlanError


@pytest.fixture(scope="module")
def model():
    return armbert.load()


def two_cluster_plan(precisions, split=3):
    devices = {"a": Device("host", (0,), 1), "b": Device("host", (1,), 1)}
    layers = tuple(Placement("a" if i < split else "b", precisions[i], 0 if i < split else 1)
                   for i in range(6))
    return Plan(devices, Placement("a", "fp32"), layers)


def test_plan_round_trips_through_json():
    plan = two_cluster_plan(["fp32"] * 3 + ["int8"] * 3)
    assert Plan.load(plan.to_json()) == plan
    assert Plan.load(json.loads(plan.to_json())) == plan


def test_split_plan_equals_uniform_engine(model):
    ids = np.random.default_rng(0).integers(1000, 30000, (2, 21))
    mask = np.ones_like(ids)
    mask[1, 15:] = 0
    uniform = armbert.Engine(model, backend="host", threads=1).run(ids, mask)
    engine = armbert.Engine(model, plan=two_cluster_plan(["fp32"] * 6))
    split = engine.run(ids, mask)
    np.testing.assert_allclose(split.last_hidden_state, uniform.last_hidden_state,
                               rtol=0, atol=1e-6)
    np.testing.assert_allclose(split.pooler_output, uniform.pooler_output, rtol=0, atol=1e-6)
    assert [(a, b) for a, b, _ in engine.last_transfers] == [("a/fp32", "b/fp32")]


def test_mixed_precision_plan_matches_its_parts(model):
    """fp32 layers 0-2 then int8 layers 3-5 == running the same plan on one device."""
    ids = np.random.default_rng(1).integers(1000, 30000, (1, 17))
    precisions = ["fp32"] * 3 + ["int8"] * 3
    one_device = Plan({"a": Device("host", (), 1)}, Placement("a", "fp32"),
                      tuple(Placement("a", p) for p in precisions))
    a = armbert.Engine(model, plan=one_device).run(ids).last_hidden_state
    b = armbert.Engine(model, plan=two_cluster_plan(precisions)).run(ids).last_hidden_state
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    fp32 = armbert.Engine(model, backend="host").run(ids).last_hidden_state
    assert not np.allclose(a, fp32, atol=1e-5)  # the int8 layers really ran


def test_fp16_fp32_boundaries_convert(model):
    ids = np.random.default_rng(2).integers(1000, 30000, (1, 9))
    plan = Plan({"a": Device("host")}, Placement("a", "fp16"),
                tuple(Placement("a", p) for p in ["fp16", "fp32"] * 3))
    out = armbert.Engine(model, plan=plan).run(ids).last_hidden_state
    ref = armbert.Engine(model, backend="host").run(ids).last_hidden_state
    cos = (out * ref).sum(-1) / np.linalg.norm(out, axis=-1) / np.linalg.norm(ref, axis=-1)
    assert cos.min() > 0.999


@pytest.mark.parametrize("change,exc,match", [
    (lambda d: d["devices"]["a"].update(backend="cl"), errors.UnsupportedError,
     "device 'a' uses backend 'cl', which this build does not have"),
    (lambda d: d["devices"]["a"].update(cores=[0, 64]), PlanError, "names core 64"),
    (lambda d: d["layers"][2].update(device="gpu"), PlanError,
     "layer.2 on device 'gpu', which the plan does not define"),
    (lambda d: d["layers"][0].update(precision="int4"), PlanError, "precision 'int4'"),
    (lambda d: d["layers"].pop(), PlanError, "places 5 layers, the model has 6"),
    (lambda d: d["layers"][5].update(stage=0), PlanError, "stages must not go backwards"),
    (lambda d: d.update(version=99), PlanError, "version 99"),
    (lambda d: d.pop("devices"), PlanError, "lacks devices"),
    # a misspelt key would be ignored and its default run (fp32, no pinning)
    (lambda d: d["layers"][3].update(precison="int8"), PlanError,
     r"plan entry of layer.3 has unknown key\(s\) \['precison'\]"),
    (lambda d: d["embeddings"].update(dev="a"), PlanError, "unknown key"),
    (lambda d: d["devices"]["a"].update(thread=1), PlanError,
     r"plan device 'a' has unknown key\(s\) \['thread'\]"),
    (lambda d: d["devices"]["a"].pop("backend"), PlanError, "names no backend"),
    (lambda d: d["layers"][1].pop("device"), PlanError, "layer.1 names no device"),
])
def test_bad_plans_are_refused(model, change, exc, match):
    # tests/engine runs on the x86 host, whose build has no CL backend.
    d = json.loads(two_cluster_plan(["fp32"] * 6).to_json())
    change(d)
    with pytest.raises(exc, match=match):
        armbert.Engine(model, plan=d)


def test_plan_file_errors(tmp_path, model):
    with pytest.raises(PlanError, match="does not exist"):
        armbert.Engine(model, plan=str(tmp_path / "nope.json"))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PlanError, match="not valid JSON"):
        armbert.Engine(model, plan=str(bad))
