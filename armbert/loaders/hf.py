"""Load a Hugging Face model directory: config.json plus safetensors or pytorch_model.bin.

The safetensors path needs only numpy and json, so it works on the boards; torch is
imported only for a ``pytorch_model.bin`` (loaded with ``weights_only=True``: a pickle
from the internet must not run code).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from armbert.config import BertConfig, read_config, read_json
from armbert.errors import CheckpointError
from armbert.heads import architecture_of
from armbert.loaders import safetensors
from armbert.model import BertModel

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                 "pytorch_model.bin.index.json")


def load_dir(directory: str | os.PathLike, config: BertConfig | None = None,
             weights: str | os.PathLike | None = None, task: str | None = None) -> BertModel:
    """Load ``directory``; ``weights`` picks one file in it (else the first of _WEIGHT_FILES).

    An explicit ``config`` replaces config.json (which may then be absent). The head is
    the one config.json's ``architectures`` names (see armbert.heads; ``task`` overrides).
    A sentence-transformers directory's modules.json and pooling configs come along.
    """
    from armbert.sentence_config import SentenceConfig

    directory = Path(directory)
    if not directory.is_dir():
        raise CheckpointError(f"{directory}: not a directory")
    raw = read_json(directory / "config.json") if (directory / "config.json").is_file() else {}
    if config is None:
        if not (directory / "config.json").is_file():
            raise CheckpointError(f"{directory}: no config.json (pass config= to load anyway)")
        config = read_config(directory / "config.json")
    if weights is None:
        found = [directory / n for n in _WEIGHT_FILES if (directory / n).is_file()]
        if not found:
            onnx = _onnx_file(directory)
            if onnx is None:
                raise CheckpointError(f"{directory}: no weights (looked for "
                                      f"{', '.join(_WEIGHT_FILES)}, model.onnx)")
            # An Optimum export folder: model.onnx beside config.json and the tokenizer.
            from armbert.loaders.onnx_model import load_onnx

            model = load_onnx(onnx, config, task)
            model.sentence = SentenceConfig.from_dir(directory)
            return model
        weights = found[0]
    weights = Path(weights)
    sd = read_weights(weights)
    tokenizer = directory / "tokenizer.json"
    model = BertModel.from_state_dict(
        config, sd, source=str(weights),
        tokenizer_path=str(tokenizer) if tokenizer.is_file() else None, task=task,
        architecture=architecture_of(raw, str(directory / "config.json")),
        id2label=raw.get("id2label"))
    model.sentence = SentenceConfig.from_dir(directory)
    return model


def _onnx_file(directory: Path) -> Path | None:
    """model.onnx, else the folder's only .onnx file (Optimum names a quantized export
    model_quantized.onnx, which then reaches the loader and is refused by name)."""
    if (directory / "model.onnx").is_file():
        return directory / "model.onnx"
    found = sorted(directory.glob("*.onnx"))
    if len(found) > 1:
        raise CheckpointError(f"{directory}: no model.onnx and several .onnx files "
                              f"({', '.join(p.name for p in found[:4])}); load one by path")
    return found[0] if found else None


def read_weights(path: Path) -> dict[str, np.ndarray]:
    if path.name.endswith(".index.json"):
        return _read_sharded(path)
    if path.suffix == ".safetensors":
        return safetensors.load_file(path)
    if path.suffix in (".bin", ".pt", ".pth"):
        return _read_torch(path)
    raise CheckpointError(f"{path}: unknown weight file type (expected .safetensors or .bin)")


def _read_sharded(index: Path) -> dict[str, np.ndarray]:
    """The tensors an index's weight_map names, each from the shard it names: a shard
    is a weight file beside the index (not another index), a tensor the map names
    must be in its shard, and a tensor of the map found in another shard too is
    refused (which copy is meant is not clear)."""
    try:
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        shards = sorted(set(weight_map.values()), key=str)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{index}: not a valid shard index: {e!r}") from e
    for shard in shards:
        if not isinstance(shard, str) or Path(shard).name != shard or \
                shard.endswith(".index.json"):
            raise CheckpointError(f"{index}: weight_map names {shard!r}, which is not a "
                                  "weight file beside the index")
    sd: dict[str, np.ndarray] = {}
    where: dict[str, str] = {}
    for shard in shards:
        for name, tensor in read_weights(index.parent / shard).items():
            if name in where:
                raise CheckpointError(f"{index}: tensor {name!r} is in {where[name]} and "
                                      f"in {shard}")
            where[name] = shard
            sd[name] = tensor
    for name, shard in weight_map.items():
        if where.get(name) != shard:
            raise CheckpointError(f"{index}: weight_map puts {name!r} in {shard}, but "
                                  + (f"it is in {where[name]}" if name in where
                                     else "no shard holds it"))
    return sd


def _read_torch(path: Path) -> dict[str, np.ndarray]:
    try:
        import torch
    except ImportError as e:
        raise CheckpointError(f"{path}: reading a PyTorch pickle needs torch, which is not "
                              f"installed; convert it to model.safetensors") from e
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a bad pickle
        raise CheckpointError(f"{path}: cannot load with torch.load(weights_only=True): "
                              f"{e}") from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: holds a {type(sd).__name__}, not a state dict")
    from armbert.loaders.torch_module import tensor_to_numpy

    return {k: tensor_to_numpy(v) for k, v in sd.items() if isinstance(v, torch.Tensor)}
