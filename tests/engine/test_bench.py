"""`armbert bench` (armbert/bench.py): the record holds every op of every layer for every
run, the summary is computed from it, and bad arguments are one-line errors."""
import json

import numpy as np

import armbert
from armbert import bench
from armbert.cli import main
from armbert.layer_spec import OP_NAMES


def test_bench_record_and_summary(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--backend", "host", "--precision", "int8", "--threads", "1",
                 "--seq", "16", "--batch", "2", "--warmup", "1", "--runs", "3",
                 "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "op by op, total" in text and "end to end" in text and "ffn_in" in text
    doc = json.loads(out.read_text())
    layers = armbert.load().config.num_hidden_layers
    assert (doc["batch"], doc["seq"], doc["runs"]) == (2, 16, 3)
    assert doc["segments"][0]["precision"] == "int8"
    assert doc["machine"]["cpu_features"] == armbert._native.cpu_features()
    want = {"embeddings"} | {f"layer.{i}.{op}" for i in range(layers) for op in OP_NAMES}
    assert len(doc["op_runs_ms"]) == 3 and all(set(r) == want for r in doc["op_runs_ms"])
    assert all(ms > 0 for r in doc["op_runs_ms"] for ms in r.values())
    s = doc["summary"]
    assert set(s["ops"]) == {"embeddings", *OP_NAMES}
    assert len(s["layers"]) == layers
    totals = [sum(r.values()) for r in doc["op_runs_ms"]]
    assert np.isclose(s["op_total"]["median_ms"], np.median(totals))
    for name, st in s["ops"].items():
        assert st["p10_ms"] <= st["median_ms"] <= st["p90_ms"]


def test_bench_runs_a_plan_with_a_transfer():
    """Two segments (embeddings and layers 0-2 at fp32, the rest at fp16): the copy
    between them is timed as its own entry."""
    model = armbert.load()
    plan = {"version": 1, "devices": {"cpu": {"backend": "host", "threads": 1}},
            "embeddings": {"device": "cpu", "precision": "fp32"},
            "layers": [{"device": "cpu", "precision": "fp32" if i < 3 else "fp16"}
                       for i in range(model.config.num_hidden_layers)]}
    with armbert.Engine(model, plan=plan) as engine:
        record = bench.bench(engine, batch=1, seq=8, warmup=0, runs=2)
    assert all("transfer.1" in r for r in record["op_runs_ms"])
    assert "transfer" in bench.summarize(record)["ops"]


def test_bench_refuses_a_sequence_longer_than_the_positions(capsys):
    assert main(["bench", "--backend", "host", "--seq", "100000", "--runs", "1"]) == 2
    assert "longer than the model's 512 positions" in capsys.readouterr().err
    assert main(["bench", "--backend", "host", "--cores", "a,b"]) == 2
    assert "--cores" in capsys.readouterr().err
