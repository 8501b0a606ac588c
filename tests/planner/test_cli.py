"""`armbert profile`, `armbert predict` and the evaluation, on the fake device."""
import json

from planner.cli import evaluate_main, predict_main, profile_main

TINY = ["--fake", "--H", "128", "--S", "64", "--B", "1", "--no-progress", "--quick"]


def test_profile_grid_then_resume(tmp_path, capsys):
    args = TINY + ["--L", "1,12", "--out", str(tmp_path)]
    assert profile_main(args) == 0
    out = capsys.readouterr()
    assert "L1-H128-A2-I512-S64-B1" in out.out and "4 measured" not in out.err
    assert "8 measured, 0 read back" in out.err          # 4 bundles x 2 depths
    assert profile_main(args) == 0
    assert "0 measured, 8 read back" in capsys.readouterr().err
    lines = (tmp_path / "campaign.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 8 and all(json.loads(x)["version"] == 1 for x in lines)


def test_profile_explicit_configs_outside_the_space(tmp_path, capsys):
    assert profile_main(["--fake", "--no-progress", "--quick", "--out", str(tmp_path),
                         "--configs", "L3-H1024-A16-I4096-S32-B1"]) == 0
    assert "L3-H1024-A16-I4096-S32-B1" in capsys.readouterr().out


def test_fit_then_predict(tmp_path, capsys):
    assert profile_main(TINY + ["--out", str(tmp_path), "--fit", "bertperf,ours"]) == 0
    path = tmp_path / "predictors" / "bertperf.json"
    assert path.exists() and (tmp_path / "predictors" / "ours.json").exists()
    capsys.readouterr()
    assert predict_main(["--predictor", str(path), "--L", "1,12", "--H", "128", "--A", "2",
                         "--I", "512", "--S", "64", "--json"]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["L"] for r in rows] == [1, 12] and rows[1]["latency_ms"] > rows[0]["latency_ms"]
    hf = tmp_path / "config.json"
    hf.write_text(json.dumps({"num_hidden_layers": 12, "hidden_size": 768,
                              "num_attention_heads": 12, "intermediate_size": 3072}))
    assert predict_main(["--predictor", str(path), "--hf-config", str(hf), "--S", "128"]) == 0
    out = capsys.readouterr().out
    assert "outside the profiled space (H=768 not in [128])" in out and "parametric fallback" in out


def test_evaluation_writes_metrics_report_and_plots(tmp_path, capsys):
    args = TINY[:-1] + ["--H", "128,256", "--out", str(tmp_path), "--truth", "30",
                        "--no-variants", "--throughput-n", "20000"]
    assert evaluate_main(args) == 0
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert set(m["results"]) == {"bertperf", "opwise", "mlp", "ours"}
    assert m["truth"]["n"] == 30 and m["target_check"]["checked"]
    for f in ("report.md", "error_cdf.png", "error_vs_budget.png"):
        assert (tmp_path / f).stat().st_size > 0
    assert "| bertperf |" in capsys.readouterr().out
