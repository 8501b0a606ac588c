"""The ``.armbert`` model file: one safetensors file, ready to run at its precision.

Written by :func:`save` (and ``armbert convert``), read by ``armbert.load("m.armbert")``
with numpy alone (our safetensors reader; tokenizers only to tokenize text). It holds:

* the weights in their run precision: ``fp32``; ``fp16`` (linear weights in float16,
  the rest float32, as the kernels keep them); or ``int8``, what :func:`armbert.quantize`
  made: per linear the int8 weight, its per-channel scales, its outlier input channels
  and their float32 weight columns (``<name>.i8``, ``.scale``, ``.outlier_channels``,
  ``.outlier_weight``), optionally the word-embedding table as int8 rows, and the
  calibrated static activation scales. Nothing is quantized again on load;
* the tokenizer files (``tokenizer/tokenizer.json``, ``tokenizer/vocab.txt``, uint8);
* the optional task head (``head.weight``, ``head.bias``, always float32);
* in the ``__metadata__`` key ``"armbert"`` (safetensors metadata is str -> str), one
  JSON document: format and format version, precision, BERT config, quantization
  parameters, head task and id2label, sentence-transformers recipe, an optional plan
  (armbert/plan.py), provenance (source path and sha256, armbert version, calibration
  summary) and ``tensors_sha256``, a checksum over every tensor's name, dtype, shape
  and bytes.

Refused with :class:`armbert.errors.ModelFileError`: a file that is not safetensors or
has no armbert document, a truncated file, a checksum mismatch, a format version newer
than this armbert reads.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Mapping, Optional, Union

import numpy as np

from armbert import quant
from armbert.config import BertConfig
from armbert.quant import QuantizedModel
from armbert.errors import CheckpointError, InvalidArgumentError, ModelFileError
from armbert.heads import TaskHead, labels_of
from armbert.loaders import safetensors
from armbert.model import LINEAR_FIELDS, BertModel, LayerWeights
from armbert.plan import Plan
from armbert.sentence_config import SentenceConfig

FORMAT = "armbert"
FORMAT_VERSION = 1
META_KEY = "armbert"
SUFFIX = ".armbert"
_INT8_PARTS = ("i8", "scale", "outlier_channels", "outlier_weight")
_TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")


def tensors_sha256(tensors: Mapping[str, np.ndarray]) -> str:
    """sha256 over each tensor's name, dtype, shape and bytes, in the mapping's order."""
    h = hashlib.sha256()
    for name, a in tensors.items():
        a = np.ascontiguousarray(a)
        h.update(f"{name}\0{a.dtype.str}\0{list(a.shape)}\0".encode())
        if a.size:
            h.update(memoryview(a.reshape(-1)).cast("B"))
    return h.hexdigest()


def file_sha256(path: Union[str, os.PathLike]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# ---- writing ----

def _int8_tensors(name: str, iw: quant.Int8Weight) -> dict[str, np.ndarray]:
    return {f"{name}.{part}": a for part, a in zip(_INT8_PARTS, (
        iw.weight_i8, iw.weight_scale, iw.outlier_channels, iw.outlier_weight))}


def _linear_tensors(name: str, w, precision: str, q: Optional[QuantizedModel],
                    linear: str) -> dict[str, np.ndarray]:
    if precision == "int8":
        return _int8_tensors(name, q.int8_linear(linear))
    return {name: w.astype(np.float16) if precision == "fp16" else w}


def _tokenizer_files(model: BertModel) -> dict[str, str]:
    files = dict(model.tokenizer_files)
    if model.tokenizer_path:
        folder = Path(model.tokenizer_path).parent
        for n in _TOKENIZER_FILES:
            if (folder / n).is_file():
                files[n] = (folder / n).read_text(encoding="utf-8")
    return files


def save(model: Union[BertModel, QuantizedModel], path: Union[str, os.PathLike],
         precision: Optional[str] = None, plan=None,
         source_sha256: Optional[str] = None) -> dict:
    """Write ``model`` to ``path`` (an .armbert file); returns the JSON document stored.

    ``model``: a BertModel (``precision`` fp32 or fp16) or a QuantizedModel from
    :func:`armbert.quantize` (int8). ``plan``: a Plan, dict, JSON text or path, checked
    against the model. ``source_sha256``: of the source checkpoint; by default that of
    ``model.source`` when it is a file.
    """
    q = model if isinstance(model, QuantizedModel) else None
    base = q.model if q else model
    if not isinstance(base, BertModel):
        raise InvalidArgumentError(f"save needs a BertModel or QuantizedModel, got "
                                   f"{type(model).__name__}")
    base.validate()
    precision = precision or ("int8" if q else base.default_precision)
    if (precision == "int8") != (q is not None):
        raise InvalidArgumentError(
            f"precision {precision!r} with a {type(model).__name__}: int8 files are written "
            f"from armbert.quantize(...)'s QuantizedModel, fp32/fp16 from a BertModel")
    if precision not in ("fp32", "fp16", "int8"):
        raise InvalidArgumentError(f"unknown precision {precision!r}: fp32, fp16 or int8")
    if precision != "int8" and base.int8_only:
        raise InvalidArgumentError(f"{base.source}: int8 weights cannot be written as "
                                   f"{precision}")
    plan_dict = None
    if plan is not None:
        # a plan for the board, written on a dev box: its cores and backends are the
        # board's, checked by Engine there
        p = Plan.load(plan).validate(base.config.num_hidden_layers, this_machine=False)
        if precision == "int8" and any(pl.precision != "int8" for pl in p.layers):
            raise InvalidArgumentError("an int8 file runs every layer at int8; the plan "
                                       "puts some layer at another precision")
        plan_dict = p.to_dict()

    t: dict[str, np.ndarray] = {}
    if q is not None and q.word_int8 is not None:
        t.update(_int8_tensors("word", q.word_int8))
    else:
        t["word"] = base.word
    for name in ("position", "token_type", "emb_ln_g", "emb_ln_b"):
        t[name] = getattr(base, name)
    for i, layer in enumerate(base.layers):
        for f in LayerWeights.__dataclass_fields__:
            key, value = f"layers.{i}.{f}", getattr(layer, f)
            if f in LINEAR_FIELDS:
                t.update(_linear_tensors(key, value, precision, q,
                                         f"layer.{i}.{LINEAR_FIELDS[f]}"))
            else:
                t[key] = value
    if base.pooler_w is not None:
        t.update(_linear_tensors("pooler_w", base.pooler_w, precision, q, "pooler"))
        t["pooler_b"] = base.pooler_b
    if base.head is not None:
        t["head.weight"], t["head.bias"] = base.head.weight, base.head.bias
    tok = _tokenizer_files(base)
    for n, text in tok.items():
        t[f"tokenizer/{n}"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)

    if source_sha256 is None and base.source and Path(base.source).is_file():
        source_sha256 = file_sha256(base.source)
    from armbert import __version__

    calibration = None
    if q is not None:
        calibration = {"texts": q.calibration_texts, "precision": "int8",
                       "activations": q.params.activations, "method": q.params.method,
                       "outlier_linears": len(q.params.outliers)}
    doc = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "precision": precision,
        "embeddings": "int8" if q is not None and q.word_int8 is not None else "fp32",
        "config": base.config.to_dict(),
        "quantization": q.params.to_dict() if q is not None else None,
        "head": base.head.to_meta() if base.head is not None else None,
        "sentence": base.sentence.to_dict() if base.sentence is not None else None,
        "plan": plan_dict,
        "tokenizer_files": sorted(tok),
        "provenance": {"source": str(base.source), "source_sha256": source_sha256,
                       "armbert_version": __version__, "calibration": calibration},
        "tensors_sha256": tensors_sha256(t),
    }
    path = Path(path)
    if path.is_dir():
        raise InvalidArgumentError(f"save: {path} is a directory; give the model file's path "
                                   "(e.g. model.armbert)")
    tmp = path.with_name(path.name + ".tmp")
    try:
        safetensors.save_file(t, tmp, {META_KEY: json.dumps(doc, sort_keys=True)})
        os.replace(tmp, path)  # never a half-written model file under the final name
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return doc


# ---- reading ----

def read_document(path: Union[str, os.PathLike]) -> dict:
    """The file's JSON document, checked for format and version (tensors not read)."""
    path = Path(path)
    try:
        _, metadata, _ = safetensors.read_header(path)
    except CheckpointError as e:
        raise ModelFileError(f"not a readable .armbert file: {e}") from None
    return _document(path, metadata)


