"""Text in, vectors out: tokenize, run the engine, mean-pool, L2-normalize
(the all-MiniLM-L6-v2 sentence-transformers recipe)."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .engine import Engine
from .errors import InvalidArgumentError
from .text import Tokenizer, l2_normalize, mean_pool


def tokenizer_for(model) -> Tokenizer:
    if not model.tokenizer_path:
        raise InvalidArgumentError(
            f"{model.source or 'this model'} has no tokenizer.json: pass a Tokenizer")
    return Tokenizer(model.tokenizer_path)


class SentenceEncoder:
    def __init__(self, engine: Engine, tokenizer: Optional[Tokenizer] = None,
                 max_length: Optional[int] = None):
        self.engine = engine
        self.tokenizer = tokenizer or tokenizer_for(engine.model)
        self.max_length = max_length or engine.config.max_position_embeddings

    def encode(self, sentences: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """[len(sentences), H] float32 unit vectors."""
        if isinstance(sentences, str):
            sentences = [sentences]
        chunks = []
        for i in range(0, len(sentences), batch_size):
            enc = self.tokenizer(list(sentences[i:i + batch_size]), max_length=self.max_length)
            out = self.engine.run(enc["input_ids"], enc["attention_mask"], enc["token_type_ids"])
            chunks.append(l2_normalize(mean_pool(out.last_hidden_state, enc["attention_mask"])))
        return np.concatenate(chunks).astype(np.float32)
