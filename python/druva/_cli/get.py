"""``druva get``: GET an API path and print its JSON, one page or every page."""

from __future__ import annotations

import argparse
import json
import sys

import druva
from druva._cli._common import (
    Progress,
    add_api_command,
    add_param_option,
    credentials,
    endpoint,
    given,
    parse_params,
)


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    get = add_api_command(
        commands,
        "get",
        help="GET an API path and print the JSON",
        description="""GET an API path and print its JSON. With --all, follow every
        page and print one merged list (progress on stderr when it is a terminal).""",
        examples="examples:\n"
        "  druva get /insync/endpoints/v1/devices --param pageSize=10\n"
        "  druva get /insync/usermanagement/v1/users --all > users.json",
        call=druva.Session,
    )
    get.add_argument("path", help="API path, e.g. /insync/usermanagement/v1/users")
    add_param_option(get, "query parameter (repeatable)")
    get.add_argument("--all", action="store_true", help="follow every page, print one list")
    get.add_argument(
        "--items",
        default=argparse.SUPPRESS,
        help="with --all: the list field to collect (default: the only one)",
    )
    get.set_defaults(run=run)


def run(arguments: argparse.Namespace) -> int:
    client_id, secret = credentials()
    params = parse_params(arguments.param)
    with druva.Session(client_id, secret, **endpoint(arguments)) as session:
        if not arguments.all:
            response = session.get(arguments.path, params=params).raise_for_status()
            print(json.dumps(response.json(), indent=2))
            return 0
        progress = Progress(sys.stderr)
        pages = session.paginate(arguments.path, params=params, **given(arguments, "items"))
        merged = []
        for item in pages:
            merged.append(item)
            progress.show(len(merged), pages.pages)
        progress.done(len(merged), pages.pages)
        print(json.dumps(merged, indent=2))
    return 0