def _document(path: Path, metadata: Mapping[str, str]) -> dict:
    if META_KEY not in metadata:
        raise ModelFileError(f"{path}: not an .armbert file (a safetensors file without "
                             f"the {META_KEY!r} metadata document; load a checkpoint "
                             f"directory with armbert.load(dir) instead)")
    try:
        doc = json.loads(metadata[META_KEY])
    except json.JSONDecodeError as e:
        raise ModelFileError(f"{path}: the {META_KEY!r} metadata is not JSON: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an .armbert file (format is "
                             f"{doc.get('format') if isinstance(doc, dict) else doc!r})")
    version = doc.get("format_version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ModelFileError(f"{path}: format_version {version!r} is not a version number")
    if version > FORMAT_VERSION:
        raise ModelFileError(f"{path}: written in .armbert format version {version} by a "
                             f"newer armbert; this armbert reads versions up to "
                             f"{FORMAT_VERSION}: upgrade armbert")
    return doc


class _Tensors:
    """The file's tensors, each taken once; names left over at the end are an error."""

    def __init__(self, path: Path, tensors: dict[str, np.ndarray]) -> None:
        self.path, self.t = path, tensors

    def f32(self, name: str) -> np.ndarray:
        if name not in self.t:
            raise ModelFileError(f"{self.path}: tensor {name!r} is missing")
        a = self.t.pop(name)
        if a.dtype.kind != "f":
            raise ModelFileError(f"{self.path}: tensor {name!r} has dtype {a.dtype}")
        return np.ascontiguousarray(a, dtype=np.float32)

    def linear(self, name: str):
        if f"{name}.i8" not in self.t:
            return self.f32(name)
        parts = {}
        for part, field_name in zip(_INT8_PARTS, quant.Int8Weight.__dataclass_fields__):
            key = f"{name}.{part}"
            if key not in self.t:
                raise ModelFileError(f"{self.path}: tensor {key!r} is missing")
            parts[field_name] = self.t.pop(key)
        return quant.Int8Weight(**parts).validate(str(self.path), name)

    def has(self, name: str) -> bool:
        return name in self.t or f"{name}.i8" in self.t


def load_modelfile(path: Union[str, os.PathLike]) -> Union[BertModel, QuantizedModel]:
    """The model in ``path``, ready for :class:`armbert.Engine` at its stored precision
    (and plan): a BertModel (fp32, fp16) or a QuantizedModel (int8)."""
    path = Path(path)
    try:
        tensors, metadata = safetensors.read_file(path)
    except CheckpointError as e:
        raise ModelFileError(f"not a readable .armbert file: {e}") from None
    doc = _document(path, metadata)
    digest = tensors_sha256(tensors)
    if digest != doc.get("tensors_sha256"):
        raise ModelFileError(f"{path}: checksum mismatch (tensors hash to {digest[:16]}..., "
                             f"the file says {str(doc.get('tensors_sha256'))[:16]}...): the "
                             f"file is corrupt")
    try:
        return _build(path, doc, tensors)
    except (CheckpointError, InvalidArgumentError, KeyError, TypeError, ValueError) as e:
        if isinstance(e, ModelFileError):
            raise
        raise ModelFileError(f"{path}: inconsistent .armbert file: {e!r}") from e


def _build(path: Path, doc: dict, tensors: dict[str, np.ndarray]):
    config = BertConfig.from_dict(doc["config"])
    precision = doc["precision"]
    if precision not in ("fp32", "fp16", "int8"):
        raise ModelFileError(f"{path}: unknown precision {precision!r}")
    tok = {n: bytes(tensors.pop(f"tokenizer/{n}")).decode("utf-8")
           for n in doc.get("tokenizer_files", [])}
    t = _Tensors(path, tensors)
    word = t.linear("word")
    word_int8 = word if isinstance(word, quant.Int8Weight) else None
    emb = {n: t.f32(n) for n in ("position", "token_type", "emb_ln_g", "emb_ln_b")}
    layers = []
    for i in range(config.num_hidden_layers):
        kw = {f: (t.linear if f in LINEAR_FIELDS else t.f32)(f"layers.{i}.{f}")
              for f in LayerWeights.__dataclass_fields__}
        layers.append(LayerWeights(**kw))
    pooler_w = t.linear("pooler_w") if t.has("pooler_w") else None
    pooler_b = t.f32("pooler_b") if pooler_w is not None else None
    head = None
    if doc.get("head"):
        w, b = t.f32("head.weight"), t.f32("head.bias")
        head = TaskHead(doc["head"]["task"], w, b, labels_of(doc["head"].get("id2label"),
                                                             w.shape[0]))
    if t.t:
        raise ModelFileError(f"{path}: unexpected tensor(s) {sorted(t.t)[:6]}")
    model = BertModel(
        config=config, word=word_int8.dequantize() if word_int8 else word, **emb,
        layers=layers, pooler_w=pooler_w, pooler_b=pooler_b, source=str(path), head=head,
        tokenizer_files=tok,
        sentence=SentenceConfig.from_dict(doc["sentence"]) if doc.get("sentence") else None,
        default_precision=precision, default_plan=doc.get("plan"))
    model.validate()
    if precision != "int8":
        return model
    return QuantizedModel(model, quant.QuantizationParams.from_dict(doc["quantization"]),
                          word_int8=word_int8,
                          calibration_texts=(doc["provenance"].get("calibration") or {}).get(
                              "texts", 0),
                          default_plan=doc.get("plan"))
