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

A collector that runs for months keeps to the same order. ``FILE.lock``
holds an exclusive lock while a run writes, so a second export of the same
FILE is refused. ``--rotate-bytes`` renames a full FILE to
``FILE.<UTC time>`` at a page boundary, recording the new name in the state
before the rename, so a kill on either side of it finishes the rotation on
the next run. ``--from-now`` reads a stream to its end without writing
(recorded as ``skipping``) before it writes what arrives. With ``follow``, a
failure that time may cure (the network, a 5xx, a 429, a refused token) is
reported and retried after a backoff, the state untouched.

The paging rules themselves (styles, cursors, the end of a list) are the
paginator's (``Session.paginate``); this module only keeps its place.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, Optional, Protocol

import druva

__all__ = [
    "EXTRA_COLUMN",
    "FORMATS",
    "CursorRefused",
    "ExportError",
    "ExportRefused",
    "ListSpec",
    "Outcome",
    "backoff_delay",
    "export",
    "is_transient",
    "lock_path",
    "rotated_files",
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


class CursorRefused(ExportError):
    """The server refused with a 403 the saved cursor a run resumed from: an
    events tracker it no longer keeps."""


# Parameters that say how a stream resumes, not which stream it is: Druva's
# answer to an expired tracker is to resume anyway with this one.
RESUME_PARAMS = ("ignoreTrackerExpiry",)


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
    # A declared paging style (``paginate``'s ``cursor_field``, ...): ``None``
    # lets the paginator's table find the style.
    cursor_field: Optional[str] = None
    cursor_param: Optional[str] = None
    keep_params: bool = False

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {self.format!r}")

    def paging(self) -> dict[str, Any]:
        """The declared style as ``paginate``'s keyword arguments (none when
        nothing is declared)."""
        if self.cursor_field is None and self.cursor_param is None:
            return {}
        return {
            "cursor_field": self.cursor_field,
            "cursor_param": self.cursor_param,
            "keep_params": self.keep_params,
        }

    def to_json(self) -> dict[str, Any]:
        """The spec as the state records it (JSON types only); a declared
        style only when there is one, so older states still match. A
        parameter that says how to resume, not which list, is left out: it
        may be added to resume a state."""
        return {
            "path": self.path,
            "method": self.method,
            "params": [list(pair) for pair in self.params if pair[0] not in RESUME_PARAMS],
            "body": self.body,
            "items": self.items,
            "format": self.format,
            "region": self.region,
            "base_url": self.base_url,
            **self.paging(),
        }


def state_path(out: Path) -> Path:
    """Where the resume state of the output ``out`` lives: ``out`` + ``.state``."""
    return out.with_name(out.name + ".state")


def lock_path(out: Path) -> Path:
    """The file a run holds locked while it writes ``out``: ``out`` + ``.lock``.
    It is never removed (removing a lock file lets two runs lock two files)."""
    return out.with_name(out.name + ".lock")


# A rotated output's suffix: its UTC time, and a number when that name was taken.
ROTATED_SUFFIX = re.compile(r"\.(\d{8}T\d{6}Z)(?:\.(\d+))?")


def rotated_files(out: Path) -> list[Path]:
    """The files ``out`` was rotated to, oldest first."""
    found = []
    for path in out.parent.iterdir():
        suffix = rotated_suffix(out.name, path.name)
        if suffix is not None:
            found.append((suffix.group(1), int(suffix.group(2) or 0), path))
    return [path for *_, path in sorted(found)]


def rotated_suffix(out_name: str, name: str) -> Optional[re.Match[str]]:
    """The time (and number) of ``name`` when it is a name the output
    ``out_name`` is rotated to, beside it (never a path elsewhere)."""
    if not name.startswith(out_name):
        return None
    return ROTATED_SUFFIX.fullmatch(name[len(out_name) :])


def rotation_target(out: Path, now: datetime) -> Path:
    """A free name to rotate ``out`` to: ``out.<UTC YYYYmmddTHHMMSSZ>``, with
    ``.1``, ``.2``... added while the name is taken."""
    stamped = f"{out.name}.{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"
    for number in range(MAX_ROTATIONS_A_SECOND):
        target = out.with_name(stamped if number == 0 else f"{stamped}.{number}")
        if not os.path.lexists(target):
            return target
    raise ExportError(f"cannot rotate {out}: every name {stamped}.N is taken")


MAX_ROTATIONS_A_SECOND = 100_000


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
    # The name the output is being rotated to: recorded before the rename,
    # cleared once a new output is begun.
    rotating: Optional[str] = None
    # ``--from-now``'s first pass: the list is read to its end, not written.
    skipping: bool = False

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
            "rotating": self.rotating,
            "skipping": self.skipping,
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
                rotating=value.get("rotating"),
                skipping=value.get("skipping", False),
            )
        except KeyError:
            raise not_a_state from None
        shapes_ok = (
            isinstance(state.arguments, dict)
            and isinstance(state.cursor, (str, type(None)))
            and isinstance(state.style, (str, type(None)))
            and all(is_count(count) for count in (state.length, state.items, state.pages))
            and isinstance(state.finished, bool)
            and isinstance(state.skipping, bool)
            and (
                state.columns is None
                or (
                    isinstance(state.columns, list)
                    and all(isinstance(column, str) for column in state.columns)
                )
            )
            and (state.rotating is None or is_rotation_name(state.rotating, where))
        )
        if not shapes_ok:
            raise not_a_state
        return state


