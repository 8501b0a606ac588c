"""The aarch64 wheel as a board gets it, and the dev box's model file run from it.

Here, on aarch64: `pip wheel .`, then `auditwheel repair`, so that the ARM Compute
Library, OpenBLAS and the GCC runtime libraries the native library needs travel inside
the wheel (OpenCL stays the board's own libOpenCL.so, which ACL opens at run time).
The repaired wheel, alone, goes into a fresh venv (numpy and cffi are the system's, as
on a board's Debian); the run has no compiler (PATH is the venv's bin, CC and CXX
/bin/false), starts outside the source tree, and cannot reach the tree's ACL or
OpenBLAS: every copy of them the process maps must be the wheel's (/proc/self/maps).

It loads the int8 .armbert that tools/board_reference.py wrote on the x86 side
(ARMBERT_BOARD_REFERENCE, set by tools/dev.sh; without it, e.g. on a board, the test
writes the reference here with this machine's host backend) and runs it on NEON and on
CL; each must match the host backend's output of the same file per token, cosine
>= 0.999 (INT8_SAME_MATH_COS of tests/arm/test_cl_engine.py: the same integer GEMMs,
only the float epilogues, layernorm, softmax and GELU round differently).

The wheel tools (setuptools, wheel, auditwheel and pip's own wheel) are the tree
venv's, installed by `tools/testbed.py run --tools` (tools/dev.sh passes it).
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from ..helpers import token_cosines
from .conftest import ROOT

INT8_SAME_MATH_COS = 0.999
PIP_WHEELS = Path(os.environ.get("ARMBERT_PIP_WHEELS", "/opt/pip-wheel"))
# Libraries the repaired wheel must carry: a board has none of them installed.
GRAFTED = ("libarm_compute", "libopenblas", "libgomp")

pytestmark = pytest.mark.usefixtures("neon_is_built", "cl_is_built")

# Runs in the fresh venv, from outside the tree; reports which copies of the grafted
# libraries the process mapped.
RUN = r"""
import json, sys
from pathlib import Path

import numpy as np
import armbert

repo, ref, out = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
assert not Path(armbert.__file__).resolve().is_relative_to(repo), armbert.__file__
assert not any(Path(p or ".").resolve().is_relative_to(repo) for p in sys.path), sys.path
model = armbert.load(str(ref / "model.armbert"))
ids, mask = np.load(ref / "ids.npy"), np.load(ref / "mask.npy")
for backend in ("neon", "cl"):
    y = armbert.Engine(model, backend=backend).run(ids, mask).last_hidden_state
    np.save(out / f"{backend}.npy", y)
maps = Path("/proc/self/maps").read_text().splitlines()
libs = sorted({line.split()[-1] for line in maps
               if any(g in line for g in sys.argv[4].split(",") + ["libarmbert"])})
print(json.dumps({"armbert": armbert.__file__, "libs": libs,
                  "backends": armbert.backends(), "model": type(model).__name__}))
