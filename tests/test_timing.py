"""benchmarks/timing.py: the pause before each framework's block waits out the
spinning worker threads a previous framework left behind."""
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import timing  # noqa: E402

SETTINGS = timing.TimingSettings(settle_s=0.0, idle_cap_s=2.0)
# Windows of 20 ms: a runnable spinner gets far more than the idle threshold (2 ms of
# CPU) in one even on the loaded CI machine (the arm64 tree builds beside this suite).
STEP_S = 0.02


def _spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_wait_until_idle_outlasts_a_spinning_thread():
    spinner = threading.Thread(target=_spin, args=(0.15,))
    t0 = time.perf_counter()
    spinner.start()
    timing.wait_until_idle(SETTINGS, STEP_S)
    waited = time.perf_counter() - t0
    spinner.join()
    assert waited >= 0.14, f"returned after {waited:.3f} s while a thread still spun"
    assert waited < 1.0, f"waited {waited:.3f} s for a 0.15 s spin"


def test_wait_until_idle_returns_well_before_its_cap_when_idle():
    # Under its 2 s cap with room for worker threads an earlier test left spinning in
    # this process (OpenBLAS's and OpenMP's spin well under a second, then sleep).
    t0 = time.perf_counter()
    timing.wait_until_idle(SETTINGS, STEP_S)
    assert time.perf_counter() - t0 < 1.0


def test_wait_until_idle_gives_up_at_its_cap():
    spinner = threading.Thread(target=_spin, args=(0.6,))
    spinner.start()
    t0 = time.perf_counter()
    timing.wait_until_idle(timing.TimingSettings(settle_s=0.0, idle_cap_s=0.2), STEP_S)
    waited = time.perf_counter() - t0
    spinner.join()
    assert 0.19 <= waited < 0.5, waited


def test_every_framework_runs_in_every_round():
    """A framework that settles at once keeps running while another is still noisy,
    so both are timed over the same stretch of the machine's noise; and a block is
    cut to what fits in block_s. Sleeps only ever run long (the CI machine builds the
    arm64 tree beside this suite), so the sizes are set for that: steady's block stays
    4 unless a 1 ms sleep takes 12 ms, noisy's is 1 however long its sleeps take."""
    calls = iter(range(10**6))

    def noisy():  # calls 4i + 2 take 30 ms, the others 60: after a warm-up call each
        # round runs it once untimed, then its block of one, so the timed runs
        # alternate 30 and 60 ms and never settle (spread 0.5 or 1 > 0.3)
        time.sleep(0.030 if next(calls) % 4 == 2 else 0.060)

    settings = timing.TimingSettings(warmup=1, block=4, block_s=0.05, min_runs=3, window=3,
                                     max_spread=0.3, cap_s=0.1, settle_s=0.0,
                                     idle_cap_s=0.0)
    rounds = []
    stats = timing.measure_interleaved({"steady": lambda: time.sleep(0.001), "noisy": noisy},
                                       settings, progress=rounds.append)
    assert not stats["noisy"].settled
    assert stats["noisy"].runs >= settings.block  # the cap needs a block's worth of runs
    assert stats["noisy"].runs == len(rounds)  # a block of one: 30 ms and more > 0.05 / 2
    assert stats["steady"].runs == 4 * len(rounds)  # in every round, settled or not
