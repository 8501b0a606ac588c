#!/usr/bin/env python3
"""The arm64 test bed: run armbert's ARM code for real on an x86_64 host.

Why: the project's machines are x86_64 without an ARM board, yet the ARM Compute
Library paths (NEON, OpenCL) must be built and tested for real. qemu-user-static,
registered with binfmt_misc, runs aarch64 binaries, and mmdebstrap builds a Debian
trixie arm64 tree (ACL 24.11, Python 3.13, PoCL, rusticl) from the host's own apt
sources. The tree is built once and cached as ~/.cache/armbert/testbed-<key>, the key
hashing tools/testbed_packages.txt and SETUP_VERSION. A run mounts /proc, /sys and
/dev, binds the repository at /src and a persistent cache (PoCL and ACL program
caches) at /cache, chroots in, and unmounts everything afterwards. qemu-user shows the
host's x86 /proc/cpuinfo, which crashes aarch64 parsers of it (onnxruntime segfaults
on import), so runs see an aarch64 /proc/cpuinfo instead (see MIDR below).

Usage, as root on the host:
    python3 tools/testbed.py ensure
    python3 tools/testbed.py run [--cpu cortex-a76] [--env K=V ...] [--peers] [--tools] -- CMD ARGS...
    python3 tools/testbed.py shell | status | clean [--all]
From Python: ensure() -> Path of the tree; run(cmd, cpu=None, env=None) -> exit code.

Mounts are visible to the whole host, so every command holds an exclusive lock on
~/.cache/armbert/testbed.lock: concurrent runs wait rather than unmount each other's
/dev. Holding the lock also makes any mount left below ~/.cache/armbert stale (a
killed run), so it is unmounted first, after killing what still runs inside. Setup
failures exit with SETUP_FAILED; otherwise `run` exits with the command's code.
"""
import argparse
import contextlib
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

SETUP_VERSION = "4"  # bump when the build or post-setup steps below change
SUITE = "trixie"  # bookworm ships ACL 20.08; trixie ships ACL 24.11
SETUP_FAILED = 125  # exit code of `run` when the test bed itself failed, not the command

PACKAGES_FILE = Path(__file__).resolve().with_name("testbed_packages.txt")
REPO = PACKAGES_FILE.parent.parent
CACHE = Path(os.path.realpath(Path.home() / ".cache" / "armbert"))
SHARED_CACHE = CACHE / "testbed-cache"
TREE_RE = re.compile(r"testbed-[0-9a-f]{12}(\.build)?$")

QEMU = "/usr/bin/qemu-aarch64-static"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
# Magic and mask of an aarch64 ELF executable. F opens the interpreter at registration,
# so trees need no copy of qemu inside them.
BINFMT_LINE = (
    r":qemu-aarch64:M::"
    r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:"
    r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:"
    + QEMU + ":F")

VENV = "/opt/venv"
# PyPI peers, each optional: onnxruntime (benchmarks), tokenizers, matplotlib (the
# planner's plots) and auditwheel (the aarch64 wheel). The venv has no pip of its own:
# pip runs from its PyPI wheel, fetched by the host's pip into the tree, so neither
# python3-pip nor python3-pip-whl is installed (their ca-certificates dependency
# rehashes every certificate under qemu) and nothing is byte-compiled under emulation.
VENV_PACKAGES = ("onnxruntime", "tokenizers", "matplotlib", "auditwheel")
# What tests/arm/test_wheel_arm.py builds and repairs the aarch64 wheel with (pure
# Python; `run --tools`, which tools/dev.sh passes for the arm64 suite).
WHEEL_TOOLS = ("setuptools", "wheel", "auditwheel")
PIP_WHEELS = "/opt/pip-wheel"
PATH = f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host settings that let apt and pip reach their registries the way the host does.
# The tree has no ca-certificates package (its postinst rehashes ~150 certificates
# under qemu): it gets the host's CA bundle, which also holds any local CA of a
# TLS-inspecting proxy.
APT_KEYS = ("Acquire::http::Proxy", "Acquire::https::Proxy",
            "Acquire::Check-Valid-Until", "Acquire::Check-Date")
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"
HOST_CONFIG = (("/etc/resolv.conf", "etc/resolv.conf"),
               ("/" + CA_BUNDLE, CA_BUNDLE),
               ("/etc/pip.conf", "etc/pip.conf"),
               ("/etc/xdg/pip", "etc/xdg/pip"),
               (str(Path.home() / ".config" / "pip"), "root/.config/pip"))

