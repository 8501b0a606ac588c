"""Recover BERT weights and config from an ONNX graph exported from a BertModel.

Tested with ``torch.onnx.export`` (legacy TorchScript exporter, ``dynamo=False``,
opsets 14 and 20) and the dynamo exporter. Neither keeps the state dict intact:

* Weights used by MatMul are stored transposed ([in, out]) under names like
  ``onnx::MatMul_123`` (legacy) or ``val_50`` (dynamo). We find each linear by the
  module scope of its MatMul/Gemm node (legacy: the node name
  ``/bert/encoder/layer.0/attention/self/query/MatMul``; dynamo: the node's
  ``pkg.torch.onnx.name_scopes`` metadata) and transpose back. Gemm honours transB.
* Identical initializers are deduplicated (fresh models: every bias is zeros), so
  biases and layernorm parameters are found through the consuming Add /
  LayerNormalization node too, after following Identity, Transpose and Cast chains
  over constants. A tensor that still has its state-dict name is used as a fallback.

The config is inferred from shapes (vocab, hidden, positions, type vocab, layers,
intermediate) and attributes (LayerNormalization ``epsilon``; a decomposed
layernorm's scalar Add). The number of heads is not a weight shape: it is read from
the rank-4 Reshape constants inside ``encoder.layer.0.attention.self`` (the split
into [batch, seq, heads, head_dim], where heads may be -1 and head_dim decides), or
else from the 1/sqrt(head_dim) scale constant. Pass ``config=`` to skip inference;
shapes are then checked against it.

The heads armbert runs (armbert/heads.py) are read too: ``classifier`` (sequence
classification when it reads the pooler output, else token classification) and
``qa_outputs``; a ``config.json`` beside the file (an Optimum export folder) names the
task and its labels.

Every refusal is an :class:`armbert.OnnxError` with a ``reason``: a file that is not
ONNX or is truncated (or lost its external data), an initializer missing or of the
wrong size or shape, an opset outside 14..(the onnx package's newest), an operator
that is not standard ONNX, an already quantized graph (onnxruntime's quantizers: load
the fp32 model and quantize with armbert), onnxruntime's fused com.microsoft
operators, and graphs that are not a plain BERT encoder: no word-embedding Gather, a
RoBERTa-style position computation (CumSum in the embeddings), tanh-approximated
GELU, or a head armbert does not run (``cls.predictions``...) unless
``task="encoder"``.
"""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from armbert.config import BertConfig, read_config, read_json
from armbert.errors import CheckpointError, OnnxError
from armbert.heads import TASKS, architecture_of
from armbert.model import BertModel, layer_index

_LINEAR = re.compile(r"encoder\.layer\.\d+\.(attention\.self\.(query|key|value)|"
                     r"attention\.output\.dense|intermediate\.dense|output\.dense)|pooler\.dense")
_EMBEDDINGS = ("embeddings.word_embeddings", "embeddings.position_embeddings",
               "embeddings.token_type_embeddings")
_ROOT = re.compile(r"(?:^|\.)((?:embeddings|encoder|pooler)(?:\..*)?)$")


def _hf_name(name: str) -> str | None:
    """Strip any wrapper prefix (``bert.``, ``model.bert.``): HF names start at the encoder."""
    m = _ROOT.search(name)
    return m.group(1) if m else None


