"""The measurement protocol: independent windows in round-robin passes, windows with
steal time or other load rejected and re-run, CPU time beside wall time; a fake
/proc/stat reader and fake clocks, no timing."""
import subprocess
import sys

import pytest

from planner.measure import CpuStat, MeasureSettings, WindowProbe, read_proc_stat
from planner.fake import FakeRunner
from planner.profiler import Profiler
from planner.records import Database
from planner.space import ModelConfig

S = MeasureSettings(warmup=1, min_repeats=3, max_repeats=10, window=3, max_spread=0.02,
                    windows=3, retries=2)
CFG = ModelConfig.parse("L4-H128-A2-I512-S64-B1")


class ScriptedStat:
    """Each window reads /proc/stat twice; ``steal`` lists the stolen ticks per window."""

    def __init__(self, steal, other_busy=None):
        self.steal, self.other = list(steal), list(other_busy or [0] * len(steal))
        self.t = CpuStat(busy=0, idle=0, steal=0)
        self.reads = 0

    def __call__(self):
        if self.reads % 2 == 1:  # the end of a window: 100 ticks passed
            w = self.reads // 2
            st = self.steal[w] if w < len(self.steal) else 0
            ob = self.other[w] if w < len(self.other) else 0
            self.t = CpuStat(busy=self.t.busy + 10 + ob, idle=self.t.idle + 90 - st - ob,
                             steal=self.t.steal + st)
        self.reads += 1
        return self.t


def probe(stat):
    clock = iter(range(0, 10 ** 6))
    return WindowProbe(stat, cpu_clock=lambda: 0.0, wall_clock=lambda: float(next(clock)),
                       cpus=2, hz=100)


def test_proc_stat_parses_the_cpu_line(tmp_path):
    f = tmp_path / "stat"
    f.write_text("cpu  100 5 50 1000 20 3 2 7 0 0\ncpu0 1 2 3 4 5 6 7 8\nprocs_running 2\n")
    assert read_proc_stat(str(f)) == CpuStat(busy=160, idle=1020, steal=7)
    assert read_proc_stat(str(tmp_path / "none")) is None
    assert read_proc_stat() is None or read_proc_stat().total > 0


def test_a_window_with_steal_time_is_rejected_and_run_again(tmp_path):
    stat = ScriptedStat(steal=[5, 0])          # 5 % stolen in the first try
    prof = Profiler(FakeRunner(), Database(tmp_path / "db"), S, lambda s: None, probe=probe(stat))
    rec = prof.measure_window(CFG, "train", 0)
    assert rec["accepted"] and len(rec["rejected"]) == 1 and prof.rejected_windows == 1
    assert rec["rejected"][0]["steal"] == pytest.approx(0.05)
    assert {"cpu_s", "wall_s", "steal", "other_load"} <= set(rec["check"])


def test_a_load_spike_is_rejected_and_the_last_try_is_kept_marked(tmp_path):
    stat = ScriptedStat(steal=[0, 0, 0], other_busy=[80, 80, 80])   # others busy: 80 ticks
    prof = Profiler(FakeRunner(), Database(tmp_path / "db"), S, lambda s: None, probe=probe(stat))
    rec = prof.measure_window(CFG, "train", 0)
    assert not rec["accepted"] and len(rec["rejected"]) == S.retries
    assert rec["check"]["other_load"] > S.max_other_load


def test_round_robin_passes_interleave_truth_and_training(tmp_path):
    runner = FakeRunner(noise=0.01)
    prof = Profiler(runner, Database(tmp_path / "db"), S, lambda s: None,
                    probe=probe(ScriptedStat([])))
    truth = [ModelConfig.parse(f"L{L}-H128-A2-I512-S64-B1") for L in (2, 3, 4, 5)]
    train = [ModelConfig.parse(f"L{L}-H128-A4-I512-S64-B1") for L in (2, 3, 4, 5)]
    n = prof.passes([(c, "truth") for c in truth] + [(c, "train") for c in train], seed=0,
                    progress=False)
    assert n == 3 * 8
    opened = runner.opened
    for w in range(3):  # each pass measures every config once before the next pass starts
        assert set(opened[8 * w:8 * (w + 1)]) == set(truth + train)
    first = opened[:8]
    assert first != truth + train and first != train + truth  # mixed, not in blocks
    m = prof.measure(truth[0], "truth")
    assert m.windows == (0, 1, 2)
    totals = [r["stats"]["total"]["median_ms"] for r in prof.windows_of(truth[0], "truth")]
    assert m.total == pytest.approx(sorted(totals)[1])        # median across windows
    assert prof.passes([(c, "truth") for c in truth], progress=False) == 0  # resumes


def test_importing_planner_runner_first_is_not_circular():
    for mod in ("planner.runner", "planner.fake", "planner.records"):
        r = subprocess.run([sys.executable, "-c", f"import {mod}; import planner.measure; "
                            "from planner.fake import FakeRunner; "
                            "from planner.runner import ArmbertRunner"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr


def test_the_fake_device_ignores_this_machines_load(tmp_path):
    prof = Profiler(FakeRunner(), Database(tmp_path / "db"), S, lambda s: None)
    rec = prof.measure_window(CFG, "train", 0)
    assert rec["accepted"] and rec["check"]["steal"] == 0 and rec["check"]["other_load"] == 0
