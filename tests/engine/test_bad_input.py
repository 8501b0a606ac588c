"""The bad-input suite of issue 12: every input below was a crash, a silent wrong
result or an unclear error (cffi TypeError, numpy UFunc error, traceback). Each now
raises an armbert.errors class naming the problem (the CLI: one line, exit 2)."""
import dataclasses
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import armbert
from armbert import errors
from armbert.plan import Plan, PlanError
from tests.hardening.tiny import tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model()


@pytest.fixture(scope="module")
def engine(model):
    return armbert.Engine(model, backend="host", threads=1)


# ---- the model is validated at the boundary, as the loaders do ----
def test_model_disagreeing_with_its_config_is_refused(model):
    # issue 12: ran and read past the buffer (ASan: heap-buffer-overflow in new_embeddings).
    cut = dataclasses.replace(model, position=model.position[:10].copy())
    with pytest.raises(errors.CheckpointError, match="position has shape \\[10, 32\\]"):
        armbert.Engine(cut, backend="host")
    narrow = dataclasses.replace(model, token_type=model.token_type[:, :8].copy())
    with pytest.raises(errors.CheckpointError, match="token_type"):
        armbert.Engine(narrow, backend="host")


def test_nan_weights_are_refused(model):
    # issue 12: all-NaN output, no error.
    layers = [dataclasses.replace(l) for l in model.layers]
    layers[1].ffn_in_w = layers[1].ffn_in_w.copy()
    layers[1].ffn_in_w[3, 4] = np.nan
    with pytest.raises(errors.CheckpointError, match="layers.1.ffn_in_w contains NaN"):
        armbert.Engine(dataclasses.replace(model, layers=layers), backend="host")
    with pytest.raises(errors.CheckpointError, match="NaN"):
        armbert.quantize(dataclasses.replace(model, layers=layers), [np.array([[1, 2]])])


def test_quantized_model_is_validated_too(model):
    q = armbert.quantize(model, [np.array([[1, 2, 3]])])
    bad = dataclasses.replace(q, model=dataclasses.replace(model, word=model.word[:-1].copy()))
    with pytest.raises(errors.CheckpointError, match="word has shape"):
        armbert.Engine(bad, backend="host")


# ---- ids, masks, token types ----
@pytest.mark.parametrize("types,match", [
    (np.array([[0.7, 0.0, 0.0]]), "token_type_ids must be integers"),
    (np.array([["a", "b", "c"]]), "token_type_ids must be integers"),
    (np.array([[0, 1, 2**40]]), "token_type_ids must be in"),
])
def test_bad_token_types(engine, types, match):
    # issue 12: 0.7 was silently truncated to 0; strings gave a numpy UFunc error.
    with pytest.raises(errors.InvalidArgumentError, match=match):
        engine.run(np.array([[1, 2, 3]]), None, types)


@pytest.mark.parametrize("ids,match", [
    (np.array([["1", "2"]]), "input_ids must be integers"),
    (np.array([[True, False]]), "input_ids must be integers"),
    ([[1, None]], "input_ids must be integers"),
    ([[101, 2023], [101]], r"input_ids must be a rectangular array \[batch, seq\] \(a ragged"),
    ("hello", "input_ids must be an array of integers .* got str"),
    (None, "input_ids must be an array of integers .* got NoneType"),
])
def test_bad_ids_types(engine, ids, match):
    with pytest.raises(errors.InvalidArgumentError, match=match):
        engine.run(ids)


def test_text_and_calibration_edges(model, tmp_path):
    minilm = armbert.load()
    tok = armbert.tokenizer_for(minilm)
    with pytest.raises(errors.InvalidArgumentError, match="text 1 is not valid Unicode"):
        tok(["fine", "bytes \udcff decoded with surrogateescape"])
    with pytest.raises(errors.InvalidArgumentError, match="text 0 must be a string"):
        tok([None])
    with pytest.raises(errors.InvalidArgumentError, match="max_length must be an integer"):
        tok(["a"], max_length=2.5)
    assert tok([("a question", "a context")])["token_type_ids"].max() == 1  # a pair
    # quantize: a generator is read once; a string is one sentence, not its characters
    gen = armbert.quantize(minilm, (t for t in ["one sentence", "and another"]))
    one = armbert.quantize(minilm, "one sentence")
    assert gen.calibration_texts == 2 and one.calibration_texts == 1
    # save to a directory: said, and no stray temporary file is left beside it
    with pytest.raises(errors.InvalidArgumentError, match="is a directory"):
        armbert.save(model, tmp_path)
    missing = tmp_path / "no" / "such" / "m.armbert"
    with pytest.raises(FileNotFoundError):
        armbert.save(model, missing)
    assert list(tmp_path.iterdir()) == []


