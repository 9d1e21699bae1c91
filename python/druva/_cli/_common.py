"""What every ``druva`` command shares: the parser that never echoes a value,
the endpoint options, credential reading, exit codes and the progress line."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import inspect
import re
import select
import shutil
import signal
import socket
import sys
import textwrap
import time
from collections.abc import Iterator, Sequence
from typing import Any, Callable, NoReturn, Optional, TextIO

from druva import _env

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_AUTHENTICATION = 3
EXIT_INTERRUPTED = 130


class CommandError(Exception):
    """A failure the command reports in one line, with its exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class UsageError(Exception):
    """A usage error argparse found, reported by ``Parser`` once the message
    is stripped of every value from the command line."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors show no value from the command
    line: argparse quotes the values it refuses, and a value may be a secret
    typed after an option druva does not have (``--key``, ``-s``, ``--token``).
    It also refuses the options that would carry the secret itself."""

    def __init__(self, **kwargs: Any) -> None:
        # An abbreviation could take `--token SECRET` for `--token-url SECRET`.
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(**kwargs)

    def parse_args(  # type: ignore[override]
        self, args: Optional[Sequence[str]] = None, namespace: Any = None
    ) -> argparse.Namespace:
        arguments = list(sys.argv[1:] if args is None else args)
        with self.usage_errors_without(arguments):
            parsed: argparse.Namespace = super().parse_args(arguments, namespace)
        return parsed

    def parse_known_args(  # type: ignore[override]
        self, args: Optional[Sequence[str]] = None, namespace: Any = None
    ) -> tuple[argparse.Namespace, list[str]]:
        arguments = list(sys.argv[1:] if args is None else args)
        with self.usage_errors_without(arguments):
            refuse_secret_options(self, arguments)
            parsed: tuple[argparse.Namespace, list[str]] = super().parse_known_args(
                arguments, namespace
            )
        return parsed

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)

    @contextlib.contextmanager
    def usage_errors_without(self, arguments: Sequence[str]) -> Iterator[None]:
        """Reports a usage error raised in the block as argparse does (usage,
        message, exit 2), with no word of ``arguments`` but names."""
        try:
            yield
        except UsageError as error:
            message = without_values(str(error), arguments, known_words(self))
            self.print_usage(sys.stderr)
            sys.stderr.write(f"{self.prog}: error: {message}\n")
            sys.exit(EXIT_USAGE)


def without_values(message: str, arguments: Sequence[str], known: set[str]) -> str:
    """``message`` with every word of ``arguments`` it quotes replaced by ``…``,
    but for the option and command names in ``known`` and the names of
    options (``--key=VALUE`` becomes ``--key=…``)."""
    for argument in sorted(set(arguments), key=len, reverse=True):
        if argument in known or re.fullmatch(OPTION_NAME, argument):
            continue
        name, equals, value = argument.partition("=")
        if equals and re.fullmatch(OPTION_NAME, name):
            message = hide(message, argument, f"{name}=…")
            message = hide(message, value, "…")
        else:
            message = hide(message, argument, "…")
        if re.match(r"-[^-]", argument):  # -xVALUE: argparse may quote VALUE alone
            message = hide(message, argument[2:], "…")
    return message


OPTION_NAME = r"--[A-Za-z][\w-]*|-[A-Za-z]"


def hide(message: str, word: str, shown: str) -> str:
    """``message`` with ``word``, quoted (as argparse quotes it) or standing
    alone, replaced by ``shown``."""
    message = message.replace(repr(word), repr(shown))
    return re.sub(rf"(?<!\S){re.escape(word)}(?!\S)", shown, message)


def known_words(parser: argparse.ArgumentParser) -> set[str]:
    """The option strings and command names of ``parser`` and its sub-commands."""
    words: set[str] = set()
    for action in parser._actions:
        words.update(action.option_strings)
        if isinstance(action, argparse._SubParsersAction):
            for name, command in action.choices.items():
                words.add(name)
                words |= known_words(command)
    return words


SECRET_OPTIONS = ("--secret", "--client-secret", "--password")


