"""tools/cpucap: a process whose CPUID answers as a smaller x86 CPU (the AVX2 tables
in docs/performance.md are measured under it, every engine in one process capped).

Where the CPU offers CPUID faulting, a capped child must see no AVX-512 or AMX in
every reader we rely on: armbert's own detection (__builtin_cpu_supports, libgcc's
CPUID) and numpy's dispatcher, and at level avx2 no AVX-VNNI either, while AVX2, FMA
and F16C stay. Where it does not, the tool must refuse with the reason instead of
running the command uncapped.
"""
from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "cpucap" / "cpucap.py"
sys.path.insert(0, str(TOOL.parent))
import cpucap  # noqa: E402

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64",
                                reason="CPUID is an x86 instruction")

PROBE = """
import json, numpy
from armbert import _native
from numpy._core._multiarray_umath import __cpu_features__ as np_features
print(json.dumps({"armbert": _native.cpu_features(),
                  "numpy": sorted(k for k, v in np_features.items() if v)}))
"""


def capped(level: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), "--isa", level, "--", "-c", PROBE],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("level", sorted(cpucap.LEVELS))
def test_capped_process_sees_the_smaller_cpu(level):
    r = capped(level)
    if not cpucap.supported():
        assert r.returncode != 0 and "cpuid_fault" in r.stderr, r.stderr
        return
    assert r.returncode == 0, r.stderr
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    uncapped = json.loads(subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT,
                                         capture_output=True, text=True,
                                         check=True).stdout.strip().splitlines()[-1])
    assert "avx2" in uncapped["armbert"]  # the machines this is for
    assert "avx512_vnni" not in seen["armbert"]
    assert not [f for f in seen["numpy"] if f.startswith("AVX512")], seen["numpy"]
    for kept in ("avx2", "f16c"):
        assert kept in seen["armbert"]
    assert {"AVX2", "FMA3", "F16C"} <= set(seen["numpy"])
    if level == "avx2":
        assert "avx_vnni" not in seen["armbert"]
    elif "avx_vnni" in uncapped["armbert"]:
        assert "avx_vnni" in seen["armbert"]


def test_a_real_fault_still_kills_the_process():
    """The SIGSEGV handler answers CPUID only; any other fault goes to the previous
    action (here the default: the child dies of SIGSEGV, it does not hang or loop)."""
    crash = "import ctypes; ctypes.string_at(0)"
    r = subprocess.run([sys.executable, str(TOOL), "--isa", "avx2", "--", "-c", crash],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    if cpucap.supported():
        assert r.returncode == -11, (r.returncode, r.stderr)
    else:
        assert r.returncode != 0 and "cpuid_fault" in r.stderr, r.stderr
