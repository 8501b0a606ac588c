"""armbert: quantized BERT inference on ARM SoCs (ACL NEON, ACL OpenCL) and hosts.

    import armbert
    model = armbert.load()                  # bundled all-MiniLM-L6-v2
    engine = armbert.Engine(model, precision="int8")
    out = engine.run(input_ids, attention_mask)
    vectors = armbert.SentenceEncoder(engine).encode(["a sentence", "another"])
"""
from .engine import Engine, Output, QuantizedModel, backends, best_backend, quantize
from .errors import (ArmbertError, BackendError, CheckpointError, InternalError,
                     InvalidArgumentError, OutOfMemoryError, OutOfRangeError, ShapeError,
                     UnsupportedError)
from .loaders import load
from .sentence import SentenceEncoder

__version__ = "0.1.0"

__all__ = [
    "ArmbertError", "BackendError", "CheckpointError", "Engine", "InternalError",
    "InvalidArgumentError", "OutOfMemoryError", "OutOfRangeError", "Output", "QuantizedModel",
    "SentenceEncoder", "ShapeError", "UnsupportedError", "backends", "best_backend", "load",
    "quantize",
]
