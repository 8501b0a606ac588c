"""ONNX import beyond the legacy exporter (issue 11): torch's default (dynamo) export of
the bundled MiniLM, an Optimum-style export folder, an onnxruntime-quantized graph
refused by name, and malformed files, each refused with one line naming the reason
(armbert.OnnxError and its ``reason`` from the API; exit status 2 and one line from
``armbert convert``). The heads' ONNX tests are in tests/engine/test_heads.py.
Nothing is downloaded: the graphs are exported here from the bundled checkpoint or
from small random models."""
import shutil
import subprocess
import sys

import numpy as np
import pytest

import armbert
from armbert.errors import CheckpointError, OnnxError
from tests.helpers import (FP32_ATOL, ONNX_ATOL, REPO, SMALL, assert_same_weights,
                           small_hf_model)
from tests.helpers import export_legacy_onnx as _export_legacy

onnx = pytest.importorskip("onnx")
torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

pytestmark = pytest.mark.filterwarnings("ignore::Warning")  # exporter chatter

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                   "vocab.txt")


@pytest.fixture(scope="module")
def minilm_dir():
    from armbert.loaders.bundled import model_dir

    try:
        return model_dir()
    except CheckpointError as e:
        pytest.skip(str(e))


@pytest.fixture(scope="module")
def minilm_dynamo(minilm_dir, tmp_path_factory):
    """torch's default exporter on the bundled MiniLM as a user calls it (positional
    inputs, nothing but dynamo=True), then the same files as an Optimum folder."""
    pytest.importorskip("onnxscript")
    hf = transformers.BertModel.from_pretrained(str(minilm_dir)).eval()
    bare = tmp_path_factory.mktemp("dynamo")
    ids = torch.randint(1000, 2000, (2, 9))
    torch.onnx.export(hf, (ids, torch.ones_like(ids)), str(bare / "model.onnx"), dynamo=True,
                      verbose=False)
    folder = tmp_path_factory.mktemp("optimum") / "minilm-onnx"
    shutil.copytree(bare, folder)  # model.onnx and its external data, model.onnx.data
    for name in ("config.json", *TOKENIZER_FILES):
        if (minilm_dir / name).is_file():
            shutil.copy(minilm_dir / name, folder / name)
    return hf, bare / "model.onnx", folder


def padded(rng, batch=3, seq=12):
    ids = rng.integers(1000, 20000, (batch, seq))
    mask = np.ones_like(ids)
    mask[-1, seq - 4:] = 0
    return ids * mask, mask


def test_dynamo_export_of_minilm_matches_torch(minilm_dir, minilm_dynamo):
    hf, path, _ = minilm_dynamo
    model = armbert.load(path)  # no config.json beside: the config comes from the graph
    assert_same_weights(armbert.load(minilm_dir), model, atol=ONNX_ATOL)
    ids, mask = padded(np.random.default_rng(0))
    out = armbert.Engine(model, backend="host").run(ids, mask)
    with torch.no_grad():
        want = hf(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask))
    hidden = want.last_hidden_state.numpy()
    assert np.abs(out.last_hidden_state - hidden)[mask > 0].max() <= FP32_ATOL
    assert np.abs(out.pooler_output - want.pooler_output.numpy()).max() <= FP32_ATOL


def test_optimum_folder_loads_like_the_hf_directory(minilm_dir, minilm_dynamo):
    _, _, folder = minilm_dynamo
    model = armbert.load(folder)  # model.onnx + config.json + tokenizer files
    assert model.tokenizer_path == str(folder / "tokenizer.json")
    reference = armbert.load(minilm_dir)
    assert_same_weights(reference, model, atol=ONNX_ATOL)
    ids, mask = padded(np.random.default_rng(1))
    a = armbert.Engine(model, backend="host").run(ids, mask).last_hidden_state
    b = armbert.Engine(reference, backend="host").run(ids, mask).last_hidden_state
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    # Optimum's quantized export (model_quantized.onnx alone) reaches the loader and is
    # refused by what it is.
    q = folder.parent / "quantized"
    q.mkdir()
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(folder / name, q / name)
    _quantize(_small_legacy(folder.parent), q / "model_quantized.onnx")
    with pytest.raises(OnnxError, match="already quantized") as e:
        armbert.load(q)
    assert e.value.reason == "quantized"


# ---- quantized and malformed files, from one small legacy export ----

def _small_legacy(directory):
    path = directory / "small.onnx"
    if not path.is_file():
        _export_legacy(small_hf_model(), path)
    return path


def _quantize(src, dst):
    qz = pytest.importorskip("onnxruntime.quantization")
    qz.quantize_dynamic(str(src), str(dst), weight_type=qz.QuantType.QInt8)
    return dst


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    return _small_legacy(tmp_path_factory.mktemp("small"))


