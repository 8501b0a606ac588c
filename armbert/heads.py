"""Task heads of transformers' BERT classes, read beside the encoder.

Three heads are run (each one linear layer after the encoder, as in transformers):

* ``sequence_classification`` (BertForSequenceClassification): ``classifier`` on the
  pooler output -> ``Output.logits`` [B, labels];
* ``token_classification`` (BertForTokenClassification): ``classifier`` on every token
  -> ``Output.logits`` [B, S, labels];
* ``question_answering`` (BertForQuestionAnswering): ``qa_outputs`` (2 outputs) on every
  token -> ``Output.start_logits`` and ``Output.end_logits`` [B, S].

A checkpoint with any other head (BertForMaskedLM, BertForMultipleChoice, ...) is
refused by name rather than loaded without it; ``task="encoder"`` loads its encoder
alone, on purpose.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional

import numpy as np

from armbert.errors import CheckpointError

TASKS = {
    "BertForSequenceClassification": "sequence_classification",
    "BertForTokenClassification": "token_classification",
    "BertForQuestionAnswering": "question_answering",
}
ENCODER = "encoder"
_MODULE = {"sequence_classification": "classifier", "token_classification": "classifier",
           "question_answering": "qa_outputs"}
# Buffers transformers keeps in state dicts; never weights of a head.
_BUFFERS = ("position_ids", "token_type_ids")


@dataclass(frozen=True)
class TaskHead:
    task: str                 # one of the values of TASKS
    weight: np.ndarray        # float32 [labels, H]
    bias: np.ndarray          # float32 [labels]
    id2label: Mapping[int, str] = field(default_factory=dict)

    @property
    def num_labels(self) -> int:
        return int(self.weight.shape[0])

    def validate(self, hidden: int, has_pooler: bool, source: str) -> "TaskHead":
        if self.task not in _MODULE:
            raise CheckpointError(f"{source}: unknown task {self.task!r} "
                                  f"(armbert runs {sorted(_MODULE)})")
        w, b = self.weight, self.bias
        for name, a, shape in (("weight", w, (w.shape[0], hidden)), ("bias", b, (w.shape[0],))):
            if not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != shape \
                    or not a.flags.c_contiguous or not np.isfinite(a).all():
                raise CheckpointError(f"{source}: {self.task} head {name} must be finite "
                                      f"C-contiguous float32 {list(shape)}")
        if w.shape[0] < 1:
            raise CheckpointError(f"{source}: {self.task} head has no outputs")
        if self.task == "question_answering" and w.shape[0] != 2:
            raise CheckpointError(f"{source}: question_answering head has {w.shape[0]} "
                                  f"outputs, expected 2 (start, end)")
        if self.task == "sequence_classification" and not has_pooler:
            raise CheckpointError(f"{source}: sequence_classification reads the pooler "
                                  f"output, and this checkpoint has no pooler")
        return self

    def to_meta(self) -> dict:
        return {"task": self.task, "id2label": {str(k): v for k, v in self.id2label.items()}}


def labels_of(id2label: Optional[Mapping], num_labels: int) -> dict[int, str]:
    """{int: str} from an HF config's id2label (JSON turns its keys into strings)."""
    try:
        out = {int(k): str(v) for k, v in dict(id2label or {}).items()}
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"config: id2label is not a map of label ids: {e}") from e
    return out if sorted(out) == list(range(num_labels)) else \
        {i: f"LABEL_{i}" for i in range(num_labels)}


def architecture_of(raw: Mapping, source: str) -> Optional[str]:
    """The transformers class a config.json names (``architectures``: a list, its first
    entry; a bare string is taken as that entry), or None."""
    arch = raw.get("architectures")
    if isinstance(arch, (list, tuple)):
        arch = arch[0] if arch else None
    if arch is not None and not isinstance(arch, str):
        raise CheckpointError(f"{source}: config.json architectures must name classes, "
                              f"got {raw.get('architectures')!r}")
    return arch


# The encoder's own modules under its prefix; any other tensor belongs to a head.
_ENCODER_MODULES = ("embeddings.", "encoder.", "pooler.")


def read_head(sd: Mapping[str, np.ndarray], prefix: str, source: str, task: Optional[str],
              architecture: Optional[str], id2label: Optional[Mapping]) -> Optional[TaskHead]:
    """The head of a state dict whose encoder sits under ``prefix`` (``bert.``), or None.

    ``task``: None (from ``architecture``, the transformers class name), ``"encoder"``
    (no head, whatever the checkpoint holds) or one of the values of TASKS.
    """
    if task is not None and task != ENCODER and task not in _MODULE:
        raise CheckpointError(f"unknown task {task!r}: choose one of "
                              f"{[ENCODER, *sorted(_MODULE)]}")
    if task == ENCODER:
        return None
    outer = prefix[:-len("bert.")] if prefix.endswith("bert.") else prefix
    if task is None:
        task = TASKS.get(architecture or "")
    if task is None:
        extra = sorted(k for k in sd if not k.startswith(
            tuple(prefix + m for m in _ENCODER_MODULES))
                       and k.rsplit(".", 1)[-1] not in _BUFFERS)
        named = architecture and architecture.startswith("Bert") and architecture != "BertModel"
        if extra or named:
            what = architecture or "this checkpoint"
            shown = f" (tensors {', '.join(extra[:4])}{', ...' if len(extra) > 4 else ''})" \
                if extra else ""
            raise CheckpointError(
                f"{source}: {what} has a head armbert does not run{shown}; armbert runs "
                f"BertModel, {', '.join(TASKS)}. Pass task='encoder' (armbert "
                f"run/bench/convert --task encoder) to load the encoder alone")
        return None
    module = outer + _MODULE[task]
    w, b = sd.get(f"{module}.weight"), sd.get(f"{module}.bias")
    if w is None or b is None:
        raise CheckpointError(f"{source}: task {task} needs {module}.weight and "
                              f"{module}.bias, which the checkpoint lacks")
    w = np.ascontiguousarray(np.asarray(w), dtype=np.float32)
    b = np.ascontiguousarray(np.asarray(b), dtype=np.float32)
    labels = labels_of(id2label, w.shape[0]) if task != "question_answering" else \
        {0: "start", 1: "end"}
    return TaskHead(task, w, b, labels)
