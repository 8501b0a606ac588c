import numpy as np
import pytest

from planner.space import (Bundle, ModelConfig, as_columns, host_space, paper_space,
                           space_by_name)


def test_paper_space_is_350_bundles_4200_models():
    sp = paper_space()
    assert len(sp.bundles()) == 350
    assert len(sp) == 4200
    assert len(set(sp.models())) == 4200


def test_host_space_keeps_the_table_with_short_sequences():
    sp = host_space()
    assert len(sp.bundles()) == 140 and len(sp) == 1680
    assert {b.S for b in sp.bundles()} == {64, 128}
    assert space_by_name("host-S64").seq_lengths == (64,)


def test_bundle_index_finds_every_bundle_and_rejects_strangers():
    sp = host_space()
    models = sp.models()
    idx = sp.bundle_index(as_columns(models))
    bundles = sp.bundles()
    assert all(bundles[i] == m.bundle for i, m in zip(idx, models))
    stranger = as_columns([ModelConfig(L=3, H=768, A=12, I=3072, S=256, B=1)])
    assert sp.bundle_index(stranger)[0] == -1


def test_columns_from_configs_dict_and_array_agree():
    cfgs = [ModelConfig(1, 128, 2, 512, 64, 1), ModelConfig(12, 768, 12, 3072, 128, 1)]
    a = as_columns(cfgs)
    b = as_columns(np.array([[c.L, c.H, c.A, c.I, c.S, c.B] for c in cfgs]))
    c = as_columns({k: list(v) for k, v in a.items()})
    for k in a:
        assert (a[k] == b[k]).all() and (a[k] == c[k]).all()
    with pytest.raises(ValueError):
        as_columns(np.zeros((2, 5)))


def test_lower_neighbours_have_next_smaller_I_or_A():
    sp = paper_space()
    b = Bundle(H=384, B=1, S=64, I=1536, A=6)
    assert set(sp.lower_neighbours(b)) == {Bundle(384, 1, 64, 1024, 6), Bundle(384, 1, 64, 1536, 4)}
    assert sp.lower_neighbours(Bundle(384, 1, 64, 1024, 4)) == []
    order = sp.search_order()
    seen = set()
    for b in order:  # every lower neighbour is searched first
        assert all(n in seen for n in sp.lower_neighbours(b))
        seen.add(b)


def test_subspace_and_sample_are_deterministic():
    sp = host_space().subspace(H=[256], S=[64])
    assert {(b.H, b.S) for b in sp.bundles()} == {(256, 64)}
    assert sp.sample(20, seed=3) == sp.sample(20, seed=3)
    assert sp.sample(20, seed=3) != sp.sample(20, seed=4)
    with pytest.raises(ValueError):
        host_space().subspace(H=[100])


def test_config_text_round_trips():
    c = ModelConfig(L=12, H=768, A=12, I=3072, S=128, B=1)
    assert ModelConfig.parse(str(c)) == c
    assert ModelConfig.parse("h768 a12 i3072 s128 b1 l12") == c
    with pytest.raises(ValueError, match="lacks B"):
        ModelConfig.parse("L12-H768-A12-I3072-S128")
