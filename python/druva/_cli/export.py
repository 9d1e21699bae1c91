"""``druva export``: write every item of a list to a file, resumable."""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Optional

import druva
from druva import _export
from druva._cli._common import (
    EXIT_ERROR,
    EXIT_USAGE,
    CommandError,
    Progress,
    add_api_command,
    add_flags,
    add_number_option,
    add_param_option,
    credentials,
    default_of,
    endpoint,
    given,
    parse_params,
    stop_on_signals,
)

DESCRIPTION = """\
Write every item of a list (users, devices, reports, events...) to FILE: one
JSON value a line (jsonl), or one CSV row an item (columns from the first item,
nested values as JSON, the keys it lacks as one JSON object in a last column
_extra).

FILE.state, beside it, records the arguments, the cursor and FILE's length
after the last complete page, replaced atomically once the page is on disk.
Run the same command again after any interruption, even kill -9: FILE is cut
back to that length and the list resumes from the cursor, so FILE ends with
every item exactly once, in order. Run again after the list ended: a stream
(events) is polled for what is new; a list that ended for good says it is
complete. A state of other arguments, or a FILE without its state, is
refused; --restart starts over.

A collector that runs for months: --from-now starts a new feed at the end
of the stream instead of its history; --rotate-bytes renames a full FILE to
FILE.<UTC time> at a page boundary and begins a new one; with --follow, an
outage (the token endpoint or the API down, the network, 5xx, 429) is logged
on stderr with the time and retried, waiting 1 s doubling to 5 min. FILE.lock
keeps a second export of the same FILE out while one runs.

Ctrl-C (or SIGTERM) finishes the page in hand, saves the state and exits 0;
another one while it stops changes nothing.
"""

EXAMPLES = """\
examples:
  druva export /insync/usermanagement/v1/users --out users.jsonl
  druva export /platform/reporting/v1/reports/epLastBackupStatus --method POST \\
      --json '{"filters": {"pageSize": 500}}' --format csv --out backups.csv
  druva export /platform/eventmanagement/v3/events --out events.jsonl --follow
  druva export /realize/eventmanagement/v1/events/tracker --out cyber.jsonl \\
      --follow --from-now --rotate-bytes 100000000

exit code 3: the server refused the saved cursor (an expired events tracker);
  --param ignoreTrackerExpiry=True resumes anyway, --restart starts over

"""


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = add_api_command(
        commands,
        "export",
        help="write every item of a list to a file, resumable",
        description=DESCRIPTION,
        examples=EXAMPLES,
        call=druva.Session,
    )
    export.add_argument("path", help="API path of a list, e.g. /insync/usermanagement/v1/users")
    export.add_argument("--out", required=True, metavar="FILE", help="the output file")
    export.add_argument(
        "--format", choices=_export.FORMATS, default="jsonl", help="jsonl (default) or csv"
    )
    add_param_option(export, "query parameter of the first page (repeatable)")
    export.add_argument(
        "--method",
        type=str.upper,
        choices=["GET", "POST"],
        default="GET",
        help="POST pages the Reporting API: the same JSON body every page (default GET)",
    )
    export.add_argument(
        "--json", metavar="BODY", help="with --method POST: the JSON body, e.g. filters"
    )
    export.add_argument(
        "--items", metavar="FIELD", help="the list field to export (default: the only one)"
    )
    add_flags(
        export,
        {
            "--follow": "keep polling a stream from its cursor; Ctrl-C saves the state and exits 0",
            "--restart": "start over: overwrite FILE and its state",
            "--from-now": "on a first run, read the stream to its end without writing: "
            "new events only",
        },
    )
    add_number_option(
        export,
        "--interval",
        "with --follow: seconds between polls",
        default=default_of(_export.export, "interval"),
        metavar="SECONDS",
    )
    export.add_argument(
        "--rotate-bytes",
        type=int,
        metavar="N",
        help="once FILE holds N bytes after a page, rename it FILE.<UTC time> and begin a new one",
    )
    export.add_argument(
        "--cursor-field",
        metavar="F",
        help="a list whose cursor druva does not know: the page field holding it",
    )
    export.add_argument(
        "--cursor-param", metavar="P", help="with --cursor-field: the parameter that sends it back"
    )
    add_flags(
        export, {"--keep-params": "with --cursor-field: resend the --param values with the cursor"}
    )
    export.set_defaults(run=run)


