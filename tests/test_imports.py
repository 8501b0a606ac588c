"""No import cycle in armbert/ or planner/, and every module imports on its own.

Two checks. Statically, the graph of imports between the modules of armbert/ and
planner/ (read with ``ast``) has no cycle, counting the imports inside functions too
(a lazy import that closes a circle is still a circle: the two CLIs used to import
each other that way), but not ``if TYPE_CHECKING:`` blocks, ``if __name__ ==
"__main__":`` blocks or a submodule's import of its own package. Dynamically, each
module is imported alone (in a child forked from a fresh interpreter that has
imported only numpy and cffi), and the pairs that once formed circles in both orders.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO

PACKAGES = ("armbert", "planner")
# Pairs imported in both orders: the modules that once formed circles, and the
# modules that share what used to be copied between them.
PAIRS = [("armbert.cli", "planner.search.cli"), ("armbert.cli", "armbert.convert"),
         ("armbert.engine", "armbert.calibrate"), ("armbert.engine", "armbert.sentence"),
         ("armbert.quant", "armbert.model"), ("armbert.layer", "armbert.quant"),
         ("armbert.pipeline", "armbert.engine"), ("armbert.loaders.hf", "armbert.sentence_config"),
         ("planner.measure", "planner.runner"), ("planner.measure", "planner.fake"),
         ("planner.cli", "planner.evaluate"), ("planner.transfer", "planner.evaluate"),
         ("planner.search.costs", "planner.search.pipeline"),
         ("planner.search.cli", "planner.cli"), ("planner.runner", "armbert.layer")]


def module_files() -> dict[str, Path]:
    mods = {}
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            parts = list(path.relative_to(REPO).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            mods[".".join(parts)] = path
    return mods


def _skipped(node: ast.AST) -> bool:
    """``if TYPE_CHECKING:`` and ``if __name__ == "__main__":`` blocks."""
    if not isinstance(node, ast.If):
        return False
    t = node.test
    if isinstance(t, ast.Name) and t.id == "TYPE_CHECKING":
        return True
    return (isinstance(t, ast.Compare) and isinstance(t.left, ast.Name)
            and t.left.id == "__name__")


def imports_of(name: str, path: Path, mods: dict[str, Path]) -> set[str]:
    """The modules of ``mods`` that ``name`` imports anywhere (functions included)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    stack = list(ast.parse(path.read_text()).body)
    while stack:
        node = stack.pop()
        if _skipped(node):
            continue
        stack.extend(ast.iter_child_nodes(node))
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            subs = [f"{module}.{a.name}" for a in node.names if f"{module}.{a.name}" in mods]
            found.update(subs)
            if len(subs) < len(node.names):
                found.add(module)
    out = set()
    for m in found:
        while m and m not in mods:
            m = m.rpartition(".")[0]
        if m and m != name and not name.startswith(m + "."):  # not its own package
            out.add(m)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle():
    mods = module_files()
    graph = {name: imports_of(name, path, mods) for name, path in mods.items()}
    assert cycles(graph) == []


def test_the_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


# Run by one fresh interpreter: it imports numpy and cffi once (third-party; what every
# armbert module needs), then forks a child per run that imports the run's modules in
# order, so each child starts with none of armbert/ or planner/ imported, and reports
# the first error.
_FORKER = r"""
import importlib, json, os, sys, traceback
import numpy, cffi  # noqa: F401
assert not any(m.split(".")[0] in ("armbert", "planner") for m in sys.modules)
failed = []
for run in json.loads(sys.argv[1]):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            for m in run:
                importlib.import_module(m)
            code, msg = 0, b""
        except BaseException:
            code, msg = 1, traceback.format_exc().strip().splitlines()[-1].encode()
        os.write(w, msg)
        os._exit(code)
    os.close(w)
    msg = os.read(r, 4096).decode()
    os.close(r)
    if os.waitpid(pid, 0)[1] != 0:
        failed.append([run, msg])
print(json.dumps(failed))
"""


def test_every_module_imports_alone_and_pairs_in_both_orders():
    names = [m for m in module_files() if not m.endswith("__main__")]
    for pair in PAIRS:
        assert all(m in names for m in pair), pair
    runs = [[m] for m in names] + [list(p) for p in PAIRS] + [[b, a] for a, b in PAIRS]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    out = subprocess.run([sys.executable, "-c", _FORKER, json.dumps(runs)], cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__]))
