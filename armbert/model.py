"""A BERT encoder's weights in the layout the native ops take, independent of the source.

Every loader ends in :meth:`BertModel.from_state_dict` or builds the same fields and
calls :meth:`BertModel.validate`, so the engine can trust shapes, dtype (float32),
C-contiguity and finiteness without re-checking. Linear weights stay [out, in] as in
torch; Q, K and V are fused into one [3H, H] matrix because the attention op reads
one qkv tensor (armbert.h). A linear weight may instead be an
:class:`armbert.quant.Int8Weight` (a model read from an int8 ``.armbert`` file): such a
model runs its linears at int8 only.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Iterator, Mapping, Optional

import numpy as np

from armbert.config import BertConfig
from armbert.errors import CheckpointError
from armbert.heads import TaskHead, read_head
from armbert.quant import Int8Weight

# HF module names of one encoder layer, keyed by our field stems.
_LAYER_LINEARS = {
    "attn_out": "attention.output.dense",
    "ffn_in": "intermediate.dense",
    "ffn_out": "output.dense",
}
_LAYER_NORMS = {"ln1": "attention.output.LayerNorm", "ln2": "output.LayerNorm"}
_QKV = ("query", "key", "value")
_ANCHOR = "embeddings.word_embeddings.weight"


# Linear weight fields (float32 arrays or Int8Weight) -> the linear's name suffix.
LINEAR_FIELDS = {"qkv_w": "qkv", "attn_out_w": "attn_out", "ffn_in_w": "ffn_in",
                 "ffn_out_w": "ffn_out"}


@dataclass
class LayerWeights:
    qkv_w: np.ndarray | Int8Weight       # [3H, H]: rows of Q, then K, then V
    qkv_b: np.ndarray       # [3H]
    attn_out_w: np.ndarray | Int8Weight  # [H, H]
    attn_out_b: np.ndarray  # [H]
    ln1_g: np.ndarray       # [H]
    ln1_b: np.ndarray       # [H]
    ffn_in_w: np.ndarray | Int8Weight    # [I, H]
    ffn_in_b: np.ndarray    # [I]
    ffn_out_w: np.ndarray | Int8Weight   # [H, I]
    ffn_out_b: np.ndarray   # [H]
    ln2_g: np.ndarray       # [H]
    ln2_b: np.ndarray       # [H]

    def expected_shapes(self, config: BertConfig) -> dict[str, tuple[int, ...]]:
        h, i = config.hidden_size, config.intermediate_size
        return {"qkv_w": (3 * h, h), "qkv_b": (3 * h,), "attn_out_w": (h, h),
                "attn_out_b": (h,), "ln1_g": (h,), "ln1_b": (h,), "ffn_in_w": (i, h),
                "ffn_in_b": (i,), "ffn_out_w": (h, i), "ffn_out_b": (h,), "ln2_g": (h,),
                "ln2_b": (h,)}


@dataclass
class BertModel:
    config: BertConfig
    word: np.ndarray        # [V, H]
    position: np.ndarray    # [P, H]
    token_type: np.ndarray  # [T, H]
    emb_ln_g: np.ndarray    # [H]
    emb_ln_b: np.ndarray    # [H]
    layers: list[LayerWeights]
    pooler_w: np.ndarray | Int8Weight | None = None  # [H, H]; None: saved without pooler
    pooler_b: np.ndarray | None = None  # [H]
    tokenizer_path: str | None = None   # a tokenizer.json, when the source had one
    source: str = ""
    head: Optional[TaskHead] = None     # a task head (armbert.heads), run after the encoder
    # Tokenizer files by name (tokenizer.json, vocab.txt), for models without a directory
    # (read from a .armbert file); tokenizer_path is used when set.
    tokenizer_files: Mapping[str, str] = field(default_factory=dict)
    sentence: Any = None                # armbert.sentence_config.SentenceConfig, if known
    # What Engine(model) runs when given no precision / backend / plan (.armbert files).
    default_precision: str = "fp32"
    default_plan: Optional[Mapping] = None

    def linear_weights(self) -> dict[str, np.ndarray | Int8Weight]:
        """Every linear's weight by the name the engine and QuantizationParams use."""
        out = {f"layer.{i}.{op}": getattr(layer, f)
               for i, layer in enumerate(self.layers) for f, op in LINEAR_FIELDS.items()}
        if self.pooler_w is not None:
            out["pooler"] = self.pooler_w
        return out

    @property
    def int8_only(self) -> bool:
        """True when some linear weight is held only in int8 (an int8 .armbert file)."""
        return any(isinstance(w, Int8Weight) for w in self.linear_weights().values())

    def tensors(self) -> Iterator[tuple[str, np.ndarray]]:
        """(name, array) for every weight, names like ``layers.3.qkv_w``; pooler only if
        present; a linear held only in int8 comes as its Int8Weight; the head is apart."""
        for name in ("word", "position", "token_type", "emb_ln_g", "emb_ln_b"):
            yield name, getattr(self, name)
        for i, layer in enumerate(self.layers):
            for f in fields(LayerWeights):
                yield f"layers.{i}.{f.name}", getattr(layer, f.name)
        if self.pooler_w is not None:
            yield "pooler_w", self.pooler_w
            yield "pooler_b", self.pooler_b

    def validate(self) -> "BertModel":
        """Raise CheckpointError unless every tensor fits the config; returns self."""
        c = self.config
        if not isinstance(c, BertConfig):
            raise CheckpointError(f"{self.source}: config is a {type(c).__name__}, not BertConfig")
        h = c.hidden_size
        expected = {"word": (c.vocab_size, h), "position": (c.max_position_embeddings, h),
                    "token_type": (c.type_vocab_size, h), "emb_ln_g": (h,), "emb_ln_b": (h,)}
        if len(self.layers) != c.num_hidden_layers:
            raise CheckpointError(f"{self.source}: {len(self.layers)} layers, config says "
                                  f"num_hidden_layers={c.num_hidden_layers}")
        for i, layer in enumerate(self.layers):
            for name, shape in layer.expected_shapes(c).items():
                expected[f"layers.{i}.{name}"] = shape
        if (self.pooler_w is None) != (self.pooler_b is None):
            raise CheckpointError(f"{self.source}: pooler has a weight or a bias but not both")
        if self.pooler_w is not None:
            expected["pooler_w"], expected["pooler_b"] = (h, h), (h,)
        for name, array in self.tensors():
            if isinstance(array, Int8Weight):
                array.validate(self.source, name)
                if array.shape != expected[name]:
                    raise CheckpointError(f"{self.source}: int8 weight {name} has shape "
                                          f"{list(array.shape)}, expected {list(expected[name])}")
                continue
            _check_tensor(self.source, name, array, expected[name])
        if self.head is not None:
            self.head.validate(h, self.pooler_w is not None, self.source)
        return self

    @classmethod
    def from_state_dict(cls, config: BertConfig, sd: Mapping[str, np.ndarray], source: str,
                        tokenizer_path: str | None = None, task: str | None = None,
                        architecture: str | None = None,
                        id2label: Mapping | None = None) -> "BertModel":
        """Build from HF BertModel names, with or without a prefix such as ``bert.``.

        The task head is read as :func:`armbert.heads.read_head` says (``task`` None:
        from ``architecture``, the transformers class name; an unknown head is an
        error unless ``task="encoder"``). Buffers (``position_ids``) are ignored.
        """
        prefix = _find_prefix(sd, source)
        head = read_head(sd, prefix, source, task, architecture, id2label)
        extra = sorted({i for k in sd if k.startswith(prefix)
                        and (i := layer_index(k[len(prefix):])) is not None
                        and i >= config.num_hidden_layers})
        if extra:
            raise CheckpointError(f"{source}: tensors for encoder layer(s) {extra} but config "
                                  f"says num_hidden_layers={config.num_hidden_layers}")
        get = _Getter(sd, prefix, source)
        layers = []
        for i in range(config.num_hidden_layers):
            p = f"encoder.layer.{i}."
            qkv_w = [get(f"{p}attention.self.{n}.weight") for n in _QKV]
            qkv_b = [get(f"{p}attention.self.{n}.bias") for n in _QKV]
            kw = {}
            for stem, module in _LAYER_LINEARS.items():
                kw[f"{stem}_w"] = get(f"{p}{module}.weight")
                kw[f"{stem}_b"] = get(f"{p}{module}.bias")
            for stem, module in _LAYER_NORMS.items():
                kw[f"{stem}_g"] = get.norm(f"{p}{module}", "weight")
                kw[f"{stem}_b"] = get.norm(f"{p}{module}", "bias")
            if any(t is None for t in (*qkv_w, *qkv_b)):
                qkv = dict(qkv_w=None, qkv_b=None)
            else:
                H = config.hidden_size
                for n, w, b in zip(_QKV, qkv_w, qkv_b):  # before they are concatenated
                    for t, kind, shape in ((w, "weight", (H, H)), (b, "bias", (H,))):
                        if np.shape(t) != shape:
                            raise CheckpointError(
                                f"{source}: tensor {prefix}{p}attention.self.{n}.{kind} has "
                                f"shape {list(np.shape(t))}, expected {list(shape)}")
                qkv = dict(qkv_w=_concat(qkv_w), qkv_b=_concat(qkv_b))
            layers.append(LayerWeights(**qkv, **kw))
        model = cls(
            config=config,
            word=get("embeddings.word_embeddings.weight"),
            position=get("embeddings.position_embeddings.weight"),
            token_type=get("embeddings.token_type_embeddings.weight"),
            emb_ln_g=get.norm("embeddings.LayerNorm", "weight"),
            emb_ln_b=get.norm("embeddings.LayerNorm", "bias"),
            layers=layers,
            pooler_w=get("pooler.dense.weight", optional=True),
            pooler_b=get("pooler.dense.bias", optional=True),
            tokenizer_path=tokenizer_path,
            source=source,
            head=head,
        )
        if get.missing:
            shown = ", ".join(prefix + m for m in get.missing[:12])
            more = f" and {len(get.missing) - 12} more" if len(get.missing) > 12 else ""
            raise CheckpointError(f"{source}: missing tensor(s) {shown}{more}")
        return model.validate()


