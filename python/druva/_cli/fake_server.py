"""``druva fake-server``: a FakeDruva in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys

from druva._cli._common import add_command, add_number_option, default_of, given, stop_on_signals
from druva.testing import FakeDruva

# Each option is passed only when given, so FakeDruva's own defaults apply.
OPTIONS = ("port", "users", "token_lifetime", "page_size", "tls")
NUMBERS = {
    "users": (int, "synthetic users"),
    "token_lifetime": (float, "token lifetime, seconds"),
    "page_size": (int, "default page size"),
}


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    fake = add_command(
        commands,
        "fake-server",
        help="run a fake Druva server in the foreground",
        description="""Run a FakeDruva on 127.0.0.1 until Ctrl-C: it prints its URL
        and generated credentials as export lines for another shell.""",
        epilog="example:\n  druva fake-server --users 5000 --port 8000",
    )

    fake.add_argument(
        "--port", type=int, default=argparse.SUPPRESS, help="port (default: a free one)"
    )
    for name, (kind, text) in NUMBERS.items():
        option = "--" + name.replace("_", "-")
        add_number_option(fake, option, text, default=default_of(FakeDruva, name), kind=kind)
    fake.add_argument(
        "--tls",
        action="store_true",
        default=argparse.SUPPRESS,
        help="serve HTTPS with a generated CA",
    )
    fake.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    fake = FakeDruva(**given(arguments, *OPTIONS))
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
