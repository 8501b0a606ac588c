"""`armbert plan --predictor`: costs from a fitted predictor, the search on them, one
confirming run, and a re-plan on measured costs when the run disagrees. Devices are
validated first. The predictor is fitted on the fake device, so against the real
engine it disagrees: which is how the re-plan path is exercised."""
import json

import numpy as np
import pytest

from armbert.plan import Device, Plan
from planner.cli import profile_main
from planner.search.cli import plan_main
from planner.copyrate import CopyRate
from planner.search.predicted import (HOST_COPY_MS_PER_BYTE, Shape, layer_majority,
                                      op_graph_problem, predicted_costs)
from planner.search.split import genetic_search
from planner.predictors import load

ONE = {"big": Device("host", (0,), 1), "little": Device("host", (1,), 1)}
MINILM = Shape(6, 384, 12, 1536, 128, 1)
RUN = ["--seq", "16", "--repeats", "1", "--items", "3", "--final-items", "3", "--quiet"]


@pytest.fixture(scope="module")
def predictor_file(tmp_path_factory):
    d = tmp_path_factory.mktemp("pred")
    assert profile_main(["--fake", "--H", "384", "--A", "12", "--I", "1536", "--S", "64,128",
                         "--B", "1", "--threads", "1", "--cores", "0", "--no-progress", "--quick",
                         "--out", str(d), "--fit", "bertperf"]) == 0
    return d / "predictors" / "bertperf.json"


def test_costs_come_from_the_predictor_of_each_device(predictor_file):
    pred = load(predictor_file)
    costs = predicted_costs([pred], ONE, MINILM, ["fp32"])
    assert costs.sources == {"big/fp32": "bertperf", "little/fp32": "bertperf"}
    row = costs.table.row("big", "fp32")
    t = pred.terms(MINILM.config())
    assert row[0] == pytest.approx(t["emb"]) and row[1] == pytest.approx(t["enc1"])
    total = float(pred.predict([MINILM.config()])[0])
    assert sum(row) == pytest.approx(total, rel=1e-9)       # the units add up to the model
    problem = op_graph_problem(costs, ["big", "little"], "fp32", MINILM)
    assert problem.latency_ms.sum(0) == pytest.approx([sum(row[1:])] * 2, rel=1e-9)
    assert not problem.graph.is_chain()                         # q, k, v branch
    assert genetic_search(problem).latency_ms <= sum(row[1:]) + 1e-9


def test_profiling_records_the_copy_rate(predictor_file):
    rate = CopyRate.from_meta(load(predictor_file).meta)
    assert rate is not None and np.isfinite(rate.ms_per_byte) and rate.ms_per_byte > 0
    assert len(rate.bytes) == len(rate.median_ms) > 1


def with_copy(pred, ms_per_byte, overhead_ms):
    pred.meta["copy"] = CopyRate(ms_per_byte, overhead_ms).to_dict()
    return pred


def test_transfers_cost_the_recorded_copy_rate_the_slower_of_two(predictor_file):
    nbytes = MINILM.B * MINILM.S * MINILM.H * 4
    fast = with_copy(load(predictor_file), 1e-7, 0.01)
    costs = predicted_costs([fast], ONE, MINILM, ["fp32"])
    assert costs.table.transfer("big", "little") == pytest.approx(0.01 + 1e-7 * nbytes)
    assert costs.table.transfer("big", "little") != pytest.approx(nbytes * HOST_COPY_MS_PER_BYTE)
    assert "measured" in costs.table.meta["transfers"] and costs.measured_rows == []
    slow = with_copy(load(predictor_file), 1e-6, 0.0)   # both predictors cover both devices
    costs = predicted_costs([fast, slow], ONE, MINILM, ["fp32"])
    assert costs.table.transfer("little", "big") == pytest.approx(1e-6 * nbytes)
    problem = op_graph_problem(costs, ["big", "little"], "fp32", MINILM)
    assert problem.transfer_ms[0, 1] == pytest.approx(1e-6 * nbytes)


