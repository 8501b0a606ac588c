"""CPU/GPU mapping: the composition model, chain DP == exhaustive exactly, and the
genetic algorithm against exhaustive on small DAGs.

GA claim asserted: on seeded random DAGs (8-13 ops on 2 devices, 6-9 ops on 3)
and 1-layer BERT op graphs, every GA result is within 1 % of the exhaustive
optimum and at least 95 % of them are exactly optimal. (With the default
settings the GA found the exact optimum in 360 of 360 such DAGs, 6 seeds x 60,
while developing it; tiny spaces like these are where it evaluates the
largest share of all mappings, about 80 %.)
"""
import numpy as np
import pytest

from armbert.plan import Device
from planner.search.costs import CostTable, layer_units
from planner.search.split import (GASettings, MappingProblem, OpGraph, bert_layer_graph,
                                  chain_dp, chain_plan, exhaustive_search, genetic_search,
                                  makespan, transfer_table)


def random_dag(rng, n):
    deps = [()]
    for i in range(1, n):
        k = int(rng.integers(1, min(i, 3) + 1))
        deps.append(tuple(sorted({int(x) for x in rng.choice(i, k, replace=False)})))
    scale = {(d, i): float(rng.uniform(0.5, 2)) for i, ds in enumerate(deps) for d in ds}
    return OpGraph(tuple(f"op{i}" for i in range(n)), tuple(deps), scale)


# ---- composition model ----

def test_parallel_ops_overlap_on_different_devices_and_serialize_on_one():
    g = OpGraph(("a", "b", "join"), ((), (), (0, 1)))
    lat = np.array([[4.0, 4.0], [4.0, 4.0], [1.0, 1.0]])
    p = MappingProblem(g, ("cpu", "gpu"), lat, np.zeros((2, 2)))
    assert makespan(p, [0, 0, 0]) == 9.0   # a, b serialize on the cpu
    assert makespan(p, [0, 1, 0]) == 5.0   # a || b, then join


def test_transfers_delay_edges_and_source_sink():
    g = OpGraph.chain(["x", "y"])
    lat = np.array([[1.0, 0.5], [1.0, 0.5]])
    tr = np.array([[0.0, 2.0], [3.0, 0.0]])
    p = MappingProblem(g, ("cpu", "gpu"), lat, tr, source="cpu", sink="cpu")
    assert makespan(p, [0, 1]) == 1.0 + 2.0 + 0.5 + 3.0
    assert makespan(p, [1, 1]) == 2.0 + 1.0 + 3.0
    assert makespan(p, [0, 0]) == 2.0


def test_bert_layer_graph_branches():
    g = bert_layer_graph(2)
    assert len(g.ops) == 18 and not g.is_chain()
    q, k, v, att = (g.ops.index(f"layer.1.{n}") for n in ("q", "k", "v", "attention"))
    assert g.deps[att] == (q, k, v)
    assert g.deps[q] == g.deps[k] == g.deps[v] == (g.ops.index("layer.0.add_ln2"),)
    ffn = g.ops.index("layer.0.ffn_in_gelu")
    assert g.scale(ffn, ffn + 1) == 4.0  # the intermediate tensor is 4x the hidden state


# ---- chain DP ----

def test_chain_dp_equals_exhaustive():
    rng = np.random.default_rng(0)
    for _ in range(200):
        m = int(rng.integers(2, 4))
        n = int(rng.integers(1, 11 if m == 2 else 8))
        p = MappingProblem(OpGraph.chain([f"u{i}" for i in range(n)]),
                           tuple(f"d{i}" for i in range(m)), rng.uniform(0.1, 5, (n, m)),
                           rng.uniform(0, 3, (m, m)),
                           source=[None, "d0"][int(rng.integers(2))],
                           sink=[None, "d0", "d1"][int(rng.integers(3))])
        dp, ex = chain_dp(p), exhaustive_search(p)
        assert dp.latency_ms == pytest.approx(ex.latency_ms, rel=1e-12, abs=1e-12)
        assert makespan(p, [p.devices.index(d) for d in dp.assignment]) == \
            pytest.approx(dp.latency_ms)


