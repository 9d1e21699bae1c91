"""``druva export``: every item of a list to a file, resumable after any kill.

The output is JSON Lines or CSV. Beside it, ``FILE.state`` records the
arguments that define the list, the paginator's cursor and the output's
length after the last complete page. Each page is committed in this order:
its lines are written, the output is flushed and fsynced, then the state is
written to a temporary file, fsynced and renamed over ``FILE.state`` (and the
directory fsynced where the platform allows). A run killed at any point
leaves a state that describes a prefix of the output made of whole pages; the
next run truncates the output to that prefix and resumes from the cursor, so
the output ends with every item exactly once, in order.

The paging rules themselves (styles, cursors, the end of a list) are the
paginator's (``Session.paginate``); this module only keeps its place.
"""

from __future__ import annotations

import csv
import io
import json
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Optional, Protocol

import druva

__all__ = [
    "EXTRA_COLUMN",
    "FORMATS",
    "ExportError",
    "ExportRefused",
    "ListSpec",
    "Outcome",
    "export",
    "state_path",
]

FORMATS = ("jsonl", "csv")
# The CSV column that holds, as one JSON object, the keys the first item lacks.
EXTRA_COLUMN = "_extra"
STATE_VERSION = 1


class ExportError(Exception):
    """An export that cannot go on (a list CSV cannot hold, a refused cursor)."""


class ExportRefused(ExportError, ValueError):
    """An export refused before any network I/O: the output or its state does
    not match the arguments, or cannot be written."""


@dataclass(frozen=True)
class ListSpec:
    """What defines the list an export holds: a state of any other spec is
    not resumed. ``body`` is the POST body's JSON value; ``region`` and
    ``base_url`` name the cloud (another tenant's list is another list)."""

    path: str
    method: str = "GET"
    params: tuple[tuple[str, str], ...] = ()
    body: Any = None
    items: Optional[str] = None
    format: str = "jsonl"
    region: Optional[str] = None
    base_url: Optional[str] = None

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")

    def to_json(self) -> dict[str, Any]:
        """The spec as the state records it (JSON types only)."""
        return {
            "path": self.path,
            "method": self.method,
            "params": [list(pair) for pair in self.params],
            "body": self.body,
            "items": self.items,
            "format": self.format,
            "region": self.region,
            "base_url": self.base_url,
        }


def state_path(out: Path) -> Path:
    """Where the resume state of the output ``out`` lives: ``out`` + ``.state``."""
    return out.with_name(out.name + ".state")


@dataclass
class State:
    """An export's place: ``length`` bytes of the output hold whole pages, and
    the list goes on from ``cursor`` (``None``: from its first page, or, when
    ``finished``, nowhere: the list is complete)."""

    arguments: dict[str, Any]
    cursor: Optional[str] = None
    length: int = 0
    finished: bool = False
    columns: Optional[list[str]] = None
    items: int = 0
    pages: int = 0
    # How the list pages (``Paginator.style``), to resume it from ``cursor``.
    style: Optional[str] = None

    @property
    def complete(self) -> bool:
        """The list ended with no cursor: there is nothing to poll."""
        return self.finished and self.cursor is None

    def to_json(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "arguments": self.arguments,
            "cursor": self.cursor,
            "length": self.length,
            "finished": self.finished,
            "columns": self.columns,
            "items": self.items,
            "pages": self.pages,
            "style": self.style,
        }

    @classmethod
    def from_json(cls, value: Any, where: Path) -> State:
        not_a_state = ExportRefused(
            f"{where} is not the state of a druva export; --restart starts the export over"
        )
        if not isinstance(value, dict) or value.get("version") != STATE_VERSION:
            raise not_a_state
        try:
            state = cls(
                arguments=value["arguments"],
                cursor=value["cursor"],
                length=value["length"],
                finished=value["finished"],
                columns=value["columns"],
                items=value["items"],
                pages=value["pages"],
                style=value.get("style"),
            )
        except KeyError:
            raise not_a_state from None
        shapes_ok = (
            isinstance(state.arguments, dict)
            and isinstance(state.cursor, (str, type(None)))
            and isinstance(state.style, (str, type(None)))
            and isinstance(state.length, int)
            and state.length >= 0
            and isinstance(state.finished, bool)
            and (state.columns is None or all(isinstance(c, str) for c in state.columns))
        )
        if not shapes_ok:
            raise not_a_state
        return state


