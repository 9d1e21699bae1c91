"""Every process-global of the core and the binding has a fork rule.

A lock held by a thread of the parent at ``os.fork()`` stays locked in the
child forever, so each ``static``, ``thread_local!`` and ``task_local!`` must
say why a fork cannot hang on it. The rules are listed, one line a global, in
the module documentation of ``crates/druva-core/src/runtime.rs``; this test
fails when a global is added without a line there, or a line outlives its
global.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [ROOT / "src", ROOT / "crates" / "druva-core" / "src"]
FORK_RULES = ROOT / "crates" / "druva-core" / "src" / "runtime.rs"

# `static NAME:` at any indentation: plain statics, statics inside a function
# body, and the ones `thread_local!` / `task_local!` declare.
STATIC = re.compile(
    r"^\s*(?:pub(?:\([^)]*\))?\s+)?static\s+(?:mut\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*:", re.M
)
LISTED = re.compile(r"`([A-Z][A-Z0-9_]+)`")


def declared_globals() -> dict[str, Path]:
    found = {}
    for source in SOURCES:
        for path in sorted(source.rglob("*.rs")):
            for name in STATIC.findall(path.read_text(encoding="utf-8")):
                found[name] = path.relative_to(ROOT)
    return found


def fork_rules() -> str:
    """The module documentation of runtime.rs, where the list lives."""
    lines = FORK_RULES.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if line.startswith("//!"))


def test_the_scan_finds_the_globals_it_must() -> None:
    found = declared_globals()
    for name in ["RUNTIME", "GENERATION", "ON_RUNTIME_THREAD", "QUEUE", "CLIENTS", "CACHE"]:
        assert name in found, f"the scan no longer sees {name}: {sorted(found)}"


def test_every_process_global_has_a_fork_rule() -> None:
    rules = fork_rules()
    missing = {
        name: str(path) for name, path in declared_globals().items() if f"`{name}`" not in rules
    }
    assert not missing, (
        f"process-globals without a fork rule in {FORK_RULES.relative_to(ROOT)}: {missing}; "
        "make each lock-free, a PerProcess, or locked only with the GIL, and add its line"
    )


def test_every_fork_rule_names_a_global_that_exists() -> None:
    declared = declared_globals()
    stale = sorted(set(LISTED.findall(fork_rules())) - set(declared))
    assert not stale, f"fork rules for globals that no longer exist: {stale}"
