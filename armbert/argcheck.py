"""Type and range checks for the few scalar options that reach native code: thread
counts, core lists, integer plan fields. One place, so Engine, Context and Plan
refuse the same values with the same words (bool is not an int here: ``True``
threads is a bug, not one thread)."""
from __future__ import annotations

import numbers
import os
from typing import Optional, Sequence

import numpy as np

from . import errors

# A context may run this many threads per online core (kernels/src/core/context.h,
# kMaxThreadsPerCpu): every thread gets scratch rows per op, so 10000 threads is
# gigabytes of scratch, not speed.
MAX_THREADS_PER_CPU = 4


def cpu_count() -> int:
    return os.cpu_count() or 1


def max_threads() -> int:
    return MAX_THREADS_PER_CPU * cpu_count()


def is_integer(value) -> bool:
    """int or a numpy integer; not bool (nor numpy's)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def integer(value, what: str, exc: type[errors.ArmbertError] = errors.InvalidArgumentError,
            minimum: Optional[int] = None, maximum: Optional[int] = None) -> int:
    if not is_integer(value):
        raise exc(f"{what} must be an integer, got {value!r} ({type(value).__name__})")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if maximum is None:
            raise exc(f"{what} must be >= {minimum}, got {value}")
        raise exc(f"{what} must be in [{minimum}, {maximum}], got {value}")
    return int(value)


def threads(value, what: str = "threads",
            exc: type[errors.ArmbertError] = errors.InvalidArgumentError) -> Optional[int]:
    """None (the backend's default) or an int in [1, 4 x cores]."""
    if value is None:
        return None
    return integer(value, what, exc, 1, max_threads())


def cores(value, what: str = "cores",
          exc: type[errors.ArmbertError] = errors.InvalidArgumentError) -> tuple[int, ...]:
    """None/empty (not pinned) or distinct core numbers of this machine."""
    if value is None:
        return ()
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = list(value)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise exc(f"{what} must be a list of core numbers, got {value!r}")
    out: list[int] = []
    n = cpu_count()
    for c in value:
        if not is_integer(c):
            raise exc(f"{what} must be integers, got {c!r} ({type(c).__name__})")
        if not 0 <= c < n:
            raise exc(f"{what}: core {c} does not exist (this machine has cores 0-{n - 1})")
        if c in out:
            raise exc(f"{what} names core {c} twice")
        out.append(int(c))
    return tuple(out)
