"""MiniLM end to end on the ACL OpenCL backend (PoCL or rusticl in the test bed,
a Mali GPU on a board), against the host backend.

Bounds:
- FP32: max |delta last_hidden_state| <= 1e-3 against the host backend (the
  kernel tests hold each component to 1e-4; six layers compound it).
- INT8 (armbert.quantize on fixed id arrays, dynamic per-row scales with outlier
  channels): per-token cosine >= 0.99 against host FP32, the engine's INT8 bound;
  and >= 0.999 against host INT8, which runs the same integer math.
- A plan with embeddings and layers 0-2 on a NEON device and layers 3-5 on a CL
  device: within 1e-3 of all-NEON, with the copies between them timed.
- FP16 (rusticl): per-token cosine >= 0.999 against host FP32; on a device
  without cl_khr_fp16 the engine must refuse it, naming the extension.
Inputs are fixed id arrays (no tokenizer needed), one sequence padded.
"""

import numpy as np
import pytest

import armbert
from armbert import _native as nat
from armbert import errors
from armbert.plan import Device, Placement, Plan
from armbert.sentence import pool
from armbert.text import l2_normalize

from ..helpers import token_cosines
from ..kernels.conftest import cl_device_has_fp16

pytestmark = pytest.mark.usefixtures("cl_is_built")

FP32_ATOL = 1e-3
INT8_MIN_TOKEN_COS = 0.99
INT8_SAME_MATH_COS = 0.999
FP16_MIN_COS = 0.999

CLS, SEP = 101, 102


def id_arrays(seed: int, lengths) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.concatenate([[CLS], rng.integers(1996, 20000, n - 2), [SEP]]).astype(np.int64)
            for n in lengths]


def batch_of(arrays):
    seq = max(len(a) for a in arrays)
    ids = np.zeros((len(arrays), seq), np.int64)
    mask = np.zeros_like(ids)
    for i, a in enumerate(arrays):
        ids[i, :len(a)], mask[i, :len(a)] = a, 1
    return ids, mask


@pytest.fixture(scope="module")
def minilm():
    model = armbert.load()
    ids, mask = batch_of(id_arrays(0, [12, 7]))  # the second sequence is padded
    host = armbert.Engine(model, backend="host", precision="fp32").run(ids, mask)
    print(f"\ncl device: {nat.Context('cl').describe()}")
    return model, ids, mask, host


def test_minilm_fp32_on_cl_matches_host(minilm):
    model, ids, mask, host = minilm
    engine = armbert.Engine(model, backend="cl", precision="fp32")
    out = engine.run(ids, mask)
    diff = np.abs(out.last_hidden_state - host.last_hidden_state).max()
    pooled = np.abs(out.pooler_output - host.pooler_output).max()
    print(f"\nMiniLM fp32 cl vs host: max |d hidden| {diff:.2e}, max |d pooled| {pooled:.2e}")
    assert diff <= FP32_ATOL
    assert pooled <= FP32_ATOL
    # The sentence pooling is host-only (kernels/src/host/pool.cpp): the engine asks
    # the CL context, hears UNSUPPORTED, and pools the read-back state on the host.
    vecs = engine.embed(ids, mask, pooling="mean", normalize=True)
    placed = engine.placed[("pool", "mean", True)]
    assert placed.fallback and "pool in fp32 is not implemented on the cl backend" in \
        placed.reason
    want = l2_normalize(pool(host.last_hidden_state, mask, "mean"))
    assert np.abs(vecs - want).max() <= FP32_ATOL


def test_minilm_int8_on_cl_cosine(minilm):
    model, ids, mask, host = minilm
    calibration = id_arrays(1, [9, 14, 6, 11])
    q = armbert.quantize(model, calibration)
    assert q.params.outliers, "all-MiniLM has outlier channels: calibration must find them"
    out = armbert.Engine(q, backend="cl").run(ids, mask).last_hidden_state
    host_int8 = armbert.Engine(q, backend="host").run(ids, mask).last_hidden_state
    vs_fp32 = token_cosines(out, host.last_hidden_state, mask).min()
    vs_int8 = token_cosines(out, host_int8, mask).min()
    print(f"\nMiniLM int8 cl: min token cosine {vs_fp32:.5f} vs host fp32, "
          f"{vs_int8:.6f} vs host int8")
    assert vs_fp32 >= INT8_MIN_TOKEN_COS
    assert vs_int8 >= INT8_SAME_MATH_COS


def test_minilm_fp16_on_cl_cosine_or_refusal(minilm):
    model, ids, mask, host = minilm
    if not cl_device_has_fp16():
        with pytest.raises(errors.UnsupportedError, match="cl_khr_fp16"):
            armbert.Engine(model, backend="cl", precision="fp16")
        return
    out = armbert.Engine(model, backend="cl", precision="fp16").run(ids, mask)
    cos = token_cosines(out.last_hidden_state, host.last_hidden_state, mask).min()
    print(f"\nMiniLM fp16 cl: min token cosine {cos:.5f} vs host fp32")
    assert cos >= FP16_MIN_COS


@pytest.mark.usefixtures("neon_is_built")
def test_plan_neon_then_cl_matches_all_neon(minilm):
    model, ids, mask, _ = minilm
    layers = tuple(Placement("neon" if i < 3 else "gpu", "fp32")
                   for i in range(model.config.num_hidden_layers))
    plan = Plan({"neon": Device("neon"), "gpu": Device("cl")}, Placement("neon", "fp32"), layers)
    mixed = armbert.Engine(model, plan=plan)
    out = mixed.run(ids, mask)
    out = mixed.run(ids, mask)  # the second run: programs built, buffers allocated
    neon = armbert.Engine(model, backend="neon", precision="fp32").run(ids, mask)
    diff = np.abs(out.last_hidden_state - neon.last_hidden_state).max()
    print(f"\n{mixed.describe()}\ntransfers: " +
          ", ".join(f"{a} -> {b} {ms:.2f} ms" for a, b, ms in mixed.last_transfers) +
          f"\nmax |d hidden| vs all-neon: {diff:.2e}")
    assert mixed.last_transfers, "the hidden state must be copied from NEON to CL"
    assert [(a, b) for a, b, _ in mixed.last_transfers] == [("neon/fp32", "gpu/fp32")]
    assert diff <= FP32_ATOL
    assert np.abs(out.pooler_output - neon.pooler_output).max() <= FP32_ATOL
