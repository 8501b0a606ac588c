"""SentenceEncoder follows the model's sentence-transformers recipe
(armbert/sentence_config.py), and matches sentence-transformers itself (when installed;
it is in the test extra) on the bundled all-MiniLM-L6-v2: fp32 cosine >= ST_MIN_COS for
each of 20 texts of 5 to 700 tokens (measured: min 0.99999994), texts longer than the
model's max_seq_length (256) truncated as sentence-transformers truncates them."""
import json

import numpy as np
import pytest

import armbert
from armbert.errors import UnsupportedError
from armbert.loaders.bundled import model_dir
from armbert.sentence import pool
from armbert.sentence_config import SentenceConfig
from armbert.text import l2_normalize

ST_MIN_COS = 0.9999
WORDS = ("the quick brown fox jumps over a lazy dog while quantized transformers run on "
         "small arm boards in 2026 , and nobody knows why").split()


def texts_of_lengths(n=20, lo=5, hi=700, seed=0):
    """n texts of lo..hi tokens (all-MiniLM's tokenizer; [CLS] and [SEP] included)."""
    tok = armbert.sentence.tokenizer_for(armbert.load())
    rng = np.random.default_rng(seed)
    texts = []
    for target in np.linspace(lo, hi, n).astype(int):
        words = list(rng.choice(WORDS, target))
        while len(words) > 1 and tok(" ".join(words))["input_ids"].shape[1] > target:
            words.pop()
        texts.append(" ".join(words))
    return texts


@pytest.fixture(scope="module")
def minilm_engine():
    return armbert.Engine(armbert.load(), backend="host", precision="fp32")


def test_bundled_recipe_is_read():
    model = armbert.load()
    assert model.sentence == SentenceConfig(max_seq_length=256, do_lower_case=False,
                                            pooling="mean", include_prompt=True,
                                            normalize=True)


def test_matches_sentence_transformers(minilm_engine):
    st = pytest.importorskip("sentence_transformers")
    texts = texts_of_lengths()
    lengths = armbert.sentence.tokenizer_for(minilm_engine.model)(texts)["attention_mask"].sum(1)
    assert lengths.min() <= 8 and lengths.max() >= 650
    ref = st.SentenceTransformer(str(model_dir()), device="cpu").encode(texts)
    enc = armbert.SentenceEncoder(minilm_engine)
    assert enc.max_length == 256
    ours = enc.encode(texts, batch_size=4)
    cos = (ours * ref).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(ref, axis=1)
    print(f"\nsentence-transformers cosine: min {cos.min():.8f} over {len(texts)} texts "
          f"of {lengths.min()}-{lengths.max()} tokens")
    assert cos.min() >= ST_MIN_COS


def test_sorting_and_batching_do_not_change_vectors(minilm_engine, capsys):
    texts = ["short", "a somewhat longer sentence about nothing", "mid length text here",
             "x " * 40, "tiny"]
    enc = armbert.SentenceEncoder(minilm_engine)
    one_by_one = np.concatenate([enc.encode([t]) for t in texts])
    together = enc.encode(texts, batch_size=2, progress=True)
    np.testing.assert_allclose(together, one_by_one, rtol=0, atol=1e-5)
    assert "encode" in capsys.readouterr().err  # the tqdm bar


def test_pooling_modes_and_lower_case(minilm_engine):
    rng = np.random.default_rng(0)
    h = rng.normal(size=(2, 4, 3)).astype(np.float32)
    m = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    np.testing.assert_allclose(pool(h, m, "cls"), h[:, 0])
    np.testing.assert_allclose(pool(h, m, "max")[1], h[1, :2].max(0))
    np.testing.assert_allclose(pool(h, m, "mean_sqrt_len")[0], h[0, :3].sum(0) / np.sqrt(3),
                               rtol=1e-6)
    cfg = SentenceConfig(max_seq_length=16, do_lower_case=True, pooling="cls", normalize=False)
    enc = armbert.SentenceEncoder(minilm_engine, config=cfg)
    v = enc.encode(["HELLO World"])
    ids = enc.tokenizer(["hello world"])
    want = minilm_engine.run(ids["input_ids"]).last_hidden_state[:, 0]
    np.testing.assert_allclose(v, want, rtol=0, atol=1e-6)
    assert not np.isclose(np.linalg.norm(v), 1.0)
    assert np.isclose(np.linalg.norm(l2_normalize(v)), 1.0)


