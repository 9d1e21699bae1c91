"""The ``druva`` command line: ``token``, ``get``, ``export``, ``fake-server`` and ``demo``.

One module a command, each with ``add_parser`` and ``run``; what they share
(the parser, the endpoint options, credentials, exit codes) is in ``_common``.
Credentials come from ``DRUVA_CLIENT_ID`` / ``DRUVA_SECRET_KEY`` (and
``DRUVA_REGION`` / ``DRUVA_BASE_URL``) or, on a terminal, a hidden prompt;
never from the command line, which other users of the machine can read.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

import druva
from druva._cli import demo, export, fake_server, get, token
from druva._cli._common import (
    CREDENTIALS_HELP,
    EXIT_AUTHENTICATION,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CommandError,
    Parser,
    help_formatter,
)

__all__ = ["build_parser", "main", "run"]

COMMANDS = (token, get, export, fake_server, demo)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Runs the ``druva`` command and exits with its status."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    sys.exit(run(build_parser().parse_args(arguments)))


def build_parser() -> argparse.ArgumentParser:
    """The ``druva`` parser: one sub-command a task, each with its own ``--help``."""
    parser = Parser(
        prog="druva",
        description="OAuth 2.0 tokens and authenticated calls for the Druva REST APIs.",
        epilog="start with `druva demo`: the whole flow against an embedded fake Druva\n\n"
        + CREDENTIALS_HELP,
        formatter_class=help_formatter,
    )
    parser.add_argument("--version", action="version", version=f"druva {druva.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parser(commands)
    return parser


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
        return fail(in_cli_terms(str(error)), EXIT_ERROR)
    except (ValueError, TypeError) as error:
        # Raised before any network I/O for a bad argument, path or setting.
        return fail(str(error), EXIT_USAGE)
    except BrokenPipeError:
        # The reader went away (``druva get ... | head``): as for any Unix tool,
        # not an error. Point stdout at devnull so the interpreter's final flush
        # is quiet (the Python documentation's advice for SIGPIPE).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED)
    return status


# The library's TLS hint names its keyword argument; the command's option is --ca-bundle.
LIBRARY_CA_HINT = "pass ca_bundle="
CLI_CA_HINT = "pass --ca-bundle PEM"


def in_cli_terms(message: str) -> str:
    """A library message with its advice put in terms of the command's options."""
    return message.replace(LIBRARY_CA_HINT, CLI_CA_HINT)


def fail(message: str, exit_code: int) -> int:
    print(f"druva: {message}", file=sys.stderr)
    return exit_code
