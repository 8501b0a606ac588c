"""Text in, int32 [batch, seq] arrays out; and the sentence-embedding recipe.

The tokenizer wraps HF ``tokenizers`` (imported lazily: the boards may run on
pre-tokenized ids). The padding and truncation stored in tokenizer.json are
switched off: all-MiniLM's file pads every input to 128, and the engine wants the
batch padded only to its longest member, so we pad here.
"""
from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from armbert.errors import InvalidArgumentError


class Tokenizer:
    def __init__(self, path: str | os.PathLike, max_length: int | None = None) -> None:
        """``path``: a tokenizer.json; ``max_length``: default truncation (None: none)."""
        from tokenizers import Tokenizer as _HFTokenizer

        self.path = str(path)
        try:
            tok = _HFTokenizer.from_file(self.path)
        except Exception as e:  # the Rust library raises plain Exception
            raise InvalidArgumentError(f"{self.path}: not a readable tokenizer.json: {e}") from e
        self._setup(tok, max_length)

    @classmethod
    def from_str(cls, text: str, max_length: int | None = None) -> "Tokenizer":
        """From a tokenizer.json's contents (a model read from an .armbert file)."""
        from tokenizers import Tokenizer as _HFTokenizer

        try:
            tok = _HFTokenizer.from_str(text)
        except Exception as e:  # the Rust library raises plain Exception
            raise InvalidArgumentError(f"not a valid tokenizer.json: {e}") from e
        obj = cls.__new__(cls)
        obj.path = "<tokenizer.json text>"
        obj._setup(tok, max_length)
        return obj

    def _setup(self, tok, max_length: int | None) -> None:
        self._tok = tok
        self._tok.no_padding()
        self._tok.no_truncation()
        self.max_length = max_length
        pad = self._tok.token_to_id("[PAD]")
        self.pad_id = 0 if pad is None else pad

    def __call__(self, texts: str | Sequence[str] | Sequence[tuple[str, str]],
                 max_length: int | None = None) -> dict[str, np.ndarray]:
        """Encode a text, a batch of texts, or a batch of (text, text) pairs.

        Returns int32 ``input_ids``, ``attention_mask``, ``token_type_ids`` [B, S],
        S = the longest encoding (after truncation to ``max_length``).
        """
        if isinstance(texts, str):
            texts = [texts]
        texts = list(texts)
        if not texts:
            raise InvalidArgumentError("cannot tokenize an empty batch")
        limit = max_length if max_length is not None else self.max_length
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
            raise InvalidArgumentError(f"max_length must be an integer, got {limit!r}")
        if limit is not None and limit < 2:
            raise InvalidArgumentError(f"max_length must be >= 2 ([CLS] and [SEP]), got {limit}")
        # The library's own truncation keeps [CLS]/[SEP] and splits pairs longest-first,
        # as transformers does; it is per-object state, so it is set for this call only.
        if limit is None:
            self._tok.no_truncation()
        else:
            self._tok.enable_truncation(max_length=limit)
        try:
            encodings = self._tok.encode_batch(texts)
        except TypeError:  # the library's one message for any text it cannot take
            _name_the_bad_text(texts)
            raise
        finally:
            self._tok.no_truncation()
        rows = [(enc.ids, enc.type_ids) for enc in encodings]
        seq = max(len(ids) for ids, _ in rows)
        out = {k: np.zeros((len(rows), seq), dtype=np.int32)
               for k in ("input_ids", "attention_mask", "token_type_ids")}
        out["input_ids"].fill(self.pad_id)
        for b, (ids, types) in enumerate(rows):
            out["input_ids"][b, :len(ids)] = ids
            out["attention_mask"][b, :len(ids)] = 1
            out["token_type_ids"][b, :len(types)] = types
        return out


def _name_the_bad_text(texts) -> None:
    """After the tokenizer refused a batch: which text, and why (not a string or a
    (text, text) pair; not valid Unicode, e.g. a lone surrogate from undecodable bytes).
    Only on failure, so a batch that tokenizes pays nothing for it."""
    for i, t in enumerate(texts):
        pair = isinstance(t, (tuple, list)) and len(t) == 2 and all(
            isinstance(x, str) for x in t)
        if not (isinstance(t, str) or pair):
            raise InvalidArgumentError(f"text {i} must be a string or a (text, text) "
                                       f"pair, got {type(t).__name__}")
        for x in (t if pair else (t,)):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError as e:
                raise InvalidArgumentError(f"text {i} is not valid Unicode text: {e}; "
                                           "decode the bytes it came from first") from None


def mean_pool(last_hidden_state: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Masked mean over the sequence: [B, S, H], [B, S] -> [B, H] (sentence-transformers)."""
    h = np.asarray(last_hidden_state, dtype=np.float32)
    m = np.asarray(attention_mask).astype(np.float32)
    if h.ndim != 3 or m.shape != h.shape[:2]:
        raise InvalidArgumentError(f"last_hidden_state {h.shape} and attention_mask {m.shape} "
                                   f"do not fit")
    summed = np.einsum("bsh,bs->bh", h, m)
    # sentence-transformers clamps the count at 1e-9 so an all-padding row gives zeros.
    return summed / np.maximum(m.sum(axis=1, keepdims=True), np.float32(1e-9))


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """x / max(||x||, eps) along the last axis (torch.nn.functional.normalize)."""
    x = np.asarray(x, dtype=np.float32)
    norm = np.sqrt(np.sum(x * x, axis=-1, keepdims=True))
    return x / np.maximum(norm, np.float32(eps))
