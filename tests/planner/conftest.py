"""Shared fixtures: a fake device behind a profiler, and a small design space."""
import pytest

from planner.fake import FakeRunner
from planner.measure import MeasureSettings
from planner.profiler import Profiler
from planner.records import Database
from planner.space import host_space

# Few repeats: the fake device's noise is tiny and its runs cost nothing anyway.
FAST = MeasureSettings(warmup=1, min_repeats=3, max_repeats=10, window=3, max_spread=0.02)


@pytest.fixture
def small_space():
    # 2 + 1 groups; H=256 has 3 heads x 3 FFN sizes, so anchors must cover both
    return host_space().subspace(H=[128, 256], B=[1], S=[64, 128], name="test")


@pytest.fixture
def fake_profiler(tmp_path):
    return Profiler(FakeRunner(seed=0), Database(tmp_path / "db.jsonl"), FAST,
                    sleep=lambda s: None)
