#!/usr/bin/env python3
"""Pair-safe int8 weight scales against plain max|w| / 127 (armbert/quant.py), on the
bundled all-MiniLM-L6-v2: how much coarser the scales get, and the end-to-end cosines
of tests/engine/test_end_to_end.py (its held-out sentences, its calibration set) in the
three int8 configurations, min and mean per token and per sentence, against
transformers' fp32. The figures of docs/performance.md "Pair-safe weights".

    python3 benchmarks/int8_weight_scales.py [--isa auto]
    python3 benchmarks/int8_weight_scales.py --quad   # the tighter bound, not built

Host backend, one thread. With pair-safe weights every ISA level gives the same bits,
so --isa changes the speed only.

--quad measures a bound armbert does not use: two pairs of a column (k = 8i, 8i+1,
8i+4, 8i+5, and 8i+2, 8i+3, 8i+6, 8i+7, the lanes two vpmaddubsw results share) summing
to at most 128, so that an AVX2 kernel could add two vpmaddubsw results in int16
before one vpmaddwd (3 multiplies per 64 multiply-adds instead of 4). Its rows are
labelled "quad-safe" in place of "pair-safe" (docs/performance.md "What is left").
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


def quad_sums(w: np.ndarray) -> np.ndarray:
    """Per row, the largest |w| sum over the two quads of each 8 k (see --quad)."""
    a = np.abs(np.asarray(w, np.float64))
    a = np.concatenate([a, np.zeros((a.shape[0], (-a.shape[1]) % 8))], axis=1)
    g = a.reshape(a.shape[0], -1, 8)
    return np.maximum((g[:, :, 0] + g[:, :, 1] + g[:, :, 4] + g[:, :, 5]).max(1),
                      (g[:, :, 2] + g[:, :, 3] + g[:, :, 6] + g[:, :, 7]).max(1))


def quad_safe(w: np.ndarray, pairs: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """quantize_weight_per_channel with the quad bound (four roundings: the sum over
    126 keeps every quad of codes within 128, checked)."""
    if not pairs:
        return PLAIN_QUANTIZER(w, pairs)
    w = np.asarray(w, np.float32)
    absmax = np.maximum(np.abs(w).max(axis=1), quad_sums(w) * 127 / 126).astype(np.float32)
    scale = quant.scales_from_absmax(absmax)
    q = np.clip(np.rint(w * (np.float32(1) / scale[:, None])), -127, 127).astype(np.int8)
    assert quad_sums(q).max() <= 128
    return q, scale


PLAIN_QUANTIZER = quant.quantize_weight_per_channel


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
    p.add_argument("--quad", action="store_true", help="the quad bound instead of pairs")
    args = p.parse_args(argv)
    os.environ["ARMBERT_ISA"] = args.isa
    if args.quad:
        quant.quantize_weight_per_channel = quad_safe
    import torch
    import transformers
    from armbert.loaders.bundled import model_dir
    from armbert.text import Tokenizer
    from tests.engine.test_end_to_end import HELD_OUT
    transformers.logging.set_verbosity_error()
    module = transformers.BertModel.from_pretrained(str(model_dir()),
                                                    attn_implementation="eager").eval()
    r = scale_growth(module)
    label = "quad-safe" if args.quad else "pair-safe"
    print(f"{label} / plain scale: median {np.median(r):.3f}, p90 "
          f"{np.percentile(r, 90):.3f}, max {r.max():.3f} ({r.size} channels)")
    model = armbert.load()
    enc = Tokenizer(model.tokenizer_path)(HELD_OUT)
    with torch.no_grad():
        hidden = module(**{k: torch.from_numpy(v.astype(np.int64))
                           for k, v in enc.items()}).last_hidden_state.numpy()
    print(f"{'configuration':20s} {'weights':9s} token min / mean      sentence min / mean")
    for pairs in (False, True):
        for mode, (tmin, tmean, smin, smean) in cosines(pairs, model, enc, hidden).items():
            print(f"{mode:20s} {label if pairs else 'plain':9s} {tmin:.5f} / {tmean:.6f}"
                  f"   {smin:.5f} / {smean:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
