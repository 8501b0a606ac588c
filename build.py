#!/usr/bin/env python3
"""Builds kernels/ into armbert/_lib/<machine>/libarmbert.so (and copies the header
kernels/include/armbert.h to armbert/_lib/armbert.h, package data).

The host backend is always built. The ACL backends (NEON, OpenCL) are built
when ARM Compute Library is found: $ACL_ROOT (a source build, e.g. one with
FP16 CPU kernels enabled) or Debian's libarm-compute-dev (multiarch include
dir). Objects are cached in build/<machine>/ and rebuilt when a source or
header changes; `pip install -e .` runs this through setup.py.

    python3 build.py [--backends host,neon,cl] [--debug] [--clean] [--jobs N]

ARMBERT_SANITIZE=address,undefined (any -fsanitize= list) builds the host backend
alone with those sanitizers, -O1 -g -fno-omit-frame-pointer, into its own object
dir and library (build/<machine>-sanitize/), so it never replaces the normal
library; point ARMBERT_LIBRARY at what it prints (tools/sanitize.sh does).

The CL backend needs ACL built with OpenCL (Debian's is); it loads the GPU's
libOpenCL.so at run time, so building it needs no GPU.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
KERNELS = ROOT / "kernels"
MACHINE = platform.machine()
LIB_DIR = ROOT / "armbert" / "_lib" / MACHINE
LIBRARY = LIB_DIR / "libarmbert.so"
# Objects are named by a hash of what made them, so a shared object cache (the
# test bed points ARMBERT_OBJ_DIR at its persistent /cache) is safe across clones.
OBJ_DIR = Path(os.environ.get("ARMBERT_OBJ_DIR") or ROOT / "build" / MACHINE)
SANITIZE = os.environ.get("ARMBERT_SANITIZE", "").strip()
if SANITIZE:
    LIB_DIR = ROOT / "build" / f"{MACHINE}-sanitize"
    LIBRARY = LIB_DIR / "libarmbert.so"
    OBJ_DIR = LIB_DIR / "obj"

# Per-file extra flags on aarch64: our FP16 NEON kernels need armv8.2-a+fp16
# and are only called after a HWCAP_ASIMDHP check; *_fhm_fp16.cpp also use
# FMLAL (+fp16fml), only called after a HWCAP_ASIMDFHM check; *_i8mm.cpp use SMMLA,
# only called after a HWCAP2_I8MM check. Every matching
# suffix applies in order, so the later -march wins.
ARM_FILE_FLAGS = {"_fp16.cpp": ["-march=armv8.2-a+fp16"],
                  "_fhm_fp16.cpp": ["-march=armv8.2-a+fp16+fp16fml"],
                  "_i8mm.cpp": ["-march=armv8.2-a+i8mm"]}
# On every machine: the attention's fp32 tiles and the packed fp32 GEMM contract
# a * b + c into FMA (the rest of the library keeps -ffp-contract=off, so its float sums match the
# Python references).
FILE_FLAGS = {"tile_f32.cpp": ["-ffp-contract=fast"], "gemm_f32.cpp": ["-ffp-contract=fast"]}


@dataclass(frozen=True)
class Acl:
    include_dirs: tuple[str, ...]
    lib_dirs: tuple[str, ...]
    origin: str


@dataclass
class Plan:
    backends: list[str]
    sources: list[Path] = field(default_factory=list)
    cxxflags: list[str] = field(default_factory=list)
    ldflags: list[str] = field(default_factory=list)


def multiarch() -> str:
    return sysconfig.get_config_var("MULTIARCH") or f"{MACHINE}-linux-gnu"


def find_acl() -> Acl | None:
    """ARM Compute Library: $ACL_ROOT first, then the system's packages."""
    root = os.environ.get("ACL_ROOT")
    if root:
        r = Path(root)
        inc = r / "include" if (r / "include" / "arm_compute").is_dir() else r
        libs = [d for d in (r / "build", r / "lib", r / "build" / "lib") if d.is_dir()]
        if not (inc / "arm_compute").is_dir() or not libs:
            raise SystemExit(f"ACL_ROOT={root}: no arm_compute/ headers or build/lib dir found")
        return Acl((str(inc), str(r)), tuple(map(str, libs)), f"ACL_ROOT={root}")
    for inc in (Path("/usr/include") / multiarch(), Path("/usr/include")):
        if (inc / "arm_compute" / "core" / "CL").is_dir() or (inc / "arm_compute").is_dir():
            libdir = Path("/usr/lib") / multiarch()
            if list(libdir.glob("libarm_compute.so*")):
                return Acl((str(inc),), (str(libdir),), f"system ({inc})")
    return None