# Byte-compiling every installed .py under qemu was half of the tree's build time
# (the stdlib in python3.13's postinsts, then py3compile for each package). The build
# diverts both compilers to no-ops while packages are installed and restores them
# afterwards; runs set PYTHONPYCACHEPREFIX, so what the suites import is compiled
# once, on first import, into the tree's own cache.
PY = "python3.13"  # trixie's; another version only means the diversion does not apply
NO_COMPILE = ("/usr/bin/py3compile", f"/usr/lib/{PY}/py_compile.py")
PYCACHE = "/var/cache/armbert-pycache"
# Nothing in the tree reads documentation; fewer files to write under emulation.
DPKG_EXCLUDES = ("/usr/share/doc/*", "/usr/share/man/*", "/usr/share/info/*",
                 "/usr/share/locale/*", "/usr/share/lintian/*")

# qemu-user leaves the host's x86 /proc/cpuinfo visible, and aarch64 parsers of it crash or
# misdetect (pytorch's cpuinfo in onnxruntime segfaults on import). Runs see an aarch64 one
# with the MIDR of the QEMU_CPU model; "max", qemu's default, reports implementer 0, part 'Q'.
MIDR = {"cortex-a53": (0x41, 0xd03), "cortex-a55": (0x41, 0xd05), "cortex-a57": (0x41, 0xd07),
        "cortex-a72": (0x41, 0xd08), "cortex-a76": (0x41, 0xd0b), "neoverse-n1": (0x41, 0xd0c),
        "max": (0x00, 0x051)}
CPUINFO = "etc/armbert-testbed-cpuinfo"

# The emulated core when a run names none: qemu's "max" (ARMv8.x with FP16, FHM,
# dotprod and i8mm, so every NEON path of the library runs) without pointer
# authentication and SVE. qemu 7.2 computes each PACIASP/AUTIASP with the QARMA5
# cipher in a helper, and Debian builds every aarch64 binary with branch protection,
# so under plain "max" every non-leaf call of clang, gcc, dpkg and Python pays for it:
# measured here, PoCL's first build of a one-line kernel took 102.9 s on "max",
# 10.8 s on max,pauth=off and 6.5 s on max,pauth=off,sve=off (4.8 s on cortex-a76).
# The boards armbert targets (Cortex-A76/A55 class, ARMv8.2) have neither feature,
# so this core is also the closer one: ACL picks its NEON kernels, not SVE ones.
DEFAULT_CPU = "max,pauth=off,sve=off"

_T0 = time.monotonic()


class SetupError(RuntimeError):
    """The test bed could not be built or entered."""


def log(msg):
    print(f"[testbed {time.monotonic() - _T0:5.0f}s] {msg}", file=sys.stderr, flush=True)


def _check(cmd, what=None, **kwargs):
    rc = subprocess.run(cmd, **kwargs).returncode
    if rc != 0:
        raise SetupError(f"{what or ' '.join(map(str, cmd))} failed with exit code {rc}")


# --- what the tree is -------------------------------------------------------------

def packages():
    lines = (line.split("#", 1)[0].strip() for line in PACKAGES_FILE.read_text().splitlines())
    return [line for line in lines if line]


def key():
    digest = hashlib.sha256(PACKAGES_FILE.read_bytes() + SETUP_VERSION.encode())
    return digest.hexdigest()[:12]


def tree_path():
    return CACHE / f"testbed-{key()}"


# --- mounts and safe removal -------------------------------------------------------

def _mounts_below(path):
    """Mount points at or below `path`, from /proc/mounts (octal escapes decoded)."""
    path = os.path.realpath(path)
    found = []
    with open("/proc/mounts") as f:
        for line in f:
            target = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m[1], 8)), line.split()[1])
            if target == path or target.startswith(path + "/"):
                found.append(target)
    return found


