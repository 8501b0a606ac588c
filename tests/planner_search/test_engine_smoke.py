"""Tiny smoke runs on the real engine: the measurement callbacks, a search
through them, the Gantt chart and `armbert plan` end to end (MiniLM, S=16).
No timing is asserted: only that the numbers are there and the plans run."""
import json
import sys

import numpy as np
import pytest

import armbert
from armbert.plan import Device, Plan
from planner.search.cli import parse_device, plan_main
from planner.search.measure_engine import EngineRunner, RunSettings, gantt_png, steady_throughput
from planner.search.pipeline import Split, binary_search, split_plan

DEVICES = {"big": Device("host", (0,), 1), "little": Device("host", (1,), 1)}
TINY = RunSettings(seq=16, repeats=1, warmup=1, items=4)


@pytest.fixture(scope="module")
def runner():
    return EngineRunner(armbert.load(), TINY)


def test_measurements(runner, tmp_path):
    plan = split_plan(DEVICES, Split(("big", "little"), (3,), 6))
    alone = runner.stage_ms_alone(plan)
    piped = runner.stage_ms_pipelined(plan)
    assert set(alone) == set(piped) == {0, 1} and min(alone.values()) > 0
    assert runner.latency_ms(plan) > 0
    assert len(runner.layer_ms("big", DEVICES["big"])) == 7
    records = runner.transfers(plan)
    assert records and records[0][:2] == ("big/fp32", "little/fp32")
    stats = runner.last_stats
    assert stats.items == TINY.items and steady_throughput(stats) > 0
    png = gantt_png(stats, tmp_path / "g.png")
    assert open(png, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_search_through_the_engine(runner):
    before = runner.measurements
    r = binary_search(runner.stage_measure("alone"), DEVICES, 6)
    assert r.measurements == runner.measurements - before
    assert r.measurements < 2 + 2 * 5  # fewer than exhaustive's 12
    out = armbert.Engine(runner.model, plan=r.plan).run(runner.inputs[0][0])
    assert np.isfinite(out.last_hidden_state).all()


def test_parse_device():
    assert parse_device("big=neon:4-7:2") == ("big", Device("neon", (4, 5, 6, 7), 2))
    assert parse_device("gpu=cl") == ("gpu", Device("cl", (), None))
    assert parse_device("x=host:0,1") == ("x", Device("host", (0, 1), None))
    with pytest.raises(Exception, match="runs backwards"):
        parse_device("x=host:1-0")


@pytest.mark.parametrize("objective", ["throughput", "latency"])
def test_plan_cli_writes_a_runnable_plan(tmp_path, objective):
    out = tmp_path / "plan.json"
    rc = plan_main(["--objective", objective, "--devices", "big=host:0", "little=host:1",
                    "--seq", "16", "--repeats", "1", "--items", "3", "--final-items", "4",
                    "--out", str(out), "--quiet"])
    assert rc == 0
    plan = Plan.load(out)
    assert plan.meta["objective"] == objective and plan.meta["measurements"] > 0
    assert (tmp_path / plan.meta["gantt"]).is_file()
    engine = armbert.Engine(armbert.load(), plan=plan)
    assert engine.run(np.arange(1000, 1010)).last_hidden_state.shape == (1, 10, 384)


def test_plan_without_matplotlib_still_writes_the_plan(tmp_path, monkeypatch, capsys):
    # The Gantt chart is a picture of the plan's meta: without matplotlib (not a
    # dependency: the [planner] extra) the plan is written and the chart is said missing.
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    out = tmp_path / "plan.json"
    rc = plan_main(["--objective", "latency", "--devices", "big=host:0", "little=host:1",
                    "--seq", "16", "--repeats", "1", "--items", "3", "--final-items", "3",
                    "--out", str(out)])
    assert rc == 0 and Plan.load(out).meta["gantt"] is None
    assert not out.with_suffix(".gantt.png").exists()
    assert "no Gantt chart" in capsys.readouterr().out and 'armbert[planner]' in str(
        pytest.raises(armbert.MissingDependencyError, gantt_png, None, tmp_path / "g.png").value)


def test_plan_cli_with_precision_budget(tmp_path):
    out = tmp_path / "p.json"
    assert plan_main(["--seq", "16", "--repeats", "1", "--items", "3", "--final-items", "3",
                      "--precision-budget", "0.01", "--out", str(out), "--quiet"]) == 0
    meta = json.loads(out.read_text())["meta"]
    assert meta["precision"]["measured_deviation"]["cosine"] <= 0.01


def test_plan_cli_edp_without_power_says_so(tmp_path, capsys):
    if __import__("planner.search.objectives", fromlist=["x"]).hwmon_power_inputs():
        pytest.skip("this machine has a power sensor")
    rc = plan_main(["--objective", "edp", "--out", str(tmp_path / "e.json")])
    assert rc == 2 and not (tmp_path / "e.json").exists()
    assert "no power reading" in capsys.readouterr().err


def test_plan_cli_rejects_a_missing_backend(tmp_path, capsys):
    if "cl" in armbert.backends():
        pytest.skip("this build has cl")
    assert plan_main(["--devices", "gpu=cl", "--out", str(tmp_path / "x.json")]) == 2
    assert "not in this build" in capsys.readouterr().err


def test_plan_cli_edp_with_a_power_command(tmp_path):
    import sys
    out = tmp_path / "edp.json"
    cmd = f"{sys.executable} -c \"print('2.5')\""  # a stand-in sensor: constant 2.5 W
    assert plan_main(["--objective", "edp", "--power-cmd", cmd, "--seq", "16", "--repeats", "1",
                      "--items", "3", "--final-items", "3", "--out", str(out), "--quiet"]) == 0
    meta = json.loads(out.read_text())["meta"]
    assert set(meta["scores"]) == {"pipeline", "big", "little"}
    chosen = meta["scores"][meta["chosen"]]
    assert chosen["unit"] == "J*s" and chosen["energy"]["mean_watts"] == pytest.approx(2.5)
    assert all(s["value"] >= chosen["value"] for s in meta["scores"].values())


@pytest.mark.parametrize("argv", [["--precisions", "fp16,int8"], ["--precisions", "fp32,bf16"],
                                  ["--precision-budget", "-1"]])
def test_plan_cli_rejects_bad_precision_arguments(tmp_path, capsys, argv):
    assert plan_main(argv + ["--out", str(tmp_path / "x.json")]) == 2
    assert "armbert plan:" in capsys.readouterr().err
