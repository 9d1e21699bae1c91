"""``druva token``: print an access token as JSON."""

from __future__ import annotations

import argparse
import json

import druva
from druva._cli._common import (
    CREDENTIALS_HELP,
    add_command,
    add_endpoint_options,
    add_scope_option,
    credentials,
    default_of,
    endpoint,
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = add_command(
        commands,
        "token",
        help="print an access token as JSON",
        description="""Print an access token as JSON: the dict druva.get_token()
        returns (access_token, token_type, expires_in, expires_at).""",
        epilog="example:\n  druva token > token.json\n\n" + CREDENTIALS_HELP,
    )
    add_endpoint_options(token, timeout_default=default_of(druva.get_token, "timeout"))
    add_scope_option(token)
    token.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    client_id, secret = credentials()
    token = druva.get_token(client_id, secret, **endpoint(arguments))
    print(json.dumps(dict(token), indent=2))
    return 0