def _kill_inside(path):
    """SIGKILLs every process whose root is at or below `path`, and waits for them.

    Such processes outlive an interrupted run (the chroot's children) and keep its
    mounts busy; with the lock held, nothing else can be running inside a tree.
    """
    path = os.path.realpath(path)
    for _ in range(50):
        pids = []
        for pid in filter(str.isdigit, os.listdir("/proc")):
            with contextlib.suppress(OSError):
                root = os.readlink(f"/proc/{pid}/root")
                if root == path or root.startswith(path + "/"):
                    os.kill(int(pid), signal.SIGKILL)
                    pids.append(pid)
        if not pids:
            return
        time.sleep(0.1)


def _unmount_below(path):
    """Unmounts everything at or below `path`: recursively, lazily if busy."""
    _kill_inside(path)
    for _ in range(4):  # stacked mounts on one point take one pass each
        mounts = _mounts_below(path)
        tops = sorted({m for m in mounts if not any(m.startswith(o + "/") for o in mounts)})
        for top in tops:
            # Slave first, so no unmount below can propagate back to the host's /dev or /sys.
            subprocess.run(["mount", "--make-rslave", top], stderr=subprocess.DEVNULL)
            if subprocess.run(["umount", "-R", top]).returncode != 0:
                subprocess.run(["umount", "-l", top])
        if not tops:
            return


def _remove_tree(path):
    """rm -rf of a test bed directory, refusing while anything is mounted below it."""
    path = Path(path)
    if path.parent != CACHE or not (TREE_RE.match(path.name) or path == SHARED_CACHE):
        raise SetupError(f"refusing to delete {path}: not a test bed directory")
    if not os.path.lexists(path):
        return
    _unmount_below(path)
    still = _mounts_below(path)
    if still:
        raise SetupError(f"refusing to delete {path}: still mounted below it: {still}")
    _check(["rm", "-rf", "--one-file-system", "--", str(path)])


def _cpuinfo(cpu):
    """An aarch64 /proc/cpuinfo for the host's CPU count (features: read HWCAP instead)."""
    model = (cpu or DEFAULT_CPU).split(",")[0]  # "max,pauth=off": the model, then properties
    implementer, part = MIDR.get(model, MIDR["max"])
    return "".join(f"processor\t: {i}\nBogoMIPS\t: 50.00\nCPU implementer\t: 0x{implementer:02x}\n"
                   f"CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0x{part:03x}\n"
                   "CPU revision\t: 0\n\n" for i in range(os.cpu_count()))


@contextlib.contextmanager
def _mounted(tree, cpu=None):
    """The host's /proc (with an aarch64 cpuinfo), /sys, /dev, the repository at /src
    and the cache at /cache."""
    for sub in ("proc", "sys", "dev", "src", "cache"):
        (tree / sub).mkdir(exist_ok=True)
    for sub in ("pocl", "armbert", "mesa"):
        (SHARED_CACHE / sub).mkdir(parents=True, exist_ok=True)
    (tree / CPUINFO).write_text(_cpuinfo(cpu))
    try:
        _check(["mount", "-t", "proc", "proc", str(tree / "proc")])
        _check(["mount", "--bind", str(tree / CPUINFO), str(tree / "proc" / "cpuinfo")])
        for sub in ("sys", "dev"):
            _check(["mount", "--rbind", f"/{sub}", str(tree / sub)])
            _check(["mount", "--make-rslave", str(tree / sub)])
        _check(["mount", "--bind", str(REPO), str(tree / "src")])
        _check(["mount", "--bind", str(SHARED_CACHE), str(tree / "cache")])
        yield
    finally:
        _unmount_below(tree)
        if _mounts_below(tree):
            raise SetupError(f"could not unmount below {tree}: {_mounts_below(tree)}")


@contextlib.contextmanager
def _locked():
    """Exclusive use of the test beds; any mount still below CACHE is then stale."""
    if os.geteuid() != 0:
        raise SetupError("the test bed needs root (mount, chroot, binfmt_misc)")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "testbed.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log("waiting for another testbed command to finish")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if _mounts_below(CACHE):
            log("unmounting mounts left by an earlier, killed run")
            _unmount_below(CACHE)
        yield


# --- entering the tree ---------------------------------------------------------------

