"""The shape and arithmetic of a BERT encoder, read from an HF ``config.json``.

Only what the native kernels implement is accepted: absolute position embeddings,
post-layernorm blocks and the erf form of GELU. Anything else (RoBERTa's shifted
positions, GPT-style ``gelu_new``, relative positions, decoders) would load without
complaint and compute the wrong numbers, so it is refused here, by name.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Mapping

from armbert.errors import CheckpointError

_INT_FIELDS = ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
               "intermediate_size", "max_position_embeddings", "type_vocab_size")
# HF's BertConfig defaults for keys that old config.json files leave out. The sizes
# have no default here: a config without hidden_size is broken, not "base".
_DEFAULTS = {"type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}


@dataclass(frozen=True)
class BertConfig:
    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_act: str = "gelu"

    def __post_init__(self) -> None:
        for name in _INT_FIELDS:
            value = getattr(self, name)
            # bool is an int in Python; "true" as a layer count is a broken file.
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise CheckpointError(f"config: {name} must be a positive integer, got {value!r}")
        eps = self.layer_norm_eps
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not (
                math.isfinite(eps) and eps > 0):
            raise CheckpointError(f"config: layer_norm_eps must be a positive number, got {eps!r}")
        # The kernels take it as a float32: it must stay finite and positive there.
        if not (1.1754944e-38 <= float(eps) <= 3.4028235e38):
            raise CheckpointError(f"config: layer_norm_eps {eps!r} is outside float32's "
                                  "normal range [1.2e-38, 3.4e38]")
        object.__setattr__(self, "layer_norm_eps", float(eps))
        if self.hidden_act != "gelu":
            raise CheckpointError(
                f"config: hidden_act must be 'gelu' (the erf form the kernels implement), "
                f"got {self.hidden_act!r}")
        if self.hidden_size % self.num_attention_heads:
            raise CheckpointError(
                f"config: hidden_size {self.hidden_size} is not divisible by "
                f"num_attention_heads {self.num_attention_heads}")

    @property
    def head_dim(self) -> int:
        return self.hidden_size // self.num_attention_heads

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "BertConfig":
        """Build from an HF config dict; extra keys (dropout, architectures...) are ignored."""
        if not isinstance(d, Mapping):
            raise CheckpointError(f"config: expected a JSON object, got {type(d).__name__}")
        model_type = d.get("model_type")
        if model_type is not None and model_type != "bert":
            raise CheckpointError(
                f"config: model_type is {model_type!r}; only 'bert' encoders are supported")
        pos = d.get("position_embedding_type")
        if pos is not None and pos != "absolute":
            raise CheckpointError(
                f"config: position_embedding_type is {pos!r}; only 'absolute' is supported")
        for flag in ("is_decoder", "add_cross_attention"):
            if d.get(flag):
                raise CheckpointError(f"config: {flag} is set; only encoders are supported")
        missing = [k for k in _INT_FIELDS if k not in d and k not in _DEFAULTS]
        if missing:
            raise CheckpointError(f"config: missing key(s) {', '.join(missing)}")
        values = {k: d.get(k, _DEFAULTS.get(k)) for k in (*_INT_FIELDS, "layer_norm_eps",
                                                         "hidden_act")}
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """An HF-compatible config dict (``from_dict(to_dict())`` round-trips)."""
        return {"model_type": "bert", "position_embedding_type": "absolute", **asdict(self)}


def read_json(path: str | os.PathLike) -> dict:
    """A JSON object from a checkpoint file; CheckpointError naming the file otherwise."""
    path = Path(path)
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e}") from e
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: not valid JSON: {e}") from e
    if not isinstance(d, dict):
        raise CheckpointError(f"{path}: expected a JSON object, got {type(d).__name__}")
    return d


def read_config(path: str | os.PathLike) -> BertConfig:
    """A BertConfig from a config.json; CheckpointError naming the file otherwise."""
    d = read_json(path)
    try:
        return BertConfig.from_dict(d)
    except CheckpointError as e:
        raise CheckpointError(f"{path}: {e}") from None
