"""Loaders: every source gives the same BertModel; every broken input a clear CheckpointError."""
import json
from pathlib import Path

import numpy as np
import pytest

from armbert.config import BertConfig
from armbert.errors import CheckpointError
from armbert.loaders import load
from armbert.loaders import safetensors as st
from armbert.model import BertModel
from tests.helpers import (ONNX_ATOL, SMALL, assert_same_weights, export_legacy_onnx,
                           run_without, small_hf_model, small_state_dict)


# Tracing transformers' mask code warns that a shape test becomes a constant; the
# exported graphs are still right for every sequence length (checked against ORT below).
pytestmark = pytest.mark.filterwarnings(
    "ignore:Converting a tensor to a Python boolean:Warning")


# ---- the bundled checkpoint ----

def test_bundled_minilm():
    model = load()
    c = model.config
    assert (c.vocab_size, c.hidden_size, c.num_hidden_layers, c.num_attention_heads,
            c.intermediate_size, c.max_position_embeddings, c.type_vocab_size) == \
        (30522, 384, 6, 12, 1536, 512, 2)
    assert c.layer_norm_eps == 1e-12 and c.head_dim == 32
    assert model.pooler_w is not None and model.pooler_w.shape == (384, 384)
    assert model.layers[0].qkv_w.shape == (3 * 384, 384)
    assert Path(model.tokenizer_path).name == "tokenizer.json"
    assert all(a.dtype == np.float32 for _, a in model.tensors())
    assert load(model) is model


def test_bundled_path_needs_only_numpy():
    # The arm64 boards have numpy and nothing else: block the heavy packages.
    out = run_without(('torch', 'onnx', 'transformers', 'tokenizers', 'safetensors', 'scipy'),
                      "from armbert.loaders import load\n"
                      "m = load()\n"
                      "print(m.config.hidden_size, m.pooler_w is not None)\n")
    assert out.split() == ["384", "True"]


def test_qkv_rows_are_query_then_key_then_value():
    hf = small_hf_model()
    model = load(hf)
    sd = {k: v.detach().numpy() for k, v in hf.state_dict().items()}
    h = SMALL["hidden_size"]
    for i, part in enumerate(("query", "key", "value")):
        np.testing.assert_array_equal(model.layers[1].qkv_w[i * h:(i + 1) * h],
                                      sd[f"encoder.layer.1.attention.self.{part}.weight"])
        np.testing.assert_array_equal(model.layers[1].qkv_b[i * h:(i + 1) * h],
                                      sd[f"encoder.layer.1.attention.self.{part}.bias"])


# ---- HF directory, torch module, ONNX: the same weights ----

def test_hf_directory_and_torch_module_agree(tmp_path):
    hf = small_hf_model()
    from_module = load(hf)
    hf.save_pretrained(tmp_path / "dir")
    from_dir = load(tmp_path / "dir")
    assert_same_weights(from_module, from_dir)
    assert from_dir.tokenizer_path is None
    # A .safetensors file with config.json beside it goes through the same loader.
    assert_same_weights(from_module, load(str(tmp_path / "dir" / "model.safetensors")))
    # Sharded checkpoints: an index.json naming several files.
    hf.save_pretrained(tmp_path / "sharded", max_shard_size="40KB")
    assert (tmp_path / "sharded" / "model.safetensors.index.json").is_file()
    assert_same_weights(from_module, load(tmp_path / "sharded"))


