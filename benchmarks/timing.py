"""Interleaved wall-clock timing of several callables that compute the same thing.

Frameworks are measured in rounds: each round gives every framework a block of
consecutive runs, until every one has settled or used its time cap. Rounds share slow
noise (another job starting, frequency changes) between frameworks, so their ratio
holds up better than their absolute times; for that, a framework that settled early
keeps running in the later rounds (it used to stop: on the shared VM a noisy stretch
after ORT had settled at BERT-base int8 then counted against armbert alone, 158-170 ms
per round against ORT's two quiet rounds of 176), and a block lasts at most about
block_s (BERT-base fp32, 300 ms a run, takes 2 per block, not 5: a noisy second or two
then falls on every framework's runs, not on one framework's block); blocks keep each framework's weights warm in cache, as in serving,
where one model runs back to back. Before each block the harness waits until the
process's CPU time stops growing, so the previous framework's spinning worker threads
have gone to sleep instead of competing for the same cores (onnxruntime's intra-op
workers spin on a core for about 40 ms after a run at 2 threads: a 10 ms pause left
armbert's 2-thread S=32 runs bimodal, 4.4-12.8 ms, against 3.8-5.0 ms with the
wait), then runs once untimed to bring its own weights back into cache.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Callable, Mapping, Optional

import numpy as np


@dataclass(frozen=True)
class TimingSettings:
    warmup: int = 3           # untimed runs per framework before the first round
    block: int = 5            # timed runs per framework per round, at most
    block_s: float = 0.6      # and no more than fit in this many seconds (at least 1)
    min_runs: int = 10        # never judge spread on fewer runs
    window: int = 10          # spread is (max - min) / median of the last `window` runs
    max_spread: float = 0.05  # a framework whose window spread is below this has settled
    cap_s: float = 3.0        # timed seconds per framework per config, settled or not
    settle_s: float = 0.01    # pause before each block (see the module docstring)
    idle_cap_s: float = 0.5   # then wait at most this long for the process to go idle

    def to_dict(self) -> dict:
        return asdict(self)


FULL = TimingSettings()
QUICK = TimingSettings(warmup=1, block=3, min_runs=3, window=5, max_spread=0.10, cap_s=0.4)


@dataclass(frozen=True)
class Stats:
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    runs: int
    spread: float     # over the last `window` runs
    settled: bool     # False: stopped by the time cap

    def to_dict(self) -> dict:
        return asdict(self)


def window_spread(samples: list[float], window: int) -> float:
    last = np.asarray(samples[-window:])
    return float((last.max() - last.min()) / np.median(last))


def summarize(samples_s: list[float], settings: TimingSettings) -> Stats:
    ms = np.asarray(samples_s) * 1e3
    p10, p50, p90 = np.percentile(ms, [10, 50, 90])
    spread = window_spread(samples_s, settings.window)
    return Stats(median_ms=float(p50), p10_ms=float(p10), p90_ms=float(p90),
                 min_ms=float(ms.min()), runs=len(ms), spread=spread,
                 settled=_settled(samples_s, settings))


def _settled(samples: list[float], s: TimingSettings) -> bool:
    return len(samples) >= max(s.min_runs, s.window) and window_spread(samples, s.window) <= s.max_spread


def wait_until_idle(settings: TimingSettings, step_s: float = 0.005) -> None:
    """Sleeps settle_s, then until a step_s window in which the process used under a
    tenth of a core (every thread counts: CLOCK_PROCESS_CPUTIME_ID), at most idle_cap_s."""
    time.sleep(settings.settle_s)
    deadline = time.perf_counter() + settings.idle_cap_s
    c0 = time.process_time()
    while time.perf_counter() < deadline:
        time.sleep(step_s)
        c1 = time.process_time()
        if c1 - c0 < 0.1 * step_s:
            return
        c0 = c1


def measure_interleaved(fns: Mapping[str, Callable[[], object]],
                        settings: TimingSettings = FULL,
                        progress: Optional[Callable[[str], None]] = None) -> dict[str, Stats]:
    """Times every callable in each round until each has settled or used up
    settings.cap_s; returns Stats by name."""
    names = list(fns)
    block = {}
    for name in names:
        t0 = time.perf_counter()
        for _ in range(max(settings.warmup, 1)):
            fns[name]()
        per_run = (time.perf_counter() - t0) / max(settings.warmup, 1)
        block[name] = max(1, min(settings.block, int(settings.block_s / per_run)))
    samples: dict[str, list[float]] = {n: [] for n in names}
    spent = {n: 0.0 for n in names}

    def done(n: str) -> bool:
        return _settled(samples[n], settings) or (
            spent[n] >= settings.cap_s and len(samples[n]) >= settings.block)

    rnd = 0
    while not all(done(n) for n in names):
        # Rotating the start keeps any framework from always following the same one.
        for n in names[rnd % len(names):] + names[:rnd % len(names)]:
            fn = fns[n]
            wait_until_idle(settings)
            fn()
            for _ in range(block[n]):
                t0 = time.perf_counter()
                fn()
                dt = time.perf_counter() - t0
                samples[n].append(dt)
                spent[n] += dt
        rnd += 1
        if progress:
            progress(f"round {rnd}: " + ", ".join(
                f"{n} {len(samples[n])} runs {np.median(samples[n]) * 1e3:.1f} ms"
                for n in names))
    return {n: summarize(samples[n], settings) for n in names}