def _env(cpu=None, extra=None):
    env = {"PATH": PATH, "HOME": "/root", "LANG": "C.UTF-8",
           "POCL_CACHE_DIR": "/cache/pocl", "ARMBERT_CACHE_DIR": "/cache/armbert",
           "MESA_SHADER_CACHE_DIR": "/cache/mesa",  # rusticl's, kept across trees
           "PYTHONPYCACHEPREFIX": PYCACHE, "PYTHONUNBUFFERED": "1",
           "ARMBERT_TESTBED": "qemu-user"}  # tests: QEMU_CPU picks the core here
    if "TERM" in os.environ:
        env["TERM"] = os.environ["TERM"]
    env["QEMU_CPU"] = cpu or DEFAULT_CPU  # read by qemu-aarch64 at every exec inside the tree
    env.update(extra or {})
    return env


def _chroot(tree, cmd, env):
    """Runs `cmd` in /src inside the tree with exactly `env`; returns its exit code."""
    argv = ["chroot", str(tree), "/bin/sh", "-c", 'cd /src && exec "$@"', "sh", *cmd]
    rc = subprocess.run(argv, env=env).returncode
    return 128 - rc if rc < 0 else rc  # killed by a signal: the shell's convention


# --- building the tree ---------------------------------------------------------------

def _ensure_host_tools():
    missing = [pkg for pkg, exe in (("qemu-user-static", QEMU), ("mmdebstrap", "mmdebstrap"))
               if not shutil.which(exe)]
    if not missing:
        return
    log(f"installing {' '.join(missing)} on the host")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", *missing]
    if subprocess.run(install, env=env).returncode != 0:
        _check(["apt-get", "update"], env=env)
        _check(install, env=env)