class _Graph:
    def __init__(self, proto: Any, path: str) -> None:
        from onnx import helper, numpy_helper

        self.path = path
        self.nodes = list(proto.graph.node)
        self.consts: dict[str, np.ndarray] = {
            t.name: _initializer(t, path, numpy_helper) for t in proto.graph.initializer}
        self.origin: dict[str, tuple[str, bool]] = {}  # HF name -> (initializer, transposed)
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.nodes:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                self.consumers.setdefault(inp, []).append(node)
            self._fold(node, helper, numpy_helper)
        self.scopes = {id(n): self._scope(n) for n in self.nodes}

    def _fold(self, node: Any, helper: Any, numpy_helper: Any) -> None:
        # Only the chains exporters put between a stored weight and its user.
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        op, ins = node.op_type, node.input
        if op == "Constant":
            if "value" in attrs:
                self.consts[node.output[0]] = numpy_helper.to_array(attrs["value"])
            for key in ("value_float", "value_int", "value_floats", "value_ints"):
                if key in attrs:
                    self.consts[node.output[0]] = np.asarray(attrs[key])
        elif not ins or ins[0] not in self.consts:
            return
        elif op == "Identity":
            self.consts[node.output[0]] = self.consts[ins[0]]
        elif op == "Transpose":
            self.consts[node.output[0]] = np.transpose(self.consts[ins[0]], attrs.get("perm"))
        elif op == "Cast":
            to = helper.tensor_dtype_to_np_dtype(attrs["to"])
            self.consts[node.output[0]] = self.consts[ins[0]].astype(to)
        elif op == "Unsqueeze" and len(ins) > 1 and ins[1] in self.consts:
            axes = tuple(int(a) for a in np.atleast_1d(self.consts[ins[1]]))
            self.consts[node.output[0]] = np.expand_dims(self.consts[ins[0]], axes)

    @staticmethod
    def _scope(node: Any) -> str:
        for prop in node.metadata_props:
            if prop.key == "pkg.torch.onnx.name_scopes":  # dynamo: module paths, then the op
                try:
                    scopes = ast.literal_eval(prop.value)
                except (ValueError, SyntaxError):
                    break
                modules = [s for s in scopes[:-1] if isinstance(s, str)]
                return max(modules, key=len, default="")
        if "/" in node.name:  # legacy: "/bert/encoder/layer.0/attention/self/query/MatMul"
            return ".".join(p for p in node.name.split("/")[:-1] if p)
        return ""

    def scope(self, node: Any) -> str:
        return _hf_name(self.scopes[id(node)]) or ""

    def const(self, name: str) -> np.ndarray | None:
        return self.consts.get(name)

    def attr(self, node: Any, key: str, default: Any = None) -> Any:
        from onnx import helper

        for a in node.attribute:
            if a.name == key:
                return helper.get_attribute_value(a)
        return default

    def fail(self, what: str, reason: str = "not_bert") -> OnnxError:
        return OnnxError(f"{self.path}: {what}", reason)


# The operators of onnxruntime's quantizers (quantize_dynamic / quantize_static in the
# QOperator and QDQ formats, com.microsoft's integer kernels, 4-bit weight-only).
_QUANT_OPS = {"MatMulInteger", "DynamicQuantizeLinear", "QuantizeLinear", "DequantizeLinear",
              "QLinearMatMul", "QLinearConv", "ConvInteger", "QLinearAdd", "QLinearMul",
              "DynamicQuantizeMatMul", "MatMulIntegerToFloat", "QAttention", "QGemm",
              "QEmbedLayerNormalization", "QOrderedMatMul", "MatMulNBits",
              "GatherBlockQuantized", "DynamicQuantizeLSTM"}
# The oldest standard opset the tests export (the legacy exporter at opset_version=14);
# the dynamo exporter writes 18 and above.
MIN_OPSET = 14
# The heads armbert runs (armbert/heads.py), by their transformers module name.
_HEAD_MODULES = ("classifier", "qa_outputs")


