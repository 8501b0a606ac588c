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

Graphs that are not a plain BERT encoder are refused: no word-embedding Gather, a
RoBERTa-style position computation (CumSum in the embeddings), tanh-approximated
GELU, onnxruntime's fused com.microsoft operators, or a task head (a MatMul/Gemm
outside the encoder and pooler, e.g. ``classifier``) unless ``task="encoder"``: heads
are read from HF directories and torch modules (armbert/heads.py), not from ONNX.
"""
from __future__ import annotations

import ast
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from armbert.config import BertConfig
from armbert.errors import CheckpointError
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
            t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
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

    def fail(self, what: str) -> CheckpointError:
        return CheckpointError(f"{self.path}: {what}")


def load_onnx(path: str | os.PathLike, config: BertConfig | dict | None = None,
              task: str | None = None) -> BertModel:
    """The encoder of an exported graph. A graph that also computes a head (a MatMul or
    Gemm outside the encoder and pooler: ``classifier``, ``qa_outputs``, ``cls...``) is
    refused by name, since the head is not read from ONNX, unless ``task="encoder"``."""
    try:
        import onnx
    except ImportError as e:
        raise CheckpointError(f"{path}: loading ONNX needs the onnx package") from e
    path = Path(path)
    try:
        proto = onnx.load(str(path))
    except Exception as e:  # protobuf's DecodeError and friends
        raise CheckpointError(f"{path}: cannot parse as ONNX: {e}") from e
    g = _Graph(proto, str(path))
    fused = sorted({n.op_type for n in g.nodes if n.domain == "com.microsoft"})
    if fused:
        raise g.fail(f"uses onnxruntime's fused operators {fused}; export the unoptimized graph")
    sd, eps = _weights(g)
    if "embeddings.word_embeddings.weight" not in sd:
        raise g.fail("not a BERT encoder: no Gather on embeddings.word_embeddings "
                     f"({len(g.nodes)} nodes, ops {sorted({n.op_type for n in g.nodes})[:12]})")
    heads = sorted({raw for n in g.nodes if n.op_type in ("MatMul", "Gemm")
                    and (raw := g.scopes[id(n)]) and _hf_name(raw) is None})
    if heads and task != "encoder":
        raise g.fail(f"the graph computes a head outside the encoder (module(s) "
                     f"{', '.join(heads[:4])}), which armbert does not load from ONNX; "
                     f"load the HF directory or torch module for its head, or pass "
                     f"task='encoder' to load the encoder alone")
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
    tokenizer = path.parent / "tokenizer.json"
    return BertModel.from_state_dict(
        config, sd, source=str(path),
        tokenizer_path=str(tokenizer) if tokenizer.is_file() else None)


def _weights(g: _Graph) -> tuple[dict[str, np.ndarray], list[float]]:
    sd: dict[str, np.ndarray] = {}
    eps: list[float] = []

    def put(key: str, value: np.ndarray | None, node: Any) -> None:
        if value is None:
            return
        if key in sd and not np.array_equal(sd[key], value):
            raise g.fail(f"{key} is used twice with different values (node {node.name})")
        sd[key] = value

    norm_scopes_done = set()
    biased: dict[str, int] = {}  # scope -> features, of ops whose bias may be left out
    for node in g.nodes:
        scope, op = g.scope(node), node.op_type
        if op in ("MatMul", "Gemm") and _LINEAR.fullmatch(scope):
            w = g.const(node.input[1])
            if w is None or w.ndim != 2:
                continue  # an activation x activation product inside the scope
            if op == "Gemm":
                if g.attr(node, "transA", 0):
                    raise g.fail(f"Gemm {node.name} has transA=1; not an exported linear")
                w = w if g.attr(node, "transB", 0) else w.T
                bias = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
            else:
                w, bias = w.T, _bias_after(g, node, w.shape[1])
            put(f"{scope}.weight", np.ascontiguousarray(w), node)
            put(f"{scope}.bias", bias, node)
            biased[scope] = w.shape[0]
        elif op == "Gather" and scope in _EMBEDDINGS:
            put(f"{scope}.weight", g.const(node.input[0]), node)
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

