"""The calibrator: runs the float engine on a few inputs and picks each linear's
outlier channels and (for static activations) its input scale.

Kept apart from the quantizer (:mod:`armbert.quant`, which turns weights into int8),
as ONNX Runtime keeps its calibrators (``onnxruntime.quantization.calibrate``) beside
its quantizer. :class:`AbsMaxObserver` and :class:`PercentileObserver` turn what a
linear saw into a static scale; :class:`Calibrator` drives the sweeps over an
engine; :func:`quantize` (``armbert.quantize``) is calibration then
:func:`armbert.quant.quantize_weights`.
"""
from __future__ import annotations

import dataclasses
from typing import Callable, Sequence

import numpy as np

from . import argcheck, errors, quant
from .engine import Engine
from .layer import Observer
from .model import BertModel
from .errors import InvalidArgumentError
from .quant import QuantizationParams, QuantizedModel


class AbsMaxObserver:
    """Static input scale = max|x| over every calibration batch / 127 (ORT's MinMax, symmetric)."""

    def __init__(self) -> None:
        self.absmax = 0.0
        self.count = 0

    def collect(self, array: np.ndarray) -> None:
        a = np.asarray(array, dtype=np.float32)
        if a.size:
            self.absmax = max(self.absmax, float(np.abs(a).max()))
            self.count += a.size

    def compute(self) -> float:
        """The per-tensor input scale for the C descriptor's ``input_scale``."""
        if not self.count:
            raise InvalidArgumentError("observer has collected no data")
        return float(quant.scales_from_absmax(np.float32(self.absmax)))


class PercentileObserver:
    """Scale = (p-th percentile of |x|) / 127, from a histogram of |x| as ORT's Percentile.

    The histogram has a fixed number of bins; when a batch exceeds its range the bin
    width doubles (adjacent bins merged) so memory stays bounded over any calibration
    set. The threshold is the upper edge of the bin where the CDF reaches p, capped at
    the true max.
    """

    def __init__(self, p: float = 99.99, num_bins: int = 2048) -> None:
        if not 0 < p <= 100:
            raise InvalidArgumentError(f"percentile must be in (0, 100], got {p}")
        if num_bins < 2 or num_bins % 2:
            raise InvalidArgumentError(f"num_bins must be even and >= 2, got {num_bins}")
        self.p, self.num_bins = float(p), int(num_bins)
        self.hist = np.zeros(self.num_bins, dtype=np.int64)
        self.width = 0.0  # 0 until a non-zero value arrives
        self.absmax = 0.0
        self.count = 0

    def collect(self, array: np.ndarray) -> None:
        a = np.abs(np.asarray(array, dtype=np.float32)).ravel().astype(np.float64)
        if not a.size:
            return
        self.count += a.size
        top = float(a.max())
        self.absmax = max(self.absmax, top)
        if self.width == 0.0:
            if top == 0.0:
                self.hist[0] += a.size
                return
            self.width = top / self.num_bins
        while top > self.width * self.num_bins:
            merged = self.hist.reshape(-1, 2).sum(axis=1)
            self.hist = np.concatenate([merged, np.zeros_like(merged)])
            self.width *= 2
        idx = np.minimum((a / self.width).astype(np.int64), self.num_bins - 1)
        self.hist += np.bincount(idx, minlength=self.num_bins)

    def threshold(self) -> float:
        if not self.count:
            raise InvalidArgumentError("observer has collected no data")
        if self.width == 0.0:
            return 0.0
        cdf = np.cumsum(self.hist) / self.count
        i = int(np.searchsorted(cdf, self.p / 100.0, side="left"))
        return min((min(i, self.num_bins - 1) + 1) * self.width, self.absmax)

    def compute(self) -> float:
        return float(quant.scales_from_absmax(np.float32(self.threshold())))


OBSERVERS = {"absmax": AbsMaxObserver, "percentile": PercentileObserver}


