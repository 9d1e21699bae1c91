"""Druva's Microsoft Sentinel connector, in our own words: three streams
(Cyber Resilience security events, Platform events v2 with
``ignoreTrackerExpiry=True``, inSync events v2) polled side by side for
months. Here each is the README's ``druva export --follow`` command, the
three processes sharing one token through ``DRUVA_TOKEN_CACHE``, killed at
random and restarted while events arrive: every event ends up in its
stream's files exactly once, in order."""

from __future__ import annotations

import os
import random
import re
import shlex
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from druva import _export
from druva.testing import FakeDruva

from ..test_cli import DRUVA
from ..test_export import environment, read_jsonl, read_state, the_whole_list

README = Path(__file__).resolve().parents[2] / "README.md"
# The README's interval and rotation, shortened so that a test sees many of both.
QUICK = {"--interval": "0.05", "--rotate-bytes": "30000"}
ROUNDS = int(os.environ.get("DRUVA_SENTINEL_ROUNDS", "6"))


@dataclass
class Feed:
    """One stream's ``druva export`` command, as the README writes it."""

    arguments: list[str]
    processes: int = 0
    child: subprocess.Popen[bytes] | None = None
    history: int = 0
    expected: list[Any] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.arguments[0]

    @property
    def out(self) -> Path:
        return Path(self.arguments[self.arguments.index("--out") + 1])

    @property
    def params(self) -> dict[str, str]:
        pairs = [
            self.arguments[i + 1].split("=", 1)
            for i, word in enumerate(self.arguments)
            if word == "--param"
        ]
        return {key: value for key, value in pairs}


def readme_feed() -> tuple[dict[str, str], list[list[str]]]:
    """The SIEM section's variables and ``druva export`` commands."""
    text = README.read_text(encoding="utf-8")
    section = text.split("### A SIEM feed that runs for months", 1)[1]
    block = re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL)[0]
    variables: dict[str, str] = {}
    commands = []
    for line in block.replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        if words[0] == "export":
            name, _, value = words[1].partition("=")
            variables[name] = value
        else:
            commands.append(words)
    return variables, commands


def feeds_in(directory: Path) -> list[Feed]:
    _, commands = readme_feed()
    feeds = []
    for command in commands:
        assert command[:2] == ["druva", "export"]
        arguments = command[2:]
        for option, value in QUICK.items():
            arguments[arguments.index(option) + 1] = value
        out = arguments.index("--out") + 1
        arguments[out] = str(directory / arguments[out])
        feeds.append(Feed(arguments))
    return feeds


def every_item(out: Path) -> list[Any]:
    """A stream's items across its output and the files it was rotated to."""
    files = [*_export.rotated_files(out), out]
    return [item for path in files if path.exists() for item in read_jsonl(path)]


def caught_up(feed: Feed) -> bool:
    state = _export.state_path(feed.out)
    if not state.exists():
        return False
    saved = read_state(feed.out)
    return bool(saved["finished"]) and not saved["skipping"]


def wait_until(condition: Any, feeds: list[Feed], what: str) -> None:
    """Waits, bounded, for ``condition``; every feed must stay alive meanwhile."""
    deadline = time.monotonic() + 120
    while not condition():
        for feed in feeds:
            assert feed.child is not None and feed.child.poll() is None, (
                f"{feed.path} ended: {feed.child and feed.child.communicate()[1]!r}"
            )
        assert time.monotonic() < deadline, f"never {what}"
        time.sleep(0.02)


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[tuple[FakeDruva, list[Feed], dict[str, str]]]:
    variables, _ = readme_feed()
    tokens = tmp_path / "tokens"
    # Druva's throttle as the connector meets it: at most 10 requests a second.
    with FakeDruva(users=200, rate_limit=10) as fake:
        env = {**environment(fake), "_DRUVA_EXPORT_BACKOFF_SCALE": "0.01"}
        env.update({name: str(tokens) for name in variables})  # DRUVA_TOKEN_CACHE
        feeds = feeds_in(tmp_path)
        try:
            yield fake, feeds, env
        finally:
            for feed in feeds:
                if feed.child is not None and feed.child.poll() is None:
                    feed.child.kill()
                    feed.child.wait()


def start(feed: Feed, env: dict[str, str]) -> None:
    feed.child = subprocess.Popen(
        [DRUVA, "export", *feed.arguments],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    feed.processes += 1


def test_three_streams_followed_side_by_side_hold_every_event_once_through_kills(
    sentinel: tuple[FakeDruva, list[Feed], dict[str, str]],
) -> None:
    fake, feeds, env = sentinel
    seed = int(os.environ.get("DRUVA_EXPORT_SEED", random.SystemRandom().randrange(2**32)))
    print(f"seed {seed} (DRUVA_EXPORT_SEED={seed} repeats this run)")
    rng = random.Random(seed)
    assert [feed.path for feed in feeds] == [
        "/realize/eventmanagement/v1/events/tracker",
        "/platform/eventmanagement/v2/events",
        "/insync/eventmanagement/v2/events",
    ]
    for feed in feeds:
        feed.history = len(the_whole_list(fake, feed.path, params=feed.params))
    # This process has its token (its own: it shares no store); the feeds'
    # token requests are counted from here.
    token_requests = fake.token_requests
    for feed in feeds:
        start(feed, env)
    # --from-now: each reads its history and writes none of it.
    wait_until(lambda: all(caught_up(feed) for feed in feeds), feeds, "caught up")
    assert all(every_item(feed.out) == [] for feed in feeds)

    for _ in range(ROUNDS):
        fake.add_events(rng.randint(100, 600))
        time.sleep(rng.uniform(0.0, 0.3))  # a random point of the writing, not an assertion
        for feed in rng.sample(feeds, rng.randint(1, len(feeds))):
            assert feed.child is not None
            feed.child.kill()
            feed.child.wait()
            start(feed, env)

    for feed in feeds:
        feed.expected = the_whole_list(fake, feed.path, params=feed.params)[feed.history :]
    wait_until(
        lambda: all(len(every_item(feed.out)) >= len(feed.expected) for feed in feeds),
        feeds,
        "wrote every new event",
    )
    for feed in feeds:
        assert feed.child is not None
        feed.child.send_signal(signal.SIGTERM)
        _, stderr = feed.child.communicate(timeout=60)
        assert feed.child.returncode == 0, f"seed {seed}: {feed.path}: {stderr.decode()}"

    for feed in feeds:
        got = every_item(feed.out)
        assert len(got) == len(feed.expected), f"seed {seed}: {feed.path}"
        for index, (item, wanted) in enumerate(zip(got, feed.expected)):
            assert item == wanted, f"seed {seed}: {feed.path}: item {index + 1}"
    # One token for every process of the three feeds, through DRUVA_TOKEN_CACHE.
    processes = sum(feed.processes for feed in feeds)
    assert fake.token_requests - token_requests == 1, f"{processes} processes"