def test_bad_mask_types(engine):
    with pytest.raises(errors.InvalidArgumentError, match="attention_mask must be numeric"):
        engine.run(np.array([[1, 2]]), np.array([["1", "1"]]))
    with pytest.raises(errors.InvalidArgumentError, match="only 0 and 1"):
        engine.run(np.array([[1, 2]]), np.array([[1.0, np.nan]]))
    # 0/1 as floats or bools is a mask
    engine.run(np.array([[1, 2]]), np.array([[True, False]]))


# ---- threads, cores ----
@pytest.mark.parametrize("threads,exc,match", [
    ("2", errors.InvalidArgumentError, "threads must be an integer"),
    (2.0, errors.InvalidArgumentError, "threads must be an integer"),
    (True, errors.InvalidArgumentError, "threads must be an integer"),
    (2**40, errors.InvalidArgumentError, "threads must be in \\[1, "),
    (10000, errors.InvalidArgumentError, "threads must be in \\[1, "),
    (0, errors.InvalidArgumentError, "threads must be in \\[1, "),
    (-3, errors.InvalidArgumentError, "threads must be in \\[1, "),
])
def test_bad_threads(model, threads, exc, match):
    # issue 12: TypeError / OverflowError from cffi; 10000 accepted (+1.8 GB RSS).
    with pytest.raises(exc, match=match):
        armbert.Engine(model, backend="host", threads=threads)
    with pytest.raises(exc, match=match):
        armbert.engine.nat.Context("host", threads=threads)


@pytest.mark.parametrize("cores,match", [
    ([0.5], "cores must be integers"),
    (["0"], "cores must be integers"),
    ("01", "cores must be a list"),
    (0, "cores must be a list"),
    ([0, 0], "core 0 twice"),
    ([-1], "core -1 does not exist"),
    ([2**40], "does not exist"),
])
def test_bad_cores(model, cores, match):
    with pytest.raises(errors.InvalidArgumentError, match=match):
        armbert.Engine(model, backend="host", cores=cores)


def test_native_context_refuses_absurd_threads():
    # The ABI itself, not just the Python checks: a status, not 10000 scratch buffers.
    from armbert._native import ffi, lib, check
    opts = ffi.new("armbert_context_options *")
    opts.num_threads = 10000
    out = ffi.new("armbert_context **")
    with pytest.raises(errors.InvalidArgumentError, match="num_threads 10000"):
        check(lib().armbert_context_create(0, opts, out))


# ---- plans ----
def _plan_dict(**layer):
    return {"version": 1, "devices": {"cpu": {"backend": "host"}},
            "embeddings": {"device": "cpu"},
            "layers": [{"device": "cpu", **layer}, {"device": "cpu"}]}


@pytest.mark.parametrize("layer,match", [
    ({"stage": 0.5}, "stage must be an integer"),
    ({"stage": "1"}, "stage must be an integer"),
    ({"stage": True}, "stage must be an integer"),
    ({"stage": -1}, "stage must be >= 0"),
    ({"precision": 8}, "precision must be a string"),
])
def test_plan_field_types(model, layer, match):
    # issue 12: a stage of 0.5 was accepted as 0.
    with pytest.raises(PlanError, match=match):
        armbert.Engine(model, plan=_plan_dict(**layer))


@pytest.mark.parametrize("device,match", [
    ({"backend": "host", "threads": "2"}, "threads must be an integer"),
    ({"backend": "host", "threads": 10000}, "threads must be in"),
    ({"backend": "host", "cores": [0.0]}, "cores must be integers"),
    ({"backend": "host", "cores": "0"}, "cores must be a list"),
    ({"backend": 1}, "backend must be a string"),
])
def test_plan_device_types(model, device, match):
    d = _plan_dict()
    d["devices"]["cpu"] = device
    with pytest.raises(PlanError, match=match):
        armbert.Engine(model, plan=d)


def test_plan_version_type():
    d = _plan_dict()
    d["version"] = 1.5
    with pytest.raises(PlanError, match="version must be an integer"):
        Plan.load(d)


def test_binary_or_over_long_plan_argument(tmp_path):
    # issue 12: UnicodeDecodeError and OSError ENAMETOOLONG.
    binary = tmp_path / "plan.bin"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe" * 10)
    with pytest.raises(PlanError, match="not UTF-8 text"):
        Plan.load(binary)
    with pytest.raises(PlanError, match="not UTF-8 text"):
        Plan.load(str(binary))
    with pytest.raises(PlanError, match="does not exist"):
        Plan.load("x" * 5000)
    with pytest.raises(PlanError, match="does not exist|not a plan"):
        Plan.load("bad\0name")
    with pytest.raises(PlanError):
        Plan.load(b"\xff\xfe")
    with pytest.raises(PlanError, match="a plan is"):
        Plan.load(12)