def test_chain_dp_refuses_branches():
    p = MappingProblem(bert_layer_graph(1), ("cpu", "gpu"), np.ones((9, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="chain"):
        chain_dp(p)


def test_chain_from_cost_table_and_plan():
    table = CostTable(layer_units(4), {"cpu": {"fp32": (0.1, 5, 5, 1, 1)},
                                       "gpu": {"fp32": (9.0, 1, 1, 5, 5)}},
                      {"cpu->gpu": 0.5, "gpu->cpu": 0.5})
    p = MappingProblem.from_cost_table(table)
    r = chain_dp(p)
    assert r.assignment == ("cpu", "gpu", "gpu", "cpu", "cpu")
    assert r.latency_ms == pytest.approx(0.1 + 0.5 + 2 + 0.5 + 2)
    devices = {"cpu": Device("host", (0,), 1), "gpu": Device("host", (1,), 1)}
    plan = chain_plan(devices, table.units, r.assignment)
    assert plan.embeddings.device == "cpu"
    assert [x.device for x in plan.layers] == ["gpu", "gpu", "cpu", "cpu"]
    assert {x.stage for x in plan.layers} == {0}
    plan.validate(4, ["host"], cpu_count=2)


# ---- genetic algorithm ----

def test_ga_matches_exhaustive_on_small_dags():
    rng = np.random.default_rng(7)
    exact = total = 0
    for case in range(20):
        m = 2 if case % 3 else 3
        n = int(rng.integers(8, 14)) if m == 2 else int(rng.integers(6, 10))
        p = MappingProblem(random_dag(rng, n), tuple(f"d{i}" for i in range(m)),
                           rng.uniform(0.2, 5, (n, m)), rng.uniform(0, 2, (m, m)), "d0", "d0")
        ex, ga = exhaustive_search(p), genetic_search(p, GASettings(seed=case))
        assert ga.latency_ms <= ex.latency_ms * 1.01
        exact += ga.latency_ms == pytest.approx(ex.latency_ms, rel=1e-12)
        total += 1
    assert exact >= 0.95 * total


def test_ga_on_bert_layer_uses_branch_overlap():
    rng = np.random.default_rng(11)
    wins = 0
    for case in range(10):
        g = bert_layer_graph(1)
        lat = np.stack([rng.uniform(0.5, 5, 9), rng.uniform(0.2, 6, 9)], axis=1)
        p = MappingProblem(g, ("cpu", "gpu"), lat, rng.uniform(0, 1.0, (2, 2)), "cpu", "cpu")
        ex, ga = exhaustive_search(p), genetic_search(p, GASettings(seed=case))
        assert ga.latency_ms <= ex.latency_ms * 1.01
        serial = chain_dp(MappingProblem(OpGraph.chain(g.ops), p.devices, lat, p.transfer_ms,
                                         "cpu", "cpu"))
        assert ga.latency_ms <= serial.latency_ms + 1e-9  # overlap can only help
        wins += ga.latency_ms < serial.latency_ms - 1e-9
    assert wins > 0  # and sometimes does: q/k/v split across devices


def test_ga_is_deterministic_per_seed():
    rng = np.random.default_rng(2)
    p = MappingProblem(random_dag(rng, 12), ("a", "b"), rng.uniform(0.2, 5, (12, 2)),
                       rng.uniform(0, 2, (2, 2)))
    a, b = genetic_search(p, GASettings(seed=3)), genetic_search(p, GASettings(seed=3))
    assert a.assignment == b.assignment and a.latency_ms == b.latency_ms


def test_exhaustive_refuses_huge_spaces():
    p = MappingProblem(bert_layer_graph(4), ("cpu", "gpu"), np.ones((36, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="too many"):
        exhaustive_search(p)


def test_transfer_table_from_engine_records():
    records = [("big/fp32", "little/fp32", 0.3), ("big/fp32", "little/fp32", 0.1),
               ("big/fp32", "little/fp32", 0.2), ("little/fp32", "little/int8", 0.05)]
    assert transfer_table(records) == {"big->little": pytest.approx(0.2)}
    seg = transfer_table(records, level="segment")
    assert seg["little/fp32->little/int8"] == pytest.approx(0.05)


def test_per_edge_transfer_costs():
    table = CostTable(layer_units(3), {"a": {"fp32": (0.0, 1, 1, 1)},
                                       "b": {"fp32": (100.0, 0.2, 0.2, 0.2)}},
                      {"a->b": [9.0, 9.0, 0.1], "b->a": [9.0] * 3})
    p = MappingProblem.from_cost_table(table)
    dp, ex = chain_dp(p), exhaustive_search(p)
    assert dp.assignment == ("a", "a", "a", "b")  # only the last edge is cheap to cross
    assert dp.latency_ms == pytest.approx(ex.latency_ms) == pytest.approx(2.0 + 0.1 + 0.2)
    rng = np.random.default_rng(9)
    for _ in range(50):  # per-edge matrices on random chains: DP still exact
        n, m = int(rng.integers(2, 8)), 3
        g = OpGraph.chain([f"u{i}" for i in range(n)])
        q = MappingProblem(g, ("x", "y", "z"), rng.uniform(0.1, 5, (n, m)), np.zeros((m, m)),
                           edge_transfer_ms={e: rng.uniform(0, 3, (m, m)) for e in g.edges})
        assert chain_dp(q).latency_ms == pytest.approx(exhaustive_search(q).latency_ms)
