"""Runs build.py as part of every install, regular (build_py) and editable
(editable_wheel), so `pip install -e .` leaves a package whose native library
is built, with a copy of the ABI header (kernels/include/armbert.h) beside it in
armbert/_lib/: armbert/_native.py reads its cffi declarations from that copy
when the package is installed outside the source tree.

The wheel holds a compiled library, so it is platform-specific (a linux_x86_64
or linux_aarch64 tag, never py3-none-any)."""
import importlib.util
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 keeps it in the wheel package
    from wheel.bdist_wheel import bdist_wheel


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


class BinaryDistribution(Distribution):
    """Holds a compiled library: installed to platlib, and the wheel is not pure."""

    def has_ext_modules(self):
        return True


class PlatformWheel(bdist_wheel):
    """Tags the wheel with this platform: it carries armbert/_lib/<machine>/libarmbert.so."""

    def get_tag(self):
        # The library is loaded through cffi's ABI mode, not as a CPython extension:
        # any CPython 3 on this platform can use it.
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(distclass=BinaryDistribution,
      cmdclass={"build_py": BuildPy, "editable_wheel": EditableWheel,
                "bdist_wheel": PlatformWheel})
