"""A numpy-only reader (and writer) of the safetensors format.

The official package needs Rust wheels that the arm64 boards do not have. The format
is small: an 8-byte little-endian header length N, N bytes of JSON mapping each name
to {dtype, shape, data_offsets=[begin, end]} (offsets relative to the byte buffer
after the header), an optional "__metadata__" entry, then the buffer.

Every inconsistency raises CheckpointError naming the file and what is wrong: a
truncated download must fail here, not as NaNs on the device.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Mapping

import numpy as np

from armbert.errors import CheckpointError

# BF16 has no numpy dtype: it is read as uint16 and widened to float32 (exact).
_DTYPES: dict[str, np.dtype] = {
    "F64": np.dtype("<f8"), "F32": np.dtype("<f4"), "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),
    "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"),
    "I8": np.dtype("i1"), "U64": np.dtype("<u8"), "U32": np.dtype("<u4"),
    "U16": np.dtype("<u2"), "U8": np.dtype("u1"), "BOOL": np.dtype("?"),
}
# Known to the format but not worth decoding for BERT weights.
_UNSUPPORTED = {"F8_E4M3", "F8_E5M2", "F8_E8M0", "F4", "F6_E2M3", "F6_E3M2", "C64"}
_NAMES = {v: k for k, v in _DTYPES.items() if k != "BF16"}
# The Rust implementation caps the header at 100 MB; so do we, so a garbage length
# fails with a clear message instead of a MemoryError.
MAX_HEADER = 100 * 1024 * 1024


def read_header(path: str | os.PathLike) -> tuple[dict, dict[str, str], int]:
    """Parse and check the header: (entries by name, metadata, byte offset of the buffer)."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise CheckpointError(f"{path}: truncated safetensors file ({size} bytes, "
                                      f"shorter than the 8-byte header length)")
            n = int.from_bytes(head, "little")
            if n > MAX_HEADER:
                raise CheckpointError(f"{path}: header length {n} exceeds the "
                                      f"{MAX_HEADER}-byte limit; not a safetensors file")
            if 8 + n > size:
                raise CheckpointError(f"{path}: header length {n} runs past the end of the "
                                      f"file ({size} bytes); truncated or not safetensors")
            raw = f.read(n)
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read: {e}") from e
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: header is not valid JSON: {e}") from e
    if not isinstance(header, dict):
        raise CheckpointError(f"{path}: header is a JSON {type(header).__name__}, not an object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict):
        raise CheckpointError(f"{path}: __metadata__ is not a JSON object")
    buffer_len = size - 8 - n
    spans = []
    for name, entry in header.items():
        _check_entry(path, name, entry, buffer_len)
        begin, end = entry["data_offsets"]
        if end > begin:  # empty tensors take no bytes and cannot overlap anything
            spans.append((begin, end, name))
    spans.sort()
    for (b0, e0, n0), (b1, e1, n1) in zip(spans, spans[1:]):
        if b1 < e0:
            raise CheckpointError(f"{path}: tensors {n0!r} [{b0}, {e0}) and {n1!r} [{b1}, {e1}) "
                                  f"overlap")
    return header, metadata, 8 + n


def _check_entry(path: Path, name: str, entry: object, buffer_len: int) -> None:
    def bad(what: str) -> CheckpointError:
        return CheckpointError(f"{path}: tensor {name!r}: {what}")

    if not isinstance(entry, dict):
        raise bad(f"header entry is a {type(entry).__name__}, not an object")
    for key in ("dtype", "shape", "data_offsets"):
        if key not in entry:
            raise bad(f"header entry has no {key!r}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str):
        raise bad(f"dtype {dtype!r} is not a string")
    if dtype in _UNSUPPORTED:
        raise bad(f"dtype {dtype} is not supported by armbert")
    if dtype not in _DTYPES:
        raise bad(f"unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
            isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise bad(f"shape {shape!r} is not a list of non-negative integers")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(
            isinstance(o, int) and not isinstance(o, bool) and o >= 0 for o in offsets)):
        raise bad(f"data_offsets {offsets!r} is not a pair of non-negative integers")
    begin, end = offsets
    if begin > end:
        raise bad(f"data_offsets {offsets} end before they begin")
    if end > buffer_len:
        raise bad(f"data_offsets {offsets} run past the end of the data "
                  f"({buffer_len} bytes; file truncated?)")
    nbytes = math.prod(shape) * _DTYPES[dtype].itemsize
    if end - begin != nbytes:
        raise bad(f"shape {shape} of {dtype} needs {nbytes} bytes, data_offsets {offsets} "
                  f"hold {end - begin}")


def load_file(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Every tensor of the file as an owned numpy array, in header order.

    BF16 comes back as float32 (exact); other dtypes keep their numpy equivalent.
    """
    return read_file(path)[0]


def read_file(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """(tensors as load_file gives them, the header's __metadata__)."""
    header, metadata, start = read_header(path)
    out: dict[str, np.ndarray] = {}
    # memmap keeps peak memory at one copy of the weights on small boards.
    data = np.memmap(path, dtype=np.uint8, mode="r") if os.path.getsize(path) > start else None
    try:
        for name, entry in header.items():
            begin, end = entry["data_offsets"]
            dtype = _DTYPES[entry["dtype"]]
            raw = data[start + begin:start + end] if end > begin else np.empty(0, np.uint8)
            array = raw.view(dtype).reshape(entry["shape"])
            if entry["dtype"] == "BF16":
                array = (array.astype(np.uint32) << 16).view(np.float32)
            else:
                array = array.astype(dtype.newbyteorder("="), copy=True)
            out[name] = array
    finally:
        del data
    return out, metadata


def save_file(tensors: Mapping[str, np.ndarray], path: str | os.PathLike,
              metadata: Mapping[str, str] | None = None) -> None:
    """Write tensors in the same format (tests, and caches of converted checkpoints)."""
    header: dict[str, object] = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    offset, blobs = 0, []
    for name, array in tensors.items():
        array = np.asarray(array)
        code = _NAMES.get(array.dtype.newbyteorder("<")) or _NAMES.get(array.dtype)
        if code is None:
            raise CheckpointError(f"{path}: cannot write {name!r} of dtype {array.dtype}")
        blob = np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()
        header[name] = {"dtype": code, "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)  # the reference writer aligns the buffer to 8 bytes
    with open(path, "wb") as f:
        f.write(len(raw).to_bytes(8, "little"))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
