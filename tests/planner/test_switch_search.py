"""BERTPerf's j_switch search on synthetic encoder-1 curves (no device)."""
import numpy as np
import pytest

from planner.predictors.bertperf import bundle_row, find_switch


def piecewise(j0, low=0.6):
    """enc1 rises linearly from `low` at L=1 to 1.0 at L=j0, then stays at 1.0. Below
    j0 every point is at least (1-low)/11 = 3.6 % under the saturated value."""
    def f(L):
        return 1.0 if L >= j0 else low + (1.0 - low) * (L - 1) / (j0 - 1)
    return f


def counting(f):
    calls = []

    def g(L):
        calls.append(L)
        return f(L)
    return g, calls


def test_constant_bundle_takes_two_measurements():
    g, calls = counting(lambda L: 5.0 * (1 + 0.001 * L))  # 1.1 % drift: within 2 %
    s = find_switch(g)
    assert s.constant and s.j_switch == 1
    assert calls == [12, 1]


# Worked by hand: (lo, hi) starts at (1, 12); each row lists the midpoints measured,
# then the re-check of j+1 when it is new and below 12.
EXPECTED = {
    2: [6, 3, 2],            # j+1 = 3 already measured
    3: [6, 3, 2, 4],
    4: [6, 3, 4, 5],
    5: [6, 3, 4, 5],         # 6 already measured
    6: [6, 3, 4, 5, 7],
    7: [6, 9, 7, 8],
    8: [6, 9, 7, 8],
    9: [6, 9, 7, 8, 10],
    10: [6, 9, 10, 11],
    11: [6, 9, 10, 11],      # j+1 = 12 is the reference
    12: [6, 9, 10, 11],
}


@pytest.mark.parametrize("j0", range(2, 13))
def test_piecewise_linear_switch_found_with_expected_measurements(j0):
    g, calls = counting(piecewise(j0))
    s = find_switch(g)
    assert s.j_switch == j0 and not s.constant
    assert calls == [12, 1] + EXPECTED[j0]
    assert len(calls) <= 2 + 4 + 1  # ceil(log2(11)) steps + one re-check


@pytest.mark.parametrize("seed", range(20))
def test_noisy_curves_still_find_the_switch(seed):
    rng = np.random.default_rng(seed)
    j0 = int(rng.integers(2, 13))
    f = piecewise(j0, low=0.5)
    s = find_switch(lambda L: f(L) * (1 + rng.uniform(-0.005, 0.005)))
    assert s.j_switch == j0
    assert len(s.measured) <= 7


def test_recheck_catches_a_point_that_was_within_by_noise():
    f = piecewise(8)

    def noisy(L):  # L=6 reads 1 % low instead of 11 % low: looks saturated
        return 0.99 if L == 6 else f(L)
    g, calls = counting(noisy)
    s = find_switch(g)
    assert s.j_switch == 8
    assert calls == [12, 1, 6, 3, 4, 5, 7, 9, 8]
    g, calls = counting(noisy)
    assert find_switch(g, recheck=False).j_switch == 6  # without the re-check: fooled


def test_inherited_bound_shortens_the_search():
    g, calls = counting(piecewise(4))
    s = find_switch(g, bound=5)
    assert s.j_switch == 4 and calls == [12, 1, 3, 4, 5]   # vs 6 measurements unbounded
    g, calls = counting(piecewise(4))
    s = find_switch(g, bound=4)
    assert s.j_switch == 4 and s.assumed and calls == [12, 1, 2, 3]


def test_wrong_bound_is_trusted_unless_verified():
    g, _ = counting(piecewise(6))
    assert find_switch(g, bound=3).j_switch == 3  # the paper trusts the neighbour
    g, calls = counting(piecewise(6))
    s = find_switch(g, bound=3, verify_bound=True)
    assert s.j_switch == 6 and s.bound_broken
    assert calls == [12, 1, 2, 3, 7, 5, 6]


def test_bound_of_a_constant_neighbour_falls_back_to_the_full_range():
    g, calls = counting(piecewise(7))
    s = find_switch(g, bound=1)  # neighbour saturated at L=1, this bundle is not
    assert s.j_switch == 7 and calls == [12, 1] + EXPECTED[7]


def test_rows_reproduce_piecewise_linear_terms():
    j0 = 7

    def terms(L):
        sat = min(L, j0)
        return {"emb_term": 0.1 + 0.01 * sat, "enc1": 1.0 + 0.05 * sat,
                "enc_rest": (0.9 + 0.04 * sat) if L > 1 else None}

    def total(L):
        t = terms(L)
        return t["emb_term"] + t["enc1"] + (L - 1) * (t["enc_rest"] or 0.0)

    points = {}
    s = find_switch(lambda L: terms(L)["enc1"])
    for L in s.measured:
        points[L] = {**terms(L), "total": total(L)}
    row = bundle_row(points, s.j_switch, range(1, 13))
    np.testing.assert_allclose(row, [total(L) for L in range(1, 13)], rtol=1e-12)