def _find_prefix(sd: Mapping[str, np.ndarray], source: str) -> str:
    # The prefix is whatever precedes the word table: "" for BertModel, "bert." for
    # BertForX, anything for a wrapper. Heads live outside it and are never read.
    hits = [k[: -len(_ANCHOR)] for k in sd if k.endswith(_ANCHOR)
            and (k == _ANCHOR or k[-len(_ANCHOR) - 1] == ".")]
    if not hits:
        raise CheckpointError(f"{source}: no {_ANCHOR}; not a BERT checkpoint "
                              f"({len(sd)} tensors, e.g. {', '.join(list(sd)[:4])})")
    if len(hits) > 1:
        raise CheckpointError(f"{source}: several BERT encoders in one checkpoint "
                              f"(prefixes {hits}); load the one you want explicitly")
    return hits[0]


class _Getter:
    def __init__(self, sd: Mapping[str, np.ndarray], prefix: str, source: str) -> None:
        self.sd, self.prefix, self.source = sd, prefix, source
        self.missing: list[str] = []

    def __call__(self, name: str, optional: bool = False) -> np.ndarray | None:
        key = self.prefix + name
        if key in self.sd:
            return _as_f32(self.sd[key], key, self.source)
        if not optional:
            self.missing.append(name)
        return None

    def norm(self, module: str, kind: str) -> np.ndarray | None:
        # Checkpoints converted from the original TF BERT name LayerNorm gamma/beta.
        alias = {"weight": "gamma", "bias": "beta"}[kind]
        if self.prefix + f"{module}.{kind}" not in self.sd and \
                self.prefix + f"{module}.{alias}" in self.sd:
            return self(f"{module}.{alias}")
        return self(f"{module}.{kind}")


