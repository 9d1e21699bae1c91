"""The ``druva`` command line: ``token``, ``get``, ``export``, ``fake-server`` and ``demo``.

Credentials come from ``DRUVA_CLIENT_ID`` / ``DRUVA_SECRET_KEY`` (and
``DRUVA_REGION`` / ``DRUVA_BASE_URL``) or, on a terminal, a hidden prompt;
never from the command line, which other users of the machine can read.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import druva
from druva import _env, _export
from druva.testing import FakeDruva

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTHENTICATION = 3
EXIT_INTERRUPTED = 130

USERS = "/insync/usermanagement/v1/users"
DEVICES = "/insync/endpoints/v1/devices"
PROFILES = "/insync/profilemanagement/v1/profiles"


class CommandError(Exception):
    """A failure the command reports in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Runs the ``druva`` command and exits with its status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    refuse_secret_options(parser, arguments)
    namespace = parser.parse_args(arguments)
    sys.exit(run(namespace))


def run(arguments: argparse.Namespace) -> int:
    """Runs the parsed command; every failure becomes one line on stderr and an exit code."""
    try:
        status: int = arguments.run(arguments)
        sys.stdout.flush()
    except CommandError as error:
        return fail(str(error), error.exit_code)
    except druva.AuthenticationError as error:
        return fail(str(error), EXIT_AUTHENTICATION)
    except druva.DruvaError as error:
        # Before ValueError: a body that is not JSON is a druva.JSONDecodeError,
        # also a ValueError, but the server's fault, not a usage error.
        return fail(str(error), EXIT_ERROR)
    except (ValueError, TypeError) as error:
        # Raised before any network I/O for a bad argument, path or setting.
        return fail(str(error), EXIT_USAGE)
    except BrokenPipeError:
        # The reader went away (``druva get ... | head``): not an error worth a
        # traceback. Point stdout at devnull so the interpreter's final flush is quiet.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_ERROR
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    return status


def fail(message: str, exit_code: int) -> int:
    print(f"druva: {message}", file=sys.stderr)
    return exit_code


SECRET_OPTIONS = ("--secret", "--client-secret", "--password")