def test_directory_recipes(tmp_path):
    def write(modules, pooling=None, sbert=None):
        (tmp_path / "modules.json").write_text(json.dumps(
            [{"idx": i, "name": str(i), "path": p, "type": f"sentence_transformers.models.{t}"}
             for i, (t, p) in enumerate(modules)]))
        if pooling is not None:
            (tmp_path / "1_Pooling").mkdir(exist_ok=True)
            (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
        if sbert is not None:
            (tmp_path / "sentence_bert_config.json").write_text(json.dumps(sbert))
        return SentenceConfig.from_dir(tmp_path)

    assert SentenceConfig.from_dir(tmp_path) is None  # not a sentence-transformers dir
    cfg = write([("Transformer", ""), ("Pooling", "1_Pooling")],
                {"pooling_mode_cls_token": True, "include_prompt": False},
                {"max_seq_length": 64, "do_lower_case": True})
    assert (cfg.pooling, cfg.normalize, cfg.max_seq_length, cfg.do_lower_case,
            cfg.include_prompt) == ("cls", False, 64, True, False)
    cfg = write([("Transformer", ""), ("Pooling", "1_Pooling"), ("Dense", "2_Dense")],
                {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True})
    assert cfg.unsupported == ("Pooling with modes ['mean', 'max']",
                               "sentence_transformers.models.Dense")
    model = armbert.load()
    model.sentence = cfg
    with pytest.raises(UnsupportedError, match="Dense"):
        armbert.SentenceEncoder(armbert.Engine(model, backend="host"))


def test_embed_pools_on_the_segment_device_when_its_backend_has_the_op(minilm_engine):
    ids = armbert.sentence.tokenizer_for(minilm_engine.model)(["a pooled sentence", "b"])
    vecs = minilm_engine.embed(ids["input_ids"], ids["attention_mask"], pooling="mean",
                               normalize=True)
    placed = minilm_engine.placed[("pool", "mean", True)]
    assert placed.ctx is minilm_engine.segments[-1].ctx and not placed.fallback
    assert "[after] pool on cpu" in minilm_engine.describe()
    hidden = minilm_engine.run(ids["input_ids"], ids["attention_mask"]).last_hidden_state
    want = l2_normalize(pool(hidden, ids["attention_mask"], "mean"))
    np.testing.assert_allclose(vecs, want, rtol=0, atol=1e-6)


def test_embed_falls_back_to_the_host_when_the_backend_lacks_pool(monkeypatch):
    """The engine's fallback path (armbert/placement.py) on this machine: the segment's
    context is made to answer UNSUPPORTED, as NEON and CL do (tests/arm run the real
    ones); the pool then runs on a host context of its own, after a copy."""
    model = armbert.load()
    engine = armbert.Engine(model, backend="host", precision="fp16")
    seg_ctx = engine.segments[-1].ctx
    real = armbert._native.Pool.unsupported.__func__

    def lacks_pool_on_the_segment(cls, ctx, *args):
        return "pool in fp16 is not implemented here" if ctx is seg_ctx else real(cls, ctx, *args)

    monkeypatch.setattr(armbert._native.Pool, "unsupported",
                        classmethod(lacks_pool_on_the_segment))
    ids = armbert.sentence.tokenizer_for(model)(["fall back to the host", "x"])
    vecs = engine.embed(ids["input_ids"], ids["attention_mask"], pooling="max")
    placed = engine.placed[("pool", "max", False)]
    assert placed.fallback and placed.ctx is not seg_ctx and placed.ctx.backend == "host"
    assert placed.op.precision == "fp32"  # the fp16 hidden state is widened on the copy
    assert "fallback: pool in fp16 is not implemented here" in engine.describe()
    hidden = engine.run(ids["input_ids"], ids["attention_mask"]).last_hidden_state
    np.testing.assert_allclose(vecs, pool(hidden, ids["attention_mask"], "max"), rtol=0,
                               atol=1e-6)
    engine.close()
    assert placed.ctx.closed