def _as_f32(array: np.ndarray, name: str, source: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind != "f":
        raise CheckpointError(f"{source}: tensor {name} has dtype {array.dtype}, expected float")
    return np.ascontiguousarray(array, dtype=np.float32)


def _concat(parts: list[np.ndarray]) -> np.ndarray:
    return np.ascontiguousarray(np.concatenate(parts, axis=0))


def _check_tensor(source: str, name: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
    if not isinstance(array, np.ndarray):
        raise CheckpointError(f"{source}: tensor {name} is a {type(array).__name__}, "
                              f"not a numpy array")
    if array.shape != shape:
        raise CheckpointError(f"{source}: tensor {name} has shape {list(array.shape)}, "
                              f"expected {list(shape)}")
    if array.dtype != np.float32 or not array.flags.c_contiguous:
        raise CheckpointError(f"{source}: tensor {name} must be C-contiguous float32, "
                              f"got {array.dtype}{'' if array.flags.c_contiguous else ' strided'}")
    # A NaN or inf in a weight is a corrupt file; finding it here beats finding NaN
    # embeddings after a run on the device.
    if not np.isfinite(array).all():
        raise CheckpointError(f"{source}: tensor {name} contains NaN or infinity")


def layer_index(name: str) -> int | None:
    """The layer number of an HF name without prefix (``encoder.layer.7.output...`` -> 7)."""
    m = re.match(r"encoder\.layer\.(\d+)\.", name)
    return int(m.group(1)) if m else None
