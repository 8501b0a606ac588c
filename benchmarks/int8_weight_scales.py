#!/usr/bin/env python3
"""Pair-safe int8 weight scales against plain max|w| / 127 (armbert/quant.py), on the
bundled all-MiniLM-L6-v2: how much coarser the scales get, and the end-to-end cosines
of tests/engine/test_end_to_end.py (its held-out sentences, its calibration set) in the
three int8 configurations, min and mean per token and per sentence, against
transformers' fp32. The figures of docs/performance.md "Pair-safe weights".

    python3 benchmarks/int8_weight_scales.py [--isa auto]

Host backend, one thread. With pair-safe weights every ISA level gives the same bits,
so --isa changes the speed only.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import armbert  # noqa: E402
from armbert import quant  # noqa: E402


def scale_growth(module) -> np.ndarray:
    """Per output channel of every encoder linear: pair-safe scale / plain scale."""
    ratios = []
    for name, p in module.named_parameters():
        if p.ndim == 2 and "encoder" in name:
            w = p.detach().numpy()
            ratios.append(quant.quantize_weight_per_channel(w, pairs=True)[1]
                          / quant.quantize_weight_per_channel(w, pairs=False)[1])
    return np.concatenate(ratios)


def cosines(pairs: bool, model, enc, hidden) -> dict[str, tuple[float, float, float, float]]:
    from armbert.text import l2_normalize, mean_pool
    from tests.engine.test_end_to_end import CALIBRATION
    from tests.helpers import token_cosines
    plain = quant.prepare_int8_linear
    quant.prepare_int8_linear = lambda w, oc=None, p=True: plain(w, oc, pairs)
    try:
        out = {}
        mask = enc["attention_mask"]
        for mode in ("calibrated-dynamic", "calibrated-static", "dynamic"):
            src = model if mode == "dynamic" else armbert.quantize(
                model, CALIBRATION, activations=mode.split("-")[1])
            y = armbert.Engine(src, backend="host", precision="int8", threads=1).run(**enc)
            tc = token_cosines(y.last_hidden_state, hidden, mask)
            sc = (l2_normalize(mean_pool(y.last_hidden_state, mask))
                  * l2_normalize(mean_pool(hidden, mask))).sum(-1)
            out[mode] = (float(tc.min()), float(tc.mean()), float(sc.min()), float(sc.mean()))
        return out
    finally:
        quant.prepare_int8_linear = plain


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--isa", default="auto", help="ARMBERT_ISA for the engines")
    args = p.parse_args(argv)
    os.environ["ARMBERT_ISA"] = args.isa
    import torch
    import transformers
    from armbert.loaders.bundled import model_dir
    from armbert.text import Tokenizer
    from tests.engine.test_end_to_end import HELD_OUT
    transformers.logging.set_verbosity_error()
    module = transformers.BertModel.from_pretrained(str(model_dir()),
                                                    attn_implementation="eager").eval()
    r = scale_growth(module)
    print(f"pair-safe / plain scale: median {np.median(r):.3f}, p90 "
          f"{np.percentile(r, 90):.3f}, max {r.max():.3f} ({r.size} channels)")
    model = armbert.load()
    enc = Tokenizer(model.tokenizer_path)(HELD_OUT)
    with torch.no_grad():
        hidden = module(**{k: torch.from_numpy(v.astype(np.int64))
                           for k, v in enc.items()}).last_hidden_state.numpy()
    print(f"{'configuration':20s} {'weights':9s} token min / mean      sentence min / mean")
    for pairs in (False, True):
        for mode, (tmin, tmean, smin, smean) in cosines(pairs, model, enc, hidden).items():
            print(f"{mode:20s} {'pair-safe' if pairs else 'plain':9s} {tmin:.5f} / {tmean:.6f}"
                  f"   {smin:.5f} / {smean:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
