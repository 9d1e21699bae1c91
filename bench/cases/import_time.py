"""The ``import`` case."""

from __future__ import annotations

from harness import (
    PYTHON,
    CaseResult,
    Context,
    Goal,
    OneShotSampler,
    Sampler,
    alternate,
    druva_medians,
    format_time,
    median,
    time_table,
)

IMPORT_SNIPPET = """\
import sys, time
wall, cpu = time.perf_counter(), time.process_time()
__import__(sys.argv[1])
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
import json, resource
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"wall_s": wall, "cpu_s": cpu, "max_rss_kib": peak}))
"""


def case_import(context: Context) -> CaseResult:
    samplers: list[Sampler] = [
        OneShotSampler(module, [PYTHON, "-I", "-c", IMPORT_SNIPPET, module])
        for module in ["druva", "requests_oauthlib"]
    ]
    samples = alternate("import", samplers, max(context.rounds, 5), context.seconds)
    druva_wall = median([run.wall for run in samples["druva"]])
    goal = Goal("≤ 30 ms", format_time(druva_wall, "ms"), druva_wall <= 0.030)
    labels = {"druva": "`import druva`", "requests_oauthlib": "`import requests_oauthlib`"}
    headers, rows = time_table(samples, labels, "ms", {"druva": goal})
    return CaseResult(
        "import",
        "Import time",
        "A fresh interpreter (`python -I -c`) each time, timing the import statement alone "
        "(interpreter start-up excluded); peak RSS is the whole interpreter's.",
        headers,
        rows,
        [goal],
        druva=druva_medians(samples, ""),
    )