def test_a_file_without_a_copy_rate_assumes_5_gb_s_and_says_so(tmp_path, predictor_file):
    d = json.loads(predictor_file.read_text())
    del d["meta"]["copy"]                                # a file from before it was recorded
    (tmp_path / "old.json").write_text(json.dumps(d))
    costs = predicted_costs([load(tmp_path / "old.json")], ONE, MINILM, ["fp32"])
    nbytes = MINILM.B * MINILM.S * MINILM.H * 4
    assert costs.table.transfer("big", "little") == pytest.approx(nbytes * HOST_COPY_MS_PER_BYTE)
    assert "assumed 5 GB/s" in costs.table.meta["transfers"] == costs.transfers
    assert "no measured copy rate" in costs.transfers


def test_a_device_no_predictor_covers_is_measured(predictor_file):
    seen = []
    devices = {**ONE, "both": Device("host", (0, 1), 2)}     # 2 threads: no predictor
    costs = predicted_costs([load(predictor_file)], devices, MINILM, ["fp32"],
                            lambda n, d, p: seen.append(n) or [1.0] * 7)
    assert seen == ["both"] and costs.measured_rows == ["both/fp32"]
    with pytest.raises(ValueError, match="no predictor for device both"):
        predicted_costs([load(predictor_file)], devices, MINILM, ["fp32"])