def fsync_directory(directory: Path) -> None:
    """Makes a rename in ``directory`` durable, where directories can be
    opened (POSIX); Windows has no such call and needs none."""
    if not hasattr(os, "O_DIRECTORY"):
        return
    descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class Output:
    """The output file and its state, committed page by page."""

    def __init__(self, out: Path, state: State, file: BinaryIO) -> None:
        self.out = out
        self.state = state
        self.file = file
        # What the file holds so far, whole pages and the page in hand.
        self.length = state.length
        self.items = state.items

    @classmethod
    def open(cls, out: Path, spec: ListSpec, state: Optional[State]) -> Output:
        """Opens the output where ``state`` says whole pages end, or, with no
        state, starts a new export. Nothing is sent over the network here."""
        try:
            if state is None:
                # The state first: an output never exists without one.
                state = State(arguments=spec.to_json())
                write_state(out, state)
            file = open_for_update(out)
        except OSError as error:
            raise ExportRefused(f"cannot write {out}: {error.strerror or error}") from None
        file.truncate(state.length)
        file.seek(state.length)
        return cls(out, state, file)

    def write(self, data: bytes) -> None:
        """Writes one item's bytes."""
        self.file.write(data)
        self.length += len(data)
        self.items += 1

    def commit(
        self, cursor: Optional[str], pages: int, *, finished: bool, style: Optional[str]
    ) -> None:
        """Records that what the output holds is ``pages`` whole pages and
        the list goes on from ``cursor`` (of a list paging in ``style``, once
        known): the lines reach the disk first."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.state.cursor = cursor
        self.state.length = self.length
        self.state.items = self.items
        self.state.pages = pages
        self.state.finished = finished
        if style is not None:
            self.state.style = style
        write_state(self.out, self.state)

    def close(self) -> None:
        self.file.close()


def read_state(out: Path, spec: ListSpec, restart: bool) -> Optional[State]:
    """The state to resume ``out`` from, or ``None`` to start over. Refuses,
    saying why, a state of other arguments, an output without its state, or
    an output shorter than its state records."""
    where = state_path(out)
    if out.is_dir():
        raise ExportRefused(f"cannot write {out}: it is a directory")
    if restart:
        return None
    try:
        text = where.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        if out.exists():
            raise ExportRefused(
                f"{out} exists but has no {where.name}, so it is not an export that "
                "can be resumed; --restart overwrites it"
            ) from None
        return None
    except OSError as error:
        raise ExportRefused(f"cannot read {where}: {error.strerror or error}") from None
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    state = State.from_json(value, where)
    differences = describe_differences(state.arguments, spec.to_json())
    if differences:
        raise ExportRefused(
            f"{where} is the state of another export ({differences}); run with the "
            "recorded arguments to resume it, or add --restart to start over"
        )
    size = out.stat().st_size if out.exists() else 0
    if size < state.length:
        raise ExportRefused(
            f"{out} holds {size} bytes, fewer than the {state.length} its state "
            "records: it was changed outside the export; --restart starts over"
        )
    return state


def open_for_update(out: Path) -> BinaryIO:
    """The output opened for reading and writing, created when missing."""
    descriptor = os.open(out, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666)
    return os.fdopen(descriptor, "r+b")


def write_state(out: Path, state: State) -> None:
    """Replaces the state atomically: a temporary file in the same directory,
    fsynced, renamed over the old one."""
    where = state_path(out)
    temporary = where.with_name(where.name + ".tmp")
    data = (json.dumps(state.to_json(), indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    with open(temporary, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, where)
    fsync_directory(where.parent.resolve())


def describe_differences(recorded: dict[str, Any], given: dict[str, Any]) -> str:
    """Which arguments differ, with the recorded and the given value."""
    names = [name for name in given if recorded.get(name) != given[name]]
    names += [name for name in recorded if name not in given]
    return "; ".join(
        f"{name}: recorded {compact(recorded.get(name))}, given {compact(given.get(name))}"
        for name in names
    )


def compact(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Formats


class Format(Protocol):
    def encode(self, item: Any) -> bytes:
        """The item's bytes in the output (the header too, before the first row)."""
        ...