def is_count(value: Any) -> bool:
    """A whole number of bytes, items or pages (JSON's ``true`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def is_rotation_name(name: Any, state: Path) -> bool:
    """A name the output of ``state`` could have been rotated to."""
    out_name = state.name[: -len(".state")]
    return isinstance(name, str) and rotated_suffix(out_name, name) is not None


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
    """The output file and its state, committed page by page, and rotated
    at a page boundary once it holds ``rotate_bytes``."""

    def __init__(
        self, out: Path, state: State, file: BinaryIO, rotate_bytes: Optional[int]
    ) -> None:
        self.out = out
        self.state = state
        self.file = file
        self.rotate_bytes = rotate_bytes
        # What the file holds so far, whole pages and the page in hand.
        self.length = state.length
        self.items = state.items

    @classmethod
    def open(
        cls,
        out: Path,
        spec: ListSpec,
        state: Optional[State],
        *,
        rotate_bytes: Optional[int] = None,
        skipping: bool = False,
    ) -> Output:
        """Opens the output where ``state`` says whole pages end (finishing a
        rotation a kill interrupted), or, with no state, starts a new export
        (``skipping`` its list's items so far). Nothing is sent over the
        network here."""
        try:
            if state is None:
                # The state first: an output never exists without one.
                state = State(arguments=spec.to_json(), skipping=skipping)
                write_state(out, state)
            if state.rotating is not None:
                finish_rotation(out, state)
            file = open_for_update(out)
        except OSError as error:
            raise ExportRefused(f"cannot write {out}: {error.strerror or error}") from None
        file.truncate(state.length)
        file.seek(state.length)
        return cls(out, state, file, rotate_bytes)

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
        known): the lines reach the disk first. Then rotates a full output."""
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
        if self.rotate_bytes is not None and self.length >= self.rotate_bytes:
            self.rotate()

    def rotate(self) -> None:
        """Renames the output (whole pages only) and begins a new one: the
        new name is in the state before the rename."""
        self.state.rotating = rotation_target(self.out, datetime.now(timezone.utc)).name
        write_state(self.out, self.state)
        self.file.close()
        finish_rotation(self.out, self.state)
        self.file = open_for_update(self.out)
        self.length = 0

    def close(self) -> None:
        self.file.close()


def finish_rotation(out: Path, state: State) -> None:
    """Renames ``out`` to the name its state records, unless a run killed
    after the rename did it already, then records a new, empty output (a CSV
    one writes its header again)."""
    if state.rotating is None:
        return
    target = out.with_name(state.rotating)
    if not os.path.lexists(target):
        with open_for_update(out) as whole_pages:
            whole_pages.truncate(state.length)
        os.rename(out, target)
        fsync_directory(out.parent.resolve())
    state.rotating = None
    state.length = 0
    state.columns = None
    write_state(out, state)


@contextlib.contextmanager
def locked(out: Path) -> Iterator[None]:
    """Holds ``out``'s lock file locked for the block; an export already
    holding it is refused: two runs would interleave pages and states."""
    where = lock_path(out)
    try:
        descriptor = os.open(where, os.O_RDWR | os.O_CREAT | NO_FOLLOW, 0o666)
    except OSError as error:
        raise ExportRefused(f"cannot write {out}: {error.strerror or error}") from None
    try:
        if not lock_at_once(descriptor):
            raise ExportRefused(
                f"{out} is being written by another druva export (it holds {where.name}): "
                "wait for it to end, or stop it first"
            )
        yield
    finally:
        os.close(descriptor)


# Opening a path never follows a symbolic link at its end, where the platform can tell.
NO_FOLLOW = getattr(os, "O_NOFOLLOW", 0)


if sys.platform == "win32":
    import msvcrt

    def lock_at_once(descriptor: int) -> bool:
        """Locks the file's first byte; ``False`` when another process holds it."""
        try:
            msvcrt.locking(descriptor, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

else:
    import fcntl

    def lock_at_once(descriptor: int) -> bool:
        """Locks the file (the kernel releases it when the process dies);
        ``False`` when another process holds it."""
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


def read_state(out: Path, spec: ListSpec, restart: bool) -> Optional[State]:
    """The state to resume ``out`` from, or ``None`` to start over. Refuses,
    saying why, a state of other arguments, an output without its state, or
    an output that does not hold the whole pages its state records."""
    where = state_path(out)
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
    check_whole_pages(out, state, record_terminator(spec))
    return state


def check_output_path(out: Path) -> None:
    """Refuses an output that is a directory or a symbolic link: a link
    re-pointed between two runs would have the export truncate whatever
    file it then names."""
    if out.is_symlink():
        raise ExportRefused(
            f"{out} is a symbolic link: give --out the file itself "
            f"({os.path.realpath(out)}), so that a re-pointed link never redirects the export"
        )
    if out.is_dir():
        raise ExportRefused(f"cannot write {out}: it is a directory")


def check_whole_pages(out: Path, state: State, terminator: bytes) -> None:
    """Refuses a state whose length is not the end of a record of the file
    that holds the whole pages (``out``, or the file it is being rotated
    to): a length past its end or inside a record."""
    holder = out
    if state.rotating is not None and os.path.lexists(out.with_name(state.rotating)):
        holder = out.with_name(state.rotating)
        if out.exists() and out.stat().st_size > 0:
            raise ExportRefused(
                f"{out} was rotated to {holder.name} but holds data its state does not "
                "record: it was changed outside the export; --restart starts over"
            )
    size = holder.stat().st_size if holder.exists() else 0
    if size < state.length:
        raise ExportRefused(
            f"{holder} holds {size} bytes, fewer than the {state.length} its state "
            "records: it was changed outside the export; --restart starts over"
        )
    if state.length == 0:
        return
    with holder.open("rb") as file:
        file.seek(max(state.length - len(terminator), 0))
        end = file.read(min(len(terminator), state.length))
    if end != terminator:
        raise ExportRefused(
            f"{state_path(out)} records a length of {state.length} bytes, which is not "
            f"the end of a record of {holder}: one of them was changed outside the "
            "export; --restart starts over"
        )


def open_for_update(out: Path) -> BinaryIO:
    """The output opened for reading and writing, created when missing; a
    symbolic link put in its place is refused, not followed."""
    flags = os.O_RDWR | os.O_CREAT | NO_FOLLOW | getattr(os, "O_BINARY", 0)
    descriptor = os.open(out, flags, 0o666)
    return os.fdopen(descriptor, "r+b")


def write_state(out: Path, state: State) -> None:
    """Replaces the state atomically: a temporary file of a name of its own
    in the same directory, fsynced, renamed over the old one."""
    where = state_path(out)
    data = (json.dumps(state.to_json(), indent=1, ensure_ascii=False) + "\n").encode("utf-8")
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{where.name}.", suffix=".tmp", dir=where.parent
    )
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, where)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
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
    # What ends each record: a state's length is always right after one.
    terminator: bytes

    def encode(self, item: Any) -> bytes:
        """The item's bytes in the output (the header too, before the first row)."""
        ...


