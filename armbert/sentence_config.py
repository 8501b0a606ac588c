"""A sentence-transformers model directory's recipe: truncation, pooling, normalization.

Read from the files sentence-transformers saves beside the BERT weights:
``modules.json`` (the module list: Transformer, Pooling, Normalize...),
``sentence_bert_config.json`` (``max_seq_length``, ``do_lower_case``) and the Pooling
module's ``config.json`` (``pooling_mode_*``, ``include_prompt``). A module or pooling
mode armbert does not compute (Dense, weighted-mean, several modes concatenated) is
recorded in ``unsupported``, and :class:`armbert.SentenceEncoder` refuses the model
by name rather than return different vectors.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Optional

from armbert.errors import CheckpointError

POOLINGS = ("mean", "cls", "max", "mean_sqrt_len")
_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "cls",
          "pooling_mode_max_tokens": "max", "pooling_mode_mean_sqrt_len_tokens": "mean_sqrt_len"}
_ST = "sentence_transformers.models."


@dataclass(frozen=True)
class SentenceConfig:
    max_seq_length: Optional[int] = None  # truncation, in tokens ([CLS] and [SEP] included)
    do_lower_case: bool = False
    pooling: str = "mean"
    include_prompt: bool = True
    normalize: bool = True
    unsupported: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        m = self.max_seq_length
        if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m < 2):
            raise CheckpointError(f"sentence config: max_seq_length must be an integer >= 2, "
                                  f"got {m!r}")
        if self.pooling not in POOLINGS:
            raise CheckpointError(f"sentence config: pooling {self.pooling!r} is not one of "
                                  f"{list(POOLINGS)}")
        object.__setattr__(self, "unsupported", tuple(self.unsupported))

    def to_dict(self) -> dict:
        d = asdict(self)
        d["unsupported"] = list(self.unsupported)
        return d

    @classmethod
    def from_dict(cls, d: Mapping) -> "SentenceConfig":
        if not isinstance(d, Mapping):
            raise CheckpointError(f"sentence config: expected an object, got {type(d).__name__}")
        unknown = set(d) - {f for f in cls.__dataclass_fields__}
        if unknown:
            raise CheckpointError(f"sentence config: unknown key(s) {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def from_dir(cls, directory: str | os.PathLike) -> Optional["SentenceConfig"]:
        """The recipe of a sentence-transformers directory; None without modules.json."""
        from armbert.config import read_json

        directory = Path(directory)
        if not (directory / "modules.json").is_file():
            return None
        try:
            modules = json.loads((directory / "modules.json").read_text(encoding="utf-8"))
            kinds = [(str(m["type"]), str(m.get("path", ""))) for m in modules]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CheckpointError(f"{directory / 'modules.json'}: not a module list: {e!r}") from e
        values: dict = {"normalize": False}
        unsupported = []
        pooling_seen = False
        for kind, path in kinds:
            name = kind[len(_ST):] if kind.startswith(_ST) else kind
            if name == "Transformer":
                cfg = directory / path / "sentence_bert_config.json"
                if cfg.is_file():
                    sb = read_json(cfg)
                    values["max_seq_length"] = sb.get("max_seq_length")
                    values["do_lower_case"] = bool(sb.get("do_lower_case", False))
            elif name == "Pooling":
                pooling_seen = True
                pc = read_json(directory / path / "config.json")
                modes = [mode for key, mode in _MODES.items() if pc.get(key)]
                others = sorted(k for k, v in pc.items() if k.startswith("pooling_mode_")
                                and v and k not in _MODES)
                if len(modes) != 1 or others:
                    unsupported.append(f"Pooling with modes {modes + others}")
                else:
                    values["pooling"] = modes[0]
                values["include_prompt"] = bool(pc.get("include_prompt", True))
            elif name == "Normalize":
                values["normalize"] = True
            else:
                unsupported.append(kind)
        if not pooling_seen:
            unsupported.append("no Pooling module")
        return cls(**values, unsupported=tuple(unsupported))