def plan(backends: list[str] | None, debug: bool) -> Plan:
    acl = find_acl() if MACHINE in ("aarch64", "arm64") and not SANITIZE else None
    src = KERNELS / "src"
    available = ["host"] + ([b for b in ("neon", "cl") if (src / b).is_dir()] if acl else [])
    chosen = backends or available
    for b in chosen:
        if b not in available:
            why = "ARM Compute Library not found" if b in ("neon", "cl") else "unknown backend"
            raise SystemExit(f"backend {b!r} cannot be built here: {why}")
    p = Plan(backends=chosen)
    dirs = ["core", "common", "host"] + [d for d in ("neon", "cl") if d in chosen and (src / d).is_dir()]
    for d in dirs:
        p.sources += sorted((src / d).glob("*.cpp"))
    opt = ["-O0", "-g"] if debug else ["-O3", "-DNDEBUG"]
    if SANITIZE:
        opt = ["-O1", "-g", f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer",
               "-fno-sanitize-recover=all"]
    # The library is compiled where it runs (pip install / build.py on the board),
    # so the host backend may use every instruction of this CPU, as llama.cpp's
    # native builds do. ARMBERT_PORTABLE=1 builds for the baseline ISA instead.
    # On aarch64 the baseline is kept: gcc reads the core from /proc/cpuinfo, which
    # under qemu-user is the x86 host's; FP16/dotprod paths are chosen at run time.
    if MACHINE == "x86_64" and os.environ.get("ARMBERT_PORTABLE") != "1":
        opt.append("-march=native")
    # -fno-trapping-math: nothing here reads the floating-point exception flags, and
    # without it gcc's aarch64 vectorizer refuses loops with float selects (the
    # GELU/tanh of common/vecmath.h: "unsupported control flow"), which left the int8
    # epilogue scalar on NEON: 43 % of MiniLM int8's retired instructions at S=32, counted by
    # tools/insncount. It changes no result: it neither reassociates nor contracts.
    p.cxxflags = ["-std=c++17", "-fPIC", "-fvisibility=hidden", "-fopenmp", "-Wall",
                  "-Wno-unused-function", "-ffp-contract=off", "-fno-trapping-math",
                  f"-I{KERNELS / 'include'}",
                  f"-I{src}", *opt]
    p.ldflags = ["-shared", "-fopenmp", "-lopenblas", "-Wl,--no-undefined"]
    if SANITIZE:
        # -Wl,--no-undefined stays: the sanitizer runtimes are linked in (-shared-libasan
        # is gcc's default), and the process preloads libasan before Python starts.
        p.ldflags.append(f"-fsanitize={SANITIZE}")
    if acl:
        for b in chosen:
            if b in ("neon", "cl") and (src / b).is_dir():
                p.cxxflags.append(f"-DARMBERT_WITH_{b.upper()}")
        p.cxxflags += [f"-I{d}" for d in acl.include_dirs]
        p.ldflags += [f"-L{d}" for d in acl.lib_dirs] + [f"-Wl,-rpath,{d}" for d in acl.lib_dirs]
        p.ldflags.append("-larm_compute")
        print(f"build.py: ARM Compute Library from {acl.origin}")
    return p


def file_flags(path: Path) -> list[str]:
    table = dict(FILE_FLAGS)
    if MACHINE in ("aarch64", "arm64"):
        table.update(ARM_FILE_FLAGS)
    return [f for suffix, flags in table.items() if path.name.endswith(suffix) for f in flags]


