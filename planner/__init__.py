"""armbert's planner: measure (runners, profiler, records), predict (predictors), evaluate.

    from planner.space import host_space
    from planner.measure import Target
    from planner.runner import ArmbertRunner
    from planner.records import Database
    from planner.profiler import Profiler
    from planner.predictors.bertperf import BERTPerf

    prof = Profiler(ArmbertRunner(Target("host", "fp32", 2, (0, 1))), Database("db.jsonl"))
    bp = BERTPerf().fit(host_space(), prof.meter())
    bp.predict([cfg])            # ms; bp.save("bertperf.json")

See docs/planner.md.
"""
