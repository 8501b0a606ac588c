"""Load a live torch module: transformers' BertModel / BertForX, or any nn.Module whose
state_dict uses BERT names. torch is imported by the caller, never by this file's import.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from armbert.config import BertConfig
from armbert.errors import CheckpointError
from armbert.model import BertModel


def tensor_to_numpy(t: Any) -> np.ndarray:
    """An owned numpy copy; bf16/fp16 widen to float32 (numpy has no bf16)."""
    t = t.detach().cpu()
    if t.is_floating_point() and t.dtype.itemsize < 4:
        t = t.float()
    return t.numpy().copy()


def config_of(module: Any) -> BertConfig:
    cfg = getattr(module, "config", None)
    if cfg is None:
        raise CheckpointError(f"{type(module).__name__} has no .config; pass config= "
                              f"(an armbert BertConfig or an HF config dict)")
    if isinstance(cfg, BertConfig):
        return cfg
    if isinstance(cfg, dict):
        return BertConfig.from_dict(cfg)
    if hasattr(cfg, "to_dict"):  # transformers' PretrainedConfig
        return BertConfig.from_dict(cfg.to_dict())
    raise CheckpointError(f"{type(module).__name__}.config is a {type(cfg).__name__}; "
                          f"pass config= explicitly")


def load_module(module: Any, config: BertConfig | dict | None = None,
                task: str | None = None) -> BertModel:
    """The module's class name is its architecture: BertForQuestionAnswering brings its
    head (armbert.heads), BertForMaskedLM is refused unless ``task="encoder"``."""
    if isinstance(config, dict):
        config = BertConfig.from_dict(config)
    if config is None:
        config = config_of(module)
    sd = {k: tensor_to_numpy(v) for k, v in module.state_dict().items()}
    id2label = getattr(getattr(module, "config", None), "id2label", None)
    return BertModel.from_state_dict(config, sd, source=f"torch module {type(module).__name__}",
                                     task=task, architecture=type(module).__name__,
                                     id2label=id2label)