class JsonLines:
    """One JSON value a line (an object for most lists, a string for CEF events)."""

    terminator = b"\n"

    def encode(self, item: Any) -> bytes:
        line = json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode()
        return line + self.terminator


class CsvRows:
    """One CSV row an item. The columns are the first item's keys, in its
    order, then ``_extra``: the keys it lacks, as one JSON object. A string
    is itself, a missing key or ``null`` an empty cell, any other value (a
    number, a boolean, a list, an object) its JSON."""

    # csv's own line ending; a value's newlines stay inside its quotes.
    terminator = b"\r\n"

    def __init__(self, state: State) -> None:
        self.state = state

    def encode(self, item: Any) -> bytes:
        if not isinstance(item, dict):
            raise ExportError(
                f"a CSV row needs a JSON object, and this list's items are "
                f"{json_type(item)}: export it with --format jsonl"
            )
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator=self.terminator.decode())
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


def record_terminator(spec: ListSpec) -> bytes:
    return CsvRows.terminator if spec.format == "csv" else JsonLines.terminator


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
Report = Callable[[str], None]
Backoff = Callable[[int], float]

# A following run's wait after a failure: the first, doubled each time, at most the last.
FIRST_BACKOFF = 1.0
LONGEST_BACKOFF = 300.0


