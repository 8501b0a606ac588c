"""The guest's side of tools/insncount/insn_count.c: marker spans around code whose
retired instructions should be counted, and the counts read back.

Without the plugin (a board, or the test bed's plain qemu) each marker is one syscall
that fails with ENOSYS, so marked code runs unchanged; `Marks.available()` tells which.
"""
from __future__ import annotations

import ctypes
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

MARKER_NR = 0xBE27  # as in insn_count.c
BEGIN, END, DUMP, RESET = 1, 2, 3, 4


@dataclass
class Counts:
    """One dump: instructions since the last reset, per span (calls, instructions) and
    per guest block address."""
    total: int
    spans: dict[int, tuple[int, int]] = field(default_factory=dict)
    blocks: list[tuple[int, int]] = field(default_factory=list)

    def per_call(self, span: int) -> float:
        calls, insns = self.spans[span]
        return insns / calls


def parse(text: str) -> Counts:
    counts = Counts(total=-1)
    for line in text.splitlines():
        kind, *rest = line.split()
        if kind == "total":
            counts.total = int(rest[0])
        elif kind == "span":
            counts.spans[int(rest[0])] = (int(rest[1]), int(rest[2]))
        elif kind == "block":
            counts.blocks.append((int(rest[0], 16), int(rest[1])))
    if counts.total < 0:
        raise ValueError("not an insn_count dump (no 'total' line)")
    return counts


class Marks:
    """Spans, dumps and resets of the counting plugin, from inside the counted process."""

    def __init__(self, out: str | None = None) -> None:
        self.out = Path(out or os.environ.get("ARMBERT_INSN_OUT", ""))
        libc = ctypes.CDLL(None, use_errno=True)
        self._syscall = libc.syscall
        self._syscall.restype = ctypes.c_long
        self._syscall.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_long]

    def _mark(self, op: int, arg: int = 0) -> None:
        self._syscall(MARKER_NR, op, arg)

    def begin(self, span: int) -> None:
        self._mark(BEGIN, span)

    def end(self, span: int) -> None:
        self._mark(END, span)

    def reset(self) -> None:
        self._mark(RESET)

    def dump(self) -> Counts:
        """The plugin writes its table now; returns it."""
        if not str(self.out):
            raise RuntimeError("ARMBERT_INSN_OUT is not set: run under tools/insncount/insncount.py")
        self.out.unlink(missing_ok=True)
        self._mark(DUMP)
        if not self.out.exists():
            raise RuntimeError(f"no counts in {self.out}: this process is not counted "
                               "(run it under tools/insncount/insncount.py)")
        return parse(self.out.read_text())

    def available(self) -> bool:
        try:
            self.dump()
            return True
        except RuntimeError:
            return False


def mappings() -> list[tuple[int, int, str]]:
    """(start, end, file) of this process's file-backed executable mappings."""
    return [(lo, hi, f) for lo, hi, _, f in _maps()]


def _maps() -> list[tuple[int, int, int, str]]:
    maps = []
    for line in Path("/proc/self/maps").read_text().splitlines():
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+) ..x. ([0-9a-f]+) \S+ \d+\s+(/\S+)", line)
        if m:
            maps.append((int(m[1], 16), int(m[2], 16), int(m[3], 16), m[4]))
    return maps


def _symbols(path: str) -> list[tuple[int, str]]:
    """(address, name) of a file's function symbols, by `nm` (the static table if the
    file has one, else the dynamic one), sorted."""
    import subprocess
    syms = []
    for extra in ([], ["-D"]):
        out = subprocess.run(["nm", "-C", "--defined-only", *extra, path],
                             capture_output=True, text=True).stdout
        for line in out.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[1] in "tTwWiI":
                syms.append((int(parts[0], 16), parts[2]))
        if syms:
            break
    return sorted(syms)


def by_symbol(blocks: list[tuple[int, int]], top: int = 20) -> list[tuple[str, int]]:
    """The `top` functions by instructions ("file:symbol"; the nearest symbol below
    the address, so a stripped file's internal code lands on an exported neighbour)."""
    import bisect
    maps = _maps()
    cache: dict[str, list[tuple[int, str]]] = {}
    out: dict[str, int] = {}
    for vaddr, insns in blocks:
        hit = next(((lo, off, f) for lo, hi, off, f in maps if lo <= vaddr < hi), None)
        if hit is None:
            name = "[other]"
        else:
            lo, off, f = hit
            if f not in cache:
                cache[f] = _symbols(f)
            syms = cache[f]
            i = bisect.bisect_right(syms, (vaddr - lo + off, "\uffff")) - 1
            name = f"{os.path.basename(f)}:{syms[i][1] if i >= 0 else '?'}"
        out[name] = out.get(name, 0) + insns
    return sorted(out.items(), key=lambda kv: -kv[1])[:top]


def by_file(blocks: list[tuple[int, int]], maps: list[tuple[int, int, str]]) -> dict[str, int]:
    """Instructions per mapped file (basename; "[other]" for code outside any file)."""
    out: dict[str, int] = {}
    for vaddr, insns in blocks:
        name = next((os.path.basename(f) for lo, hi, f in maps if lo <= vaddr < hi), "[other]")
        out[name] = out.get(name, 0) + insns
    return out