# ---- SentenceEncoder ----
def test_sentence_encoder_edges():
    model = armbert.load()
    enc = armbert.SentenceEncoder(armbert.Engine(model, backend="host", threads=1))
    empty = enc.encode([])
    assert empty.shape == (0, model.config.hidden_size) and empty.dtype == np.float32
    for bad in (0, -1, "2", 2.5, True):
        with pytest.raises(errors.InvalidArgumentError, match="batch_size must be"):
            enc.encode(["a"], batch_size=bad)
    with pytest.raises(errors.InvalidArgumentError, match="sentences must be strings"):
        enc.encode([1, 2])


# ---- CLI: one line naming the problem, exit 2, no traceback ----
@pytest.mark.parametrize("argv,match", [
    (["run", "--repeats", "0"], "--repeats must be an integer >= 1"),
    (["run", "--seq", "-5"], "--seq must be an integer >= 1"),
    (["run", "--seq", "abc"], "--seq must be an integer >= 1"),
    (["run", "--threads", "10000"], "--threads must be an integer in \\[1, "),
    (["run", "--threads", "x"], "--threads must be an integer in \\[1, "),
    (["run", "--model", "/nonexistent/dir"], "/nonexistent/dir"),
    (["run", "--plan", "/nonexistent.json"], "does not exist"),
    (["run", "--backend", "gpu"], "invalid choice"),
    (["run", "--precisions", "int4"], "int4"),
    (["frobnicate"], "invalid choice"),
    (["run", "--seq", "600"], "--seq 600 is longer than the model's 512 positions"),
    (["run", "--precisions", "fp32,bf16"], "unknown precision 'bf16'"),
    # The planner's commands: the same one line, their argument errors included.
    (["plan", "--bogus"], "unrecognized arguments: --bogus"),
    (["profile", "--threads"], "expected one argument"),
    (["predict"], "required: --predictor"),
    (["plan", "--devices", "cpu=host:0:1000", "--out", "/dev/null"], "cpu"),
    (["plan", "--seq", "0", "--out", "/dev/null"], "seq"),
    (["profile", "--fake", "--sample", "-1"], "--sample must be an integer >= 1"),
    (["profile", "--fake", "--configs", "garbage"], "--configs: config 'garbage' lacks"),
    (["profile", "--fake", "--fit", "nosuch"], "unknown predictor 'nosuch'"),
    (["evaluate", "--fake", "--truth", "0"], "--truth must be an integer >= 1"),
])
def test_cli_errors_are_one_line(argv, match):
    r = subprocess.run([sys.executable, "-m", "armbert.cli", *argv], capture_output=True,
                       text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert r.returncode == 2, (r.returncode, r.stderr[-2000:])
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert re.match(rf"armbert( {argv[0]})?: error: ", lines[0]), lines[0]
    assert re.search(match, lines[0]), lines[0]


def test_an_overflow_is_an_error_not_a_result():
    # Finite weights and ids, an fp16 run that overflows inside (FFN weights x300 in
    # layer 0: its FFN output passes 65504): NumericError naming fp16, never a NaN
    # result; the same model at fp32 stays finite and runs.
    import dataclasses

    m = armbert.load()
    first = m.layers[0]
    big = dataclasses.replace(first, ffn_in_w=first.ffn_in_w * 300,
                              ffn_out_w=first.ffn_out_w * 300)
    m = dataclasses.replace(m, layers=[big, *m.layers[1:]])
    ids = [[101, 7592, 2088, 102]]
    assert np.isfinite(armbert.Engine(m, precision="fp32", threads=1).run(ids)
                       .last_hidden_state).all()
    with pytest.raises(armbert.NumericError, match="non-finite values .* at fp16.*65504"):
        armbert.Engine(m, precision="fp16", threads=1).run(ids)


def test_options_that_used_to_pass_silently():
    # normalize="no" normalized, max_length=0 meant the default, a negative
    # outlier_ratio made all but one channel outliers: each is refused by name now.
    minilm = armbert.load()
    e = armbert.Engine(minilm, threads=1)
    with pytest.raises(errors.InvalidArgumentError, match="normalize must be True or False"):
        e.embed([[101, 2023, 102]], normalize="no")
    for bad in (0, -5, 10_000):
        with pytest.raises(errors.InvalidArgumentError, match="max_length must be in"):
            armbert.SentenceEncoder(e, max_length=bad)
    for kw in ({"outlier_ratio": -1}, {"outlier_ratio": float("nan")}, {"max_outliers": -1},
               {"max_outliers": 2.5}):
        with pytest.raises(errors.InvalidArgumentError, match=next(iter(kw))):
            armbert.quantize(minilm, ["a sentence"], **kw)


def test_bench_json_path_is_checked_before_the_runs(tmp_path):
    from armbert.cli import main
    assert main(["bench", "--runs", "1", "--json", str(tmp_path / "no" / "x.json")]) == 2
