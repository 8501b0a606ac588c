#!/usr/bin/env python3
"""Run a Python command on a smaller x86 CPU than this one: the CPUID instruction answers
without AVX-512, AMX and (at level avx2) AVX-VNNI, so every library that picks its
kernels from CPUID picks the ones that CPU would run.

Why: on an AVX-512 machine, `ARMBERT_ISA=avx2` forces armbert's level alone. onnxruntime's
MLAS, oneDNN, OpenBLAS, torch and numpy ask CPUID, so a comparison "at AVX2" would still
give the peers AVX-512. Under this tool every engine in the process asks the same
smaller CPU. It is still this machine's core running the code (its caches, its ports);
an AVX2-only CPU of another make would have other timings.

    python3 tools/cpucap/cpucap.py --isa avx2 -- benchmarks/bench_host.py --threads 1 ...
    python3 tools/cpucap/cpucap.py --isa avxvnni -- -m armbert.cli info
    python3 tools/cpucap/cpucap.py --isa avx2 -- -c "import onnxruntime"

How (cpucap.c): Linux's CPUID faulting (arch_prctl ARCH_SET_CPUID) makes every CPUID
trap; a SIGSEGV handler answers it with the bits of the level cleared. It needs a CPU
and hypervisor with CPUID faulting ("cpuid_fault" in /proc/cpuinfo) and a C compiler.
The process re-executes itself once first, so that the dynamic loader starts with
GLIBC_TUNABLES masking the same features for glibc's own string functions, and
OPENBLAS_CORETYPE / ATEN_CPU_CAPABILITY set for the libraries that read them at load.
A command that installs its own SIGSEGV handler (pytest's faulthandler, for one) takes
the trap away: a CPUID after that kills the process.
"""
from __future__ import annotations

import argparse
import ctypes
import hashlib
import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "cpucap.c"
MARK = "ARMBERT_CPUCAP"  # set on the re-executed process: the level it runs at


def bits(*positions: int) -> int:
    return sum(1 << p for p in positions)


# Bits cleared, per level: (leaf 1 ecx, leaf 7.0 ebx, leaf 7.0 ecx, leaf 7.0 edx,
# leaf 7.1 eax, leaf 7.1 edx), bit numbers as in Intel's SDM vol. 2A, CPUID.
_AVX512_EBX = bits(16, 17, 21, 26, 27, 28, 30, 31)  # F DQ IFMA PF ER CD BW VL
_AVX512_ECX = bits(1, 6, 11, 12, 14)                 # VBMI VBMI2 VNNI BITALG VPOPCNTDQ
_AVX512_AMX_EDX = bits(2, 3, 8, 22, 23, 24, 25)     # 4VNNIW 4FMAPS VP2INTERSECT AMX-BF16
#                                                     FP16 AMX-TILE AMX-INT8
_L71_EAX_512 = bits(5, 21)                            # AVX512_BF16 AMX-FP16
_L71_EAX_VEX = bits(4, 23)                            # AVX-VNNI AVX-IFMA
_L71_EDX_512 = bits(8, 19)                            # AMX-COMPLEX AVX10
_L71_EDX_VEX = bits(4, 5, 10)                         # AVX-VNNI-INT8 AVX-NE-CONVERT INT16
LEVELS: dict[str, tuple[int, int, int, int, int, int]] = {
    # Alder Lake-like: AVX2, FMA, F16C, AVX-VNNI; no AVX-512, no AMX.
    "avxvnni": (0, _AVX512_EBX, _AVX512_ECX, _AVX512_AMX_EDX, _L71_EAX_512, _L71_EDX_512),
    # Haswell / Zen 2-like: AVX2, FMA, F16C and nothing newer.
    "avx2": (0, _AVX512_EBX, _AVX512_ECX, _AVX512_AMX_EDX, _L71_EAX_512 | _L71_EAX_VEX,
             _L71_EDX_512 | _L71_EDX_VEX),
}
GLIBC_MASK = "glibc.cpu.hwcaps=-AVX512F,-AVX512VL,-AVX512BW,-AVX512DQ,-AVX512CD"
LOAD_ENV = {"OPENBLAS_CORETYPE": "Haswell", "ATEN_CPU_CAPABILITY": "avx2"}