def load_onnx(path: str | os.PathLike, config: BertConfig | dict | None = None,
              task: str | None = None) -> BertModel:
    """The encoder of an exported graph, with its task head when the graph computes one
    armbert runs (``classifier`` of BertForSequenceClassification or
    BertForTokenClassification, ``qa_outputs`` of BertForQuestionAnswering).

    A ``config.json`` beside the file (an Optimum export folder) gives the config, the
    head's task (``architectures``) and its labels (``id2label``); without one the config
    is inferred from the graph and the task from the head's module and input. Any other
    head is refused by name unless ``task="encoder"``. Every failure is an
    :class:`armbert.OnnxError` whose ``reason`` says what is wrong.
    """
    try:
        import onnx
    except ImportError as e:
        raise CheckpointError(f"{path}: loading ONNX needs the onnx package") from e
    path = Path(path)
    proto = _read_model(path, onnx)
    _check_model(proto, str(path), onnx)
    g = _Graph(proto, str(path))
    sd, eps = _weights(g)
    if "embeddings.word_embeddings.weight" not in sd:
        raise g.fail("not a BERT encoder: no Gather on embeddings.word_embeddings "
                     f"({len(g.nodes)} nodes, ops {sorted({n.op_type for n in g.nodes})[:12]})")
    beside = path.parent / "config.json"
    raw = {}
    if beside.is_file():
        raw = read_json(beside)
        if config is None:
            config = read_config(beside)
    architecture = architecture_of(raw, str(path))
    task = _head(g, sd, task, architecture)
    if any(n.op_type == "CumSum" and g.scope(n).startswith("embeddings") for n in g.nodes):
        raise g.fail("positions are computed from the input ids (RoBERTa-style CumSum); "
                     "only BERT's absolute positions 0..seq-1 are supported")
    if "embeddings.position_embeddings.weight" not in sd:
        raise g.fail("no position embedding table in the graph; an export with a fixed "
                     "sequence length folds it into a constant: export with a dynamic "
                     "sequence axis")
    if isinstance(config, dict):
        config = BertConfig.from_dict(config)
    if config is None:
        config = _infer_config(g, sd, eps)
    _check_shapes(g, sd, config)
    tokenizer = path.parent / "tokenizer.json"
    return BertModel.from_state_dict(
        config, sd, source=str(path),
        tokenizer_path=str(tokenizer) if tokenizer.is_file() else None, task=task,
        architecture=architecture, id2label=raw.get("id2label"))