def test_ort_quantized_onnx_is_refused_by_what_it_is(small_onnx, tmp_path):
    path = _quantize(small_onnx, tmp_path / "q.onnx")
    with pytest.raises(OnnxError) as e:
        armbert.load(path)
    message = str(e.value)
    assert e.value.reason == "quantized" and isinstance(e.value, CheckpointError)
    assert "already quantized" in message and "onnxruntime.quantization" in message
    assert "MatMulInteger" in message and "armbert.quantize" in message
    assert "no weight for" not in message and "\n" not in message
    # The command line: exit status 2, one line, no traceback.
    out = subprocess.run(
        [sys.executable, "-c", "import sys; from armbert.cli import main; sys.exit(main())",
         "convert", str(path), "--precision", "int8", "-o", str(tmp_path / "q.armbert")],
        cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("armbert: error: ") \
        and "already quantized" in lines[0], out.stderr
    assert not (tmp_path / "q.armbert").exists()


def _edit(src, dst, change):
    model = onnx.load(str(src))
    change(model)
    onnx.save(model, str(dst))


def _query_weight(model):
    node = next(n for n in model.graph.node
                if n.name == "/bert/encoder/layer.0/attention/self/query/MatMul")
    return next(t for t in model.graph.initializer if t.name == node.input[1])


def _drop_initializer(model):
    keep = [t for t in model.graph.initializer if t.name != _query_weight(model).name]
    del model.graph.initializer[:]
    model.graph.initializer.extend(keep)


def _wrong_shape(model):
    t = _query_weight(model)
    t.CopyFrom(onnx.numpy_helper.from_array(
        np.ones((SMALL["hidden_size"], SMALL["hidden_size"] - 1), np.float32), t.name))


def _dims_without_data(model):
    _query_weight(model).dims[0] += 1


def _custom_op(model):
    node = next(n for n in model.graph.node if n.op_type == "Softmax")
    node.op_type, node.domain = "FancySoftmax", "com.example"
    model.opset_import.append(onnx.helper.make_opsetid("com.example", 1))


def _opset(version):
    def change(model):
        model.opset_import[0].version = version
    return change


def _drop_input(op_type):
    def change(model):
        node = next(n for n in model.graph.node if n.op_type == op_type)
        del node.input[1:]
    return change


# name: (how to make it from the small export, reason, what the one line says)
MALFORMED = {
    "truncated": (lambda src, dst: dst.write_bytes(src.read_bytes()[: src.stat().st_size // 2]),
                  "truncated", "truncated or corrupt ONNX file"),
    "not_protobuf": (lambda src, dst: dst.write_text("input_ids,attention_mask\n1,2\n" * 20),
                     "not_onnx", "not an ONNX file"),
    "empty": (lambda src, dst: dst.write_bytes(b""), "not_onnx", "empty file"),
    "missing_initializer": (lambda src, dst: _edit(src, dst, _drop_initializer),
                            "missing_initializer", "which no initializer, graph input or node"),
    "wrong_initializer_shape": (lambda src, dst: _edit(src, dst, _wrong_shape),
                                "bad_initializer", r"has shape \[72, 71\].* needs \[72, 72\]"),
    "initializer_dims_without_data": (lambda src, dst: _edit(src, dst, _dims_without_data),
                                      "bad_initializer", "does not hold the data its dims need"),
    "unsupported_op": (lambda src, dst: _edit(src, dst, _custom_op),
                       "unsupported_op", "com.example::FancySoftmax"),
    "opset_too_new": (lambda src, dst: _edit(src, dst, _opset(99)),
                      "unsupported_opset", "opset 99, newer than"),
    "opset_too_old": (lambda src, dst: _edit(src, dst, _opset(9)),
                      "unsupported_opset", "opset 9; armbert reads opsets 14"),
    # what no check names still comes back as this file's OnnxError, in one line
    "matmul_one_input": (lambda src, dst: _edit(src, dst, _drop_input("MatMul")),
                         "not_bert", r"malformed \(IndexError"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_onnx_gets_one_clear_line(case, small_onnx, tmp_path, capsys):
    from armbert.cli import main

    make, reason, says = MALFORMED[case]
    path = tmp_path / f"{case}.onnx"
    make(small_onnx, path)
    with pytest.raises(OnnxError, match=says) as e:
        armbert.load(path)
    assert e.value.reason == reason and str(path) in str(e.value)
    assert "\n" not in str(e.value)
    capsys.readouterr()
    assert main(["convert", str(path), "--precision", "fp32", "-o",
                 str(tmp_path / "out.armbert")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("armbert: error: "), err
    import re
    assert re.search(says, err), err
    print(f"\n{case}: {err.strip()}")


def test_lost_external_data_is_named(minilm_dynamo, tmp_path):
    # The dynamo exporter writes the weights to model.onnx.data beside model.onnx.
    _, path, _ = minilm_dynamo
    shutil.copy(path, tmp_path / "model.onnx")
    with pytest.raises(OnnxError, match="external weight data") as e:
        armbert.load(tmp_path / "model.onnx")
    assert e.value.reason == "truncated"
