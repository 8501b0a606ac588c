#!/usr/bin/env python3
"""The planner's campaign and evaluation on this machine (docs/planner.md).

    python3 benchmarks/planner/run_campaign.py                 # host space, fp32, 2 cores
    python3 benchmarks/planner/run_campaign.py --fake          # the pipeline, no timing
    python3 benchmarks/planner/run_campaign.py --H 128,256 --S 64 --B 1 --truth 40 --quick

Arguments are planner.evaluate's (``--help``). Resumable: run it again after an
interruption and it measures only what the database lacks. Results go to
benchmarks/planner/results/<space>-<backend>-<precision>/.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the checkout next to this file

from planner.cli import evaluate_main  # noqa: E402

if __name__ == "__main__":
    # this script keeps its results beside it (armbert evaluate defaults to ~/.cache)
    from planner.cli import _common  # noqa: F401  (same options)
    import argparse
    pre = argparse.ArgumentParser(add_help=False)
    for k in ("--space", "--backend", "--precision"):
        pre.add_argument(k)
    pre.add_argument("--fake", action="store_true")
    known, _ = pre.parse_known_args()
    name = known.space or "host"
    tag = "fake" if known.fake else (known.backend or "host")
    default = Path(__file__).resolve().parent / "results" / f"{name}-{tag}-{known.precision or 'fp32'}"
    sys.exit(evaluate_main(default_out=default))
