"""Text in, vectors out, as sentence-transformers computes them.

The recipe comes from the model (:class:`armbert.sentence_config.SentenceConfig`, read
from the sentence-transformers files of its directory or its ``.armbert`` file):
lower-casing, truncation to ``max_seq_length`` tokens, the pooling (mean, CLS, max,
mean over sqrt(length)) and L2 normalization. Without such files: mean pooling,
normalized, truncated to the model's positions (the all-MiniLM-L6-v2 recipe).
A batch is sorted by token count before it is cut into engine batches, so short
texts are not padded to long ones; the vectors come back in input order.
"""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from . import argcheck
from .engine import Engine
from .errors import InvalidArgumentError, UnsupportedError
from .sentence_config import SentenceConfig
from .text import Tokenizer, mean_pool

# encode() shows a progress bar (tqdm, on stderr) from this many engine batches on.
PROGRESS_BATCHES = 8


def tokenizer_for(model) -> Tokenizer:
    if model.tokenizer_path:
        return Tokenizer(model.tokenizer_path)
    if model.tokenizer_files.get("tokenizer.json"):
        return Tokenizer.from_str(model.tokenizer_files["tokenizer.json"])
    raise InvalidArgumentError(
        f"{model.source or 'this model'} has no tokenizer.json: pass a Tokenizer "
        f"(armbert.Tokenizer('tokenizer.json'); armbert convert --tokenizer FILE)")


def pool(hidden: np.ndarray, mask: np.ndarray, how: str) -> np.ndarray:
    """[B, S, H], [B, S] -> [B, H] as sentence-transformers' Pooling module, in numpy:
    the reference of the native pool op that :meth:`Engine.embed` runs
    (tests/kernels/test_pool.py), and for a hidden state from elsewhere."""
    if how == "mean":
        return mean_pool(hidden, mask)
    if how == "cls":
        return np.asarray(hidden[:, 0, :], dtype=np.float32)
    m = np.asarray(mask).astype(np.float32)[:, :, None]
    if how == "max":  # padding set to -1e9 first, as sentence-transformers does
        return np.where(m > 0, hidden, np.float32(-1e9)).max(axis=1).astype(np.float32)
    if how == "mean_sqrt_len":
        return (np.einsum("bsh,bs->bh", hidden, m[:, :, 0])
                / np.sqrt(np.maximum(m.sum(axis=1), np.float32(1e-9)))).astype(np.float32)
    raise InvalidArgumentError(f"unknown pooling {how!r}")


class SentenceEncoder:
    def __init__(self, engine: Engine, tokenizer: Optional[Tokenizer] = None,
                 max_length: Optional[int] = None, config: Optional[SentenceConfig] = None):
        """``config`` overrides the model's recipe; ``max_length`` its max_seq_length."""
        self.engine = engine
        self.config = config or engine.model.sentence or SentenceConfig()
        if self.config.unsupported:
            raise UnsupportedError(
                f"{engine.model.source or 'this model'}: sentence-transformers module(s) "
                f"{', '.join(self.config.unsupported)} are not computed by armbert")
        self.tokenizer = tokenizer or tokenizer_for(engine.model)
        positions = engine.config.max_position_embeddings
        if max_length is not None:  # 0 would mean "the default", -5 fail at encode
            argcheck.integer(max_length, "max_length", minimum=2, maximum=positions)
        self.max_length = min(max_length or self.config.max_seq_length or positions, positions)

    def encode(self, sentences: Sequence[str], batch_size: int = 32,
               progress: Optional[bool] = None) -> np.ndarray:
        """[len(sentences), H] float32 (unit vectors when the recipe normalizes); an
        empty list gives a [0, H] array.

        ``progress``: a tqdm bar; None shows one from PROGRESS_BATCHES batches on."""
        if isinstance(sentences, str):
            sentences = [sentences]
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InvalidArgumentError(f"batch_size must be an integer >= 1, got {batch_size!r}")
        sentences = list(sentences)
        if not all(isinstance(s, str) for s in sentences):
            bad = next(s for s in sentences if not isinstance(s, str))
            raise InvalidArgumentError(f"sentences must be strings, got {type(bad).__name__}")
        texts = [s.lower() if self.config.do_lower_case else s for s in sentences]
        if not texts:  # as sentence-transformers: no sentences, no vectors
            return np.empty((0, self.engine.config.hidden_size), np.float32)
        enc = self.tokenizer(texts, max_length=self.max_length)
        lengths = enc["attention_mask"].sum(axis=1)
        order = np.argsort(-lengths, kind="stable")
        starts = range(0, len(texts), batch_size)
        if progress or (progress is None and len(starts) >= PROGRESS_BATCHES):
            from tqdm import tqdm
            starts = tqdm(starts, desc="encode", unit="batch")
        out = np.empty((len(texts), self.engine.config.hidden_size), np.float32)
        for i in starts:
            rows = order[i:i + batch_size]
            seq = int(lengths[rows].max())
            ids, mask, types = (enc[k][rows, :seq] for k in
                                ("input_ids", "attention_mask", "token_type_ids"))
            out[rows] = self.engine.embed(ids, mask, types, self.config.pooling,
                                          self.config.normalize)
        return out
