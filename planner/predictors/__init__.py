"""Latency predictors: BERTPerf, two baselines (operator-wise sum, MLP) and ours."""
from .base import REGISTRY, Predictor, from_dict, load, predictor_class

__all__ = ["REGISTRY", "Predictor", "from_dict", "load", "predictor_class"]
