"""Searches over plans: pipeline splits (PipeBERT), CPU/GPU mappings (ASAP'22),
per-layer precision under an accuracy budget, scored by latency, throughput or
energy. Searches know devices by name and measure through callbacks:

- pipeline.py     binary_search / exhaustive_search (measure(plan) -> {stage: ms})
- split.py        chain_dp / genetic_search / exhaustive_search (per-op costs + transfers)
- precision.py    measure_sensitivity, search_precision (deviation(plan) callback)
- objectives.py   latency, throughput, energy, EDP; power sensors (hwmon, --power-cmd)
- costs.py        JSON cost tables; kirin970() from the papers' published numbers
- kirin970.py     the PipeBERT search on kirin970(), against the paper
- measure_engine.py  the callbacks on armbert's engine; Gantt charts
- predicted.py    cost tables from fitted latency predictors (armbert plan --predictor)
- cli.py          `armbert plan` (plan_main)
"""
from .costs import CostTable, kirin970
from .kirin970 import kirin970_report
from .objectives import OBJECTIVES, find_power_sensor, measure_energy, score
from .pipeline import (PipelineResult, Split, TableMeasure, binary_search, exhaustive_search,
                       split_plan)
from .precision import Budget, Deviation, Sensitivity, measure_sensitivity, search_precision
from .split import (GASettings, MappingProblem, OpGraph, bert_layer_graph, chain_dp,
                    genetic_search, makespan)

__all__ = [
    "OBJECTIVES", "Budget", "CostTable", "Deviation", "GASettings", "MappingProblem", "OpGraph",
    "PipelineResult", "Sensitivity", "Split", "TableMeasure", "bert_layer_graph", "binary_search",
    "chain_dp", "exhaustive_search", "find_power_sensor", "genetic_search", "kirin970",
    "kirin970_report", "makespan", "measure_energy", "measure_sensitivity", "score",
    "search_precision", "split_plan",
]
