"""armbert: quantized BERT inference on ARM SoCs (ACL NEON, ACL OpenCL) and hosts.

    import armbert
    model = armbert.load()                  # bundled all-MiniLM-L6-v2
    engine = armbert.Engine(model, precision="int8")
    out = engine.run(input_ids, attention_mask)
    vectors = armbert.SentenceEncoder(engine).encode(["a sentence", "another"])
    enc = armbert.tokenizer_for(model)(["a sentence"])    # text -> input_ids, attention_mask
    out = engine.run(enc["input_ids"], enc["attention_mask"])
    armbert.save(armbert.quantize(model, ["calibration text"]), "m.armbert")
    engine = armbert.Engine(armbert.load("m.armbert"))   # int8, nothing re-quantized
"""
from .calibrate import quantize
from .engine import Engine, Output, QuantizedModel, backends, best_backend
from .errors import (ArmbertError, BackendError, CheckpointError, ClosedError, InternalError,
                     InvalidArgumentError, MissingDependencyError, ModelFileError, NumericError, OnnxError, OutOfMemoryError, OutOfRangeError,
                     ShapeError, UnsupportedError)
from .loaders import load
from .modelfile import save
from .sentence import SentenceEncoder, tokenizer_for
from .text import Tokenizer

__version__ = "0.1.0"

__all__ = [
    "ArmbertError", "BackendError", "CheckpointError", "ClosedError", "Engine", "InternalError",
    "InvalidArgumentError", "MissingDependencyError", "ModelFileError", "NumericError", "OnnxError", "OutOfMemoryError", "OutOfRangeError", "Output", "QuantizedModel",
    "SentenceEncoder", "ShapeError", "Tokenizer", "UnsupportedError", "backends", "best_backend", "load",
    "quantize", "save", "tokenizer_for",
]
