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
    """True under qemu-user (the test bed). Its /proc/cpuinfo is either the host's
    (no "CPU implementer") or, as qemu 7.2 fakes it for the default core,
    implementer 0x00, which no ARM licensee has."""
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


def run_python(code: str, cpu: str | None = None, timeout: float = 900) -> str:
    """Runs `code` in a fresh interpreter (on the emulated `cpu` when given);
    returns its stdout, failing with its output if it exits non-zero."""
    env = dict(os.environ)
    if cpu:
        env["QEMU_CPU"] = cpu
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=timeout)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout
