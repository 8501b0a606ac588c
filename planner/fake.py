"""A synthetic device for tests and dry runs (nn-Meter's fake backend)."""
from __future__ import annotations

from typing import Callable, Mapping

import numpy as np

from .measure import OPS, Sample, Target
from .space import Bundle, ModelConfig, layer_features


class FakeRunner:
    """A synthetic device: latency from FLOPs, bytes and a cache model, plus noise.

    Deterministic given ``seed``; returns times without sleeping. Its cache model
    (an LLC hit fraction that falls with the bytes a layer's weights wait between
    uses, with a smoothed edge, plus a lower L2 step) is deliberately not the
    functional form any predictor assumes, so tests on it are not circular.
    """

    def __init__(self, target: Target = Target(), seed: int = 0, noise: float = 0.004,
                 spike_prob: float = 0.0, spike: float = 0.25, gflops: float = 120.0,
                 llc: float = 32 * 2 ** 20, l2: float = 2 ** 20, dram_gbs: float = 18.0,
                 copy_gbs: float = 8.0, copy_overhead_ms: float = 0.003):
        self.target, self.seed, self.noise = target, seed, noise
        self.spike_prob, self.spike = spike_prob, spike
        self.gflops, self.llc, self.l2, self.dram_gbs = gflops, llc, l2, dram_gbs
        self.copy_gbs, self.copy_overhead_ms = copy_gbs, copy_overhead_ms
        self.opened: list[ModelConfig] = []
        self._rng = np.random.default_rng(seed)

    def window_probe(self):
        """No machine counters: nothing the fake device does runs on this machine."""
        from .measure import WindowProbe
        return WindowProbe(stat=lambda: None)

    def fingerprint(self) -> dict:
        return {"id": f"fake-{self.seed}", "machine": "fake", "cpu_model": "FakeRunner",
                "cpus": 2, "caches": [{"level": "3", "type": "Unified",
                                       "size": f"{int(self.llc) >> 10}K"}]}

    # -- the synthetic device's latency model (ms, noiseless) --
    def _ops_hot_ms(self, b: Bundle) -> dict[str, float]:
        M, H, I, A, S = b.B * b.S, b.H, b.I, b.A, b.S

        def gemm(m, n, k):
            # efficiency falls for small m and for n off a 256 grid (tiles), as kernels do
            eff = (m / (m + 24.0)) * (n / (n + 96.0)) * (1.0 if n % 256 == 0 else 0.93)
            return 2.0 * m * n * k / (self.gflops * 1e6 * eff) + 0.004

        attn = (4.0 * b.B * S * S * H / (self.gflops * 1e6 * 0.45)
                + b.B * A * S * S * 6e-7 + 0.002 * A)
        ln = 2.0 * M * H * 1.5e-6 + 0.003
        return {"qkv": gemm(M, 3 * H, H), "attn": attn, "attn_out": gemm(M, H, H), "ln1": ln,
                "ffn_in": gemm(M, I, H) * 1.06, "ffn_out": gemm(M, H, I), "ln2": ln}

    def _cold(self, b: Bundle, L: int, first: bool) -> float:
        """Fraction of a layer's weights that miss in the LLC in an L-deep model."""
        f = layer_features(b.to_dict(), self.target.precision)
        dist = L * (f["weight_bytes"] + 0.5 * f["act_bytes"]) + (0.3e6 if first else 0.0)
        llc_miss = np.clip((dist - 0.6 * self.llc) / (1.1 * self.llc), 0.0, 1.0) ** 1.3
        l2_hit = 0.15 * np.exp(-dist / self.l2)
        return float(np.clip(llc_miss - l2_hit, -0.2, 1.0))

    def model_ms(self, cfg: ModelConfig) -> Sample:
        b = cfg.bundle
        hot = self._ops_hot_ms(b)
        wbytes = {"qkv": 3 * b.H * b.H, "attn_out": b.H * b.H, "ffn_in": b.H * b.I,
                  "ffn_out": b.H * b.I}
        wb = {"fp32": 4, "fp16": 2, "int8": 1}[self.target.precision]
        M = b.B * b.S

        def layer(first: bool) -> dict[str, float]:
            cold = self._cold(b, cfg.L, first)
            exposed = 1.0 / (1.0 + M / 256.0)  # more compute per byte hides more stall
            return {o: hot[o] + (wbytes.get(o, 0) * wb / (self.dram_gbs * 1e6)) * cold * exposed
                    * (1.15 if first else 1.0) for o in OPS}

        l1, lr = layer(True), layer(False)
        emb = 0.002 + M * b.H * 2e-6 * (1.0 + 0.8 * min(1.0, cfg.L / 6.0))
        out = {"emb": emb, "enc1": sum(l1.values())}
        out.update({f"enc1.{o}": v for o, v in l1.items()})
        if cfg.L > 1:
            out["enc_rest"] = sum(lr.values())
            out.update({f"enc_rest.{o}": v for o, v in lr.items()})
        out["total"] = emb + out["enc1"] + (cfg.L - 1) * out.get("enc_rest", 0.0)
        return out

    def _noisy(self, base: Mapping[str, float]) -> Sample:
        f = float(np.exp(self._rng.normal(0.0, self.noise)))
        if self.spike_prob and self._rng.random() < self.spike_prob:
            f *= 1.0 + self.spike
        return {k: v * f * 1e-3 for k, v in base.items()}

    def open(self, cfg: ModelConfig, per_op: bool = True):
        self.opened.append(cfg)
        base = self.model_ms(cfg)
        if not per_op:
            base = {k: v for k, v in base.items() if "." not in k}
        return _FakeSession(lambda: self._noisy(base))

    def open_ops(self, bundle: Bundle) -> dict[str, Callable[[], Sample]]:
        hot = self._ops_hot_ms(bundle)
        emb = 0.002 + bundle.B * bundle.S * bundle.H * 2e-6
        items = {"emb": emb, **hot}
        return {k: (lambda v=v: self._noisy({"total": v})) for k, v in items.items()}

    copy_method = "fake device (synthetic copy rate)"

    def open_copy(self, rows: int, hidden: int) -> Callable[[], Sample]:
        """A hidden-state copy at ``copy_gbs`` plus ``copy_overhead_ms``, noiseless
        (so measuring it draws nothing from the measurement noise)."""
        ms = self.copy_overhead_ms + rows * hidden * 4 / (self.copy_gbs * 1e6)
        return lambda: {"total": ms * 1e-3}


class _FakeSession:
    def __init__(self, fn):
        self.run = fn