def test_shard_index_is_followed_or_refused(tmp_path):
    from safetensors.numpy import load_file, save_file

    small_hf_model().save_pretrained(tmp_path, max_shard_size="40KB")
    index = tmp_path / "model.safetensors.index.json"
    doc = json.loads(index.read_text())
    name, shard = next(iter(doc["weight_map"].items()))
    other = next(f for f in sorted(set(doc["weight_map"].values())) if f != shard)
    original = load_file(str(tmp_path / other))

    def with_map(weight_map, match):
        index.write_text(json.dumps({**doc, "weight_map": weight_map}))
        with pytest.raises(CheckpointError, match=match):
            load(tmp_path)
        index.write_text(json.dumps(doc))

    with_map({**doc["weight_map"], name: index.name}, "not a weight file beside the index")
    with_map({**doc["weight_map"], name: 5}, "not a weight file")
    with_map({**doc["weight_map"], name: "../x.safetensors"}, "not a weight file")
    with_map({**doc["weight_map"], name: other}, f"puts '{name}' in {other}, but it is in {shard}")
    # the same tensor in two shards, different values: which one is meant is not clear
    save_file({**original, name: np.zeros_like(load_file(str(tmp_path / shard))[name])},
              str(tmp_path / other))
    with pytest.raises(CheckpointError, match=f"tensor '{name}' is in"):
        load(tmp_path)


def test_pytorch_model_bin(tmp_path):
    torch = pytest.importorskip("torch")
    hf = small_hf_model()
    (tmp_path / "config.json").write_text(json.dumps(hf.config.to_dict()))
    torch.save(hf.state_dict(), tmp_path / "pytorch_model.bin")
    assert_same_weights(load(hf), load(tmp_path))


def test_task_head_is_loaded_beside_the_prefixed_encoder():
    transformers = pytest.importorskip("transformers")
    hf = small_hf_model(cls=transformers.BertForSequenceClassification)
    model = load(hf)
    assert_same_weights(model, load(hf.bert))
    assert model.head.task == "sequence_classification" and load(hf.bert).head is None
    assert load(hf, task="encoder").head is None


def test_plain_module_needs_a_config():
    torch = pytest.importorskip("torch")
    hf = small_hf_model()

    class Wrapper(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder_under_test = hf

    with pytest.raises(CheckpointError, match="config="):
        load(Wrapper())
    model = load(Wrapper(), config=dict(SMALL, model_type="bert"))
    assert_same_weights(model, load(hf))


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                            "ignore::UserWarning")  # exporter chatter
@pytest.mark.parametrize("randomize,opset", [(True, 20), (False, 20), (True, 14)])
def test_onnx_legacy_export_gives_the_same_weights(tmp_path, randomize, opset):
    # randomize=False: HF's init makes biases identical, which the exporter deduplicates;
    # opset 14 decomposes LayerNormalization and Gelu into primitive ops.
    hf = small_hf_model(randomize=randomize)
    from_onnx = load(export_legacy_onnx(hf, tmp_path / "bert.onnx", opset))
    assert_same_weights(load(hf), from_onnx, atol=ONNX_ATOL)
    assert from_onnx.config.num_attention_heads == 6  # inferred from the graph


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                            "ignore::UserWarning")  # exporter chatter
def test_onnx_runs_like_the_reference(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from tests import reference as ref

    path = export_legacy_onnx(small_hf_model(), tmp_path / "bert.onnx")
    model = load(path, config=BertConfig(**SMALL))  # config= skips the inference
    rng = np.random.default_rng(0)
    feeds = {"input_ids": rng.integers(0, 99, (2, 9)),
             "attention_mask": np.array([[1] * 9, [1] * 5 + [0] * 4]),
             "token_type_ids": rng.integers(0, 2, (2, 9))}
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    hidden, pooled = sess.run(None, {k: v.astype(np.int64) for k, v in feeds.items()})
    ref_hidden, ref_pooled = ref.bert_forward(model, *feeds.values())
    assert np.abs(hidden - ref_hidden).max() < 1e-4
    assert np.abs(pooled - ref_pooled).max() < 1e-4


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                            "ignore::UserWarning")  # exporter chatter
def test_onnx_dynamo_export_gives_the_same_weights(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    # The dynamo exporter is torch.onnx's, but needs onnxscript, which the host may lack.
    pytest.importorskip("onnxscript")
    hf = small_hf_model(randomize=False)  # zero biases: the optimizer drops them
    ids = torch.randint(0, 99, (2, 7))
    axes = {name: {0: "batch", 1: "seq"}
            for name in ("input_ids", "attention_mask", "token_type_ids")}
    kwargs = dict(input_ids=ids, attention_mask=torch.ones_like(ids),
                  token_type_ids=torch.zeros_like(ids))
    torch.onnx.export(hf, (), str(tmp_path / "d.onnx"), kwargs=kwargs, input_names=list(axes),
                      dynamic_axes=axes, dynamo=True, verbose=False)
    assert_same_weights(load(hf), load(tmp_path / "d.onnx"), atol=ONNX_ATOL)
    # Without a dynamic sequence axis the position table is folded away: say so.
    torch.onnx.export(hf, (), str(tmp_path / "s.onnx"), kwargs=kwargs, dynamo=True,
                      verbose=False)
    with pytest.raises(CheckpointError, match="dynamic sequence axis"):
        load(tmp_path / "s.onnx")


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning",
                            "ignore::UserWarning")  # exporter chatter