class Calibrator:
    """Collects each linear's inputs over calibration batches on a float engine.

    ``run(ids, mask, observe)`` runs one batch, calling ``observe(linear name, its
    fp32 input)`` before each linear (``Engine.run``'s ``observe``). The first sweep
    finds each input channel's max |x| and the outlier channels
    (:func:`armbert.quant.select_outliers`); for static activations an observer per
    linear then sees the other channels (absmax needs no second sweep: the channel
    maxima hold its answer).
    """

    def __init__(self, run: Callable[..., object], batches: Sequence,
                 progress: bool = False):
        self.run, self.batches, self.progress = run, list(batches), progress

    def sweep(self, observe: Observer, what: str) -> None:
        items = self.batches
        if self.progress:
            from tqdm import tqdm
            items = tqdm(self.batches, desc=f"calibration: {what}", unit="input")
        for ids, mask in items:
            self.run(ids, mask, observe=observe)

    def channel_max(self) -> dict[str, np.ndarray]:
        channel_max: dict[str, np.ndarray] = {}
        self.sweep(lambda n, x: channel_max.__setitem__(
            n, np.maximum(channel_max.get(n, 0.0), np.abs(x).max(axis=0))), "channel ranges")
        return channel_max

    def compute(self, activations: str = "dynamic", observer: str = "absmax",
                outlier_ratio: float = 6.0, max_outliers: int = 8) -> QuantizationParams:
        channel_max = self.channel_max()
        outliers = {n: quant.select_outliers(a, outlier_ratio, max_outliers)
                    for n, a in channel_max.items()}
        scales: dict[str, float] = {}
        if activations == "static":
            observers: dict[str, object] = {}

            def observe(name: str, x: np.ndarray) -> None:
                rest = np.delete(np.asarray(x, np.float32), outliers[name], axis=1)
                observers.setdefault(name, OBSERVERS[observer]()).collect(rest)

            if observer == "absmax":  # the channel maxima already hold the answer
                for n, a in channel_max.items():
                    o = AbsMaxObserver()
                    o.collect(np.delete(a, outliers[n]))
                    observers[n] = o
            else:
                self.sweep(observe, "percentiles")
            scales = {n: o.compute() for n, o in observers.items() if o.compute() > 0}
        return QuantizationParams(
            input_scales=scales, method=observer, activations=activations,
            percentile=99.99 if observer == "percentile" else None,
            outliers={n: o.tolist() for n, o in outliers.items() if o.size})


def quantize(model: BertModel, calibration=None, activations: str = "dynamic",
             observer: str = "absmax", backend: str = "auto", tokenizer=None,
             outlier_ratio: float = 6.0, max_outliers: int = 8,
             progress: bool = False, embeddings: str = "fp32") -> QuantizedModel:
    """Calibrates int8 quantization of every linear on a few inputs, and quantizes
    their weights (QuantizedModel.linears), once.

    ``calibration``: sentences (tokenized with the model's tokenizer) or a list
    of token-id arrays. Runs the FP32 engine, records each linear's input, and
    picks (a) its outlier channels (kept in fp32, see armbert.quant) and (b),
    for ``activations="static"``, a per-tensor input scale from the other
    channels ("absmax" or "percentile" observer). ``activations="dynamic"``
    keeps per-row scales at run time: more accurate, slightly more work.
    ``embeddings="int8"`` also stores the word-embedding table as int8 rows with a
    scale each (a quarter of its bytes in an .armbert file); the engine runs its
    dequantized copy, which calibration already sees. Default "fp32": unchanged.
    """
    if embeddings not in ("fp32", "int8"):
        raise errors.InvalidArgumentError(
            f"embeddings must be 'fp32' or 'int8', got {embeddings!r}")
    if isinstance(model, BertModel) and model.int8_only:
        raise errors.InvalidArgumentError(
            f"{model.source}: this model is already int8 (an .armbert file); quantize the "
            f"float checkpoint instead")
    if not (isinstance(outlier_ratio, (int, float)) and outlier_ratio > 0
            and np.isfinite(outlier_ratio)):
        raise errors.InvalidArgumentError(
            f"outlier_ratio must be a finite number > 0, got {outlier_ratio!r}")
    argcheck.integer(max_outliers, "max_outliers", minimum=0)
    if isinstance(calibration, str):  # one sentence, not its characters
        calibration = [calibration]
    if calibration is not None and not hasattr(calibration, "__len__"):
        calibration = list(calibration)  # a generator of sentences or id arrays
    if calibration is None or len(calibration) == 0:
        raise errors.InvalidArgumentError(
            "quantize needs calibration data (sentences or id arrays); for no calibration "
            "use Engine(model, precision='int8'), which uses dynamic per-row scales")
    if observer not in OBSERVERS:
        raise errors.InvalidArgumentError(f"unknown observer {observer!r}: {list(OBSERVERS)}")
    if activations not in ("static", "dynamic"):
        raise errors.InvalidArgumentError(
            f"activations must be 'static' or 'dynamic', got {activations!r}")
    word_int8 = None
    if embeddings == "int8":
        word_int8 = quant.Int8Weight.from_float(model.word, pairs=False)
        model = dataclasses.replace(model, word=word_int8.dequantize())
    batches = _calibration_batches(model, calibration, tokenizer)
    with Engine(model, backend=backend, precision="fp32") as engine:
        params = Calibrator(engine.run, batches, progress).compute(
            activations, observer, outlier_ratio, max_outliers)
    return quant.quantize_weights(model, params, word_int8, calibration_texts=len(batches))


def _calibration_batches(model, calibration, tokenizer):
    items = list(calibration)
    if all(isinstance(c, str) for c in items):
        from .sentence import tokenizer_for
        enc = (tokenizer or tokenizer_for(model))(items, max_length=model.config.max_position_embeddings)
        return [(enc["input_ids"][i:i + 1, :int(enc["attention_mask"][i].sum())], None)
                for i in range(len(items))]
    return [(np.asarray(c), None) for c in items]
