"""``druva token``: print an access token as JSON."""

from __future__ import annotations

import argparse
import json

import druva
from druva._cli._common import add_api_command, credentials, endpoint


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    token = add_api_command(
        commands,
        "token",
        help="print an access token as JSON",
        description="""Print an access token as JSON: the dict druva.get_token()
        returns (access_token, token_type, expires_in, expires_at).""",
        examples="example:\n  druva token > token.json",
        call=druva.get_token,
    )
    token.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    client_id, secret = credentials()
    token = druva.get_token(client_id, secret, **endpoint(arguments))
    print(json.dumps(dict(token), indent=2))
    return 0
