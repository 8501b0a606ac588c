"""``armbert convert``: a checkpoint in, an ``.armbert`` file (armbert/modelfile.py) out.

    armbert convert SRC --precision int8 [--calibration texts.txt] [--plan plan.json] -o m.armbert

SRC is anything :func:`armbert.load` reads (``bundled`` for the bundled all-MiniLM-L6-v2).
INT8 calibrates on the file given (one text per line; blank lines skipped), or on the
built-in sentences of armbert/cli.py when none is given, and stores the word-embedding
table in int8 too unless ``--embeddings fp32``.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import time
from pathlib import Path

from .calibrate import quantize
from .errors import InvalidArgumentError
from .loaders import load
from .modelfile import SUFFIX, save
from .sample_texts import CALIBRATION


def read_calibration(path: str) -> list[str]:
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise InvalidArgumentError(f"--calibration {path}: cannot read: {e}") from e
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise InvalidArgumentError(f"--calibration {path}: no texts (one per line)")
    return texts


def add_parser(sub) -> None:
    c = sub.add_parser("convert", help="write an .armbert model file (weights at run precision)")
    c.add_argument("source", help="HF directory, .onnx, .safetensors, or 'bundled'")
    c.add_argument("--precision", required=True, choices=("int8", "fp16", "fp32"))
    c.add_argument("--calibration", default=None, help="int8: a text file, one text per line")
    c.add_argument("--activations", default="dynamic", choices=("dynamic", "static"),
                   help="int8 activation scales: per row at run time (default, the more "
                        "accurate), or calibrated per tensor (stored in the file)")
    c.add_argument("--embeddings", default=None, choices=("int8", "fp32"),
                   help="int8 files: word-embedding table storage (default int8)")
    c.add_argument("--task", default=None, help="'encoder' drops a head the checkpoint has")
    c.add_argument("--tokenizer", default=None,
                   help="a tokenizer.json for a checkpoint without one: it tokenizes the "
                        "calibration texts and is stored in the file")
    c.add_argument("--plan", default=None, help="a plan JSON file to store with the model")
    c.add_argument("-o", "--output", required=True, help=f"the {SUFFIX} file to write")
    c.set_defaults(fn=cmd_convert)


def cmd_convert(args) -> int:
    if args.precision != "int8" and (args.calibration or args.embeddings):
        raise InvalidArgumentError("--calibration and --embeddings apply to --precision int8")
    t0 = time.perf_counter()
    model = load(None if args.source == "bundled" else args.source, task=args.task)
    if args.tokenizer:  # calibrates and is stored in the file, as the checkpoint's own would be
        from .text import Tokenizer
        text = Path(args.tokenizer).read_text(encoding="utf-8")
        Tokenizer.from_str(text)  # a file that is not a tokenizer.json is refused here
        model = dataclasses.replace(model, tokenizer_path=None, tokenizer_files={
            **model.tokenizer_files, "tokenizer.json": text})
    if args.precision == "int8":
        texts = read_calibration(args.calibration) if args.calibration else CALIBRATION
        if not args.calibration:
            print(f"calibrating on the {len(texts)} built-in sentences (--calibration FILE "
                  f"for your own)")
        model = quantize(model, texts, activations=args.activations,
                         embeddings=args.embeddings or "int8", progress=len(texts) > 16)
    doc = save(model, args.output, precision=args.precision, plan=args.plan)
    size = os.path.getsize(args.output)
    print(f"wrote {args.output}: {doc['precision']}, {size / 1e6:.1f} MB, "
          f"{time.perf_counter() - t0:.1f} s (source sha256 "
          f"{(doc['provenance']['source_sha256'] or 'n/a')[:12]})")
    return 0
