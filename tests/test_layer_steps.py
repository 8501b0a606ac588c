"""The encoder layer as data (armbert.layer_spec.STEPS) is the one list of its ops:
the layer runs it, the quantizer's linear names, the planner's per-op keys and the
predictors' op shares read it, and running the steps one by one (as the planner's
runner times them) gives the layer's result bit for bit."""
import numpy as np
import pytest

from armbert import _native as nat
from armbert import quant
from armbert.layer import EncoderLayer
from armbert.layer_spec import LINEARS, OP_NAMES, STEPS, buffer_widths
from tests.hardening.tiny import tiny_model


def test_the_table_is_consistent():
    assert OP_NAMES == ("qkv", "attn", "attn_out", "ln1", "ffn_in", "ffn_out", "ln2")
    assert LINEARS == ("qkv", "attn_out", "ffn_in", "ffn_out")
    buffers = set(buffer_widths(8, 16)) | {"h", "mask"}
    written = {"h"}
    for s in STEPS:
        assert set(s.inputs) | set(s.outputs) <= buffers, s
        assert all(b in written or b == "mask" for b in s.inputs), f"{s.name} reads unset"
        written |= set(s.outputs)


def test_every_reader_uses_the_table():
    from planner.measure import OPS
    from planner.search.predicted import DEFAULT_SHARES, GRAPH_OPS
    assert OPS == OP_NAMES
    assert set(DEFAULT_SHARES) == set(OP_NAMES)
    assert {op for op, _ in GRAPH_OPS.values()} <= set(OP_NAMES)
    assert quant.linear_names(2, pooler=True) == [
        f"layer.{i}.{n}" for i in range(2) for n in LINEARS] + ["pooler"]


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_steps_one_by_one_equal_the_layer(precision):
    model = tiny_model()
    with nat.Context("host", threads=2) as ctx:
        layer = EncoderLayer(ctx, 0, model.layers[0], model.config.num_attention_heads,
                             model.config.layer_norm_eps, precision, None)
        assert tuple(s.name for s in layer.steps()) == OP_NAMES
        assert all(s.op is (getattr(layer, s.name).op if s.name in LINEARS
                            else getattr(layer, s.name)) for s in layer.steps())
        batch, seq, hidden = 2, 5, model.config.hidden_size
        x = np.random.default_rng(1).standard_normal((batch * seq, hidden)).astype(np.float32)
        dt = np.float16 if precision == "fp16" else np.float32
        mask = nat.Tensor.from_numpy(ctx, np.zeros((batch, seq), np.float32))
        results = []
        for how in ("run", "calls"):
            h = nat.Tensor.from_numpy(ctx, x.astype(dt))
            if how == "run":
                layer.run(h, mask, batch, seq)
            else:
                calls = layer.calls(h, mask, batch, seq)
                assert [n for n, _ in calls] == list(OP_NAMES)
                for _, call in calls:
                    call()
            results.append(h.numpy().copy())
        np.testing.assert_array_equal(results[0], results[1])
        assert not np.array_equal(results[0], x.astype(dt))


def test_observer_sees_each_linear_input_in_order():
    model = tiny_model()
    seen = []
    with nat.Context("host", threads=1) as ctx:
        layer = EncoderLayer(ctx, 3, model.layers[0], model.config.num_attention_heads,
                             model.config.layer_norm_eps, "fp32", None)
        h = nat.Tensor.from_numpy(ctx, np.ones((4, model.config.hidden_size), np.float32))
        mask = nat.Tensor.from_numpy(ctx, np.zeros((1, 4), np.float32))
        layer.run(h, mask, 1, 4, observe=lambda name, x: seen.append((name, x.shape)))
    h_, i_ = model.config.hidden_size, model.config.intermediate_size
    assert seen == [("layer.3.qkv", (4, h_)), ("layer.3.attn_out", (4, h_)),
                    ("layer.3.ffn_in", (4, h_)), ("layer.3.ffn_out", (4, i_))]


def test_kept_calls_follow_the_shape_and_tensors():
    """calls() keeps its list for the same shape, h and mask (the engine's buffers are
    the same tensors every run) and builds a new one when any of them changes: a layer
    run at S=6, then S=4, then S=6 again gives what a fresh layer gives at each."""
    model = tiny_model()
    cfg = model.config
    rng = np.random.default_rng(2)
    xs = {s: rng.standard_normal((s, cfg.hidden_size)).astype(np.float32) for s in (4, 6)}

    def make(ctx):
        return EncoderLayer(ctx, 0, model.layers[0], cfg.num_attention_heads,
                            cfg.layer_norm_eps, "fp32", None)

    with nat.Context("host", threads=1) as ctx:
        layer = make(ctx)
        masks = {s: nat.Tensor.from_numpy(ctx, np.zeros((1, s), np.float32)) for s in (4, 6)}
        hs = {s: nat.Tensor.from_numpy(ctx, xs[s]) for s in (4, 6)}
        first = layer.calls(hs[6], masks[6], 1, 6)
        assert layer.calls(hs[6], masks[6], 1, 6) is first
        other_h = nat.Tensor.from_numpy(ctx, xs[6])
        assert layer.calls(other_h, masks[6], 1, 6) is not first
        got = {}
        for s in (6, 4, 6):
            h = hs[s]
            h.write(xs[s])
            layer.run(h, masks[s], 1, s)
            got.setdefault(s, []).append(h.numpy().copy())
        for s in (4, 6):
            fresh = make(ctx)
            h = nat.Tensor.from_numpy(ctx, xs[s])
            fresh.run(h, masks[s], 1, s)
            for g in got[s]:
                np.testing.assert_array_equal(g, h.numpy())
            fresh.close()
        layer.close()