def backoff_delay(failures: int) -> float:
    """Seconds a following run waits after ``failures`` failures in a row
    (1 the first time), doubling up to 5 minutes."""
    doublings = min(max(failures - 1, 0), 16)
    return min(FIRST_BACKOFF * 2.0**doublings, LONGEST_BACKOFF)


def is_transient(error: BaseException) -> bool:
    """Whether a following run waits out ``error`` and tries again: the
    network, the token endpoint or the API down, a 5xx, a 429 past
    ``rate_limit_wait``, a 401/403 (a token the API refused), an answer
    Druva marks ``retryable``. Not a refused credential, nor any other 4xx:
    the arguments are wrong, and waiting will not make them right."""
    if isinstance(error, druva.AuthenticationError):
        return False
    if isinstance(error, druva.HTTPStatusError):
        status = error.status_code
        marked = getattr(error, "retryable", None) is True
        return marked or status >= 500 or status in (401, 403, 429)
    return isinstance(error, druva.DruvaError)


def no_report(message: str) -> None:
    """Where a run's failures go when nobody listens."""


class StopRequest(Protocol):
    """What ends a run after the page in hand: a ``threading.Event``, or the
    CLI's stop that a signal handler sets."""

    def is_set(self) -> bool: ...

    def wait(self, timeout: Optional[float] = None) -> bool: ...


