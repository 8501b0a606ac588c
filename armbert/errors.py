"""armbert's exceptions: one base class, one subclass per native status code.

The native library reports failures as an ``armbert_status`` plus a per-thread
message; :func:`armbert._native.check` turns them into these. Python-side checks
raise the same classes, so a caller catches one family whatever found the problem.
"""
from __future__ import annotations


class ArmbertError(Exception):
    """Base class of every error armbert raises."""

    status = 7  # ARMBERT_ERR_INTERNAL unless a subclass says otherwise


class InvalidArgumentError(ArmbertError, ValueError):
    """A bad value: a null pointer, a non-positive eps, an unknown option."""

    status = 1


class ShapeError(InvalidArgumentError):
    """Tensor shapes or dtypes that do not fit the operation."""

    status = 2


class OutOfRangeError(InvalidArgumentError):
    """A token id outside the vocabulary, a sequence longer than the positions."""

    status = 3


class UnsupportedError(ArmbertError):
    """A backend, precision or CPU feature this build or device does not have."""

    status = 4


class MissingDependencyError(UnsupportedError):
    """An optional Python package that a feature needs is not installed (the
    planner's fits and plots need the ``[planner]`` extra)."""


class NumericError(ArmbertError, ArithmeticError):
    """A run whose output is not finite (inf or NaN): the activations overflowed the
    precision's range (fp16's 65504) on weights or inputs that are finite."""


class OutOfMemoryError(ArmbertError, MemoryError):
    status = 5


class BackendError(ArmbertError, RuntimeError):
    """ACL or OpenCL reported a failure."""

    status = 6


class InternalError(ArmbertError, RuntimeError):
    status = 7


class ClosedError(InvalidArgumentError):
    """A handle (context, op, tensor, Engine) used after its close(). Raised by the
    Python side before the native library sees the handle; status 1 like any other
    invalid argument."""


class CheckpointError(ArmbertError, ValueError):
    """A checkpoint that is missing, corrupt, or not a BERT encoder."""

    status = 1


class ModelFileError(CheckpointError):
    """An .armbert file that is not one, is truncated or corrupt (checksum mismatch),
    or was written by a newer armbert (format version)."""


class OnnxError(CheckpointError):
    """An ONNX file armbert cannot load, with ``reason`` saying which kind of problem:

    ``"not_onnx"`` (not an ONNX protobuf, or no graph in it), ``"truncated"`` (an ONNX
    file or its external data cut short or corrupt), ``"missing_initializer"`` (a node
    reads a tensor nothing provides), ``"bad_initializer"`` (an initializer whose data or
    shape is wrong), ``"unsupported_op"``, ``"unsupported_opset"``, ``"quantized"``
    (already quantized, e.g. by onnxruntime's quantize_dynamic: load the fp32 model and
    quantize with armbert), ``"fused"`` (onnxruntime's fused operators), ``"not_bert"``
    (a graph that is not a BERT encoder the loader understands) and ``"head"`` (a task
    head armbert does not run)."""

    def __init__(self, message: str, reason: str = "not_bert") -> None:
        super().__init__(message)
        self.reason = reason


BY_STATUS: dict[int, type[ArmbertError]] = {
    cls.status: cls
    for cls in (InvalidArgumentError, ShapeError, OutOfRangeError, UnsupportedError,
                OutOfMemoryError, BackendError, InternalError)
}