def _read_model(path: Path, onnx: Any) -> Any:
    """The ModelProto with its external data, or an OnnxError saying why not."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise OnnxError(f"{path}: cannot read: {e.strerror or e}", "not_onnx") from e
    if not data:
        raise OnnxError(f"{path}: empty file, not an ONNX model", "not_onnx")
    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except Exception as e:  # protobuf's DecodeError
        # onnx.save writes ir_version (field 1, a small varint) first.
        if data[0] == 0x08 and 3 <= data[1] <= 30:
            raise OnnxError(f"{path}: truncated or corrupt ONNX file: its protobuf breaks off "
                            f"inside ({len(data)} bytes); export or copy it again",
                            "truncated") from e
        raise OnnxError(f"{path}: not an ONNX file (its {len(data)} bytes are not an ONNX "
                        f"protobuf model)", "not_onnx") from e
    if proto.ir_version < 1 or not proto.HasField("graph") or not proto.graph.node:
        raise OnnxError(f"{path}: not an ONNX model (its bytes parse as protobuf but hold no "
                        f"graph: ir_version {proto.ir_version}, {len(proto.graph.node)} nodes)",
                        "not_onnx")
    from onnx import external_data_helper as ext

    if any(ext.uses_external_data(t) for t in proto.graph.initializer):
        try:
            ext.load_external_data_for_model(proto, str(path.parent))
        except Exception as e:  # a missing or unreadable .onnx.data file
            raise OnnxError(f"{path}: cannot read its external weight data "
                            f"({' '.join(str(e).split())}); keep the data file the exporter "
                            f"wrote beside the .onnx", "truncated") from e
    return proto


def _check_model(proto: Any, path: str, onnx: Any) -> None:
    """Refuse, before reading any weight, what the loader must not guess at: an opset
    it does not read, quantized or fused graphs, operators that are not standard ONNX,
    and graphs that read tensors nothing provides."""
    graph = proto.graph
    opsets = {o.domain or "ai.onnx": o.version for o in proto.opset_import}
    version, top = opsets.get("ai.onnx"), onnx.defs.onnx_opset_version()
    if version is None:
        raise OnnxError(f"{path}: declares no version of the standard ONNX operator set "
                        f"(opset_import); not a complete ONNX model", "unsupported_opset")
    if version > top:
        raise OnnxError(f"{path}: uses ONNX opset {version}, newer than the onnx package "
                        f"here knows ({top}): upgrade onnx, or export with "
                        f"opset_version <= {top}", "unsupported_opset")
    if version < MIN_OPSET:
        raise OnnxError(f"{path}: uses ONNX opset {version}; armbert reads opsets "
                        f"{MIN_OPSET} to {top}: export with opset_version >= {MIN_OPSET}",
                        "unsupported_opset")
    ops = {(n.domain if n.domain not in ("", "ai.onnx") else "", n.op_type)
           for n in graph.node}
    quant = sorted({op for _, op in ops if op in _QUANT_OPS})
    ints = [t.name for t in graph.initializer if len(t.dims) == 2 and t.data_type in (
        onnx.TensorProto.INT8, onnx.TensorProto.UINT8, onnx.TensorProto.INT4,
        onnx.TensorProto.UINT4)]
    if quant or ints:
        who = ("onnxruntime.quantization" if proto.producer_name == "onnx.quantize"
               else f"{proto.producer_name or 'an unknown producer'}")
        what = [f"operators {', '.join(quant)}"] if quant else []
        if ints:
            what.append(f"{len(ints)} int8/uint8 weight tensors such as {ints[0]!r}")
        raise OnnxError(
            f"{path}: an already quantized ONNX model (written by {who}: {'; '.join(what)}), "
            f"which armbert does not load. Load the fp32 model instead (the .onnx before "
            f"quantization, or the HF directory) and quantize it with armbert: "
            f"armbert.quantize(model, calibration_texts), or `armbert convert SRC "
            f"--precision int8 --calibration FILE`", "quantized")
    fused = sorted({op for d, op in ops if d == "com.microsoft"})
    if fused:
        raise OnnxError(f"{path}: uses onnxruntime's fused operators {fused}; export the "
                        f"unoptimized graph", "fused")
    for domain, op in sorted(ops):
        known = not domain
        if known:
            try:
                onnx.defs.get_schema(op, version, "")
            except Exception:  # SchemaError: not an operator of this opset
                known = False
        if not known:
            node = next(n for n in graph.node if n.op_type == op and
                        (n.domain if n.domain not in ("", "ai.onnx") else "") == domain)
            name = f"{domain}::{op}" if domain else op
            raise OnnxError(f"{path}: node {node.name or '?'!r} uses the operator {name}, "
                            f"which is not in ONNX opset {version}; armbert reads graphs of "
                            f"standard ONNX operators as torch.onnx.export writes them",
                            "unsupported_op")
    defined = {t.name for t in graph.initializer} | {t.values.name for t in
                                                     graph.sparse_initializer}
    defined |= {i.name for i in graph.input} | {o for n in graph.node for o in n.output}
    for node in graph.node:
        for name in node.input:
            if name and name not in defined:
                raise OnnxError(f"{path}: node {node.name or '?'!r} ({node.op_type}) reads "
                                f"{name!r}, which no initializer, graph input or node "
                                f"provides: a missing initializer (the graph is incomplete)",
                                "missing_initializer")


def _initializer(t: Any, path: str, numpy_helper: Any) -> np.ndarray:
    try:
        return numpy_helper.to_array(t)
    except Exception as e:  # the data does not fill the dims, an unknown dtype
        raise OnnxError(f"{path}: initializer {t.name!r} (dims {list(t.dims)}) does not hold "
                        f"the data its dims need: {' '.join(str(e).split())}",
                        "bad_initializer") from e


def _head(g: _Graph, sd: dict[str, np.ndarray], task: str | None,
          architecture: str | None) -> str | None:
    """Put the graph's head linear into ``sd`` under its transformers name and return
    the task to read it as (None: what ``architecture`` says). Heads armbert does not
    run are refused by name unless ``task == "encoder"``."""
    modules: dict[str, list[Any]] = {}
    for n in g.nodes:
        raw = g.scopes[id(n)]
        if n.op_type in ("MatMul", "Gemm") and raw and _hf_name(raw) is None:
            modules.setdefault(raw, []).append(n)
    if not modules or task == "encoder":
        return task
    short = {m: m.rsplit(".", 1)[-1] for m in modules}
    if len(modules) > 1 or any(s not in _HEAD_MODULES for s in short.values()):
        names = sorted(modules)
        raise g.fail(f"the graph computes a head armbert does not run (module(s) "
                     f"{', '.join(names[:4])}); armbert runs the heads of "
                     f"BertForSequenceClassification, BertForTokenClassification and "
                     f"BertForQuestionAnswering: pass task='encoder' to load the encoder "
                     f"alone", "head")
    (module, nodes), = modules.items()
    linears = [n for n in nodes if (w := g.const(n.input[1])) is not None and w.ndim == 2]
    if len(linears) != 1:
        raise g.fail(f"the head {module} is not one linear layer", "head")
    node, name = linears[0], short[module]
    w = g.const(node.input[1])
    if node.op_type == "Gemm":
        w = w if g.attr(node, "transB", 0) else w.T
        bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    else:
        w = w.T
        bias = _bias_after(g, node, w.shape[0])
    sd[f"{name}.weight"] = np.ascontiguousarray(w)
    sd[f"{name}.bias"] = bias if bias is not None else np.zeros(w.shape[0], np.float32)
    g.origin[f"{name}.weight"] = (node.input[1], w is not g.const(node.input[1]))
    if task is None and architecture not in TASKS:
        if name == "qa_outputs":
            return "question_answering"
        return "sequence_classification" if _reads_pooler(g, node) else "token_classification"
    return task


def _reads_pooler(g: _Graph, node: Any) -> bool:
    """Whether a head's input is the pooler output (sequence classification) rather than
    every token's hidden state."""
    name = node.input[0]
    for _ in range(8):
        producer = g.producer.get(name)
        if producer is None:
            return False
        if g.scope(producer).startswith("pooler"):
            return True
        if producer.op_type not in ("Identity", "Dropout", "Reshape", "Flatten", "Squeeze",
                                    "Cast"):
            return False
        name = producer.input[0]
    return False