@pytest.mark.parametrize("devices, message", [
    (["big=host:0", "big=host:1"], "device name 'big' given twice"),
    (["a=host:0", "b=host:0"], "are the same host device"),
    (["big=host:99"], "core(s) [99] do not exist"),
    ([], "name at least one device"),
])
def test_bad_devices_are_one_line_errors(tmp_path, capsys, devices, message):
    assert plan_main(["--devices", *devices, "--out", str(tmp_path / "p.json")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and not (tmp_path / "p.json").exists()


def test_missing_predictor_file_is_a_one_line_error(tmp_path, capsys):
    assert plan_main(["--predictor", str(tmp_path / "no.json"), "--out",
                      str(tmp_path / "p.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def test_ga_needs_predicted_costs(tmp_path, capsys):
    assert plan_main(["--objective", "latency", "--split", "ga", "--out",
                      str(tmp_path / "p.json")]) == 2
    assert "--split ga needs --predictor" in capsys.readouterr().err


def with_error(src, dst, p95):
    d = json.loads(src.read_text())
    d["meta"]["error"] = {"p95_pct": p95, "n": 1, "within_2pct": 0.0}
    dst.write_text(json.dumps(d))
    return dst


def test_disagreement_beyond_the_stated_error_replans_on_measured_costs(tmp_path,
                                                                        predictor_file):
    narrow = with_error(predictor_file, tmp_path / "narrow.json", 1e-6)  # any miss is beyond
    out = tmp_path / "p.json"
    assert plan_main(["--objective", "latency", "--split", "ga", "--devices", "big=host:0:1",
                      "little=host:1:1", "--predictor", str(narrow), "--out", str(out)]
                     + RUN + ["--seq", "64"]) == 0
    meta = Plan.load(out).meta
    assert meta["ga"]["method"] == "genetic" and len(meta["ga"]["layer_devices"]) == 6
    assert meta["disagreement_pct"] > meta["stated_error_pct"] and meta["replan"]
    assert meta["measured_search"]["measured_ms"] and meta["measured_search"]["chosen"]


def test_agreement_within_the_stated_error_measures_only_to_confirm(tmp_path, predictor_file):
    wide = with_error(predictor_file, tmp_path / "wide.json", 1e6)  # a bar nothing leaves
    out = tmp_path / "p.json"
    assert plan_main(["--objective", "throughput", "--devices", "big=host:0:1",
                      "little=host:1:1", "--predictor", str(wide), "--out", str(out)]
                     + RUN + ["--seq", "64"]) == 0   # S=64: in the profiled space
    meta = Plan.load(out).meta
    assert not meta.get("replan") and meta["predicted_throughput_inf_s"] > 0
    assert meta["confirm_measurements"] == 1 and np.isfinite(meta["confirm_measured_inf_s"])
    assert meta["search"]["measurements"] > 0          # the search's calls were predictions
    assert meta["measurements"] <= 2                   # confirm + the final run


def test_precision_search_reads_predicted_layer_latencies(tmp_path, predictor_file, capsys):
    """fp32 layers come from the predictor; fp16 has none, so its row is measured."""
    out = tmp_path / "p.json"
    assert plan_main(["--objective", "latency", "--devices", "big=host:0:1", "little=host:1:1",
                      "--predictor", str(predictor_file), "--precision-budget", "0.01",
                      "--precisions", "fp32,fp16", "--seq", "16", "--repeats", "1", "--items",
                      "3", "--final-items", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "big/fp32 <- " in text and "big/fp16 <- measured" in text
    assert Plan.load(out).meta["precision"]["measured_deviation"]["cosine"] <= 0.01


def test_a_layer_goes_to_the_device_with_most_of_its_time():
    """The GA maps ops; the engine places layers. Layer 0: three small ops on b, one
    big op on a -> a (by op count it was b). Layer 1: a tie in time -> the previous
    layer's device, one switch fewer."""
    ops = ["layer.0.q", "layer.0.k", "layer.0.v", "layer.0.ffn_in_gelu",
           "layer.1.q", "layer.1.ffn_in_gelu"]
    lat = np.array([[1.0, 1.0], [1.0, 1.0], [1.0, 1.0], [9.0, 9.0],
                    [2.0, 2.0], [2.0, 2.0]])
    assignment = ["b", "b", "b", "a", "b", "a"]
    assert layer_majority(assignment, ops, 2, lat, ("a", "b")) == ["a", "a"]
    assert layer_majority(["b", "b", "b", "a", "a", "b"], ops, 2, lat, ("a", "b")) == ["a", "a"]
    # without latencies: by op count, as before
    assert layer_majority(assignment, ops, 2) == ["b", "b"]


def test_a_predictor_does_not_answer_for_another_class_of_core(tmp_path, monkeypatch,
                                                              predictor_file):
    # big.LITTLE as sysfs ranks it: core 0 capacity 1024 (big), core 1 446 (LITTLE)
    for cpu, cap in ((0, 1024), (1, 446)):
        (tmp_path / f"cpu{cpu}").mkdir()
        (tmp_path / f"cpu{cpu}" / "cpu_capacity").write_text(f"{cap}\n")
    import planner.measure
    monkeypatch.setattr(planner.measure, "CPU_SYSFS", str(tmp_path))
    assert planner.measure.core_class((0, 1)) == [446, 1024]
    pred = load(predictor_file)
    pred.meta["target"]["core_class"] = [1024]           # fitted on a big core
    seen = []
    costs = predicted_costs([pred], ONE, MINILM, ["fp32"],
                            lambda n, d, p: seen.append(n) or [1.0] * 7)
    assert costs.sources["big/fp32"] == "bertperf" and seen == ["little"]
    assert costs.measured_rows == ["little/fp32"]
    pred.meta["target"]["core_class"] = None             # unknown: answers for both
    assert predicted_costs([pred], ONE, MINILM, ["fp32"]).measured_rows == []


def test_the_predictor_file_records_its_class_of_core(predictor_file):
    from planner.measure import core_class
    assert load(predictor_file).meta["target"]["core_class"] == core_class((0,))


def test_a_cl_predictor_answers_for_the_gpu_whatever_its_threads(predictor_file):
    # A CL profile records the thread count it was started with; the GPU device of a
    # plan has none (its threads default to the CPU count): CPU threads and cores do
    # not describe a GPU, so the CL predictor answers for it (the test bed's CL plan
    # measured the GPU instead before).
    from planner.search.predicted import on_device

    pred = load(predictor_file)
    pred.meta["target"].update(backend="cl", threads=1, cores=[], core_class=None)
    assert on_device(pred, Device("cl", (), None))
    assert on_device(pred, Device("cl", (), 4))
    assert not on_device(pred, Device("neon", (0,), 1))
    pred.meta["target"].update(backend="neon")
    assert not on_device(pred, Device("neon", (0, 1), None))  # 2 threads, fitted on 1


def test_a_negative_predicted_term_is_taken_as_zero_and_said(predictor_file, monkeypatch):
    # A fitted line can put a part below zero; the cost table refuses negative costs
    # (the test bed's CL plan stopped on it), so the term is 0 and the source says so.
    pred = load(predictor_file)
    real = pred.terms
    monkeypatch.setattr(pred, "terms", lambda cfg: {**real(cfg), "emb": -14.5})
    costs = predicted_costs([pred], ONE, MINILM, ["fp32"])
    assert costs.table.latency_ms["big"]["fp32"][0] == 0.0
    assert "terms below 0 ms taken as 0: [-14.5]" in costs.sources["big/fp32"]