@dataclass
class Export:
    session: druva.Session
    spec: ListSpec
    output: Output
    stop: StopRequest
    progress: Optional[Progress] = None
    report: Report = no_report
    backoff: Backoff = backoff_delay

    def run(self, pages: druva.Paginator, follow: bool, interval: float) -> Outcome:
        """Passes over the list from ``pages`` until it ends (or, with
        ``follow``, until ``stop`` is set, polling a stream every ``interval``
        seconds and waiting out what :func:`is_transient` calls transient)."""
        started = self.output.items
        stopped = False
        failures = 0
        while True:
            try:
                stopped = self.one_pass(pages)
            except druva.DruvaError as error:
                if not (follow and is_transient(error)):
                    raise
                failures += 1
                wait = self.backoff(failures)
                self.report(f"{error}; trying again in {wait:g} s")
            else:
                failures = 0
                if stopped or not follow or self.output.state.complete:
                    break
                wait = interval  # a stream: poll it again from its cursor
            stopped = self.stop.wait(wait)
            if stopped:
                break
            state = self.output.state
            pages = paginate(self.session, self.spec, state.cursor, state.style)
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
        ``next()`` resumes the list at the new page: that is the commit.

        While the state is ``skipping`` (``--from-now``'s first pass), items
        are read, not written, until the list ends."""
        formatter = make_format(self.spec, self.output.state)
        before = self.output.state.pages
        resumed = self.output.state.cursor is not None
        items: Iterator[Any] = iter(pages)
        while True:
            cursor, taken = pages.cursor, pages.pages
            try:
                item = next(items)
            except StopIteration:
                self.output.state.skipping = False
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
                if resumed and taken == 0:
                    refuse_the_cursor(error, self.output.state.style)
                raise
            if pages.pages != taken:
                if taken:
                    self.output.commit(cursor, before + taken, finished=False, style=pages.style)
                if self.stop.is_set():
                    return True
            if self.output.state.skipping:
                continue
            self.output.write(formatter.encode(item))
            if self.progress is not None:
                self.progress(self.output.items, before + pages.pages)


def refuse_the_cursor(error: druva.DruvaError, style: Optional[str]) -> None:
    """Raises, saying what to do, when the first page from a saved cursor of
    a list paging in ``style`` failed the way an expired or unknown cursor
    does (docs/druva-api.md: 403 for an events tracker Druva no longer
    keeps, 400 otherwise)."""
    if not isinstance(error, druva.HTTPStatusError):
        return
    if error.status_code == 403:
        raise CursorRefused(
            f"the server refused to resume from the saved cursor ({error}): an events "
            f"tracker expires (48 hours after it was issued). {ways_on(style)}"
        ) from error
    if error.status_code == 400:
        raise ExportError(
            f"the server refused to resume from the saved cursor ({error}); a "
            "cursor can expire (a Reporting API page token after 5 minutes, an "
            "events v2 tracker after 48 hours): --restart starts the export over"
        ) from error


def ways_on(style: Optional[str]) -> str:
    """What to do about an expired tracker of a list paging in ``style``: a
    page token is sent alone and keeps the parameters it was issued with."""
    if style == "page-token":
        return (
            "Its page token keeps the parameters it was issued with, so adding one now "
            "does not revive it: --restart starts the export over (give --param "
            "ignoreTrackerExpiry=True from the first run on, as Druva's Sentinel "
            "connector does, and the stream's tokens do not expire)"
        )
    return (
        "Two ways on: add --param ignoreTrackerExpiry=True to resume from it anyway, "
        "accepting a gap, or --restart to start the export over"
    )


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
        **spec.paging(),
    )


def export(
    session: druva.Session,
    out: Path,
    spec: ListSpec,
    *,
    follow: bool = False,
    interval: float = 60.0,
    restart: bool = False,
    from_now: bool = False,
    rotate_bytes: Optional[int] = None,
    stop: Optional[StopRequest] = None,
    progress: Optional[Progress] = None,
    report: Report = no_report,
    backoff: Backoff = backoff_delay,
) -> Outcome:
    """Writes every item of the list ``spec`` names to ``out``, resuming from
    ``out``'s state when it has one (see the module's docstring).

    With ``follow``, a list that ends with a cursor (a stream) is polled again
    every ``interval`` seconds until ``stop`` is set, and a transient failure
    is passed to ``report`` and tried again after ``backoff(failures)``
    seconds. Setting ``stop`` ends the run after the page in hand, with its
    state saved. ``from_now`` (a first run only) reads the list to its end
    without writing it. ``rotate_bytes`` rotates the output once it holds
    that many bytes after a page. ``progress`` is called with the items and
    pages so far after each item. Raises :class:`ExportRefused` before any
    network I/O when the output cannot be resumed or written, or another
    export is writing it; :class:`CursorRefused` when the server refuses the
    saved cursor with a 403.
    """
    check_output_path(out)
    # Before any file is touched: bad paging arguments leave none behind.
    pages = paginate(session, spec, None)
    with locked(out):
        state = read_state(out, spec, restart)
        if state is not None and state.complete:
            return Outcome(
                items=state.items, pages=state.pages, complete=True, already_complete=True
            )
        if state is not None:
            try:
                pages = paginate(session, spec, state.cursor, state.style)
            except ValueError as error:
                raise ExportRefused(
                    f"{state_path(out)} cannot be resumed ({error}); "
                    "--restart starts the export over"
                ) from None
        output = Output.open(out, spec, state, rotate_bytes=rotate_bytes, skipping=from_now)
        try:
            run = Export(
                session, spec, output, stop or threading.Event(), progress, report, backoff
            )
            return run.run(pages, follow, interval)
        finally:
            output.close()
