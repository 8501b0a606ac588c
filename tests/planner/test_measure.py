"""The stopping rule and the fake device (no timing: every time is made up)."""
import pytest

from planner.fake import FakeRunner
from planner.measure import MeasureSettings, measure_session, window_spread
from planner.space import Bundle, ModelConfig

RULE = MeasureSettings(warmup=2, min_repeats=5, max_repeats=20, window=5, max_spread=0.02,
                       max_seconds=100.0)


def scripted(totals, warmup_value=9.0, warmup=2):
    """A session returning warm-up values first, then the scripted totals (seconds)."""
    seq = [warmup_value] * warmup + list(totals)
    calls = []

    def run():
        v = seq[min(len(calls), len(seq) - 1)]
        calls.append(v)
        return {"total": v, "emb": v / 10}
    return run, calls


def test_stable_runs_stop_at_min_repeats():
    run, calls = scripted([1.0] * 50)
    out = measure_session(run, RULE)
    assert out.settled and out.repeats == 5 and len(calls) == 2 + 5
    assert out.stats["total"].median_ms == pytest.approx(1000.0)
    assert out.stats["emb"].median_ms == pytest.approx(100.0)


def test_stops_once_the_last_window_agrees_within_2_percent():
    totals = [1.3, 0.8, 1.2, 1.0, 1.0, 1.005, 1.01, 0.995, 1.0, 1.0]
    run, _ = scripted(totals)
    out = measure_session(run, RULE)
    # windows ending at runs 5..7 hold 1.3, 0.8 or 1.2; the one ending at run 8 spreads 1.5 %
    assert out.settled and out.repeats == 8
    assert out.stats["total"].runs == 5
    assert out.stats["total"].median_ms == pytest.approx(1000.0)
    assert out.stats["total"].spread == pytest.approx(window_spread(totals[3:8], 5))


def test_noisy_runs_stop_at_the_cap_and_say_so():
    run, _ = scripted([1.0, 1.1] * 50)
    out = measure_session(run, RULE)
    assert not out.settled and out.repeats == 20
    assert out.stats["total"].runs == 20  # capped: all runs reported
    assert out.stats["total"].median_ms == pytest.approx(1050.0)


def test_time_cap_counts_reported_seconds_not_wall_clock():
    rule = MeasureSettings(warmup=0, min_repeats=3, max_repeats=100, window=3,
                           max_spread=0.02, max_seconds=5.0)
    run, _ = scripted([1.0, 2.0] * 50, warmup=0)
    out = measure_session(run, rule)
    assert not out.settled and out.repeats == 4 and out.timed_s == pytest.approx(6.0)


def test_cooldown_sleeps_before_measuring():
    slept = []
    run, _ = scripted([1.0] * 10)
    measure_session(run, MeasureSettings(**{**RULE.to_dict(), "cooldown_s": 0.5}), slept.append)
    assert slept == [0.5]


def test_settings_are_validated_and_round_trip():
    with pytest.raises(ValueError):
        MeasureSettings(window=6, min_repeats=5)
    assert MeasureSettings.from_dict(RULE.to_dict()) == RULE


def test_fake_device_is_consistent_and_cache_sensitive():
    r = FakeRunner(noise=0.0)
    m = r.model_ms(ModelConfig(L=6, H=384, A=6, I=1536, S=128, B=1))
    assert m["total"] == pytest.approx(m["emb"] + m["enc1"] + 5 * m["enc_rest"])
    assert m["enc1"] == pytest.approx(sum(m[f"enc1.{o}"] for o in
                                          ("qkv", "attn", "attn_out", "ln1", "ffn_in",
                                           "ffn_out", "ln2")))
    b = Bundle(H=768, B=1, S=64, I=3072, A=12)
    # a BERT-base layer fits the LLC alone but not twelve of them
    assert r.model_ms(b.at(1))["enc1"] < 0.97 * r.model_ms(b.at(12))["enc1"]
    ops = r.open_ops(b)
    assert set(ops) == {"emb", "qkv", "attn", "attn_out", "ln1", "ffn_in", "ffn_out", "ln2"}
    assert ops["qkv"]()["total"] > 0


def test_fake_spikes_make_the_rule_work_harder():
    r = FakeRunner(noise=0.002, spike_prob=0.3, spike=0.3, seed=1)
    session = r.open(ModelConfig(L=2, H=128, A=2, I=512, S=64, B=1))
    out = measure_session(session.run, RULE)
    assert out.repeats > RULE.min_repeats


def test_copy_rate_is_a_line_through_the_timed_sizes(fake_profiler):
    """The fake device copies at 8 GB/s plus 3 us: the profiler's fit recovers both;
    a negative intercept (noise at small sizes) is refitted through the origin."""
    from planner.copyrate import fit_copy_rate
    rate = fake_profiler.copy_rate()
    assert rate is fake_profiler.copy_rate()               # measured once per profiler
    assert rate.ms_per_byte == pytest.approx(1 / 8e6) and rate.overhead_ms == pytest.approx(0.003)
    assert rate.ms(8e6) == pytest.approx(1.003)
    through = fit_copy_rate([1000, 2000, 3000], [0.0, 0.1, 0.2])
    assert through.overhead_ms == 0.0 and through.ms_per_byte > 0
