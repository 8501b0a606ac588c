"""The instruction counter of the test bed (tools/insncount): retired AArch64
instructions under qemu-user's TCG plugin, the ARM cost benchmarks/insn_arm.py reports.

tools/dev.sh prepares the counting qemu on the host and names it in ARMBERT_INSNCOUNT;
these tests run a child process under it. On a board there is no qemu to count with,
so they run only in the test bed, where they must (a missing bundle fails).
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import ON_ARM, ROOT, emulated

pytestmark = pytest.mark.skipif(not (ON_ARM and emulated()),
                                reason="counts with qemu-user: the test bed only")

sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tools" / "insncount"))
import insn_marks  # noqa: E402


def _bundle() -> Path:
    path = os.environ.get("ARMBERT_INSNCOUNT")  # /cache/insncount/<key>
    assert path, ("ARMBERT_INSNCOUNT is not set: tools/dev.sh prepares the counting qemu "
                  "(tools/insncount/insncount.py prepare) and passes it to the test bed")
    assert (Path(path) / "ready").exists(), f"{path} is not a prepared bundle"
    return Path(path)


def _counted(code: str, tmp_path: Path, blocks: bool = False) -> subprocess.CompletedProcess:
    import insncount
    out = tmp_path / "counts.txt"
    cmd = insncount.command(_bundle(), [sys.executable, "-c", textwrap.dedent(code)], out, blocks)
    env = dict(os.environ, ARMBERT_INSN_OUT=str(out),
               PYTHONPATH=os.pathsep.join([str(ROOT / "benchmarks"), str(ROOT)]))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    return r


LOOPS = """
    import json, sys
    import insn_marks
    m = insn_marks.Marks()
    def work(n):
        s = 0
        for i in range(n):
            s = (s + i) & 1023  # small ints only: the same path every iteration
        return s
    work(1000)  # translated once before counting
    m.reset()
    for span, n in ((1, 20000), (2, 40000), (3, 20000)):
        m.begin(span); work(n); m.end(span)
    m.begin(4); m.end(4)
    c = m.dump()
    print(json.dumps({"total": c.total, "spans": c.spans, "blocks": len(c.blocks)}))
"""


def test_counts_scale_with_work_and_repeat(tmp_path):
    import json
    r = _counted(LOOPS, tmp_path, blocks=True)
    c = json.loads(r.stdout.strip().splitlines()[-1])
    spans = {int(k): v for k, v in c["spans"].items()}
    one, two, again, empty = (spans[i][1] for i in (1, 2, 3, 4))
    assert all(spans[i][0] == 1 for i in (1, 2, 3, 4))
    # A Python loop of 20,000 iterations retires well over 20 instructions each.
    assert one > 20000 * 20
    # Twice the iterations, twice the instructions: the loop body is the same code
    # (2 % for the loop's set-up and range's few slower paths).
    assert 1.98 < two / one < 2.02, (one, two)
    # The same work counted twice: the same count (0.5 %: a few allocator paths).
    assert abs(again - one) <= 0.005 * one, (one, again)
    # Between two markers only the marker call itself runs: a ctypes call, far
    # below one loop.
    assert empty < one / 100, (empty, one)
    assert c["total"] >= one + two + again
    assert c["blocks"] > 0


def test_marks_run_unchanged_without_the_plugin(tmp_path):
    """Marked code runs under plain qemu (and on a board): each marker is ENOSYS."""
    code = ("import insn_marks; m = insn_marks.Marks(); m.begin(1); m.end(1); "
            "print(m.available())")
    env = dict(os.environ, ARMBERT_INSN_OUT=str(tmp_path / "none.txt"),
               PYTHONPATH=str(ROOT / "benchmarks"))
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_armbert_ops_add_up_to_the_inference(tmp_path):
    """benchmarks/insn_arm.py's per-op spans cover the inference: their sum is the
    end-to-end count within 5 % (the op-by-op loop adds a marker and a synchronize
    per op; the end-to-end run its own input preparation), for NEON int8, S=16."""
    import json
    out = tmp_path / "insn.json"
    code = f"""
        import sys
        sys.argv = ["insn_arm.py", "--seq", "16", "--precisions", "int8", "--no-ort",
                    "--out", "{out}"]
        import insn_arm
        sys.exit(insn_arm.main())
    """
    _counted(code, tmp_path, blocks=True)
    rec = json.loads(out.read_text())
    row = rec["rows"][0]
    runs = row["insns_per_run"]
    assert abs(runs[0] - runs[1]) <= 0.005 * runs[0], runs
    assert set(row["per_op"]) >= {"embeddings", "qkv", "attn", "ffn_in", "ffn_out"}
    assert abs(row["per_op_total"] - runs[0]) <= 0.05 * runs[0], (row["per_op_total"], runs)
    # the NEON library and ACL do the work, not Python
    assert row["by_file"].get("libarmbert.so", 0) + sum(
        n for f, n in row["by_file"].items() if f.startswith("libarm_compute")) > 0.8 * runs[0]


def test_parse_rejects_what_is_not_a_dump():
    with pytest.raises(ValueError, match="total"):
        insn_marks.parse("span 1 2 3\n")
    c = insn_marks.parse("total 10\nspan 3 2 8\nblock ff 5\n")
    assert (c.total, c.spans, c.blocks, c.per_call(3)) == (10, {3: (2, 8)}, [(255, 5)], 4.0)
