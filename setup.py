"""Runs build.py as part of every install, regular (build_py) and editable
(editable_wheel), so `pip install -e .` leaves a package whose native library
is built."""
import importlib.util
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel


def build_native():
    spec = importlib.util.spec_from_file_location(
        "armbert_build", Path(__file__).resolve().parent / "build.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    mod.build()


class BuildPy(build_py):
    def run(self):
        build_native()
        super().run()


class EditableWheel(editable_wheel):
    def run(self):
        build_native()
        super().run()


setup(cmdclass={"build_py": BuildPy, "editable_wheel": EditableWheel})
