"""ARM-only tests: they run on aarch64 (a board or the emulated test bed; the
README's test command runs them there) and check what the kernel tests cannot:
CPU-feature dispatch of the NEON backend (cores picked with QEMU_CPU under the
test bed), its ACL scheduler, and whole models on NEON/CL against the host
backend. The x86 host suite does not collect this directory (tools/dev.sh)."""
from __future__ import annotations

import os
import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

import armbert

ROOT = Path(__file__).resolve().parents[2]

ON_ARM = platform.machine() in ("aarch64", "arm64")
HERE = Path(__file__).resolve().parent


def emulated() -> bool:
    """True under qemu-user. The test bed says so (ARMBERT_TESTBED, set by
    tools/testbed.py for every run, since its /proc/cpuinfo is a faked aarch64 one
    with the emulated core's MIDR); elsewhere qemu shows either the host's cpuinfo
    (no "CPU implementer") or, as qemu 7.2 fakes it for the default core,
    implementer 0x00, which no ARM licensee has."""
    if os.environ.get("ARMBERT_TESTBED") == "qemu-user":
        return True
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    fake = re.search(r"CPU implementer\s*:\s*0x00\b", info) is not None
    return "CPU implementer" not in info or fake


@pytest.fixture(scope="session")
def neon_is_built():
    assert "neon" in armbert.backends(), (
        "the NEON backend is not compiled: ARM Compute Library was not found by build.py")


@pytest.fixture(scope="session")
def cl_is_built():
    assert "cl" in armbert.backends(), (
        "the CL backend is not compiled: ARM Compute Library was not found by build.py")


def run_python(code: str, cpu: str | None = None, timeout: float = 900,
               env: dict | None = None) -> str:
    """Runs `code` in a fresh interpreter (on the emulated `cpu` when given, with
    `env` added to this process's environment); returns its stdout, failing with
    its output if it exits non-zero."""
    env = dict(os.environ, **(env or {}))
    if cpu:
        env["QEMU_CPU"] = cpu
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout
