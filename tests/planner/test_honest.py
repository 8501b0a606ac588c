"""Honest evaluation: the truth set never reaches a fit, and the noise floor never
compares a measurement with itself. The tests named *mutation* fail when either
guarantee is broken (e.g. the profiler's exclusion or the floor's split removed)."""
import json

import numpy as np
import pytest

from planner.evaluate import draw_truth, evaluate, independent_halves, repeatability
from planner.fake import FakeRunner
from planner.measure import MeasureSettings
from planner.predictors.bertperf import BERTPerf
from planner.predictors.mlp import MLP
from planner.profiler import Profiler, TruthLeakError
from planner.records import Database
from planner.space import host_space

WINDOWS = MeasureSettings(warmup=1, min_repeats=3, max_repeats=10, window=3, max_spread=0.02,
                          windows=3)


@pytest.fixture
def tiny_space():
    return host_space().subspace(H=[128, 256], B=[1], S=[64], name="tiny")


def profiler(tmp_path, noise=0.01, settings=WINDOWS):
    return Profiler(FakeRunner(seed=0, noise=noise), Database(tmp_path / "db.jsonl"), settings,
                    sleep=lambda s: None)


def test_truth_is_drawn_between_the_profiled_depths(tiny_space):
    truth = draw_truth(tiny_space, 40, 0)
    assert len(set(truth)) == 40 and all(1 < c.L < 12 for c in truth)
    assert truth == draw_truth(tiny_space, 40, 0)
    with pytest.raises(ValueError, match="at most"):
        draw_truth(tiny_space, len(tiny_space), 0)


def test_the_profiler_refuses_a_truth_model_for_a_fit(tmp_path, tiny_space):
    prof = profiler(tmp_path)
    cfg = draw_truth(tiny_space, 5, 0)[0]
    prof.exclude([cfg])
    with pytest.raises(TruthLeakError):
        prof.meter("train")(cfg)
    assert prof.measure(cfg, "truth").total > 0   # the truth purpose may
    assert not prof.meter().allowed(cfg)


def test_mutation_truth_leaking_into_a_fit_fails(tmp_path, tiny_space, monkeypatch):
    """With the profiler's guard bypassed (the mutation), the fit itself refuses."""
    prof = profiler(tmp_path, settings=MeasureSettings(warmup=1, min_repeats=3, window=3))
    truth = draw_truth(tiny_space, 40, 0)
    prof.exclude(truth)
    monkeypatch.setattr(Profiler, "allowed", lambda self, cfg, purpose="train": True)
    with pytest.raises(TruthLeakError, match="held-out"):
        BERTPerf(variant="min2").fit(tiny_space, prof.meter(), progress=False)
    with pytest.raises(TruthLeakError):
        MLP(n=20, max_iter=50).fit_data(truth[:20], np.ones(20), forbidden=set(truth))


def test_mutation_evaluation_keeps_every_truth_model_out_of_training(tmp_path, tiny_space):
    prof = profiler(tmp_path)
    out = tmp_path / "out"
    summary = evaluate(prof, tiny_space, out, n_truth=30, seed=0, variants=False,
                       progress=False, throughput_n=2000)
    truth = set(draw_truth(tiny_space, 30, 0))
    train = set(prof.measured("train"))
    assert train and not (train & truth)          # by construction, checked on the database
    for r in summary["results"].values():
        assert r["n"] == 30
    # every saved predictor states its error, measured on the truth set
    for f in (out / "predictors").glob("*.json"):
        assert json.loads(f.read_text())["meta"]["error"]["n"] == 30
    # hyper-parameters were chosen on the MLP's own validation split
    sel = summary["results"]["mlp"]["selection"]
    assert sel["validation_models"] > 0 and sel["chosen"]["alpha"] in MLP.GRID["alpha"]
    # both BERTPerf variants are fitted when variants are on (see next test)
    assert summary["protocol"]["windows"] == 3


def test_floor_covers_every_truth_model_with_independent_windows(tmp_path, tiny_space):
    prof = profiler(tmp_path, noise=0.02)
    summary = evaluate(prof, tiny_space, tmp_path / "o", n_truth=30, seed=0,
                       families=("bertperf",), variants=True, progress=False,
                       throughput_n=2000)
    fl = summary["repeatability"]
    assert fl["n"] == 30                              # every truth model
    assert min(fl["abs_err_pct"]) > 0                 # a self-comparison would give 0
    assert {"bertperf", "bertperf (min2)"} <= set(summary["results"])
    assert summary["results"]["bertperf"]["bertperf"]["variant"] == "authors"
    assert summary["results"]["bertperf (min2)"]["bertperf"]["variant"] == "min2"
    # accuracy per bucket beside the floor of the same bucket
    report = (tmp_path / "o" / "report.md").read_text()
    assert "per truth-latency bucket" in report and "| floor |" in report
    for label, b in fl["buckets"].items():
        assert label in summary["results"]["bertperf"]["buckets"]


def test_mutation_floor_comparing_a_window_with_itself_fails(tmp_path, tiny_space):
    prof = profiler(tmp_path, noise=0.02)
    cfgs = draw_truth(tiny_space, 10, 0)
    prof.passes([(c, "truth") for c in cfgs], progress=False)
    truth = np.array([prof.measure(c, "truth").total for c in cfgs])
    ok = repeatability(prof, cfgs, truth)
    assert ok["n"] == 10 and min(ok["abs_err_pct"]) > 0
    even, odd = independent_halves(prof.windows_of(cfgs[0], "truth"))
    assert {r["window"] for r in even}.isdisjoint(r["window"] for r in odd)
    with pytest.raises(ValueError, match="with themselves"):
        repeatability(prof, cfgs, truth, split=lambda recs: (recs, recs))
    with pytest.raises(ValueError, match="with themselves"):
        repeatability(prof, cfgs, truth, split=lambda recs: (recs[:2], recs[1:]))


def test_no_floor_from_a_single_window(tmp_path, tiny_space):
    prof = profiler(tmp_path, settings=MeasureSettings(warmup=1, min_repeats=3, window=3))
    cfgs = draw_truth(tiny_space, 10, 0)
    truth = np.array([prof.measure(c, "truth").total for c in cfgs])
    assert repeatability(prof, cfgs, truth) is None