def headers_digest() -> str:
    """Our headers' contents (a change to any of them rebuilds everything)."""
    h = hashlib.sha1()
    for path in sorted(KERNELS.rglob("*.h")):
        h.update(str(path.relative_to(KERNELS)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@dataclass
class Compile:
    """One translation unit: its object in the cache (named by the hash of compiler,
    flags, headers and source), and the command that makes it."""
    source: Path
    obj: Path
    cmd: list[str]

    @property
    def tmp(self) -> Path:
        return Path(self.cmd[-1])


def compile_job(cxx: str, source: Path, flags: list[str], stamp: str) -> Compile:
    key = hashlib.sha1("\0".join([cxx, *flags, stamp]).encode() + source.read_bytes())
    rel = source.relative_to(KERNELS / "src")
    obj = OBJ_DIR / f"{str(rel).replace('/', '_')}.{key.hexdigest()[:16]}.o"
    tmp = obj.with_suffix(f".tmp{os.getpid()}.o")
    return Compile(source, obj, [cxx, *flags, "-c", str(source), "-o", str(tmp)])


def compile_all(jobs: list[Compile], parallel: int) -> list[Path]:
    """Runs the compiles not in the cache, `parallel` at a time, all started from this
    one thread: forking from a multithreaded Python (a thread pool) under qemu-user
    can leave the child stuck on a lock before it execs, which hung the arm64 test
    bed's build. Objects appear complete or not at all (renamed from a temporary),
    so concurrent builds can share the cache."""
    todo = [j for j in jobs if not j.obj.exists()]
    running: list[tuple[Compile, subprocess.Popen, Any, float]] = []  # job, process, log, start
    while todo or running:
        while todo and len(running) < parallel:
            job = todo.pop(0)
            job.obj.parent.mkdir(parents=True, exist_ok=True)
            log = tempfile.TemporaryFile(mode="w+")
            proc = subprocess.Popen(job.cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
            running.append((job, proc, log, time.time()))
        time.sleep(0.02)
        for entry in list(running):
            job, proc, log, t0 = entry
            if proc.poll() is None:
                continue
            running.remove(entry)
            log.seek(0)
            output = log.read()
            log.close()
            rel = job.source.relative_to(KERNELS / "src")
            if proc.returncode != 0:
                for _, other, _, _ in running:
                    other.kill()
                sys.stderr.write(output)
                raise SystemExit(f"build.py: compiling {rel} failed:\n  {' '.join(job.cmd)}")
            os.replace(job.tmp, job.obj)
            print(f"  compiled {rel} ({time.time() - t0:.1f} s)", flush=True)
    return [j.obj for j in jobs]


def build(backends: list[str] | None = None, debug: bool = False, jobs: int | None = None,
          lib_dir: Path | None = None) -> Path:
    """Compiles and links; writes the library, backends.txt and build.json into lib_dir
    (default armbert/_lib/<machine>/, where the source tree imports it from)."""
    p = plan(backends, debug)
    lib_dir = Path(lib_dir) if lib_dir else LIB_DIR
    library = lib_dir / LIBRARY.name
    cxx = os.environ.get("CXX", "g++")
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True).stdout
    stamp = headers_digest() + version
    print(f"build.py: backends {', '.join(p.backends)} for {MACHINE}", flush=True)
    objs = compile_all([compile_job(cxx, s, p.cxxflags + file_flags(s), stamp)
                        for s in p.sources], jobs or os.cpu_count() or 1)
    lib_dir.mkdir(parents=True, exist_ok=True)
    tmp = library.with_suffix(".so.tmp")
    cmd = [cxx, *map(str, objs), "-o", str(tmp), *p.ldflags]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit("build.py: linking failed:\n  " + " ".join(cmd))
    os.replace(tmp, library)  # atomic: a running process keeps its old mapping
    (lib_dir / "backends.txt").write_text("\n".join(p.backends) + "\n")
    # How it was compiled: "native" builds are for this CPU only (-march=native on x86).
    (lib_dir / "build.json").write_text(json.dumps(
        {"machine": MACHINE, "target": "native" if "-march=native" in p.cxxflags else "portable",
         "backends": p.backends, "cxxflags": [f for f in p.cxxflags if not f.startswith("-I")]},
        indent=1) + "\n")
    if not SANITIZE:
        # The header the library was built from, as package data: armbert/_native.py
        # reads its cffi declarations there when installed outside the source tree.
        shutil.copyfile(KERNELS / "include" / "armbert.h", lib_dir.parent / "armbert.h")
    print(f"build.py: wrote {library}", flush=True)
    return library


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--backends", help="comma-separated subset of host,neon,cl (default: all found)")
    ap.add_argument("--debug", action="store_true", help="-O0 -g")
    ap.add_argument("--clean", action="store_true", help="remove cached objects first")
    ap.add_argument("--jobs", type=int, default=None)
    a = ap.parse_args()
    if a.clean:
        shutil.rmtree(OBJ_DIR, ignore_errors=True)
    build(a.backends.split(",") if a.backends else None, a.debug, a.jobs)


if __name__ == "__main__":
    main()
