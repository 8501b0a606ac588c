"""Cost tables and the Kirin 970 example built from the papers' numbers."""
import json

import pytest

from planner.search.costs import CostTable, CostTableError, kirin970, layer_units
from planner.search.kirin970 import kirin970_report
from planner.search.pipeline import TableMeasure, binary_search


def test_kirin970_table_from_published_numbers():
    t = kirin970()
    assert t.units[0] == "embeddings" and t.num_layers == 12
    assert t.range_ms("big", 0, 13, "int8") == pytest.approx(492.0)
    assert t.range_ms("little", 0, 13, "int8") == pytest.approx(1492.0)
    assert t.meta["assumptions"]
    rescaled = kirin970(baseline="pipebert")
    assert 1e3 / rescaled.range_ms("big", 0, 13, "int8") == pytest.approx(0.73)


def test_kirin970_documented_split():
    r = kirin970_report()
    # big: embeddings + 9 layers = 369 ms; little: 3 layers = 373 ms
    assert r["split"] == "big: embeddings + layers 0-8 | little: layers 9-11"
    assert r["bottleneck_ms"] == pytest.approx(373.0, abs=0.01)
    assert r["throughput_inf_s"] == pytest.approx(2.681, abs=1e-3)
    assert r["gain"] == pytest.approx(492 / 373 - 1, abs=1e-4)          # +31.9 %
    assert r["ideal_gain_bound"] == pytest.approx(492 / 1492, abs=1e-4)  # +33.0 %
    assert r["on_pipebert_baseline_inf_s"] == pytest.approx(0.963, abs=1e-3)
    assert r["gain"] < r["paper_gain"]  # the uniform model cannot reach +48.6 %
    assert r["measurements"]["binary_search"] < r["measurements"]["exhaustive"] == 24
    assert r["exhaustive_bottleneck_ms"] == r["bottleneck_ms"]


def test_embedding_share_moves_nothing_much():
    r = kirin970_report(embedding_share=0.02)
    assert r["bounds"] == [9] and r["gain"] > 0.25


def test_json_round_trip(tmp_path):
    t = kirin970()
    t.save(tmp_path / "k.json")
    u = CostTable.load(tmp_path / "k.json")
    assert u == t or u.to_dict() == t.to_dict()
    d = json.loads((tmp_path / "k.json").read_text())
    assert d["version"] == 1 and d["kind"] == "armbert.cost_table"


def test_validation():
    with pytest.raises(CostTableError, match="units"):
        CostTable(layer_units(2), {"a": {"fp32": (1.0, 1.0)}})
    with pytest.raises(CostTableError, match="version"):
        CostTable.from_dict({"version": 9, "units": [], "latency_ms": {}})
    with pytest.raises(CostTableError, match="edges"):
        CostTable(layer_units(2), {"a": {"fp32": (1.0,) * 3}}, {"a->b": [0.1]})
    t = CostTable(layer_units(2), {"a": {"fp32": (1.0,) * 3}, "b": {"fp32": (1.0,) * 3}},
                  {"a->b": [0.1, 0.2]})
    assert t.transfer("a", "b", 1) == 0.2 and t.missing_transfers() == ["b->a"]
    with pytest.raises(CostTableError, match="b/int8"):
        t.row("b", "int8")


def test_per_edge_transfers_feed_the_pipeline_search():
    t = CostTable(layer_units(4), {"a": {"fp32": (0.0, 1, 1, 1, 1)},
                                   "b": {"fp32": (0.0, 1, 1, 1, 1)}},
                  {"a->b": [9.0, 9.0, 0.0, 9.0], "b->a": [9.0] * 4})
    r = binary_search(TableMeasure(t), ["a", "b"], 4)
    assert r.bounds == (2,) and r.bottleneck_ms == 2.0


def test_plan_cli_prints_the_kirin970_report(capsys):
    from planner.search.cli import plan_main
    assert plan_main(["--kirin970"]) == 0
    out = capsys.readouterr().out
    assert "big: embeddings + layers 0-8 | little: layers 9-11" in out and "+31.9 %" in out
