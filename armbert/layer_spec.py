"""The BERT encoder layer as data: its op sequence, written once.

Each step names its op (also the :class:`armbert.layer.EncoderLayer` attribute that
holds it and, for a linear, the suffix of its quantization name ``layer.<i>.<name>``),
its kind, and the buffers it reads and writes in the order its op's ``run`` takes
them: ``h`` the hidden state (updated in place), ``mask`` the additive attention
mask, ``qkv``, ``ctx``, ``tmp`` and ``ffn`` the layer's own activation buffers.
Read by :class:`armbert.layer.EncoderLayer` (binding and running), the quantizer's
list of linears (:func:`armbert.quant.linear_names`), the planner's runner and the
per-op keys of the latency predictors (``planner.measure.OPS``). It imports nothing,
so any module may read it.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class StepSpec:
    """One op of the layer: ``name`` (also the attribute of :class:`EncoderLayer`
    holding it and, for linears, the suffix of its quantization name
    ``layer.<i>.<name>``), ``kind`` (linear, attention, layernorm), the buffers it
    reads and writes in the order its op's ``run`` takes them, and a linear's fused
    activation."""

    name: str
    kind: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    activation: str = "none"


STEPS: tuple[StepSpec, ...] = (
    StepSpec("qkv", "linear", ("h",), ("qkv",)),
    StepSpec("attn", "attention", ("qkv", "mask"), ("ctx",)),
    StepSpec("attn_out", "linear", ("ctx",), ("tmp",)),
    StepSpec("ln1", "layernorm", ("tmp", "h"), ("h",)),
    StepSpec("ffn_in", "linear", ("h",), ("ffn",), "gelu"),
    StepSpec("ffn_out", "linear", ("ffn",), ("tmp",)),
    StepSpec("ln2", "layernorm", ("tmp", "h"), ("h",)),
)
OP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
LINEARS: tuple[str, ...] = tuple(s.name for s in STEPS if s.kind == "linear")


def buffer_widths(hidden: int, inter: int) -> dict[str, int]:
    """Columns of each layer-owned buffer ([B*S, n]) for a layer of these sizes."""
    return {"qkv": 3 * hidden, "ctx": hidden, "tmp": hidden, "ffn": inter}