def refuse_secret_options(parser: argparse.ArgumentParser, arguments: Sequence[str]) -> None:
    """A usage error pointing at DRUVA_SECRET_KEY when a secret is passed as an option."""
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


HELP_WIDTH = 100


def help_formatter(prog: str) -> argparse.HelpFormatter:
    """argparse's formatter, descriptions and examples kept as written, lines
    no wider than the terminal nor ``HELP_WIDTH``."""
    width = min(shutil.get_terminal_size().columns, HELP_WIDTH) - 2
    return argparse.RawDescriptionHelpFormatter(prog, width=width)


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,  # noqa: A002 (argparse's own name)
    description: str,
    epilog: str = "",
) -> argparse.ArgumentParser:
    """A sub-command whose description is wrapped to 79 columns, paragraph by
    paragraph, and whose epilog (examples) is kept as written."""
    paragraphs = textwrap.dedent(description).strip().split("\n\n")
    wrapped = "\n\n".join(textwrap.fill(" ".join(p.split()), 79) for p in paragraphs)
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=wrapped,
        epilog=epilog,
        formatter_class=help_formatter,
    )
    return parser


def add_api_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    *,
    help: str,  # noqa: A002 (argparse's own name)
    description: str,
    examples: str,
    call: Callable[..., Any],
) -> argparse.ArgumentParser:
    """A command that calls Druva with the user's credential: its help ends
    with where the credential comes from, and it has the endpoint options
    (``add_endpoint_options``), ``--timeout`` defaulting to ``call``'s."""
    parser = add_command(
        commands,
        name,
        help=help,
        description=description,
        epilog=examples.rstrip("\n") + "\n\n" + CREDENTIALS_HELP,
    )
    add_endpoint_options(parser, call)
    return parser


def default_of(function: Callable[..., Any], parameter: str) -> Any:
    """The default of ``function``'s ``parameter``: help texts quote the
    library's defaults instead of restating them."""
    return inspect.signature(function).parameters[parameter].default


def given(arguments: argparse.Namespace, *names: str) -> dict[str, Any]:
    """The options among ``names`` the user gave (their argparse default is
    ``SUPPRESS``), so the library's own defaults apply to the others."""
    return {name: getattr(arguments, name) for name in names if hasattr(arguments, name)}


def add_number_option(
    parser: argparse._ActionsContainer,
    option: str,
    text: str,
    *,
    default: float,
    kind: Callable[[str], float] = float,
    metavar: Optional[str] = None,
) -> None:
    """A number option, passed on only when given (``given()``): its help
    shows ``default``, the library's own value."""
    parser.add_argument(
        option,
        type=kind,
        metavar=metavar,
        default=argparse.SUPPRESS,
        help=f"{text} (default {default:g})",
    )


def add_flags(parser: argparse.ArgumentParser, flags: dict[str, str]) -> None:
    """On/off options, ``False`` unless given: option → help."""
    for option, text in flags.items():
        parser.add_argument(option, action="store_true", help=text)


def add_endpoint_options(parser: argparse.ArgumentParser, call: Callable[..., Any]) -> None:
    """Where the token and the API are (``--region``, ``--base-url``,
    ``--token-url``), ``--timeout`` with ``call``'s default, ``--ca-bundle`` and
    ``--scope``: the options ``endpoint()`` reads, in a group of their own."""
    group = parser.add_argument_group("endpoint")
    group.add_argument(
        "--region",
        choices=["cloud", "govcloud", "govcloud-workloads"],
        default=argparse.SUPPRESS,
        help="Druva cloud (default: $DRUVA_REGION or cloud)",
    )
    group.add_argument(
        "--base-url", default=argparse.SUPPRESS, help="API base URL (default: $DRUVA_BASE_URL)"
    )
    group.add_argument(
        "--token-url",
        metavar="URL",
        default=argparse.SUPPRESS,
        help="the token endpoint, when it is not the base URL's /token",
    )
    add_number_option(group, "--timeout", "seconds", default=default_of(call, "timeout"))
    group.add_argument(
        "--ca-bundle",
        metavar="PEM",
        default=argparse.SUPPRESS,
        help="extra trusted CA certificates, e.g. a corporate proxy's or the fake server's",
    )
    group.add_argument(
        "--scope", default=argparse.SUPPRESS, help="OAuth scope to request (default: none sent)"
    )


