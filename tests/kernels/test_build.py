"""The build has the backends it should: on the arm64 test bed ACL must be in."""
import armbert
from armbert import _native as nat

from .conftest import expected_backends


def test_expected_backends_are_compiled():
    want = expected_backends() or ["host"]
    assert set(want) <= set(armbert.backends()), (want, armbert.backends())


def test_abi_version_and_status_strings():
    lib = nat.lib()
    assert lib.armbert_abi_version() == lib.ARMBERT_ABI_VERSION == 3
    assert nat.ffi.string(lib.armbert_status_string(3)) == b"out of range"