def json_body(arguments: argparse.Namespace) -> Optional[Any]:
    if arguments.json is None:
        return None
    if arguments.method != "POST":
        raise CommandError("--json is the body of a POST list: add --method POST", EXIT_USAGE)
    try:
        return json.loads(arguments.json)
    except ValueError as error:
        raise CommandError(f"--json is not JSON: {error}", EXIT_USAGE) from None


def check_interval(arguments: argparse.Namespace) -> None:
    if not hasattr(arguments, "interval"):
        return
    if not arguments.follow:
        raise CommandError("--interval is the wait between polls of --follow", EXIT_USAGE)
    if not math.isfinite(arguments.interval) or arguments.interval <= 0:
        raise CommandError("--interval takes a number of seconds above 0", EXIT_USAGE)


def check_collector_options(arguments: argparse.Namespace) -> None:
    if arguments.rotate_bytes is not None and arguments.rotate_bytes <= 0:
        raise CommandError("--rotate-bytes takes a number of bytes above 0", EXIT_USAGE)
    if (arguments.cursor_field is None) != (arguments.cursor_param is None):
        raise CommandError(
            "--cursor-field and --cursor-param come together: the field a page holds the "
            "cursor in, and the parameter that sends it back",
            EXIT_USAGE,
        )
    if arguments.keep_params and arguments.cursor_field is None:
        raise CommandError("--keep-params goes with --cursor-field and --cursor-param", EXIT_USAGE)


def export_spec(arguments: argparse.Namespace) -> _export.ListSpec:
    """What defines the exported list, from the options; bad options are a
    usage error here, before any network I/O."""
    body = json_body(arguments)
    check_interval(arguments)
    check_collector_options(arguments)
    cloud = endpoint(arguments)
    return _export.ListSpec(
        path=arguments.path,
        method=arguments.method,
        params=tuple(parse_params(arguments.param)),
        body=body,
        items=arguments.items,
        format=arguments.format,
        region=cloud.get("region"),
        base_url=cloud.get("base_url"),
        cursor_field=arguments.cursor_field,
        cursor_param=arguments.cursor_param,
        keep_params=arguments.keep_params,
    )


# Exit status when the server refuses the saved cursor (an expired events tracker).
EXIT_CURSOR_REFUSED = 3

# A private knob for tests: the factor on every wait of the backoff, so a
# test of an outage waits milliseconds, not minutes.
BACKOFF_SCALE = "_DRUVA_EXPORT_BACKOFF_SCALE"


def backoff(failures: int) -> float:
    return _export.backoff_delay(failures) * float(os.environ.get(BACKOFF_SCALE) or 1)


def report(message: str) -> None:
    """A failure a following run waits out, on stderr with the UTC time."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    print(f"{now} druva export: {message}", file=sys.stderr, flush=True)


def run(arguments: argparse.Namespace) -> int:
    spec = export_spec(arguments)
    out = Path(arguments.out)
    client_id, secret = credentials()
    progress = Progress(sys.stderr)
    session = druva.Session(client_id, secret, **endpoint(arguments))
    # Once a signal came, later ones are ignored till the process ends: a
    # second one, during the clean stop or after it, changes nothing.
    signals = stop_on_signals(signal.SIGINT, signal.SIGTERM, outlast_stop=True)
    with session, signals as stop:
        try:
            outcome = _export.export(
                session,
                out,
                spec,
                follow=arguments.follow,
                restart=arguments.restart,
                from_now=arguments.from_now,
                rotate_bytes=arguments.rotate_bytes,
                stop=stop,
                progress=progress.show,
                report=report,
                backoff=backoff,
                **given(arguments, "interval"),
            )
        except _export.ExportRefused as error:
            raise CommandError(str(error), EXIT_USAGE) from None
        except _export.CursorRefused as error:
            raise CommandError(str(error), EXIT_CURSOR_REFUSED) from None
        except (_export.ExportError, OSError) as error:
            raise CommandError(str(error), EXIT_ERROR) from None
    if outcome.already_complete:
        print(
            f"{out} is complete: {outcome.items} items; nothing to poll "
            "(the list ended without a cursor); --restart exports it again",
            file=sys.stderr,
        )
        return 0
    progress.done(outcome.items, outcome.pages)
    if outcome.stopped:
        print(
            f"stopped after {outcome.written} new items: {out} holds {outcome.items} items; "
            "run again to resume",
            file=sys.stderr,
        )
    return 0
