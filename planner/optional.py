"""The planner's optional dependencies (the ``[planner]`` extra: scipy, scikit-learn,
matplotlib), imported where they are used, so that the engine and ``armbert run``
need none of them and a missing one is one clear line, not a traceback."""
from __future__ import annotations

import importlib
from types import ModuleType

from armbert.errors import MissingDependencyError

# import name -> the package pip installs it from
PACKAGES = {"scipy": "scipy", "sklearn": "scikit-learn", "matplotlib": "matplotlib"}


def require(module: str, purpose: str) -> ModuleType:
    """``module`` imported, or MissingDependencyError naming what needs it and how to
    install it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        top = module.split(".")[0]
        raise MissingDependencyError(
            f"{purpose} needs {PACKAGES.get(top, top)}, which is not installed: "
            f"pip install \"armbert[planner]\" (or pip install {PACKAGES.get(top, top)})"
        ) from None


def require_for(predictor_classes) -> None:
    """Every optional module the fits of these predictor classes import (their
    ``requires``), checked before a campaign measures anything."""
    for cls in predictor_classes:
        for module in cls.requires:
            require(module, f"the {cls.name} predictor")


def pyplot(purpose: str):
    """matplotlib.pyplot on the Agg backend (files, no display)."""
    mpl = require("matplotlib", purpose)
    mpl.use("Agg")
    return importlib.import_module("matplotlib.pyplot")
