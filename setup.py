"""Runs build.py as part of every install, regular (build_py) and editable
(editable_wheel), so `pip install -e .` leaves a package whose native library
is built, with a copy of the ABI header (kernels/include/armbert.h) beside it in
armbert/_lib/: armbert/_native.py reads its cffi declarations from that copy
when the package is installed outside the source tree.

The wheel holds a compiled library, so it is platform-specific (a linux_x86_64
or linux_aarch64 tag, never py3-none-any)."""
import importlib.util
import os
import platform
import shutil
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

try:
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # setuptools < 70.1 keeps it in the wheel package
    from wheel.bdist_wheel import bdist_wheel


def build_native(lib_dir=None):
    spec = importlib.util.spec_from_file_location(
        "armbert_build", Path(__file__).resolve().parent / "build.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod.build(lib_dir=lib_dir)


# Set while bdist_wheel runs: a wheel is an artifact that travels, so its library is
# built for the baseline ISA (x86-64; the AVX2 / AVX-VNNI / AVX512-VNNI int8 kernels
# are still chosen at run time, kernels/src/host/isa.cpp), into the wheel's staging
# directory, leaving the source tree's machine-tuned library alone.
# ARMBERT_PORTABLE=0 gives a wheel tuned for (and only for) the building machine.
_WHEEL = {"building": False}


class BuildPy(build_py):
    def run(self):
        build_native()  # the source tree's library and header, as package data
        super().run()
        if _WHEEL["building"]:
            self.portable_library()

    def portable_library(self):
        """Replaces the staged library with one built for the baseline ISA, and drops
        any other machine's library a test bed left in the source tree."""
        libs = Path(self.build_lib) / "armbert" / "_lib"
        for other in libs.iterdir():
            if other.is_dir() and other.name != platform.machine():
                shutil.rmtree(other)
        old = os.environ.get("ARMBERT_PORTABLE")
        os.environ.setdefault("ARMBERT_PORTABLE", "1")
        try:
            build_native(libs / platform.machine())
        finally:
            if old is None:
                os.environ.pop("ARMBERT_PORTABLE", None)


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

    def run(self):
        _WHEEL["building"] = True
        try:
            super().run()
        finally:
            _WHEEL["building"] = False

    def get_tag(self):
        # The library is loaded through cffi's ABI mode, not as a CPython extension:
        # any CPython 3 on this platform can use it.
        _, _, plat = super().get_tag()
        return "py3", "none", plat


setup(distclass=BinaryDistribution,
      cmdclass={"build_py": BuildPy, "editable_wheel": EditableWheel,
                "bdist_wheel": PlatformWheel})
