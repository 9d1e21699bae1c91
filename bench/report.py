"""The report of a run: the machine, the tables of every case, druva before and
after (``--compare``), as bench/RESULTS.md."""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import os
import platform
import re
import shutil
import subprocess
from collections.abc import Sequence
from typing import Any, Optional

from harness import BENCH, PEERS, ROOT, CaseResult, format_metric

# An absolute path in a command line (`/a/b/name`): its file name is group 1.
ABSOLUTE_PATH = re.compile(r"(?<![\w.~-])/(?:[\w.+-]+/)+([\w.+-]+)")


def read_field(path: str, key: str, separator: str = ":") -> str:
    """The value of the first ``key<separator>value`` line of a file, or "unknown"."""
    try:
        with open(path) as lines:
            for line in lines:
                name, found, value = line.partition(separator)
                if found and name.strip() == key:
                    return value.strip().strip('"')
    except OSError:
        pass
    return "unknown"


def machine() -> list[tuple[str, str]]:
    memory_kib = read_field("/proc/meminfo", "MemTotal").split()[0]
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    rustc = shutil.which("rustc")
    rust_version = "none"
    if rustc:
        done = subprocess.run([rustc, "--version"], capture_output=True, text=True, check=False)
        rust_version = done.stdout.strip()
    versions = []
    for name in PEERS:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    memory = f"{int(memory_kib) / (1 << 20):.1f} GiB" if memory_kib.isdigit() else "unknown"
    os_name = read_field("/etc/os-release", "PRETTY_NAME", "=")
    return [
        ("CPU", read_field("/proc/cpuinfo", "model name")),
        ("cores", f"{os.cpu_count()} logical, {usable} usable by this process"),
        ("memory", memory),
        ("OS", f"{os_name}; {platform.platform()}"),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("Rust (floor)", rust_version),
        ("packages", ", ".join(versions)),
        ("load average at start", ", ".join(f"{value:.2f}" for value in os.getloadavg())),
    ]


def git_head() -> str:
    done = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "unknown"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "| " + " | ".join("---" for _ in headers) + " |",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def goals_heading(results: Sequence[CaseResult]) -> str:
    """The Goals heading, naming the issues that set the goals listed: "(issues 5, 12 and 21)"."""
    issues = [str(issue) for issue in sorted({g.issue for r in results for g in r.goals})]
    if not issues:
        return "## Goals"
    if len(issues) == 1:
        return f"## Goals (issue {issues[0]})"
    return f"## Goals (issues {', '.join(issues[:-1])} and {issues[-1]})"


def before_after(results: Sequence[CaseResult], before: dict[str, Any], source: str) -> list[str]:
    """The goals and druva's own medians of an earlier run against this one's."""
    goal_rows = []
    for result in results:
        earlier = {
            text: measured for text, measured, _ in before.get("goals", {}).get(result.key, [])
        }
        for goal in result.goals:
            if goal.text in earlier:
                goal_rows.append([result.title, goal.text, earlier[goal.text], goal.measured])
    median_rows = []
    for result in results:
        for metric, value in result.druva.items():
            old = before.get("druva", {}).get(result.key, {}).get(metric)
            if old:
                median_rows.append(
                    [
                        result.title,
                        metric,
                        format_metric(metric, old),
                        format_metric(metric, value),
                        f"{value / old:.2f}x",
                    ]
                )
    return [
        "## Before → after",
        "",
        f"Before: `{without_machine_paths(source)}` "
        f"({without_machine_paths(before.get('command', 'unknown command'))}, "
        f"{before.get('when', 'unknown date')}). Ratios within one run are the fair "
        "comparison; absolute medians of two runs on a shared machine are only indicative.",
        "",
        markdown_table(["case", "goal", "before", "after"], goal_rows),
        "",
        markdown_table(
            ["case", "druva's median", "before", "after", "after ÷ before"],
            median_rows,
        ),
        "",
    ]


def without_machine_paths(command: str) -> str:
    """`command` with each absolute path cut to its file name: the report is
    committed, and the folders of the machine that ran it mean nothing there."""
    return ABSOLUTE_PATH.sub(lambda found: found[1], command)


def report(
    results: Sequence[CaseResult],
    command: str,
    arguments: argparse.Namespace,
    about_machine: list[tuple[str, str]],
    elapsed: float,
    before: Optional[dict[str, Any]],
) -> str:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    parts = [
        "# Benchmark results",
        "",
        f"Produced by `{without_machine_paths(command)}` on {now}, in {elapsed:.0f} s, measuring the druva "
        # No path of the machine in the report: it is committed.
        "installed in the virtual environment that ran it "
        f"(source tree at `{git_head()}`)."
        + (" **Smoke run: too few iterations to mean anything.**" if arguments.smoke else ""),
        "",
        "Taken on a shared machine (2 cores, other engineers' builds and tests running): "
        "absolute numbers move from run to run; the clients of a case were sampled in "
        f"alternation, {arguments.repeat} rounds, so their ratios are the fair comparison. "
        "Medians over the rounds, min - max across them; CPU is `time.process_time()` of the "
        "client's own process (all its threads); peak RSS is that process's `ru_maxrss`; "
        "time ÷ druva's is the median of the per-round ratios. FakeDruva ran in its own "
        "process (bench/server.py), every client in another (bench/clients.py).",
        "",
        *[f"{note}\n" for note in arguments.note],
        "## Machine",
        "",
        markdown_table(["", ""], [*about_machine, ("load average at end", load)]),
        "",
        goals_heading(results),
        "",
        markdown_table(
            ["case", "goal", "measured", "status", "issue"],
            [
                [result.title, goal.text, goal.measured, goal.status, str(goal.issue)]
                for result in results
                for goal in result.goals
            ],
        ),
        "",
    ]
    if before is not None:
        parts += before_after(results, before, str(arguments.compare))
    if (BENCH / "PROFILES.md").exists():
        parts += [
            "Profiles of the goals not met, and what would be needed: [PROFILES.md](PROFILES.md).",
            "",
        ]
    for result in results:
        parts += [f"## {result.title}", "", result.about, ""]
        parts += [markdown_table(result.headers, result.rows), ""]
        for note in result.notes:
            parts += [note, ""]
    return "\n".join(parts)