def test_onnx_refuses_tanh_gelu(tmp_path):
    transformers = pytest.importorskip("transformers")
    torch = pytest.importorskip("torch")
    cfg = transformers.BertConfig(**SMALL, hidden_act="gelu_new", attn_implementation="eager")
    torch.manual_seed(0)
    path = export_legacy_onnx(transformers.BertModel(cfg).eval(), tmp_path / "gelu_new.onnx")
    with pytest.raises(CheckpointError, match="erf form"):
        load(path)


def test_onnx_refuses_a_graph_that_is_not_bert(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.ones((4, 4), np.float32), "fc.weight")
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "fc.weight"], ["y"], name="/fc/MatMul")], "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [w])
    onnx.save(helper.make_model(graph), str(tmp_path / "mlp.onnx"))
    with pytest.raises(CheckpointError, match="not a BERT encoder"):
        load(tmp_path / "mlp.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"\x00\x01garbage")
    with pytest.raises(CheckpointError, match="junk.onnx"):
        load(tmp_path / "junk.onnx")


# ---- dispatch ----

def test_load_dispatch_errors(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load(tmp_path / "missing")
    (tmp_path / "weights.npz").write_bytes(b"")
    with pytest.raises(CheckpointError, match="unknown checkpoint type"):
        load(tmp_path / "weights.npz")
    with pytest.raises(TypeError, match="cannot load a BERT model from a builtins.int"):
        load(42)
    with pytest.raises(TypeError, match="config"):
        load(None, config="bert")
    st.save_file({"a": np.zeros(2, np.float32)}, tmp_path / "alone.safetensors")
    with pytest.raises(CheckpointError, match="no config.json"):
        load(tmp_path / "alone.safetensors")
    with pytest.raises(CheckpointError, match="no config.json"):
        load(tmp_path)


# ---- config ----

@pytest.mark.parametrize("change,match", [
    ({"model_type": "roberta"}, "model_type is 'roberta'"),
    ({"model_type": "gpt2"}, "'gpt2'"),
    ({"hidden_act": "gelu_new"}, "hidden_act"),
    ({"hidden_act": "relu"}, "hidden_act"),
    ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
    ({"num_attention_heads": 7}, "not divisible"),
    ({"hidden_size": 0}, "hidden_size"),
    ({"num_hidden_layers": True}, "num_hidden_layers"),
    ({"intermediate_size": 100.0}, "intermediate_size"),
    ({"layer_norm_eps": -1.0}, "layer_norm_eps"),
    ({"is_decoder": True}, "is_decoder"),
])
def test_config_refuses(change, match):
    with pytest.raises(CheckpointError, match=match):
        BertConfig.from_dict({**SMALL, "model_type": "bert", **change})


def test_config_roundtrip_and_defaults():
    c = BertConfig.from_dict(SMALL)  # old files omit model_type, eps, act, type vocab
    assert (c.type_vocab_size, c.layer_norm_eps, c.hidden_act, c.head_dim) == (2, 1e-12, "gelu", 12)
    assert BertConfig.from_dict(c.to_dict()) == c
    assert c.to_dict()["model_type"] == "bert"
    with pytest.raises(CheckpointError, match="missing key.*vocab_size"):
        BertConfig.from_dict({k: v for k, v in SMALL.items() if k != "vocab_size"})
    with pytest.raises(Exception):
        c.hidden_size = 3  # frozen


def test_roberta_config_json_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({**SMALL, "model_type": "roberta"}))
    st.save_file({"embeddings.word_embeddings.weight": np.zeros((99, 72), np.float32)},
                 tmp_path / "model.safetensors")
    with pytest.raises(CheckpointError, match="config.json.*roberta"):
        load(tmp_path)


# ---- state dict problems ----

def test_state_dict_missing_tensors_are_listed():
    sd = small_state_dict()
    del sd["encoder.layer.1.attention.self.key.weight"], sd["embeddings.LayerNorm.bias"]
    with pytest.raises(CheckpointError) as e:
        BertModel.from_state_dict(BertConfig(**SMALL), sd, "test.safetensors")
    msg = str(e.value)
    assert "test.safetensors" in msg and "missing" in msg
    assert "encoder.layer.1.attention.self.key.weight" in msg
    assert "embeddings.LayerNorm.bias" in msg


def test_state_dict_shape_mismatch_names_tensor_and_shapes():
    sd = small_state_dict()
    config = BertConfig(**{**SMALL, "intermediate_size": 101})
    with pytest.raises(CheckpointError, match=r"layers\.0\.ffn_in_w has shape \[100, 72\], "
                                              r"expected \[101, 72\]"):
        BertModel.from_state_dict(config, sd, "x")


def test_state_dict_variants():
    sd = small_state_dict()
    config = BertConfig(**SMALL)
    base = BertModel.from_state_dict(config, sd, "x")
    # "bert." prefix plus buffers: buffers are ignored.
    prefixed = {f"bert.{k}": v for k, v in sd.items()}
    prefixed["bert.embeddings.position_ids"] = np.arange(40)[None]
    assert_same_weights(base, BertModel.from_state_dict(config, prefixed, "x"))
    # A head armbert does not run (masked LM) is refused by name, or dropped on request.
    prefixed["cls.predictions.bias"] = np.zeros(99, np.float32)
    with pytest.raises(CheckpointError, match=r"cls\.predictions\.bias.*task='encoder'"):
        BertModel.from_state_dict(config, prefixed, "x")
    assert_same_weights(base, BertModel.from_state_dict(config, prefixed, "x", task="encoder"))
    # Checkpoints converted from TF name LayerNorm parameters gamma/beta.
    tf = {k.replace("LayerNorm.weight", "LayerNorm.gamma").replace("LayerNorm.bias",
                                                                   "LayerNorm.beta"): v
          for k, v in sd.items()}
    assert_same_weights(base, BertModel.from_state_dict(config, tf, "x"))
    # float16 / float64 weights become float32.
    half = {k: v.astype(np.float16) for k, v in sd.items()}
    assert BertModel.from_state_dict(config, half, "x").word.dtype == np.float32
    # No pooler: fine, pooler_w is None.
    nopool = {k: v for k, v in sd.items() if not k.startswith("pooler")}
    assert BertModel.from_state_dict(config, nopool, "x").pooler_w is None


def test_state_dict_refusals():
    sd = small_state_dict()
    config = BertConfig(**SMALL)
    with pytest.raises(CheckpointError, match="not a BERT checkpoint"):
        BertModel.from_state_dict(config, {"transformer.h.0.attn.weight": np.zeros(2)}, "x")
    with pytest.raises(CheckpointError, match=r"layer\(s\) \[2\]"):
        BertModel.from_state_dict(config, {**sd, "encoder.layer.2.output.dense.bias":
                                           np.zeros(72, np.float32)}, "x")
    bad = dict(sd, **{"encoder.layer.0.output.dense.bias": np.full(72, np.nan, np.float32)})
    with pytest.raises(CheckpointError, match="NaN"):
        BertModel.from_state_dict(config, bad, "x")
    ints = dict(sd, **{"embeddings.LayerNorm.weight": np.ones(72, np.int64)})
    with pytest.raises(CheckpointError, match="dtype int64"):
        BertModel.from_state_dict(config, ints, "x")
    only_w = {k: v for k, v in sd.items() if k != "pooler.dense.bias"}
    with pytest.raises(CheckpointError, match="pooler"):
        BertModel.from_state_dict(config, only_w, "x")


# ---- the safetensors reader ----

def test_safetensors_roundtrip_and_dtypes(tmp_path):
    tensors = {"f32": np.arange(6, dtype=np.float32).reshape(2, 3),
               "f16": np.array([1.5, -2.25], np.float16),
               "f64": np.array([np.pi]), "i64": np.arange(4, dtype=np.int64)[None],
               "i8": np.array([-127, 5], np.int8), "b": np.array([True, False]),
               "empty": np.zeros((0, 3), np.float32), "scalar": np.array(2.0, np.float32)}
    st.save_file(tensors, tmp_path / "a.safetensors", metadata={"format": "pt"})
    back = st.load_file(tmp_path / "a.safetensors")
    assert list(back) == list(tensors)
    for k, v in tensors.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape, k
        assert np.array_equal(back[k], v), k
    _, meta, _ = st.read_header(tmp_path / "a.safetensors")
    assert meta == {"format": "pt"}


def test_safetensors_bf16_and_official_files(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")  # which depends on the safetensors package
    from safetensors.numpy import load_file as official_load
    from safetensors.torch import save_file as official_save

    x = torch.randn(5, 7)
    official_save({"bf16": x.bfloat16(), "f16": x.half(), "f32": x}, str(tmp_path / "o.st"))
    ours = st.load_file(tmp_path / "o.st")
    assert ours["bf16"].dtype == np.float32
    np.testing.assert_array_equal(ours["bf16"], x.bfloat16().float().numpy())
    np.testing.assert_array_equal(ours["f16"], x.half().numpy())
    np.testing.assert_array_equal(ours["f32"], x.numpy())
    # ...and the official reader accepts what we write.
    st.save_file({"a": np.arange(5, dtype=np.float32), "b": np.ones((2, 2), np.int64)},
                 tmp_path / "w.st")
    theirs = official_load(str(tmp_path / "w.st"))
    np.testing.assert_array_equal(theirs["a"], np.arange(5, dtype=np.float32))
    np.testing.assert_array_equal(theirs["b"], np.ones((2, 2), np.int64))


def _write(path: Path, header, data: bytes = b"", length=None) -> Path:
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if length is None else length
    path.write_bytes(n.to_bytes(8, "little") + raw + data)
    return path


def _entry(dtype="F32", shape=(2,), offsets=(0, 8)):
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


CORRUPTIONS = {
    "short": (lambda p: p.write_bytes(b"\x10\x00"), "shorter than the 8-byte"),
    "length_past_end": (lambda p: _write(p, {"a": _entry()}, b"\0" * 8, length=10 ** 6),
                        "runs past the end of the file"),
    "huge_length": (lambda p: _write(p, b"{}", length=2 ** 62), "exceeds"),
    "bad_json": (lambda p: _write(p, b"{'a': nope", b""), "not valid JSON"),
    "not_utf8": (lambda p: _write(p, b"\xff\xfe{}", b""), "not valid JSON"),
    "json_list": (lambda p: _write(p, [1, 2], b""), "not an object"),
    "entry_not_object": (lambda p: _write(p, {"a": 3}, b""), "'a'.*not an object"),
    "no_offsets": (lambda p: _write(p, {"a": {"dtype": "F32", "shape": [2]}}, b"\0" * 8),
                   "no 'data_offsets'"),
    "unknown_dtype": (lambda p: _write(p, {"a": _entry(dtype="Q7")}, b"\0" * 8),
                      "unknown dtype 'Q7'"),
    "fp8": (lambda p: _write(p, {"a": _entry(dtype="F8_E4M3", offsets=(0, 2))}, b"\0" * 2),
            "F8_E4M3 is not supported"),
    "negative_dim": (lambda p: _write(p, {"a": _entry(shape=(-2,))}, b"\0" * 8),
                     "non-negative integers"),
    "offsets_out_of_bounds": (lambda p: _write(p, {"a": _entry(offsets=(0, 16))}, b"\0" * 8),
                              "run past the end of the data"),
    "truncated_data": (lambda p: _write(p, {"a": _entry(shape=(4,), offsets=(0, 16))},
                                        b"\0" * 12), "file truncated"),
    "reversed_offsets": (lambda p: _write(p, {"a": _entry(offsets=(8, 0))}, b"\0" * 8),
                         "end before they begin"),
    "size_mismatch": (lambda p: _write(p, {"a": _entry(shape=(3,), offsets=(0, 8))},
                                       b"\0" * 12), "needs 12 bytes.*hold 8"),
    "overlap": (lambda p: _write(p, {"a": _entry(offsets=(0, 8)), "b": _entry(offsets=(4, 12))},
                                 b"\0" * 12), "overlap"),
}


@pytest.mark.parametrize("case", sorted(CORRUPTIONS))
def test_safetensors_corruption_is_reported(tmp_path, case):
    make, match = CORRUPTIONS[case]
    path = tmp_path / f"{case}.safetensors"
    make(path)
    with pytest.raises(CheckpointError, match=match) as e:
        st.load_file(path)
    assert str(path) in str(e.value)  # the message names the file


def test_truncated_real_checkpoint(tmp_path):
    from armbert.loaders.bundled import model_dir

    src = model_dir()
    (tmp_path / "config.json").write_bytes((src / "config.json").read_bytes())
    with open(src / "model.safetensors", "rb") as f:
        (tmp_path / "model.safetensors").write_bytes(f.read(5_000_000))
    with pytest.raises(CheckpointError, match="model.safetensors.*past the end"):
        load(tmp_path)


# ---- tokenizer ----

def test_tokenizer_pads_to_the_batch_max():
    pytest.importorskip("tokenizers")
    from armbert.text import Tokenizer

    tok = Tokenizer(load().tokenizer_path)
    enc = tok(["hello world", "a somewhat longer sentence than the first"])
    assert set(enc) == {"input_ids", "attention_mask", "token_type_ids"}
    assert all(v.dtype == np.int32 for v in enc.values())
    seq = enc["input_ids"].shape[1]
    assert seq < 128  # the file's own pad-to-128 is off
    assert enc["attention_mask"][0].sum() == 4 and enc["attention_mask"][1].sum() == seq
    assert list(enc["input_ids"][0, :4]) == [101, 7592, 2088, 102]  # [CLS] hello world [SEP]
    assert (enc["input_ids"][0, 4:] == 0).all()
    short = tok("a somewhat longer sentence than the first", max_length=5)
    assert short["input_ids"].shape == (1, 5) and short["input_ids"][0, -1] == 102
    pair = tok([("first text", "second")])
    assert pair["token_type_ids"][0].tolist() == [0, 0, 0, 0, 1, 1]
    assert tok("x" * 3)["input_ids"].shape[0] == 1  # one string is a batch of one


def test_wrong_shape_query_and_float32_eps_are_named(tmp_path):
    # Q, K, V are concatenated into one weight: a wrong one is named before (numpy's
    # concatenate error said neither the tensor nor the shapes); an eps that float32
    # turns into 0 or inf is refused at load, not by the kernel later.
    from safetensors.numpy import save_file
    from tests.helpers import SMALL, small_state_dict

    sd = small_state_dict()
    key = "encoder.layer.1.attention.self.key.weight"
    sd[key] = np.ascontiguousarray(sd[key][:, :50])
    save_file(sd, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", **SMALL}))
    with pytest.raises(CheckpointError, match=rf"tensor {key} has shape \[72, 50\], "
                                              r"expected \[72, 72\]"):
        load(tmp_path)
    for eps in (1e-50, 1e300):
        with pytest.raises(CheckpointError, match="outside float32's normal range"):
            BertConfig.from_dict({**SMALL, "layer_norm_eps": eps})