class CpuCapError(RuntimeError):
    pass


def supported() -> bool:
    """CPUID faulting offered by this CPU (and hypervisor), as the kernel reports it."""
    try:
        return "cpuid_fault" in Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False


def build() -> Path:
    """cpucap.c as a shared library in the user's cache, keyed by its source."""
    src = SOURCE.read_bytes()
    cache = Path(os.environ.get("ARMBERT_CACHE_DIR", Path.home() / ".cache" / "armbert"))
    lib = cache / "cpucap" / f"cpucap-{hashlib.sha256(src).hexdigest()[:16]}.so"
    if lib.exists():
        return lib
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise CpuCapError("no C compiler (cc/gcc) to build tools/cpucap/cpucap.c")
    lib.parent.mkdir(parents=True, exist_ok=True)
    tmp = lib.with_suffix(f".{os.getpid()}.tmp")
    subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", str(tmp), str(SOURCE)], check=True)
    tmp.replace(lib)
    return lib


def enable(level: str) -> ctypes.CDLL:
    """CPUID answers as `level` from now on, in this thread and the threads it starts."""
    if level not in LEVELS:
        raise CpuCapError(f"unknown level {level!r}: choose from {sorted(LEVELS)}")
    if not supported():
        raise CpuCapError("this CPU or hypervisor has no CPUID faulting ('cpuid_fault' is "
                          "not in /proc/cpuinfo): CPUID cannot be capped here")
    lib = ctypes.CDLL(str(build()))
    lib.cpucap_enable.argtypes = [ctypes.c_uint32] * 6
    lib.cpucap_trapped.restype = ctypes.c_uint64
    rc = lib.cpucap_enable(*LEVELS[level])
    if rc != 0:
        raise CpuCapError(f"arch_prctl(ARCH_SET_CPUID) failed: {os.strerror(-rc)}")
    return lib


def _reexec(level: str, argv: list[str]) -> None:
    env = dict(os.environ)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t]
    env["GLIBC_TUNABLES"] = ":".join([*tunables, GLIBC_MASK])
    for k, v in LOAD_ENV.items():
        env.setdefault(k, v)
    env[MARK] = level
    os.execve(sys.executable, [sys.executable, str(Path(__file__).resolve()), *argv], env)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--" not in argv:
        raise SystemExit("usage: cpucap.py --isa LEVEL -- (SCRIPT | -m MODULE | -c CODE) [ARGS]")
    split = argv.index("--")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--isa", required=True, choices=sorted(LEVELS))
    args = p.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        raise SystemExit("cpucap.py: nothing to run after --")
    if os.environ.get(MARK) != args.isa:
        if not supported():  # say so before re-executing
            raise SystemExit(f"cpucap.py: {CpuCapError.__name__}: no CPUID faulting here "
                             "('cpuid_fault' is not in /proc/cpuinfo)")
        _reexec(args.isa, argv)
    try:
        enable(args.isa)
    except CpuCapError as e:
        raise SystemExit(f"cpucap.py: {e}")
    if command[0] in ("-m", "-c"):
        sys.path[0] = os.getcwd()  # as `python -m` / `python -c` would have it
    if command[0] == "-m":
        sys.argv = [command[1], *command[2:]]
        runpy.run_module(command[1], run_name="__main__", alter_sys=True)
    elif command[0] == "-c":
        sys.argv = ["-c", *command[2:]]
        exec(compile(command[1], "<string>", "exec"), {"__name__": "__main__"})
    else:
        sys.argv = command
        sys.path.insert(0, str(Path(command[0]).resolve().parent))
        runpy.run_path(command[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main())
