"""A tiny random BERT (numpy only) for the hardening suites: fast enough to run
thousands of times, big enough that every component has work for two threads."""
from __future__ import annotations

import numpy as np

from armbert.config import BertConfig
from armbert.model import BertModel, LayerWeights

CONFIG = dict(vocab_size=50, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
              intermediate_size=64, max_position_embeddings=64)


def tiny_model(seed: int = 0, **overrides) -> BertModel:
    cfg = BertConfig(**{**CONFIG, **overrides})
    rng = np.random.default_rng(seed)
    h, i = cfg.hidden_size, cfg.intermediate_size

    def w(*shape, scale=0.2):
        return rng.normal(0, scale, shape).astype(np.float32)

    def layer():
        return LayerWeights(w(3 * h, h), w(3 * h), w(h, h), w(h), 1 + w(h, scale=0.05), w(h),
                            w(i, h), w(i), w(h, i), w(h), 1 + w(h, scale=0.05), w(h))

    return BertModel(cfg, w(cfg.vocab_size, h), w(cfg.max_position_embeddings, h),
                     w(cfg.type_vocab_size, h), 1 + w(h, scale=0.05), w(h),
                     [layer() for _ in range(cfg.num_hidden_layers)], w(h, h), w(h),
                     source="tiny")


def random_inputs(rng: np.random.Generator, batch: int, seq: int, vocab: int = 50):
    ids = rng.integers(0, vocab, (batch, seq))
    mask = np.ones_like(ids)
    mask[0, seq // 2 + 1:] = 0
    return ids, mask
