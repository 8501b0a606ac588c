#!/usr/bin/env python3
"""What a board run of a shipped model file is checked against, written on the dev box.

    python3 tools/board_reference.py OUT [--source bundled] [--calibration texts.txt]

writes into OUT:
    model.armbert   the int8 model file, as `armbert convert SRC --precision int8` writes it
    ids.npy, mask.npy   a fixed padded batch (2 sequences of 12 and 7 tokens)
    host.npy        last_hidden_state of the host backend (fp32 arithmetic on int8
                    weights, this machine) on that batch, from the file just written
    reference.json  provenance: the machine, its CPU features, armbert's version

tools/dev.sh writes it on the x86 side before the arm64 suite runs; there
tests/arm/test_wheel_arm.py installs the repaired aarch64 wheel in a fresh venv, loads
model.armbert and runs it on NEON and CL against host.npy. On a board with no dev box
output the test writes the same directory itself (write(), below), with the board's
host backend as the reference.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import numpy as np

CLS, SEP = 101, 102
LENGTHS = (12, 7)  # the shapes of tests/arm/test_cl_engine.py: its OpenCL programs


def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2024)
    seq = max(LENGTHS)
    ids = np.zeros((len(LENGTHS), seq), np.int64)
    mask = np.zeros((len(LENGTHS), seq), np.int64)
    for i, n in enumerate(LENGTHS):
        ids[i, :n] = np.concatenate([[CLS], rng.integers(1996, 20000, n - 2), [SEP]])
        mask[i, :n] = 1
    return ids, mask


def write(out: Path, source: str = "bundled", calibration: str | None = None) -> dict:
    import armbert
    from armbert import _native as nat
    from armbert.cli import main as cli

    out.mkdir(parents=True, exist_ok=True)
    args = ["convert", source, "--precision", "int8", "-o", str(out / "model.armbert")]
    if calibration:
        args += ["--calibration", calibration]
    rc = cli(args)
    if rc:
        raise SystemExit(f"armbert convert failed with {rc}")
    ids, mask = batch()
    model = armbert.load(str(out / "model.armbert"))
    host = armbert.Engine(model, backend="host", threads=1).run(ids, mask).last_hidden_state
    np.save(out / "ids.npy", ids)
    np.save(out / "mask.npy", mask)
    np.save(out / "host.npy", host)
    info = {"machine": platform.machine(), "python": platform.python_version(),
            "armbert": armbert.__version__, "features": nat.cpu_features(),
            "source": source, "lengths": list(LENGTHS)}
    (out / "reference.json").write_text(json.dumps(info, indent=1) + "\n")
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--source", default="bundled", help="what `armbert convert` reads")
    ap.add_argument("--calibration", default=None, help="one calibration text per line")
    a = ap.parse_args(argv)
    info = write(a.out, a.source, a.calibration)
    print(f"board reference in {a.out}: {json.dumps(info)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
