"""Session-wide: no test reaches a model hub (transformers and sentence-transformers
read HF_HUB_OFFLINE when first imported, after this file); the pytest summary names
the backends of this build and the device each ACL backend runs on (which OpenCL
driver ran the CL cases)."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import armbert  # noqa: E402
from armbert import _native as nat  # noqa: E402
from armbert import errors  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    lines = [f"armbert backends: {', '.join(armbert.backends())}"]
    for backend in armbert.backends():
        if backend == "host":
            continue
        try:
            lines.append(f"  {backend}: {nat.Context(backend, threads=1).describe()}")
        except errors.ArmbertError as e:
            lines.append(f"  {backend}: unavailable ({e})")
    terminalreporter.write_line("\n".join(lines))