ENDPOINT_OPTIONS = ("region", "base_url", "token_url", "timeout", "ca_bundle", "scope")


def endpoint(arguments: argparse.Namespace) -> dict[str, Any]:
    """Keyword arguments of the endpoint: the options given, ``--region`` /
    ``--base-url`` winning over ``DRUVA_REGION`` / ``DRUVA_BASE_URL``, and
    ``DRUVA_TOKEN_CACHE`` as ``token_cache``."""
    return _env.token_cache_arguments(_env.cloud_arguments(given(arguments, *ENDPOINT_OPTIONS)))


def add_param_option(parser: argparse.ArgumentParser, help: str) -> None:  # noqa: A002
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help=help)


def parse_params(pairs: list[str]) -> list[tuple[str, str]]:
    params = []
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            # Not shown: no value from the command line is repeated (it may be a secret).
            raise CommandError("--param takes KEY=VALUE: one has no KEY or no '='", EXIT_USAGE)
        params.append((key, value))
    return params


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


class SignalledStop:
    """A stop request that a signal handler can make safely: ``set()`` takes
    no lock. (A Python handler runs on the main thread between two of its
    bytecodes, possibly inside a lock the handler would take: a
    ``threading.Event`` set there, say while the main thread is in that
    event's ``wait()`` or in a first handler's ``set()``, waits for itself
    forever.) ``set()`` raises a flag and writes a byte to a socket pair that
    ``wait()`` selects on; the pair is also the interpreter's wakeup fd
    (``signal.set_wakeup_fd``), so a signal that another thread received
    wakes the wait too, and the handler runs as it loops."""

    def __init__(self) -> None:
        self._set = False
        self._receiver, self._sender = socket.socketpair()
        self._receiver.setblocking(False)
        self._sender.setblocking(False)

    def wakeup_fd(self) -> int:
        return self._sender.fileno()

    def set(self) -> None:
        self._set = True
        with contextlib.suppress(OSError):  # full (already woken) or closed
            self._sender.send(b"\0")

    def is_set(self) -> bool:
        return self._set

    def wait(self, timeout: Optional[float] = None) -> bool:
        """``True`` once set; ``False`` if ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._set:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            ready, _, _ = select.select([self._receiver], [], [], left)
            if ready:  # a set(), or a signal's wakeup byte: read, then look again
                with contextlib.suppress(OSError):
                    self._receiver.recv(4096)
        return self._set

    def close(self) -> None:
        self._sender.close()
        self._receiver.close()


@contextlib.contextmanager
def stop_on_signals(
    *signals: signal.Signals, outlast_stop: bool = False
) -> Iterator[SignalledStop]:
    """A stop request made by any of ``signals`` while the block runs (instead
    of KeyboardInterrupt, so a Ctrl-C at any moment is a clean stop). With
    ``outlast_stop``, once a signal has set it the process ignores these
    signals to its end, so a later one cannot cut the clean stop short (the
    interpreter's own handlers are gone while it exits)."""
    stop = SignalledStop()

    def handle(*_: object) -> None:
        stop.set()

    previous: dict[int, Any] = {}
    wakeup = None
    try:
        for number in signals:
            previous[number] = signal.signal(number, handle)
        wakeup = signal.set_wakeup_fd(stop.wakeup_fd(), warn_on_full_buffer=False)
        yield stop
    finally:
        if wakeup is not None:
            signal.set_wakeup_fd(wakeup)
        if outlast_stop and stop.is_set():
            # signal.signal runs the handlers of signals already caught first.
            previous = {number: signal.SIG_IGN for number in previous}
        for caught, handler in previous.items():
            # None: a handler installed outside Python, which cannot be put back.
            signal.signal(caught, signal.SIG_DFL if handler is None else handler)
        stop.close()
