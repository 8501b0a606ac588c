"""Moving a fitted BERTPerf to a second target (the authors' apply_metadata_fn), on two
fake devices that differ (compute rate and cache size)."""
import numpy as np
import pytest

from planner.fake import FakeRunner
from planner.measure import MeasureSettings, Target, core_class
from planner.predictors.bertperf import BERTPerf
from planner.profiler import Profiler
from planner.records import Database
from planner.space import host_space
from planner.transfer import compare_transfer, report, transfer

FAST = MeasureSettings(warmup=1, min_repeats=3, max_repeats=10, window=3, max_spread=0.02)
A = Target("host", "fp32", 1, (0,))
B = Target("host", "fp32", 2, (0, 1))


@pytest.fixture(scope="module")
def space():
    return host_space().subspace(H=[256, 384], B=[1], S=[64, 128], name="transfer")


@pytest.fixture(scope="module")
def source(space):
    prof = Profiler(FakeRunner(A, seed=0), Database(None), FAST, sleep=lambda s: None)
    return BERTPerf(variant="min2").fit(space, prof.meter(), progress=False)


def target_b(**device):
    """The second target: 2 threads. By default faster compute and memory on the same
    cache (what more threads on one cluster change); ``llc=`` changes the cache too."""
    kw = {"gflops": 200.0, "dram_gbs": 30.0, **device}
    return Profiler(FakeRunner(B, seed=1, **kw), Database(None), FAST, sleep=lambda s: None)


def test_transfer_measures_only_12_2_and_j(source, space):
    prof = target_b()
    moved = transfer(source, prof.meter(), progress=False)
    for b, info in moved.bundles.items():
        src = source.bundles[b]
        assert info["j_switch"] == src["j_switch"] and info["constant"] == src["constant"]
        want = {12} if src["constant"] else {12, 2, src["j_switch"]}
        assert set(info["measured"]) == want
    assert moved.meta["target"] == {**B.to_dict(), "core_class": core_class(B.cores)}
    assert moved.meta["transferred_from"]["target"] == {**A.to_dict(),
                                                        "core_class": core_class(A.cores)}


def test_transfer_against_a_full_campaign_on_the_new_target(source, space):
    s = compare_transfer(source, target_b(), n_truth=60, seed=0, progress=False)
    moved, full = s["results"]["transfer"], s["results"]["full campaign"]
    assert moved["n"] == full["n"] == 60
    assert moved["budget"]["measurements"] < 0.7 * full["budget"]["measurements"]
    # the second device is really different: the source's own predictions miss it
    prof = target_b()
    truth = [c for c in space.sample(40, 3) if 1 < c.L < 12]
    t = np.array([prof.measure(c, "truth").total for c in truth])
    assert np.median(np.abs(source.predict(truth) / t - 1)) > 0.1
    assert moved["within_5pct"] >= 0.95 and moved["max_err_pct"] < 9
    text = report(s)
    assert "| transfer |" in text and "| full campaign |" in text


def test_transfer_loses_to_a_full_campaign_when_the_cache_differs(source):
    """j_switch is a cache property: on a device with half the LLC the reused switches
    are wrong, and the report shows it (a full campaign is needed there)."""
    s = compare_transfer(source, target_b(llc=16 * 2 ** 20), n_truth=60, seed=0,
                         progress=False)
    assert s["results"]["transfer"]["within_2pct"] < s["results"]["full campaign"]["within_2pct"]
