"""Session-wide: the pytest summary names the backends of this build and the
device each ACL backend runs on (which OpenCL driver ran the CL cases)."""
import armbert
from armbert import _native as nat
from armbert import errors


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