def _ensure_binfmt():
    if not (BINFMT / "register").exists():
        _check(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
    if not (BINFMT / "qemu-aarch64").exists():
        log("registering qemu-aarch64 with binfmt_misc")
        (BINFMT / "register").write_text(BINFMT_LINE)


def host_archives():
    """(URI, suite) of each Debian archive with a main component in the host's
    `apt-cache policy`, once each, in its order (also tools/insncount's source fetch)."""
    policy = subprocess.run(["apt-cache", "policy"], capture_output=True, text=True).stdout
    lines = policy.splitlines()
    archives = []
    for entry, meta in zip(lines, lines[1:]):
        m = re.match(r"\s*\d+\s+(\S+://\S+)\s+([^/\s]+)/main\s+\S+\s+Packages$", entry)
        if m and "o=Debian," in meta and (m[1], m[2]) not in archives:
            archives.append((m[1], m[2]))
    return archives


def _host_sources():
    """`deb URI trixie[-x] main` for each Debian archive the host's apt uses (else [])."""
    release = Path("/etc/os-release").read_text()
    codename = re.search(r"^VERSION_CODENAME=\"?(\w+)", release, re.M)
    if not codename:
        return []
    sources = [f"deb {uri} {SUITE}{suite[len(codename[1]):]} main"
               for uri, suite in host_archives() if suite.startswith(codename[1])]
    sources = list(dict.fromkeys(sources))
    return sorted(sources, key=lambda line: line.split()[2])  # trixie, -security, -updates


def _host_apt_options():
    dump = subprocess.run(["apt-config", "dump"], capture_output=True, text=True).stdout
    return [f"--aptopt={line.rstrip(';')}" for line in dump.splitlines()
            if line.split(" ", 1)[0] in APT_KEYS]


def _copy_host_config(tree):
    for src, dst in HOST_CONFIG:
        src, dst = Path(src), tree / dst
        if not src.exists():
            continue
        if dst.is_symlink() or dst.is_file():
            dst.unlink()  # never write through a link that would resolve on the host
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_dir():
            shutil.copytree(src, dst, dirs_exist_ok=True)
        else:
            shutil.copyfile(src, dst)


def _pip_env():
    return _env(extra={k: v for k, v in os.environ.items()
                       if k.startswith("PIP_") or k.lower() in ("http_proxy", "https_proxy", "no_proxy")})


def _post_setup(tree):
    """An empty venv on top of Debian's Python; its PyPI peers come on demand (--peers)."""
    _copy_host_config(tree)
    with _mounted(tree):
        log(f"creating {VENV}")
        if _chroot(tree, ["python3", "-m", "venv", "--without-pip", "--system-site-packages",
                          VENV], _pip_env()):
            raise SetupError(f"could not create {VENV} in the tree")


def _install_peers(tree, packages=None, marker_name="armbert-peers.txt"):
    """pip-installs `packages` (VENV_PACKAGES: benchmarks' peers) into the tree's venv
    once; the suites need none of them, so a CI run never pays for them. WHEEL_TOOLS
    (--tools) is the small set the aarch64 wheel test needs. Call with the tree mounted."""
    packages = VENV_PACKAGES if packages is None else packages
    marker = tree / VENV.lstrip("/") / marker_name
    wanted = "\n".join(packages) + "\n"
    if marker.exists() and marker.read_text() == wanted:
        return
    wheel_dir = tree / PIP_WHEELS.lstrip("/")
    if not any(wheel_dir.glob("pip-*.whl")):
        log("fetching pip's wheel from PyPI with the host's pip")
        _check([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                "--only-binary=:all:", "--dest", str(wheel_dir), "pip"])
    wheels = sorted(wheel_dir.glob("pip-*.whl"))
    pip = [f"{VENV}/bin/python3", f"{PIP_WHEELS}/{wheels[-1].name}/pip", "install",
           "--no-cache-dir", "--no-compile", "--disable-pip-version-check",
           "--cert", "/" + CA_BUNDLE]
    for pkg in packages:
        log(f"pip install {pkg}")
        # Binary only: building tokenizers' Rust under emulation would take hours.
        if _chroot(tree, pip + [f"--only-binary={pkg}", pkg], _pip_env()):
            log(f"WARNING: no {pkg} for this tree (no aarch64 wheel for its Python?); "
                "continuing without it")
    marker.write_text(wanted)


def _hooks():
    """mmdebstrap hooks that turn byte-compiling off while packages are installed."""
    divert = 'chroot "$1" dpkg-divert --quiet --local --divert {0}.armbert-off --add {0}'
    # py3compile is run as a program, py_compile.py by `python3.13 py_compile.py FILES`.
    stub = ('mkdir -p "$1{1}" && printf "#!/bin/sh\\n# off while the tree is built\\n" '
            '> "$1{0}" && chmod 755 "$1{0}"')
    restore = ('rm -f "$1{0}" && chroot "$1" dpkg-divert --quiet --local --rename '
               '--divert {0}.armbert-off --remove {0}')
    hooks = []
    for path in NO_COMPILE:
        parent = path.rsplit("/", 1)[0]
        hooks.append("--essential-hook=" + divert.format(path))
        hooks.append("--essential-hook=" + stub.format(path, parent))
        hooks.append("--customize-hook=" + restore.format(path))
    return hooks


def _build(tree):
    build = tree.with_name(tree.name + ".build")
    _remove_tree(build)
    build.mkdir(mode=0o755)
    build.chmod(0o755)  # the tree's /; apt's sandbox user must be able to enter it
    try:
        log(f"mmdebstrap {SUITE} arm64 into {build} (about 10 minutes)")
        _check(["mmdebstrap", "--arch=arm64", "--variant=apt",
                "--include=" + ",".join(packages()), *_host_apt_options(), *_hooks(),
                *(f"--dpkgopt=path-exclude={p}" for p in DPKG_EXCLUDES),
                SUITE, str(build), *_host_sources()],
               what="mmdebstrap (its output is above)", stdin=subprocess.DEVNULL,
               env=dict(os.environ, QEMU_CPU=DEFAULT_CPU))  # dpkg under qemu: see DEFAULT_CPU
        log("post-setup")
        _post_setup(build)
        os.rename(build, tree)
    except BaseException:
        log(f"build failed; removing the partial tree {build}")
        _remove_tree(build)
        raise


def _ensure():
    _ensure_host_tools()
    _ensure_binfmt()
    tree = tree_path()
    if tree.is_dir():
        return tree
    start = time.monotonic()
    _build(tree)
    for old in CACHE.iterdir():
        if TREE_RE.match(old.name) and old != tree:
            log(f"removing old tree {old}")
            _remove_tree(old)
    log(f"built {tree} in {time.monotonic() - start:.0f}s")
    return tree


# --- public API ----------------------------------------------------------------------

def ensure():
    """Builds the test bed unless cached; returns its path."""
    tree = tree_path()
    if tree.is_dir() and (BINFMT / "qemu-aarch64").exists():
        return tree  # a tree appears only by rename once complete: no need to wait for the lock
    with _locked():
        return _ensure()


def run(cmd, cpu=None, env=None, peers=False, tools=False):
    """Runs `cmd` (a list) in /src inside the test bed; returns its exit code.

    cpu: a QEMU_CPU model such as "cortex-a76"; env: extra variables (a dict);
    peers: first pip-install the venv's PyPI peers (onnxruntime, ...), once per tree;
    tools: likewise the wheel tools (setuptools, wheel, auditwheel).
    """
    with _locked():
        tree = _ensure()
        with _mounted(tree, cpu):
            if peers:
                _install_peers(tree)
            if tools:
                _install_peers(tree, WHEEL_TOOLS, "armbert-wheel-tools.txt")
            return _chroot(tree, list(cmd), _env(cpu, env))


def status():
    tree = tree_path()
    print(f"key:   {key()} (packages file + SETUP_VERSION {SETUP_VERSION})")
    print(f"path:  {tree}")
    print(f"built: {'yes' if tree.is_dir() else 'no'}")
    for path in (tree, SHARED_CACHE):
        if path.is_dir():
            size = subprocess.run(["du", "-shx", str(path)], capture_output=True, text=True)
            print(f"size:  {size.stdout.split()[0]}\t{path}")
    others = [p.name for p in CACHE.glob("testbed-*") if TREE_RE.match(p.name) and p != tree]
    if others:
        print(f"other: {' '.join(sorted(others))}")


def clean(everything=False):
    """Removes every tree (and with everything=True the PoCL/ACL cache too)."""
    with _locked():
        for path in sorted(CACHE.iterdir()):
            if TREE_RE.match(path.name) or (everything and path == SHARED_CACHE):
                log(f"removing {path}")
                _remove_tree(path)


# --- command line --------------------------------------------------------------------

def _parse_env(items):
    env = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise SetupError(f"--env wants K=V, got {item!r}")
        env[name] = value
    return env


def _on_signal(signum, _frame):
    raise SystemExit(128 + signum)  # unwinds through the `finally` that unmounts


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("ensure", help="build the arm64 tree unless cached")
    run_p = sub.add_parser("run", help="run a command in /src inside the tree")
    shell_p = sub.add_parser("shell", help="interactive shell inside the tree")
    for p in (run_p, shell_p):
        p.add_argument("--cpu", help=f"QEMU_CPU model (default {DEFAULT_CPU}), e.g. cortex-a76, cortex-a53, max")
        p.add_argument("--env", action="append", default=[], metavar="K=V")
        p.add_argument("--peers", action="store_true",
                       help="first pip-install the venv's PyPI peers (" + ", ".join(VENV_PACKAGES) + ")")
        p.add_argument("--tools", action="store_true",
                       help="first pip-install the wheel tools (" + ", ".join(WHEEL_TOOLS) + ")")
    run_p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    sub.add_parser("status", help="key, path, built or not, size")
    clean_p = sub.add_parser("clean", help="remove the trees")
    clean_p.add_argument("--all", action="store_true", help="also remove the PoCL/ACL cache")
    args = parser.parse_args(argv)

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGHUP, _on_signal)
    try:
        if args.command == "ensure":
            print(ensure())
        elif args.command == "run":
            cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
            if not cmd:
                parser.error("run needs a command: run -- CMD ARGS...")
            return run(cmd, args.cpu, _parse_env(args.env), args.peers, args.tools)
        elif args.command == "shell":
            return run(["bash"], args.cpu, _parse_env(args.env), args.peers, args.tools)
        elif args.command == "status":
            status()
        elif args.command == "clean":
            clean(args.all)
    except SetupError as e:
        print(f"testbed: error: {e}", file=sys.stderr)
        return SETUP_FAILED
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
