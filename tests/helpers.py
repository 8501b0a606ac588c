"""Helpers shared by test modules (instead of test modules importing each other's).

Imports only the standard library, numpy, pytest and armbert at module level: the
arm64 test bed runs tests/arm without torch, transformers or Hypothesis, so those
are imported (or skipped with ``pytest.importorskip``) inside the helpers that need
them.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]

# A small BERT config (transformers' names): every component has odd sizes.
# The engine's fp32 outputs against torch's: both float32, the sums in other orders
# (~1e-6 relative per op), so 1e-4 absolute on unit-scale hidden states is loose by
# 10x and still far below a wrong op (1e-1 and more).
FP32_ATOL = 1e-4

SMALL = dict(vocab_size=99, hidden_size=72, num_hidden_layers=2, num_attention_heads=6,
             intermediate_size=100, max_position_embeddings=40)


def small_hf_model(randomize=True, cls=None):
    """A tiny transformers BERT; randomize=False keeps HF's init (zero biases, unit gammas)."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    cfg = transformers.BertConfig(**SMALL, attn_implementation="eager")
    model = (cls or transformers.BertModel)(cfg).eval()
    if randomize:
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.2)
    return model


def small_state_dict() -> dict[str, np.ndarray]:
    """A random state dict of the SMALL config in transformers' names (numpy only)."""
    rng = np.random.default_rng(0)
    h, i = SMALL["hidden_size"], SMALL["intermediate_size"]
    shapes = {"embeddings.word_embeddings.weight": (99, h),
              "embeddings.position_embeddings.weight": (40, h),
              "embeddings.token_type_embeddings.weight": (2, h),
              "embeddings.LayerNorm.weight": (h,), "embeddings.LayerNorm.bias": (h,),
              "pooler.dense.weight": (h, h), "pooler.dense.bias": (h,)}
    for n in range(2):
        p = f"encoder.layer.{n}."
        for m in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense"):
            shapes[f"{p}{m}.weight"], shapes[f"{p}{m}.bias"] = (h, h), (h,)
        shapes[f"{p}intermediate.dense.weight"], shapes[f"{p}intermediate.dense.bias"] = \
            (i, h), (i,)
        shapes[f"{p}output.dense.weight"], shapes[f"{p}output.dense.bias"] = (h, i), (h,)
        for m in ("attention.output.LayerNorm", "output.LayerNorm"):
            shapes[f"{p}{m}.weight"], shapes[f"{p}{m}.bias"] = (h,), (h,)
    return {k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}


def token_cosines(a, b, mask) -> np.ndarray:
    """Cosine of each real token's hidden state in ``a`` [B, S, H] with ``b``'s; the
    padded positions (mask 0) are left out."""
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return cos[mask > 0]


def export_legacy_onnx(hf, path, opset=20):
    """``hf`` (a transformers BertModel) exported by torch's legacy (TorchScript) ONNX
    exporter to ``path`` (tools/onnx_export.py), with dynamic batch and sequence axes;
    returns ``path``."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from tools.onnx_export import export_legacy

    export_legacy(hf, path, opset, example_ids=torch.randint(0, SMALL["vocab_size"], (2, 7)))
    return path


def run_without(blocked, code: str, timeout: float = 60) -> str:
    """stdout of ``code`` run by a fresh interpreter in which importing any of the
    ``blocked`` modules fails; asserts that it exits 0."""
    prelude = f"import sys\nfor m in {tuple(blocked)!r}:\n    sys.modules[m] = None\n"
    out = subprocess.run([sys.executable, "-c", prelude + code], cwd=REPO,
                         capture_output=True, text=True, timeout=timeout)
    assert out.returncode == 0, out.stderr
    return out.stdout


def pipeline_inputs(n, seq=19):
    """``n`` (ids, mask) pairs of slightly different lengths with padding, for the
    pipelined-executor tests (host and ARM)."""
    rng = np.random.default_rng(5)
    out = []
    for i in range(n):
        ids = rng.integers(1000, 30000, (1, seq - i % 3))
        mask = np.ones_like(ids)
        mask[0, -1 - i % 2:] = 0
        out.append((ids, mask))
    return out


ONNX_ATOL = 1e-6  # the brief's allowance; in practice the weights come back bit-exact


def assert_same_weights(a, b, atol=0.0):
    names_a = [n for n, _ in a.tensors()]
    assert names_a == [n for n, _ in b.tensors()]
    for (name, x), (_, y) in zip(a.tensors(), b.tensors()):
        assert x.dtype == np.float32 and x.flags.c_contiguous, name
        if atol:
            np.testing.assert_allclose(x, y, rtol=0, atol=atol, err_msg=name)
        else:
            assert np.array_equal(x, y), name
    assert a.config == b.config
