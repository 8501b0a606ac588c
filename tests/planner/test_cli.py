"""`armbert profile`, `armbert predict` and the evaluation, on the fake device."""
import json

from planner.cli import evaluate_main, predict_main, profile_main
from planner.measure import core_class

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
    assert "outside the profiled space (S=128 not in [64]; H=768 not in [128])" in out and "parametric fallback" in out


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


# ---- issue 15: CLI problems, each with a test ----
import subprocess  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

import planner  # noqa: E402
from planner.cli import results_root, transfer_main  # noqa: E402

SHAPE = ["--H", "384", "--A", "12", "--I", "1536", "--S", "128"]


@pytest.fixture(scope="module")
def fitted_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("fit")
    assert profile_main(["--fake", "--H", "128,384", "--S", "64,128", "--B", "1", "--A", "2,12",
                         "--I", "512,1536", "--threads", "1", "--cores", "0", "--no-progress",
                         "--quick", "--out", str(d), "--fit", "bertperf,mlp",
                         "--mlp-n", "40"]) == 0
    return d / "predictors"


def test_profile_does_not_write_into_the_source_tree(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    assert profile_main(TINY + ["--L", "1"]) == 0
    src = Path(planner.__file__).resolve().parent.parent
    assert not results_root().resolve().is_relative_to(src)
    assert results_root() == tmp_path / "cache" / "armbert" / "planner"
    assert list((results_root()).glob("*/campaign.jsonl"))
    assert str(tmp_path / "cache") in capsys.readouterr().err


def test_evaluate_help_names_armbert_evaluate(capsys):
    with pytest.raises(SystemExit):
        evaluate_main(["--help"])
    assert capsys.readouterr().out.startswith("usage: armbert evaluate")


@pytest.mark.parametrize("argv, message", [
    (["--L", "abc"] + SHAPE, "--L 'abc': 'abc' is not an integer"),
    (["--L", "99999999999999999999"] + SHAPE, "--L 99999999999999999999: must be between"),
    (["--L", "2", "--H", "385", "--A", "12", "--I", "1536", "--S", "128"],
     "H=385 is not divisible by A=12"),
])
def test_predict_bad_numbers_are_one_line_errors(fitted_dir, capsys, argv, message):
    assert predict_main(["--predictor", str(fitted_dir / "bertperf.json")] + argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("armbert predict: error: ") and message in err


def test_predict_missing_predictor_file_is_a_one_line_error(tmp_path, capsys):
    assert predict_main(["--predictor", str(tmp_path / "none.json"), "--L", "2"] + SHAPE) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no such file" in err


def test_predict_prints_target_error_bar_and_breakdown(fitted_dir, capsys):
    assert predict_main(["--predictor", str(fitted_dir / "bertperf.json"), "--L", "6"]
                        + SHAPE) == 0
    out = capsys.readouterr().out
    klass = core_class((0,))   # [1024] here; None where sysfs does not rank cores
    assert "fitted on target {'backend': 'host', " f"'core_class': {klass}, 'cores': [0], " \
           "'precision': 'fp32', 'threads': 1}" in out
    assert "L6-H384-A12-I1536-S128-B1: " in out and " ms ± " in out
    assert "layers 2..6" in out and "layer 1 per op: qkv" in out and "ffn_out" in out


@pytest.mark.parametrize("S", [96, 256])
def test_predict_outside_the_space_falls_back_with_a_wider_bar(fitted_dir, capsys, S):
    args = ["--predictor", str(fitted_dir / "bertperf.json"), "--L", "6", "--H", "384",
            "--A", "12", "--I", "1536", "--S", str(S), "--json"]
    assert predict_main(args) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["source"] == "parametric" and f"S={S} not in [64, 128]" in row["outside"]
    assert row["latency_ms"] > 0 and row["error_pct"] >= 5.0
    assert predict_main(args[:-1]) == 0
    assert "outside the profiled space" in capsys.readouterr().out


def test_mlp_never_clips_silently(fitted_dir, capsys):
    rows = []
    for I in (4096, 8192):
        assert predict_main(["--predictor", str(fitted_dir / "mlp.json"), "--L", "24", "--H",
                             "1024", "--A", "16", "--I", str(I), "--S", "128", "--json"]) == 0
        rows.append(json.loads(capsys.readouterr().out))
    assert all(r["extrapolated"] for r in rows)
    assert rows[0]["latency_ms"] != rows[1]["latency_ms"]   # no clip to one value
    assert predict_main(["--predictor", str(fitted_dir / "mlp.json"), "--L", "24", "--H",
                         "1024", "--A", "16", "--I", "4096", "--S", "128"]) == 0
    assert "EXTRAPOLATED" in capsys.readouterr().out


def test_predict_takes_a_model(fitted_dir, capsys, monkeypatch):
    import types

    import armbert
    cfg = types.SimpleNamespace(num_hidden_layers=6, hidden_size=384, num_attention_heads=12,
                                intermediate_size=1536)
    seen = []
    monkeypatch.setattr(armbert, "load", lambda p: seen.append(p) or types.SimpleNamespace(
        config=cfg))
    assert predict_main(["--predictor", str(fitted_dir / "bertperf.json"), "--model",
                         "m.armbert", "--S", "128"]) == 0
    assert seen == ["m.armbert"] and "L6-H384-A12-I1536-S128-B1" in capsys.readouterr().out
    monkeypatch.setattr(armbert, "load", lambda p: (_ for _ in ()).throw(OSError("gone")))
    assert predict_main(["--predictor", str(fitted_dir / "bertperf.json"), "--model", "x",
                         "--S", "128"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_transfer_cli_on_two_fake_targets(fitted_dir, tmp_path, capsys):
    assert transfer_main(["--predictor", str(fitted_dir / "bertperf.json"), "--fake",
                          "--threads", "2", "--cores", "0,1", "--truth", "20", "--quick",
                          "--windows", "2", "--no-progress", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| transfer |" in out and "| full campaign |" in out
    assert json.loads((tmp_path / "transfer.json").read_text())["target"]["threads"] == 2


def test_armbert_cli_routes_the_planner_commands():
    code = "import sys, armbert.cli as c; sys.exit(c.main(['evaluate', '--help']))"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("usage: armbert evaluate")
