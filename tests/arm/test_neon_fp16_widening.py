"""The FP16 GEMM has two inner loops, picked from HWCAP: FMLAL (FEAT_FHM:
Armv8.4+ cores such as Cortex-A510/A710, and QEMU's default core) and
fp16->fp32 widening (Cortex-A55/A76: FP16 arithmetic but no FHM). Likewise the
INT8 GEMM: our SMMLA tile (FEAT_I8MM) or ACL's GEMMLowp (the A76 has dotprod,
no I8MM). The kernel tests cover the ones this core picks; this runs the FP16
and INT8 linear and attention tests again on an emulated Cortex-A76 so the other
loops are checked too."""
import os
import subprocess
import sys

import pytest

from .conftest import ROOT, emulated, run_python

pytestmark = pytest.mark.usefixtures("neon_is_built")


def test_cortex_a76_uses_the_widening_loop_and_passes_the_fp16_tests():
    desc = run_python("from armbert import _native as nat; "
                      "print(nat.Context('neon', threads=1).describe())", cpu="cortex-a76")
    if " fhm" in desc:
        assert not emulated(), "under qemu, QEMU_CPU=cortex-a76 should have removed FHM"
        pytest.skip("a real core with FHM: QEMU_CPU cannot pick an A76 here")
    assert "asimdhp no-fhm" in desc and "widening" in desc, desc
    assert "i8mm" not in desc and "ACL NEGEMMLowpMatrixMultiplyCore" in desc, desc
    env = dict(os.environ, QEMU_CPU="cortex-a76")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/kernels/test_linear.py", "tests/kernels/test_attention.py",
                        "-k", "neon and (fp16 or int8)"], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=1800)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout, r.stdout[-2000:]
