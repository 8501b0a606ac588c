#!/usr/bin/env python3
"""Retired AArch64 instructions of a command in the arm64 test bed: a cost that does not
depend on how fast qemu emulates, or on what else the machine is doing.

Wall time under qemu-user skews instruction mixes (floating point goes through helper
calls, integer NEON does not), so it cannot rank two kernels. The number of guest
instructions retired can: it is what the same binary would retire on a board for the
same input (up to the CPU features qemu reports), and it repeats exactly for one thread.

How: Debian's dynamic qemu-user accepts TCG plugins (-plugin); the static build the test
bed registers with binfmt_misc does not. This tool
1. installs qemu-user on the host (apt) and fetches qemu-plugin.h from Debian's source
   package of that same qemu version (apt-get source, with private package lists: the
   host's apt configuration is not touched);
2. builds tools/insncount/insn_count.c against it;
3. copies qemu-aarch64 and the x86_64 libraries it loads (with their loader) into the
   test bed's cache (/cache/insncount/<key> inside the tree), so the command runs
   under the counting qemu inside the chroot, the tree's own files unchanged;
4. runs the command there: its first process counts; what it starts runs uncounted
   under the binfmt qemu.

The plugin's protocol (marker spans, dumps, resets) is in insn_count.c; a guest uses it
through benchmarks/insn_marks.py. Usage, as root on the host:

    python3 tools/insncount/insncount.py prepare
    python3 tools/insncount/insncount.py run [--cpu MODEL] [--blocks] [--peers] [--env K=V]
        -- python3 SCRIPT ...

`run` puts the counts in the file named by ARMBERT_INSN_OUT, which the guest sees as
well (under /cache/insncount/), and prints its host path.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
import testbed  # noqa: E402

PLUGIN_SOURCE = HERE / "insn_count.c"
QEMU_PACKAGE = "qemu-user"
QEMU = Path("/usr/bin/qemu-aarch64")
HOST_DIR = testbed.SHARED_CACHE / "insncount"  # /cache/insncount inside the tree
TREE_DIR = Path("/cache/insncount")
HEADER = "include/qemu/qemu-plugin.h"


def log(msg: str) -> None:
    print(f"[insncount] {msg}", file=sys.stderr, flush=True)


def _run(cmd, **kw) -> str:
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise testbed.SetupError(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n"
                                 f"{(r.stdout + r.stderr)[-2000:]}")
    return r.stdout


def _ensure_qemu() -> str:
    """The installed qemu-user's source version (installing it first if needed)."""
    if not QEMU.exists():
        log(f"installing {QEMU_PACKAGE} on the host (dynamic, accepts -plugin)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        install = ["apt-get", "install", "-y", "--no-install-recommends", QEMU_PACKAGE]
        if subprocess.run(install, env=env).returncode != 0:
            _run(["apt-get", "update"], env=env)
            _run(install, env=env)
    version = _run(["dpkg-query", "-W", "-f", "${source:Version}", QEMU_PACKAGE]).strip()
    if not version:
        raise testbed.SetupError(f"{QEMU_PACKAGE} is not installed")
    return version


def _source_lines() -> list[str]:
    """deb-src lines for the host's own Debian archives (its suites, not trixie)."""
    lines = [f"deb-src {uri} {suite} main" for uri, suite in testbed.host_archives()]
    if not lines:
        raise testbed.SetupError("apt-cache policy names no Debian archive to fetch qemu's source from")
    return lines


def _fetch_header(version: str, dest: Path) -> None:
    """qemu-plugin.h out of Debian's qemu source package `version`."""
    with tempfile.TemporaryDirectory(prefix="insncount-") as tmp:
        tmp = Path(tmp)
        (tmp / "lists" / "partial").mkdir(parents=True)
        (tmp / "sources.list").write_text("\n".join(_source_lines()) + "\n")
        opts = ["-o", f"Dir::Etc::SourceList={tmp / 'sources.list'}",
                "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", f"Dir::State::Lists={tmp / 'lists'}"]
        log(f"fetching qemu {version}'s source package for {HEADER}")
        _run(["apt-get", *opts, "update"])
        _run(["apt-get", *opts, "source", "--download-only", f"qemu={version}"], cwd=tmp)
        orig = sorted(tmp.glob("qemu_*.orig.tar.*"))
        if not orig:
            raise testbed.SetupError(f"no qemu orig tarball among {sorted(p.name for p in tmp.iterdir())}")
        _run(["tar", "-xf", str(orig[0]), "-C", str(tmp), "--wildcards", f"*/{HEADER}"])
        found = sorted(tmp.glob(f"*/{HEADER}"))
        if not found:
            raise testbed.SetupError(f"{orig[0].name} has no {HEADER}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(found[0], dest)


def _libraries(exe: Path) -> list[Path]:
    """The shared libraries `exe` loads, and its loader, as ldd resolves them."""
    libs = []
    for line in _run(["ldd", str(exe)]).splitlines():
        if "not found" in line:
            raise testbed.SetupError(f"{exe}: {line.strip()}")
        m = re.search(r"(/\S+) \(0x", line)
        if m:
            libs.append(Path(m[1]))
    return libs


def key(version: str) -> str:
    h = hashlib.sha256(PLUGIN_SOURCE.read_bytes())
    h.update(version.encode())
    return h.hexdigest()[:12]


def prepare() -> Path:
    """Builds (once per qemu version and plugin source) the bundle; returns its host path."""
    version = _ensure_qemu()
    bundle = HOST_DIR / key(version)
    if (bundle / "ready").exists():
        return bundle
    work = bundle.with_name(bundle.name + ".build")
    shutil.rmtree(work, ignore_errors=True)
    (work / "lib").mkdir(parents=True)
    header = HOST_DIR / f"qemu-plugin-{version}.h"
    if not header.exists():
        _fetch_header(version, header)
    include = work / "include"
    include.mkdir()
    shutil.copyfile(header, include / "qemu-plugin.h")
    log("building the plugin")
    _run(["gcc", "-shared", "-fPIC", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{include}",
          "-o", str(work / "libinsn_count.so"), str(PLUGIN_SOURCE), "-lpthread"])
    shutil.copy2(QEMU, work / "qemu-aarch64")
    loader = None
    for lib in _libraries(QEMU) + _libraries(work / "libinsn_count.so"):
        real = lib.resolve()
        if lib.name.startswith("ld-linux"):
            loader = real
        else:
            shutil.copy2(real, work / "lib" / lib.name)
    if loader is None:
        raise testbed.SetupError(f"ldd {QEMU} names no loader")
    shutil.copy2(loader, work / "ld.so")
    (work / "ready").write_text(version + "\n")
    shutil.rmtree(bundle, ignore_errors=True)
    work.rename(bundle)
    for old in HOST_DIR.iterdir():  # bundles of an earlier plugin source or qemu
        if old.is_dir() and old != bundle:
            shutil.rmtree(old, ignore_errors=True)
    return bundle


def command(bundle: Path, argv: list[str], out: Path, blocks: bool) -> list[str]:
    """`argv` (inside the tree) under the counting qemu; out: the counts' tree path."""
    inner = TREE_DIR / bundle.name
    exe = argv[0]
    if "/" not in exe:  # qemu takes a path: look the name up in the tree's PATH
        tree = testbed.tree_path()
        hits = [f"{d}/{exe}" for d in testbed.PATH.split(":") if (tree / d.lstrip("/") / exe).exists()]
        if not hits:
            raise testbed.SetupError(f"{exe} is not on the tree's PATH ({testbed.PATH})")
        exe = hits[0]
    plugin = f"{inner}/libinsn_count.so,out={out},blocks={'on' if blocks else 'off'}"
    return [f"{inner}/ld.so", "--library-path", f"{inner}/lib", f"{inner}/qemu-aarch64",
            "-plugin", plugin, exe, *argv[1:]]


def run(argv: list[str], out_name: str = "counts.txt", blocks: bool = False, cpu=None,
        peers: bool = False, env=None) -> tuple[int, Path]:
    """Runs `argv` counted in the test bed; returns (exit code, host path of the counts)."""
    testbed.ensure()
    bundle = prepare()
    out = TREE_DIR / out_name
    host_out = HOST_DIR / out_name
    host_out.unlink(missing_ok=True)
    extra = {"ARMBERT_INSN_OUT": str(out), **(env or {})}
    rc = testbed.run(command(bundle, argv, out, blocks), cpu=cpu, env=extra, peers=peers)
    return rc, host_out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("prepare", help="install qemu-user, build the plugin and its bundle")
    r = sub.add_parser("run", help="run a command counted, in /src inside the tree")
    r.add_argument("--cpu", help=f"QEMU_CPU model (default {testbed.DEFAULT_CPU})")
    r.add_argument("--blocks", action="store_true", help="also count per guest address")
    r.add_argument("--peers", action="store_true", help="first install the tree's PyPI peers")
    r.add_argument("--env", action="append", default=[], metavar="K=V")
    r.add_argument("--out", default="counts.txt", help="file name under /cache/insncount")
    r.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    a = ap.parse_args(argv)
    try:
        if a.command == "prepare":
            print(prepare())
            return 0
        cmd = a.cmd[1:] if a.cmd[:1] == ["--"] else a.cmd
        if not cmd:
            ap.error("run needs a command: run -- CMD ARGS...")
        if "/" in a.out:
            ap.error("--out is a file name (it goes under /cache/insncount)")
        rc, out = run(cmd, a.out, a.blocks, a.cpu, a.peers, testbed._parse_env(a.env))
        print(out)
        return rc
    except testbed.SetupError as e:
        print(f"insncount: error: {e}", file=sys.stderr)
        return testbed.SETUP_FAILED


if __name__ == "__main__":
    sys.exit(main())
