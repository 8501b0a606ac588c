"""A BERT torch module to ONNX with torch's legacy (TorchScript) exporter: what
armbert's ONNX import is tested on (tests/helpers.py) and what the ONNX Runtime peer
of the host benchmark runs (benchmarks/bench_host.py). Needs torch and onnx.

The legacy exporter wants positional inputs and tuple outputs, while transformers'
BertModel takes keywords and returns a ModelOutput: the module is wrapped.
"""
from __future__ import annotations

import warnings
from pathlib import Path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUTS = ("last_hidden_state", "pooler_output")


def positional(module):
    """``module`` with positional (ids, mask, type ids) inputs and a tuple output."""
    import torch

    class Positional(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.bert = m  # node names read /bert/encoder/layer.N/...

        def forward(self, input_ids, attention_mask, token_type_ids):
            o = self.bert(input_ids=input_ids, attention_mask=attention_mask,
                       token_type_ids=token_type_ids)
            return o.last_hidden_state, o.pooler_output

    # eval() matters: export restores the wrapper's mode afterwards, and a fresh
    # module is in training mode, which would switch dropout on in `module` too.
    return Positional(module).eval()


def export_legacy(module, path, opset: int = 20, example_ids=None) -> Path:
    """Writes ``module`` (a transformers BertModel) to ``path`` with dynamic batch and
    sequence axes; ``example_ids`` (a LongTensor [B, S]) is what it is traced on."""
    import torch

    ids = torch.full((1, 16), 1000, dtype=torch.long) if example_ids is None else example_ids
    axes = {0: "batch", 1: "seq"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # legacy-exporter deprecation and tracer notes
        torch.onnx.export(
            positional(module), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(path),
            dynamo=False, opset_version=opset, input_names=list(INPUTS),
            output_names=list(OUTPUTS),
            dynamic_axes={**{name: axes for name in INPUTS},
                          "last_hidden_state": axes, "pooler_output": {0: "batch"}})
    module.eval()
    return Path(path)
