"""The JSONL database: versioned records, resume after interruption, device records."""
import json

import pytest

from planner.fake import FakeRunner
from planner.profiler import Profiler
from planner.records import RECORD_VERSION, Database, RecordError
from planner.space import ModelConfig

from .conftest import FAST

CFGS = [ModelConfig(L, 128, 2, 512, 64, 1) for L in (1, 2, 12)]


def test_campaign_resumes_from_the_database(tmp_path):
    path = tmp_path / "db.jsonl"
    r1 = FakeRunner(seed=0)
    p1 = Profiler(r1, Database(path), FAST, sleep=lambda s: None)
    first = p1.campaign(CFGS[:2], "train", progress=False)  # "interrupted" after two
    assert p1.new_measurements == 2

    r2 = FakeRunner(seed=0)
    p2 = Profiler(r2, Database(path), FAST, sleep=lambda s: None)
    again = p2.campaign(CFGS, "train", progress=False)
    assert r2.opened == [CFGS[2]]             # only the missing one was run
    assert [m.total for m in again[:2]] == [m.total for m in first]
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert all(x["version"] == RECORD_VERSION for x in lines)
    assert [x["kind"] for x in lines].count("device") == 1
    rec = lines[1]
    for k in ("device", "target", "settings", "stats", "settled", "repeats", "load_avg",
              "created", "purpose"):
        assert k in rec
    assert rec["target"] == {"backend": "host", "precision": "fp32", "threads": 2,
                             "cores": [0, 1]}


def test_purposes_are_kept_apart(fake_profiler):
    a = fake_profiler.measure(CFGS[0], "train")
    b = fake_profiler.measure(CFGS[0], "truth")
    assert fake_profiler.new_measurements == 2 and a.config == b.config


def test_torn_last_line_is_ignored_and_appending_continues(tmp_path):
    path = tmp_path / "db.jsonl"
    p = Profiler(FakeRunner(), Database(path), FAST, sleep=lambda s: None)
    p.measure(CFGS[0])
    with path.open("a") as f:
        f.write('{"version": 1, "kind": "model", "trunc')
    with pytest.warns(UserWarning):
        db = Database(path)
    assert len(db) == 1
    p = Profiler(FakeRunner(), db, FAST, sleep=lambda s: None)
    p.measure(CFGS[1])
    assert len(Database(path)) == 2


def test_other_versions_and_corrupt_lines_are_refused(tmp_path):
    path = tmp_path / "db.jsonl"
    path.write_text(json.dumps({"version": 99, "kind": "model"}) + "\n")
    with pytest.raises(RecordError, match="version"):
        Database(path)
    path.write_text("not json\n" + json.dumps({"version": 1, "kind": "device",
                                               "device": {"id": "x"}}) + "\n")
    with pytest.raises(RecordError, match="not JSON"):
        Database(path)


def test_another_device_does_not_reuse_measurements(tmp_path):
    path = tmp_path / "db.jsonl"
    Profiler(FakeRunner(seed=0), Database(path), FAST, sleep=lambda s: None).measure(CFGS[0])
    r = FakeRunner(seed=1)  # another fingerprint id
    Profiler(r, Database(path), FAST, sleep=lambda s: None).measure(CFGS[0])
    assert r.opened == [CFGS[0]]


def test_meter_charges_each_predictor_for_what_it_asked(fake_profiler):
    m1, m2 = fake_profiler.meter(), fake_profiler.meter()
    m1(CFGS[0]); m1(CFGS[0]); m1(CFGS[1])
    m2(CFGS[1])
    assert m1.budget.measurements() == 2 and m2.budget.measurements() == 1
    assert fake_profiler.new_measurements == 2
    m2.ops(CFGS[0].bundle)
    assert m2.budget.to_dict(10) == {"models": 1, "op_sets": 1, "measurements": 2,
                                     "timed_seconds": pytest.approx(m2.budget.seconds, abs=1e-3),
                                     "fraction": 0.2}