def _check_shapes(g: _Graph, sd: dict[str, np.ndarray], config: BertConfig) -> None:
    """Each weight found against the shape ``config`` gives it, naming the initializer."""
    h, i = config.hidden_size, config.intermediate_size
    want = {"embeddings.word_embeddings.weight": (config.vocab_size, h),
            "embeddings.position_embeddings.weight": (config.max_position_embeddings, h),
            "embeddings.token_type_embeddings.weight": (config.type_vocab_size, h),
            "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
            "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}
    for n in range(config.num_hidden_layers):
        p = f"encoder.layer.{n}."
        for module, shape in (("attention.self.query", (h, h)), ("attention.self.key", (h, h)),
                              ("attention.self.value", (h, h)),
                              ("attention.output.dense", (h, h)),
                              ("intermediate.dense", (i, h)), ("output.dense", (h, i))):
            want[f"{p}{module}.weight"], want[f"{p}{module}.bias"] = shape, shape[:1]
        for module in ("attention.output.LayerNorm", "output.LayerNorm"):
            want[f"{p}{module}.weight"] = want[f"{p}{module}.bias"] = (h,)
    for name in ("classifier", "qa_outputs"):
        if f"{name}.weight" in sd:
            want[f"{name}.weight"] = (sd[f"{name}.weight"].shape[0], h)
    for key, shape in want.items():
        a = sd.get(key)
        if a is None or a.shape == shape:
            continue
        init, transposed = g.origin.get(key, (key, False))
        have, need = (a.shape[::-1], shape[::-1]) if transposed else (a.shape, shape)
        raise g.fail(f"initializer {init!r} ({key}) has shape {list(have)}, but a BERT with "
                     f"hidden {h}, intermediate {i}, vocab {config.vocab_size}, positions "
                     f"{config.max_position_embeddings} needs {list(need)}", "bad_initializer")


def _weights(g: _Graph) -> tuple[dict[str, np.ndarray], list[float]]:
    sd: dict[str, np.ndarray] = {}
    eps: list[float] = []

    def put(key: str, value: np.ndarray | None, node: Any, source: str = "",
            transposed: bool = False) -> None:
        if value is None:
            return
        if key in sd and not np.array_equal(sd[key], value):
            raise g.fail(f"{key} is used twice with different values (node {node.name})")
        sd[key] = value
        if source:
            g.origin.setdefault(key, (source, transposed))

    norm_scopes_done = set()
    biased: dict[str, int] = {}  # scope -> features, of ops whose bias may be left out
    for node in g.nodes:
        scope, op = g.scope(node), node.op_type
        if op in ("MatMul", "Gemm") and _LINEAR.fullmatch(scope):
            w = g.const(node.input[1])
            if w is None or w.ndim != 2:
                continue  # an activation x activation product inside the scope
            transposed = True
            if op == "Gemm":
                if g.attr(node, "transA", 0):
                    raise g.fail(f"Gemm {node.name} has transA=1; not an exported linear")
                transposed = not g.attr(node, "transB", 0)
                w = w.T if transposed else w
                bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            else:
                w, bias = w.T, _bias_after(g, node, w.shape[1])
            put(f"{scope}.weight", np.ascontiguousarray(w), node, node.input[1], transposed)
            put(f"{scope}.bias", bias, node)
            biased[scope] = w.shape[0]
        elif op == "Gather" and scope in _EMBEDDINGS:
            put(f"{scope}.weight", g.const(node.input[0]), node, node.input[0])
        elif op == "LayerNormalization" and scope.endswith("LayerNorm"):
            put(f"{scope}.weight", g.const(node.input[1]), node)
            if len(node.input) > 2 and node.input[2]:
                put(f"{scope}.bias", g.const(node.input[2]), node)
            if node.input[1] in g.consts:
                biased[scope] = g.consts[node.input[1]].shape[-1]
            eps.append(float(g.attr(node, "epsilon", 1e-5)))  # ONNX's default
            norm_scopes_done.add(scope)
    eps += _decomposed_layernorms(g, sd, norm_scopes_done)
    # Whatever still carries its state-dict name fills the gaps; a linear weight under
    # its own name is in torch layout [out, in] already.
    for name, value in g.consts.items():
        key = _hf_name(name)
        if key is not None and key not in sd:
            sd[key] = value
    # The dynamo exporter's optimizer drops an all-zero bias input altogether: the
    # graph then computes x W^T, which is what a zero bias gives.
    for scope, features in biased.items():
        sd.setdefault(f"{scope}.bias", np.zeros(features, dtype=np.float32))
    return sd, eps


def _bias_after(g: _Graph, matmul: Any, out_features: int) -> np.ndarray | None:
    for user in g.consumers.get(matmul.output[0], []):
        if user.op_type == "Add":
            for name in user.input:
                b = g.const(name)
                if b is not None and b.shape == (out_features,):
                    return b
    return None


def _decomposed_layernorms(g: _Graph, sd: dict[str, np.ndarray], done: set[str]) -> list[float]:
    # Opset < 17: ReduceMean, Sub, Pow, ReduceMean, Add(eps), Sqrt, Div, Mul(g), Add(b).
    by_scope: dict[str, list[Any]] = {}
    for node in g.nodes:
        scope = g.scope(node)
        if scope.endswith("LayerNorm") and scope not in done:
            by_scope.setdefault(scope, []).append(node)
    eps = []
    for scope, nodes in by_scope.items():
        gamma = beta = None
        for node in nodes:
            vals = [g.const(i) for i in node.input]
            vec = [v for v in vals if v is not None and v.ndim == 1 and v.size > 1]
            scalar = [v for v in vals if v is not None and v.size == 1]
            if node.op_type == "Mul" and vec:
                gamma = vec[0]
            elif node.op_type == "Add" and vec:
                beta = vec[0]
            elif node.op_type == "Add" and scalar and float(scalar[0].ravel()[0]) < 1e-2:
                eps.append(float(scalar[0].ravel()[0]))
        if gamma is not None:
            sd.setdefault(f"{scope}.weight", gamma)
        if beta is not None:
            sd.setdefault(f"{scope}.bias", beta)
    return eps


def _infer_config(g: _Graph, sd: dict[str, np.ndarray], eps: list[float]) -> BertConfig:
    word = sd["embeddings.word_embeddings.weight"]
    hidden = int(word.shape[1])
    layers = {i for k in sd if (i := layer_index(k)) is not None}
    if not layers:
        raise g.fail("not a BERT encoder: no encoder.layer.N weights found")
    if layers != set(range(len(layers))):
        raise g.fail(f"encoder layers {sorted(layers)} are not numbered 0..N-1")
    ffn = sd.get("encoder.layer.0.intermediate.dense.weight")
    if ffn is None:
        raise g.fail("no weight for encoder.layer.0.intermediate.dense")
    if not eps:
        raise g.fail("cannot find the layernorm epsilon; pass config=")
    # Exporters store eps as float32 (1e-12 -> 9.99999996e-13); the shortest repr
    # that rounds to the same float32 gives back what config.json said.
    eps32 = {str(np.float32(e)) for e in eps}
    if len(eps32) > 1:
        raise g.fail(f"layernorms disagree on epsilon ({sorted(eps32)}); pass config=")
    tt = sd.get("embeddings.token_type_embeddings.weight")
    return BertConfig(
        vocab_size=int(word.shape[0]), hidden_size=hidden, num_hidden_layers=len(layers),
        num_attention_heads=_heads(g, hidden), intermediate_size=int(ffn.shape[0]),
        max_position_embeddings=int(sd["embeddings.position_embeddings.weight"].shape[0]),
        type_vocab_size=int(tt.shape[0]) if tt is not None else 2,
        layer_norm_eps=float(eps32.pop()), hidden_act=_activation(g))


def _activation(g: _Graph) -> str:
    ops = {}
    for node in g.nodes:
        if g.scope(node).startswith("encoder.layer.0.intermediate"):
            ops[node.op_type] = node
    if "Gelu" in ops:
        approx = g.attr(ops["Gelu"], "approximate", b"none")
        approx = approx.decode() if isinstance(approx, bytes) else approx
        if approx != "none":
            raise g.fail(f"the FFN uses GELU approximate={approx!r}; only the erf form "
                         "(hidden_act='gelu') is supported")
        return "gelu"
    if "Erf" in ops:
        return "gelu"
    if "Tanh" in ops:
        raise g.fail("the FFN uses tanh-approximated GELU (gelu_new); only the erf form "
                     "(hidden_act='gelu') is supported")
    raise g.fail(f"no GELU in encoder.layer.0.intermediate (ops {sorted(ops)}); "
                 "only hidden_act='gelu' is supported")


def _heads(g: _Graph, hidden: int) -> int:
    for node in g.nodes:
        if node.op_type == "Reshape" and g.scope(node) == "encoder.layer.0.attention.self":
            tail = _shape_tail(g, node.input[1])
            if tail is None:
                continue
            heads, head_dim = tail
            if heads > 0 and hidden % heads == 0:
                return heads
            if head_dim > 0 and hidden % head_dim == 0:
                return hidden // head_dim
    for node in g.nodes:  # the 1/sqrt(head_dim) scale of the scores
        if node.op_type in ("Mul", "Div") and g.scope(node) == "encoder.layer.0.attention.self":
            for name in node.input:
                s = g.const(name)
                if s is None or s.size != 1 or float(s.ravel()[0]) <= 0:
                    continue
                s = float(s.ravel()[0])
                d = 1 / (s * s) if node.op_type == "Mul" else s * s
                if abs(d - round(d)) < 1e-3 and round(d) > 0 and hidden % round(d) == 0:
                    return hidden // round(d)
    raise g.fail("cannot infer num_attention_heads from the graph; pass config=")


def _shape_tail(g: _Graph, name: str) -> tuple[int, int] | None:
    """The last two entries of a rank-4 shape: a constant, or a Concat ending in constants."""
    shape = g.const(name)
    if shape is not None:
        shape = [int(v) for v in np.ravel(shape)]
        return (shape[2], shape[3]) if len(shape) == 4 else None
    node = g.producer.get(name)
    if node is None or node.op_type != "Concat":
        return None
    parts = [g.const(i) for i in node.input]
    sizes = [None if p is None else int(np.size(p)) for p in parts]
    # Rank 4 needs four entries; dynamic parts (batch, seq) come from Shape/Gather
    # chains and count as one each, which is all the exporters emit.
    if sum(s if s is not None else 1 for s in sizes) != 4:
        return None
    trailing_consts: list[int] = []
    for p in reversed(parts):
        if p is None:
            break
        trailing_consts[:0] = [int(v) for v in np.ravel(p)]
    if len(trailing_consts) < 2:
        return None
    return trailing_consts[-2], trailing_consts[-1]