"""


def sh(*cmd, **kw) -> str:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=1800, **kw)
    assert r.returncode == 0, f"{cmd}: exit {r.returncode}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def pip_command() -> list[str]:
    wheels = sorted(PIP_WHEELS.glob("pip-*.whl"))
    assert wheels, f"no pip wheel in {PIP_WHEELS}: run the suite with tools/testbed.py run --tools"
    return [str(wheels[-1] / "pip")]


def reference(tmp_path: Path) -> Path:
    given = os.environ.get("ARMBERT_BOARD_REFERENCE")
    if given:
        return Path(given)
    out = tmp_path / "reference"
    runpy.run_path(str(ROOT / "tools" / "board_reference.py"))["write"](out)
    return out


def test_repaired_wheel_runs_the_dev_box_model_on_neon_and_cl(tmp_path):
    for tool in ("setuptools", "wheel", "auditwheel"):
        assert importlib.util.find_spec(tool), (
            f"{tool} is missing: the test bed installs it with tools/testbed.py run --tools")
    ref = reference(tmp_path)
    info = json.loads((ref / "reference.json").read_text())

    # 1. The wheel, as README's Installing says (build.py reuses the compiled objects).
    dist, house = tmp_path / "dist", tmp_path / "wheelhouse"
    sh(sys.executable, *pip_command(), "wheel", ".", "--no-deps", "--no-build-isolation",
       "--disable-pip-version-check", "-q", "-w", dist, cwd=ROOT)
    wheel, = dist.glob("armbert-*.whl")
    assert wheel.name.endswith("-py3-none-linux_aarch64.whl"), wheel.name

    # 2. Repaired: the newest manylinux tag auditwheel finds the wheel consistent with.
    shown = sh(sys.executable, "-m", "auditwheel", "show", wheel)
    tags = re.findall(r'"(manylinux_\d+_\d+_aarch64)"', shown)
    assert tags, shown
    sh(sys.executable, "-m", "auditwheel", "repair", "--plat", tags[0], "-w", house, wheel)
    repaired, = house.glob("armbert-*.whl")
    names = zipfile.ZipFile(repaired).namelist()
    for lib in GRAFTED:
        assert any(n.startswith("armbert.libs/") and Path(n).name.startswith(lib)
                   for n in names), (lib, [n for n in names if ".libs/" in n])
    assert not any("libOpenCL" in n for n in names), "OpenCL must stay the board's"
    size = repaired.stat().st_size / 1e6
    print(f"\n{repaired.name}: {size:.1f} MB (unrepaired {wheel.stat().st_size / 1e6:.1f} MB)")

    # 3. A fresh venv holding only that wheel; no compiler; outside the tree.
    venv = tmp_path / "venv"
    sh("/usr/bin/python3", "-m", "venv", "--without-pip", "--system-site-packages", venv)
    py = venv / "bin" / "python3"
    sh(py, *pip_command(), "install", "-q", "--no-deps", "--no-index",
       "--disable-pip-version-check", repaired)
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "CC": "/bin/false",
           "CXX": "/bin/false", "LANG": "C.UTF-8",
           **{k: v for k, v in os.environ.items()
              if k.startswith(("ARMBERT_CACHE", "POCL_", "OCL_", "RUSTICL_", "QEMU_"))
              or k == "LD_LIBRARY_PATH"}}  # the OpenCL test device (tools/ocl_test_adapter)
    assert shutil.which("gcc", path=env["PATH"]) is None
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "run.py").write_text(RUN)
    got = json.loads(sh(py, tmp_path / "run.py", ROOT, ref, out, ",".join(GRAFTED),
                        env=env, cwd=tmp_path).strip().splitlines()[-1])
    assert got["armbert"].startswith(str(venv)) and got["model"] == "QuantizedModel", got
    assert {"neon", "cl"} <= set(got["backends"]), got
    # armbert's ACL, OpenBLAS and libgomp are the wheel's own copies (the repaired
    # library's RUNPATH is searched before the system's directories), and no other ACL
    # is mapped, so the tree's, though installed, was out of reach. (Debian's numpy
    # maps the system OpenBLAS for itself: that one is numpy's, as on a board.)
    for lib in GRAFTED + ("libarmbert",):
        mapped = [m for m in got["libs"] if Path(m).name.startswith(lib)]
        assert any(m.startswith(str(venv)) for m in mapped), (lib, got["libs"])
        if lib in ("libarm_compute", "libarmbert"):
            assert all(m.startswith(str(venv)) for m in mapped), (lib, got["libs"])

    # 4. The same numbers as the host backend of the machine that wrote the file.
    ids, mask = np.load(ref / "ids.npy"), np.load(ref / "mask.npy")
    host = np.load(ref / "host.npy")
    for backend in ("neon", "cl"):
        y = np.load(out / f"{backend}.npy")
        assert y.shape == host.shape
        cos = token_cosines(y, host, mask).min()
        print(f"{backend} from the wheel vs {info['machine']} host: min token cosine "
              f"{cos:.6f}, max |diff| {np.abs(y - host)[mask > 0].max():.2e}")
        assert cos >= INT8_SAME_MATH_COS, (backend, cos)