def refuse_secret_options(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> None:
    """Exits with a pointer to DRUVA_SECRET_KEY when a secret is passed as an option.

    argparse would echo the unknown option and its value, the secret, to stderr;
    this message names neither.
    """
    for argument in arguments:
        if argument == "--":
            return
        if argument.lower().startswith(SECRET_OPTIONS):
            parser.error(
                "druva never takes a secret on the command line, where other users "
                "can read it: set DRUVA_SECRET_KEY, or run druva token on a terminal "
                "to be prompted"
            )


CREDENTIALS_HELP = """\
credentials:
  DRUVA_CLIENT_ID and DRUVA_SECRET_KEY, or a hidden prompt on a terminal;
  never an option, which other users of the machine could read.
  DRUVA_REGION (cloud, govcloud, govcloud-workloads) and DRUVA_BASE_URL
  choose the cloud.

exit codes:
  0 success, 1 error, 2 missing credentials or bad usage,
  3 authentication refused
"""


def build_parser() -> argparse.ArgumentParser:
    """The ``druva`` parser: one sub-command a task, each with its own ``--help``."""
    parser = argparse.ArgumentParser(
        prog="druva",
        description="OAuth 2.0 tokens and authenticated calls for the Druva REST APIs.",
        epilog="start with `druva demo`: the whole flow against an embedded fake Druva\n\n"
        + CREDENTIALS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"druva {druva.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    token = commands.add_parser(
        "token",
        help="print an access token as JSON",
        description="Print an access token as JSON: the dict druva.get_token() returns "
        "(access_token, token_type, expires_in, expires_at).",
        epilog="example:\n  druva token > token.json\n\n" + CREDENTIALS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_endpoint_options(token)
    token.add_argument("--scope", help="OAuth scope to request (default: none sent)")
    token.set_defaults(run=run_token)

    get = commands.add_parser(
        "get",
        help="GET an API path and print the JSON",
        description="GET an API path and print its JSON. With --all, follow every page "
        "and print one merged list (progress on stderr when it is a terminal).",
        epilog="examples:\n"
        "  druva get /insync/endpoints/v1/devices --param pageSize=10\n"
        "  druva get /insync/usermanagement/v1/users --all > users.json\n\n" + CREDENTIALS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    get.add_argument("path", help="API path, e.g. /insync/usermanagement/v1/users")
    get.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="query parameter (repeatable)",
    )
    get.add_argument("--all", action="store_true", help="follow every page, print one list")
    get.add_argument(
        "--items", help="with --all: the list field to collect (default: the only one)"
    )
    add_endpoint_options(get)
    get.set_defaults(run=run_get)

    add_export_parser(commands)

    fake = commands.add_parser(
        "fake-server",
        help="run a fake Druva server in the foreground",
        description="Run a FakeDruva on 127.0.0.1 until Ctrl-C: it prints its URL and "
        "generated credentials as export lines for another shell.",
        epilog="example:\n  druva fake-server --users 5000 --port 8000",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fake.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    fake.add_argument("--users", type=int, default=250, help="synthetic users (default 250)")
    fake.add_argument(
        "--token-lifetime", type=float, default=1800, help="token lifetime, seconds (default 1800)"
    )
    fake.add_argument("--page-size", type=int, default=100, help="default page size (100)")
    fake.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA")
    fake.set_defaults(run=run_fake_server)

    demo = commands.add_parser(
        "demo",
        help="walk the whole flow against an embedded fake Druva",
        description="Start an embedded FakeDruva and walk the whole flow against it: "
        "a token and the cached one, a Session GET, paging, renewal, retries and an "
        "AsyncSession gather. No credentials, no network.",
    )
    demo.add_argument("--users", type=int, default=1000, help="synthetic users (default 1000)")
    demo.set_defaults(run=run_demo)
    return parser


EXPORT_DESCRIPTION = """\
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

Ctrl-C (or SIGTERM) finishes the page in hand, saves the state and exits 0;
a second one stops at once, the state still sound.
"""


def add_export_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    export = commands.add_parser(
        "export",
        help="write every item of a list to a file, resumable",
        description=EXPORT_DESCRIPTION,
        epilog="examples:\n"
        "  druva export /insync/usermanagement/v1/users --out users.jsonl\n"
        "  druva export /platform/reporting/v1/reports/epLastBackupStatus --method POST \\\n"
        '      --json \'{"filters": {"pageSize": 500}}\' --format csv --out backups.csv\n'
        "  druva export /platform/eventmanagement/v3/events --out events.jsonl --follow\n\n"
        + CREDENTIALS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    export.add_argument("path", help="API path of a list, e.g. /insync/usermanagement/v1/users")
    export.add_argument("--out", required=True, metavar="FILE", help="the output file")
    export.add_argument(
        "--format", choices=_export.FORMATS, default="jsonl", help="jsonl (default) or csv"
    )
    export.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="query parameter of the first page (repeatable)",
    )
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
    export.add_argument(
        "--follow",
        action="store_true",
        help="keep polling a stream from its cursor; Ctrl-C saves the state and exits 0",
    )
    export.add_argument(
        "--interval",
        type=float,
        metavar="SECONDS",
        help="with --follow: seconds between polls (default 60)",
    )
    export.add_argument(
        "--restart", action="store_true", help="start over: overwrite FILE and its state"
    )
    add_endpoint_options(export)
    export.set_defaults(run=run_export)


def add_endpoint_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region",
        choices=["cloud", "govcloud", "govcloud-workloads"],
        help="Druva cloud (default: $DRUVA_REGION or cloud)",
    )
    parser.add_argument("--base-url", help="API base URL (default: $DRUVA_BASE_URL)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    parser.add_argument(
        "--ca-bundle",
        metavar="PEM",
        help="extra trusted CA certificates, e.g. a corporate proxy's or the fake server's",
    )


def credentials() -> tuple[str, str]:
    """Client ID and secret from the environment, or a prompt on a terminal.

    The prompts go to the terminal (stderr and getpass's tty), never to stdout,
    so ``druva token > token.json`` prompts as usual and writes only JSON.
    """
    client_id, secret = _env.credentials()
    if client_id and secret:
        return client_id, secret
    if sys.stdin is None or not sys.stdin.isatty():
        missing = [
            name
            for name, value in ((_env.CLIENT_ID, client_id), (_env.SECRET_KEY, secret))
            if not value
        ]
        raise CommandError(
            f"no credentials: {_env.missing_credentials_message(missing)}; or run on a "
            "terminal to be prompted (the command line never takes a secret)",
            EXIT_USAGE,
        )
    try:
        if not client_id:
            print("Druva Client ID: ", end="", file=sys.stderr, flush=True)
            client_id = sys.stdin.readline().strip()
        secret = secret or getpass.getpass("Druva Secret Key: ", stream=sys.stderr)
    except EOFError:
        raise CommandError("no credentials: the prompt was closed", EXIT_USAGE) from None
    if not client_id or not secret:
        raise CommandError("no credentials: an empty Client ID or Secret Key", EXIT_USAGE)
    return client_id, secret


def endpoint(arguments: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of the endpoint: ``--region`` / ``--base-url`` win over
    ``DRUVA_REGION`` / ``DRUVA_BASE_URL``."""
    return _env.cloud_arguments(
        {
            "region": arguments.region,
            "base_url": arguments.base_url,
            "timeout": arguments.timeout,
            "ca_bundle": arguments.ca_bundle,
        }
    )


def run_token(arguments: argparse.Namespace) -> int:
    client_id, secret = credentials()
    token = druva.get_token(client_id, secret, scope=arguments.scope, **endpoint(arguments))
    print(json.dumps(dict(token), indent=2))
    return 0


def parse_params(pairs: list[str]) -> list[tuple[str, str]]:
    params = []
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise CommandError(f"--param takes KEY=VALUE, not {pair!r}", EXIT_USAGE)
        params.append((key, value))
    return params


def run_get(arguments: argparse.Namespace) -> int:
    client_id, secret = credentials()
    params = parse_params(arguments.param)
    with druva.Session(client_id, secret, **endpoint(arguments)) as session:
        if not arguments.all:
            response = session.get(arguments.path, params=params).raise_for_status()
            print(json.dumps(response.json(), indent=2))
            return 0
        progress = Progress(sys.stderr)
        pages = session.paginate(arguments.path, params=params, items=arguments.items)
        merged = []
        for item in pages:
            merged.append(item)
            progress.show(len(merged), pages.pages)
        progress.done(len(merged), pages.pages)
        print(json.dumps(merged, indent=2))
    return 0


DEFAULT_INTERVAL = 60.0


def export_spec(arguments: argparse.Namespace) -> _export.ListSpec:
    """What defines the exported list, from the options; bad options are a
    usage error here, before any network I/O."""
    body = None
    if arguments.json is not None:
        if arguments.method != "POST":
            raise CommandError("--json is the body of a POST list: add --method POST", EXIT_USAGE)
        try:
            body = json.loads(arguments.json)
        except ValueError as error:
            raise CommandError(f"--json is not JSON: {error}", EXIT_USAGE) from None
    if arguments.interval is not None:
        if not arguments.follow:
            raise CommandError("--interval is the wait between polls of --follow", EXIT_USAGE)
        if not math.isfinite(arguments.interval) or arguments.interval <= 0:
            raise CommandError("--interval takes a number of seconds above 0", EXIT_USAGE)
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
    )


def run_export(arguments: argparse.Namespace) -> int:
    spec = export_spec(arguments)
    out = Path(arguments.out)
    client_id, secret = credentials()
    progress = Progress(sys.stderr)
    session = druva.Session(client_id, secret, **endpoint(arguments))
    signals = stop_on_signals(signal.SIGINT, signal.SIGTERM, again_raises=True)
    with session, signals as stop:
        try:
            outcome = _export.export(
                session,
                out,
                spec,
                follow=arguments.follow,
                interval=arguments.interval or DEFAULT_INTERVAL,
                restart=arguments.restart,
                stop=stop,
                progress=progress.show,
            )
        except _export.ExportRefused as error:
            raise CommandError(str(error), EXIT_USAGE) from None
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


class Progress:
    """Records and pages so far on stderr, only when it is a terminal."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.enabled = stream.isatty()
        self.last = 0.0

    def show(self, records: int, pages: int) -> None:
        now = time.monotonic()
        if self.enabled and now - self.last > 0.1:
            self.last = now
            self.stream.write(f"\r{records} records, {pages} pages")
            self.stream.flush()

    def done(self, records: int, pages: int) -> None:
        if self.enabled:
            self.stream.write(f"\r{records} records, {pages} pages\n")
            self.stream.flush()


def run_fake_server(arguments: argparse.Namespace) -> int:
    fake = FakeDruva(
        users=arguments.users,
        token_lifetime=arguments.token_lifetime,
        page_size=arguments.page_size,
        tls=arguments.tls,
        port=arguments.port,
    )
    with fake, stop_on_signals(signal.SIGINT, signal.SIGTERM) as stop:
        print(f"FakeDruva listening on {fake.base_url}")
        print(f"  export DRUVA_BASE_URL={fake.base_url}")
        print(f"  export DRUVA_CLIENT_ID={fake.client_id}")
        print(f"  export DRUVA_SECRET_KEY={fake.secret}")
        if fake.ca_bundle:
            print(f"  CA bundle: {fake.ca_bundle} (--ca-bundle, or ca_bundle= in Python)")
        print("Ctrl-C stops it.", flush=True)
        while not stop.wait(0.5):
            pass
    print("stopped", file=sys.stderr)
    return 0


@contextlib.contextmanager
def stop_on_signals(
    *signals: signal.Signals, again_raises: bool = False
) -> Iterator[threading.Event]:
    """An event set by any of ``signals`` while the block runs (instead of
    KeyboardInterrupt, so a Ctrl-C at any moment is a clean stop). With
    ``again_raises``, a second signal raises KeyboardInterrupt: for a stop
    that waits on a request, a way not to wait."""
    stop = threading.Event()

    def handle(*_: object) -> None:
        if again_raises and stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {number: signal.signal(number, handle) for number in signals}
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            if handler is not None:  # None: installed outside Python; nothing to restore
                signal.signal(number, handler)


def run_demo(arguments: argparse.Namespace) -> int:
    say = Narrator()
    with FakeDruva(users=arguments.users, page_size=500) as fake:
        say.step(f"Started a fake Druva at {fake.base_url} with {arguments.users} users.")
        say.code("token = druva.get_token(client_id, secret)")
        started = time.perf_counter()
        token = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
        first = time.perf_counter() - started
        calls = 10_000
        started = time.perf_counter()
        for _ in range(calls):
            again = druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)
        cached = (time.perf_counter() - started) / calls
        say.result(repr(token) + "  # the repr masks the token")
        say.result(
            f"first call {first * 1e3:.2f} ms (one token request); the next {calls} calls "
            f"{cached * 1e6:.2f} µs each from the cache, same token: "
            f"{again['access_token'] == token['access_token']}"
        )

        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as session:
            say.code('session.get("/insync/profilemanagement/v1/profiles").json()')
            profiles = session.get(PROFILES).raise_for_status().json()["profiles"]
            say.result(f"{len(profiles)} profiles, e.g. {profiles[0]['profileName']!r}")

            say.code('sum(1 for _ in session.paginate("/insync/usermanagement/v1/users"))')
            started = time.perf_counter()
            pages = session.paginate(USERS)
            count = sum(1 for _ in pages)
            elapsed = time.perf_counter() - started
            say.result(f"{count} users in {pages.pages} pages, {elapsed * 1e3:.1f} ms")

            fake.expire_tokens()
            say.code("fake.expire_tokens(); session.get(...)  # the API now refuses the token")
            status = session.get(USERS, params={"pageSize": 1}).status_code
            say.result(f"status {status}: the session renewed its token once and retried")

            fake.fail_next(503, count=2, path=DEVICES)
            say.code("fake.fail_next(503, count=2); session.get(devices)")
            status = session.get(DEVICES).status_code
            say.result(f"status {status} after two retried 503s")

        say.code("await asyncio.gather(*(s.get(...) for _ in range(100)))  # AsyncSession")
        started = time.perf_counter()
        statuses = asyncio.run(gather_devices(fake))
        elapsed = time.perf_counter() - started
        say.result(f"{statuses.count(200)} of {len(statuses)} OK in {elapsed * 1e3:.1f} ms")

        say.step(
            f"The fake received {fake.token_requests} token requests and "
            f"{fake.api_requests} API requests."
        )
    say.step("Next: druva.Session(client_id, secret) against the real cloud; see the README.")
    return 0


async def gather_devices(fake: FakeDruva) -> list[int]:
    async with druva.AsyncSession(fake.client_id, fake.secret, base_url=fake.base_url) as s:
        responses = await asyncio.gather(
            *(s.get(DEVICES, params={"pageSize": 10}) for _ in range(100))
        )
    return [response.status_code for response in responses]


class Narrator:
    """Prints the demo's steps."""

    def __init__(self) -> None:
        self.count = 0

    def step(self, text: str) -> None:
        print(f"\n{text}")

    def code(self, text: str) -> None:
        self.count += 1
        print(f"\n[{self.count}] >>> {text}")

    def result(self, text: str) -> None:
        print(f"    {text}")