class JsonLines:
    """One JSON value a line (an object for most lists, a string for CEF events)."""

    def encode(self, item: Any) -> bytes:
        return (json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


class CsvRows:
    """One CSV row an item. The columns are the first item's keys, in its
    order, then ``_extra``: the keys it lacks, as one JSON object. A string
    is itself, a missing key or ``null`` an empty cell, any other value (a
    number, a boolean, a list, an object) its JSON."""

    def __init__(self, state: State) -> None:
        self.state = state

    def encode(self, item: Any) -> bytes:
        if not isinstance(item, dict):
            raise ExportError(
                f"a CSV row needs a JSON object, and this list's items are "
                f"{json_type(item)}: export it with --format jsonl"
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        if self.state.columns is None:
            if EXTRA_COLUMN in item:
                raise ExportError(
                    f"the items have a field named {EXTRA_COLUMN!r}, the column CSV export "
                    "keeps for the fields the first item lacks: export it with --format jsonl"
                )
            self.state.columns = list(item)
            writer.writerow([*self.state.columns, EXTRA_COLUMN])
        columns = self.state.columns
        extra = {key: value for key, value in item.items() if key not in columns}
        cells = [cell(item.get(key)) for key in columns]
        writer.writerow([*cells, cell(extra) if extra else ""])
        return buffer.getvalue().encode()


def json_type(value: Any) -> str:
    """What a JSON value is, in JSON's words (plural)."""
    if isinstance(value, str):
        return "strings"
    if isinstance(value, list):
        return "arrays"
    if isinstance(value, bool):
        return "booleans"
    if isinstance(value, (int, float)):
        return "numbers"
    return "nulls" if value is None else type(value).__name__


def cell(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_format(spec: ListSpec, state: State) -> Format:
    return CsvRows(state) if spec.format == "csv" else JsonLines()


# The export


@dataclass
class Outcome:
    """How an export run ended."""

    items: int = 0
    """Items the output holds, in whole pages."""
    pages: int = 0
    """Pages the output holds."""
    written: int = 0
    """Items this run added."""
    complete: bool = False
    """The list ended with no cursor: there is nothing more to get."""
    already_complete: bool = False
    """It had ended before this run, which sent no request."""
    stopped: bool = False
    """``stop`` was set: the run ended after the page in hand."""


Progress = Callable[[int, int], None]


@dataclass
class Export:
    session: druva.Session
    spec: ListSpec
    output: Output
    stop: threading.Event
    progress: Optional[Progress] = None

    def run(self, pages: druva.Paginator, follow: bool, interval: float) -> Outcome:
        """Passes over the list from ``pages`` until it ends (or, with
        ``follow``, until ``stop`` is set, polling a stream every ``interval``
        seconds)."""
        started = self.output.items
        stopped = self.one_pass(pages)
        while follow and not stopped and not self.output.state.complete:
            # A stream: poll it again from its cursor, unless a signal comes.
            stopped = self.stop.wait(interval) or self.one_pass(
                paginate(self.session, self.spec, self.output.state.cursor, self.output.state.style)
            )
        state = self.output.state
        return Outcome(
            items=state.items,
            pages=state.pages,
            written=state.items - started,
            complete=state.complete,
            stopped=stopped,
        )

    def one_pass(self, pages: druva.Paginator) -> bool:
        """Reads the list from the state's cursor to its end, committing each
        page; ``True`` when ``stop`` ended it after the page in hand.

        The paginator counts a page when it takes it, that is, just before it
        hands out the page's first item, and its cursor is then the one that
        page returned. So when a ``next()`` takes a new page, every page
        before it is whole in the output, and the cursor read before that
        ``next()`` resumes the list at the new page: that is the commit."""
        formatter = make_format(self.spec, self.output.state)
        before = self.output.state.pages
        resumed = self.output.state.cursor is not None
        items: Iterator[Any] = iter(pages)
        while True:
            cursor, taken = pages.cursor, pages.pages
            try:
                item = next(items)
            except StopIteration:
                self.output.commit(
                    pages.cursor, before + pages.pages, finished=True, style=pages.style
                )
                return False
            except KeyboardInterrupt:
                # A second signal: stop now. If a new page was taken, the ones
                # before it are whole; otherwise the last commit stands.
                if pages.pages != taken:
                    self.output.commit(cursor, before + taken, finished=False, style=pages.style)
                raise
            except druva.DruvaError as error:
                # The page could not be had; nothing of it was handed out, so
                # every page before it is whole, and the cursor points at it.
                self.output.commit(
                    pages.cursor, before + pages.pages, finished=False, style=pages.style
                )
                if resumed and taken == 0 and refuses_the_cursor(error):
                    raise ExportError(
                        f"the server refused to resume from the saved cursor ({error}); a "
                        "cursor can expire (a Reporting API page token after 5 minutes, an "
                        "events v2 tracker after 48 hours): --restart starts the export over"
                    ) from error
                raise
            if pages.pages != taken:
                if taken:
                    self.output.commit(cursor, before + taken, finished=False, style=pages.style)
                if self.stop.is_set():
                    return True
            self.output.write(formatter.encode(item))
            if self.progress is not None:
                self.progress(self.output.items, before + pages.pages)


def refuses_the_cursor(error: druva.DruvaError) -> bool:
    """Whether the first page from a saved cursor failed the way an expired
    or unknown cursor does (docs/druva-api.md: 400, or 403 for a tracker)."""
    return isinstance(error, druva.HTTPStatusError) and error.status_code in (400, 403)


def paginate(
    session: druva.Session, spec: ListSpec, cursor: Optional[str], style: Optional[str] = None
) -> druva.Paginator:
    """The list's paginator, from ``cursor`` (``None``: the first page) sent
    the way its saved ``style`` says. It checks its arguments here, sending
    nothing."""
    return session.paginate(
        spec.path,
        params=list(spec.params),
        items=spec.items,
        method=spec.method,
        json=spec.body,
        cursor=cursor,
        # A style says how a cursor is sent; before the first page there is none.
        style=style if cursor is not None else None,
    )


def export(
    session: druva.Session,
    out: Path,
    spec: ListSpec,
    *,
    follow: bool = False,
    interval: float = 60.0,
    restart: bool = False,
    stop: Optional[threading.Event] = None,
    progress: Optional[Progress] = None,
) -> Outcome:
    """Writes every item of the list ``spec`` names to ``out``, resuming from
    ``out``'s state when it has one (see the module's docstring).

    With ``follow``, a list that ends with a cursor (a stream) is polled again
    every ``interval`` seconds until ``stop`` is set. Setting ``stop`` ends the
    run after the page in hand, with its state saved. ``progress`` is called
    with the items and pages so far after each item. Raises
    :class:`ExportRefused` before any network I/O when the output cannot be
    resumed or written.
    """
    state = read_state(out, spec, restart)
    if state is not None and state.complete:
        return Outcome(items=state.items, pages=state.pages, complete=True, already_complete=True)
    # Before the output is touched: bad paging arguments leave no file behind.
    if state is None:
        pages = paginate(session, spec, None)
    else:
        try:
            pages = paginate(session, spec, state.cursor, state.style)
        except ValueError as error:
            raise ExportRefused(
                f"{state_path(out)} cannot be resumed ({error}); --restart starts the export over"
            ) from None
    output = Output.open(out, spec, state)
    try:
        run = Export(session, spec, output, stop or threading.Event(), progress)
        return run.run(pages, follow, interval)
    finally:
        output.close()
