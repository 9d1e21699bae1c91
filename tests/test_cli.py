"""The ``druva`` command line, run as a user runs it: a separate process, with
credentials in the environment (or typed at a terminal), never on the command line."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from druva.testing import FakeDruva

from .conftest import RawServer

USERS = "/insync/usermanagement/v1/users"
COMMANDS = ["token", "get", "export", "fake-server", "demo"]
# The console script that `pip install` put beside this interpreter.
DRUVA = str(Path(sysconfig.get_path("scripts")) / "druva")


def clean_environment(**variables: str) -> dict[str, str]:
    """This process's environment without any DRUVA_* variable, plus ``variables``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DRUVA_")}
    env.update(variables)
    return env


def druva(
    *arguments: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Runs the ``druva`` console script with stdin that is not a terminal."""
    return subprocess.run(
        [DRUVA, *arguments],
        env=clean_environment() if env is None else dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def credentials(fake: FakeDruva) -> dict[str, str]:
    """An environment whose DRUVA_* variables point at the fake."""
    return clean_environment(
        DRUVA_CLIENT_ID=fake.client_id,
        DRUVA_SECRET_KEY=fake.secret,
        DRUVA_BASE_URL=fake.base_url,
    )


def assert_secret_not_shown(result: subprocess.CompletedProcess[str], secret: str) -> None:
    assert secret not in result.stdout
    assert secret not in result.stderr


# Help


def test_the_console_script_is_installed() -> None:
    assert Path(DRUVA).is_file(), f"pip install . should have installed {DRUVA}"


def test_help_lists_every_command_and_the_exit_codes() -> None:
    result = druva("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: druva")
    for command in COMMANDS:
        assert command in result.stdout
    assert "DRUVA_CLIENT_ID" in result.stdout
    assert "3 authentication refused" in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = druva(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: druva {command}")
    assert result.stderr == ""


@pytest.mark.parametrize("columns", ["80", "250"])
@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_lines_fit_in_100_columns(command: str, columns: str) -> None:
    # COLUMNS: the width argparse takes for the terminal's.
    result = druva(
        *([command] if command else []), "--help", env=clean_environment(COLUMNS=columns)
    )

    assert result.returncode == 0, result.stderr
    longest = max(result.stdout.splitlines(), key=len)
    assert len(longest) <= 100, longest


@pytest.mark.parametrize("command", ["token", "get", "export"])
def test_commands_that_get_a_token_take_token_url_and_scope(command: str) -> None:
    result = druva(command, "--help")

    assert "--token-url URL" in result.stdout
    assert "--scope SCOPE" in result.stdout


def test_python_dash_m_druva_is_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "druva", "--help"],
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == druva("--help").stdout


def test_version_is_the_package_version() -> None:
    import druva as package

    result = druva("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"druva {package.__version__}"


def test_no_command_is_a_usage_error() -> None:
    result = druva()
    assert result.returncode == 2
    assert "usage: druva" in result.stderr


# druva token


def test_token_prints_the_token_as_json(fake: FakeDruva, credentials: dict[str, str]) -> None:
    result = druva("token", env=credentials)

    assert result.returncode == 0, result.stderr
    token = json.loads(result.stdout)
    assert token["access_token"]
    assert token["token_type"] == "bearer"
    assert 0 < token["expires_in"] <= 1800
    assert abs(token["expires_at"] - (time.time() + token["expires_in"])) < 60
    assert fake.token_requests == 1
    assert_secret_not_shown(result, fake.secret)


def test_token_options_override_the_environment(
    fake: FakeDruva, credentials: dict[str, str]
) -> None:
    credentials["DRUVA_BASE_URL"] = "http://127.0.0.1:9"  # discard port: nothing listens

    result = druva("token", "--base-url", fake.base_url, env=credentials)

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["token_type"] == "bearer"


def test_token_without_credentials_exits_2_and_never_prompts() -> None:
    started = time.monotonic()
    result = druva("token", timeout=60)

    assert result.returncode == 2
    assert result.stdout == ""
    assert "DRUVA_CLIENT_ID and DRUVA_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert "Client ID:" not in result.stderr  # no prompt when stdin is not a terminal
    assert time.monotonic() - started < 30


def test_a_missing_secret_is_named(fake: FakeDruva) -> None:
    result = druva("token", env=clean_environment(DRUVA_CLIENT_ID=fake.client_id))

    assert result.returncode == 2
    assert "set DRUVA_SECRET_KEY" in result.stderr
    assert "DRUVA_CLIENT_ID" not in result.stderr


def test_bad_credentials_exit_3_without_showing_the_secret(
    fake: FakeDruva, credentials: dict[str, str]
) -> None:
    wrong_secret = "wrong-" + fake.secret
    credentials["DRUVA_SECRET_KEY"] = wrong_secret

    result = druva("token", env=credentials)

    assert result.returncode == 3
    assert result.stdout == ""
    assert "refused the credentials" in result.stderr
    assert "Traceback" not in result.stderr
    assert_secret_not_shown(result, wrong_secret)
    assert fake.token_requests == 1, "an authentication failure is never retried"


def test_a_secret_option_is_refused_without_echoing_it(credentials: dict[str, str]) -> None:
    result = druva("token", "--secret", "s3cr3t-on-argv", env=credentials)

    assert result.returncode == 2
    assert "DRUVA_SECRET_KEY" in result.stderr
    assert_secret_not_shown(result, "s3cr3t-on-argv")


@pytest.mark.parametrize(
    "arguments",
    [
        ["--client_secret", "s3cr3t-on-argv"],
        ["--client_secret=s3cr3t-on-argv"],
        ["--sec", "s3cr3t-on-argv"],
        ["--key", "s3cr3t-on-argv"],
        ["--api-key", "s3cr3t-on-argv"],
        ["--api-key=s3cr3t-on-argv"],
        ["-s", "s3cr3t-on-argv"],
        ["-ss3cr3t-on-argv"],
        ["--token", "s3cr3t-on-argv"],
        ["--timeout", "s3cr3t-on-argv"],
        ["--region", "s3cr3t-on-argv"],
        ["--all=s3cr3t-on-argv"],
        ["--token", "it's-s3cr3t-on-argv"],
    ],
)
@pytest.mark.parametrize("command", ["token", "get"])
def test_a_usage_error_never_echoes_a_value(
    command: str, arguments: list[str], credentials: dict[str, str]
) -> None:
    positional = [USERS] if command == "get" else []
    result = druva(command, *positional, *arguments, env=credentials)

    assert result.returncode == 2
    assert "usage: druva" in result.stderr
    assert "error:" in result.stderr
    assert "s3cr3t" not in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("command", ["token", "get"])
def test_a_value_attached_to_help_is_never_echoed(
    command: str, credentials: dict[str, str]
) -> None:
    positional = [USERS] if command == "get" else []
    result = druva(command, *positional, "-hs3cr3t-on-argv", env=credentials)

    # Python 3.13 shows the help for -hVALUE; older ones refuse the value.
    assert result.returncode in (0, 2)
    assert "usage: druva" in result.stdout + result.stderr
    assert "s3cr3t" not in result.stdout + result.stderr


def test_a_usage_error_still_names_the_unknown_option(credentials: dict[str, str]) -> None:
    result = druva("token", "--api-key", "s3cr3t-on-argv", env=credentials)

    assert result.returncode == 2
    assert "unrecognized arguments: --api-key …" in result.stderr


def test_an_unknown_command_is_named_by_its_choices_only() -> None:
    result = druva("s3cr3t-on-argv")

    assert result.returncode == 2
    assert "invalid choice" in result.stderr
    assert "s3cr3t" not in result.stderr


def test_an_unknown_region_is_a_usage_error(credentials: dict[str, str]) -> None:
    credentials["DRUVA_REGION"] = "mars"
    del credentials["DRUVA_BASE_URL"]

    result = druva("token", env=credentials)

    assert result.returncode == 2
    assert 'unknown region "mars"' in result.stderr


def test_token_url_names_a_token_endpoint_elsewhere(
    fake: FakeDruva, credentials: dict[str, str]
) -> None:
    # Nothing listens at the base URL (the discard port): the token comes from --token-url.
    credentials["DRUVA_BASE_URL"] = "http://127.0.0.1:9"

    refused = druva("token", env=credentials)
    result = druva("token", "--token-url", fake.token_url, env=credentials)

    assert refused.returncode != 0
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["token_type"] == "bearer"


# druva get


@pytest.mark.parametrize("command", ["get", "export"])
def test_get_and_export_send_the_scope_to_the_token_url(
    command: str, raw_token_server: RawServer, credentials: dict[str, str], tmp_path: Path
) -> None:
    out = ["--out", str(tmp_path / "users.jsonl")] if command == "export" else []
    token_url = raw_token_server.base_url + "/oauth2/token"

    druva(command, USERS, *out, "--token-url", token_url, "--scope", "read", env=credentials)

    first_line, _, body = raw_token_server.requests[0].partition(b"\r\n")
    assert first_line == b"POST /oauth2/token HTTP/1.1"
    assert b"scope=read" in body


def test_get_prints_one_page_as_json(fake: FakeDruva, credentials: dict[str, str]) -> None:
    result = druva("get", USERS, env=credentials)

    assert result.returncode == 0, result.stderr
    page = json.loads(result.stdout)
    assert page["totalSize"] == 250
    assert len(page["users"]) == 100
    assert page["nextPageToken"]
    assert_secret_not_shown(result, fake.secret)


def test_get_param_is_sent_as_a_query_parameter(
    fake: FakeDruva, credentials: dict[str, str]
) -> None:
    result = druva("get", USERS, "--param", "pageSize=7", env=credentials)

    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["users"]) == 7
    assert fake.requests[-1]["query"] == "pageSize=7"


def test_get_all_prints_every_page_as_one_list(
    fake: FakeDruva, credentials: dict[str, str]
) -> None:
    result = druva("get", USERS, "--all", env=credentials)

    assert result.returncode == 0, result.stderr
    users = json.loads(result.stdout)
    assert isinstance(users, list)
    assert len(users) == 250
    assert len({user["userID"] for user in users}) == 250
    assert fake.api_requests == 3
    assert result.stderr == "", "progress is shown only when stderr is a terminal"
    assert_secret_not_shown(result, fake.secret)


def test_get_all_collects_the_items_field_it_is_given(
    fake: FakeDruva, credentials: dict[str, str]
) -> None:
    result = druva("get", USERS, "--all", "--items", "users", env=credentials)

    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 250


def test_get_all_with_a_page_size_follows_every_page(
    fake: FakeDruva, credentials: dict[str, str]
) -> None:
    result = druva("get", USERS, "--all", "--param", "pageSize=7", env=credentials)

    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 250
    assert fake.api_requests == 36  # ceil(250 / 7)


def test_get_param_without_equals_is_a_usage_error(credentials: dict[str, str]) -> None:
    result = druva("get", USERS, "--param", "pageSize", env=credentials)

    assert result.returncode == 2
    assert "KEY=VALUE" in result.stderr
    assert "pageSize" not in result.stderr, "no value from the command line is repeated"


def test_get_an_error_status_exits_1_with_druvas_message(credentials: dict[str, str]) -> None:
    result = druva("get", "/insync/nothing/here", env=credentials)

    assert result.returncode == 1
    assert result.stdout == ""
    assert "404" in result.stderr
    assert "InsyncCommon-404" in result.stderr
    assert "Traceback" not in result.stderr


def test_get_a_body_that_is_not_json_exits_1_not_as_a_usage_error(
    fake: FakeDruva, credentials: dict[str, str]
) -> None:
    fake.malform_next(path=USERS)

    result = druva("get", USERS, env=credentials)

    assert result.returncode == 1, result.stderr
    assert "Expecting" in result.stderr
    assert "Traceback" not in result.stderr


def test_get_a_foreign_origin_is_refused(fake: FakeDruva, credentials: dict[str, str]) -> None:
    result = druva("get", "https://example.com/steal", env=credentials)

    assert result.returncode == 2
    assert "origin" in result.stderr
    assert fake.token_requests == 0


def test_get_over_https_trusts_the_ca_bundle_it_is_given() -> None:
    with FakeDruva(users=5, tls=True) as fake:
        assert fake.ca_bundle is not None
        env = clean_environment(
            DRUVA_CLIENT_ID=fake.client_id,
            DRUVA_SECRET_KEY=fake.secret,
            DRUVA_BASE_URL=fake.base_url,
        )

        refused = druva("get", USERS, env=env)
        trusted = druva("get", USERS, "--ca-bundle", fake.ca_bundle, env=env)

    assert refused.returncode == 1
    assert "certificate" in refused.stderr
    assert "pass --ca-bundle PEM" in refused.stderr
    assert "ca_bundle=" not in refused.stderr
    assert trusted.returncode == 0, trusted.stderr
    assert len(json.loads(trusted.stdout)["users"]) == 5


def test_get_into_a_closed_pipe_ends_quietly(credentials: dict[str, str]) -> None:
    # `druva get ... --all | head -c 0`: the reader is gone before the output comes.
    reader, writer = os.pipe()
    os.close(reader)
    try:
        result = subprocess.run(
            [DRUVA, "get", USERS, "--all"],
            env=credentials,
            stdin=subprocess.DEVNULL,
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    finally:
        os.close(writer)

    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    assert "Exception ignored" not in result.stderr


def test_get_into_a_reader_that_stops_early_exits_0_quietly(credentials: dict[str, str]) -> None:
    # `druva get ... --all | head -c 100`: the reader takes a little, then goes away
    # while druva still writes (2,000 users are more than a pipe's buffer).
    with FakeDruva(users=2000) as big:
        credentials["DRUVA_BASE_URL"] = big.base_url
        credentials["DRUVA_CLIENT_ID"] = big.client_id
        credentials["DRUVA_SECRET_KEY"] = big.secret
        child = subprocess.Popen(
            [DRUVA, "get", USERS, "--all"],
            env=credentials,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None and child.stderr is not None
        first = child.stdout.read(100)
        child.stdout.close()
        stderr = child.stderr.read().decode()
        status = child.wait(timeout=120)

    assert first.startswith(b"[")
    assert status == 0, stderr
    assert stderr == ""


# druva fake-server


@pytest.fixture
def fake_server() -> Iterator[subprocess.Popen[str]]:
    child = subprocess.Popen(
        [DRUVA, "fake-server", "--port", "0", "--users", "5"],
        env=clean_environment(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    yield child
    if child.poll() is None:
        child.kill()
    child.communicate(timeout=30)


def read_announcement(child: subprocess.Popen[str]) -> dict[str, str]:
    """The ``export NAME=value`` lines the fake server prints before it waits."""
    assert child.stdout is not None
    exports: dict[str, str] = {}
    for line in child.stdout:
        if line.strip().startswith("export "):
            name, _, value = line.strip().removeprefix("export ").partition("=")
            exports[name] = value
        if line.startswith("Ctrl-C stops it."):
            return exports
    raise AssertionError(f"fake-server ended early: {child.communicate(timeout=30)[1]}")


def test_fake_server_prints_working_credentials_and_stops_on_ctrl_c(
    fake_server: subprocess.Popen[str],
) -> None:
    exports = read_announcement(fake_server)
    base_url = exports["DRUVA_BASE_URL"]
    assert base_url.startswith("http://127.0.0.1:")

    result = druva("get", USERS, "--all", env=clean_environment(**exports))
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)) == 5

    fake_server.send_signal(signal.SIGINT)
    _, stderr = fake_server.communicate(timeout=30)
    assert fake_server.returncode == 0, stderr
    assert "Traceback" not in stderr
    port = int(base_url.rsplit(":", 1)[1])
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=5).close()


def test_fake_server_passes_only_the_options_given() -> None:
    from druva import _cli
    from druva._cli import fake_server

    def given(*arguments: str) -> dict[str, object]:
        namespace = _cli.build_parser().parse_args(["fake-server", *arguments])
        return {name: getattr(namespace, name) for name in fake_server.OPTIONS if name in namespace}

    assert given() == {}
    assert given("--users", "5", "--tls") == {"users": 5, "tls": True}


def test_fake_server_help_quotes_fakedruvas_defaults() -> None:
    import inspect

    defaults = inspect.signature(FakeDruva).parameters
    result = druva("fake-server", "--help")

    assert f"(default {defaults['users'].default})" in result.stdout
    assert f"(default {defaults['page_size'].default})" in result.stdout


def test_fake_server_stops_cleanly_on_sigterm(fake_server: subprocess.Popen[str]) -> None:
    read_announcement(fake_server)

    fake_server.terminate()

    _, stderr = fake_server.communicate(timeout=30)
    assert fake_server.returncode == 0, stderr
    assert "stopped" in stderr


# A handler runs between two bytecodes of the main thread: these signals land
# at each line in turn of the wait, of the stop and of the handler itself (a
# second one nests in the first). A handler that takes a lock the main thread
# holds there never returns; the watchdog then ends the child with exit 1.
SIGNAL_AT_EVERY_LINE = """
import faulthandler, os, signal, sys
from druva._cli._common import stop_on_signals

faulthandler.dump_traceback_later(30, exit=True)
for outlast in (False, True):
    for at in range(1, 60):
        lines = 0

        def trace(frame, event, argument):
            global lines
            if event == "line":
                lines += 1
                if lines in (at, at + 2):
                    os.kill(os.getpid(), signal.SIGTERM if lines == at else signal.SIGINT)
            return trace

        with stop_on_signals(signal.SIGINT, signal.SIGTERM, outlast_stop=outlast) as stop:
            sys.settrace(trace)
            while not stop.wait(0.01):
                pass
            sys.settrace(None)
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, signal.default_int_handler)
print("stopped every time")
"""


# The kernel may hand a process's signal to any of its threads (a runtime
# worker, say); the wait in the main thread must end all the same.
SIGNAL_TO_ANOTHER_THREAD = """
import signal, threading, time
from druva._cli._common import stop_on_signals

with stop_on_signals(signal.SIGINT, signal.SIGTERM) as stop:
    def signal_this_thread():
        time.sleep(0.2)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)

    threading.Thread(target=signal_this_thread).start()
    print("stopped" if stop.wait() else "woken, not stopped")
"""


def test_a_signal_that_another_thread_receives_ends_the_wait() -> None:
    child = subprocess.run(
        [sys.executable, "-c", SIGNAL_TO_ANOTHER_THREAD], capture_output=True, text=True, timeout=60
    )

    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "stopped"


def test_a_signal_at_any_moment_of_a_wait_stops_it_and_never_deadlocks() -> None:
    child = subprocess.run(
        [sys.executable, "-c", SIGNAL_AT_EVERY_LINE], capture_output=True, text=True, timeout=120
    )

    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "stopped every time"


# druva demo


def test_demo_walks_the_whole_flow_and_exits_0() -> None:
    result = druva("demo")

    assert result.returncode == 0, result.stderr
    assert "same token: True" in result.stdout
    assert "1000 users in 2 pages" in result.stdout
    assert "renewed its token" in result.stdout
    assert "status 200 after two retried 503s" in result.stdout
    assert "100 of 100 OK" in result.stdout
    assert "Traceback" not in result.stderr


# A terminal: the hidden prompt and the progress line


# Started in the child with its stdin on the terminal and in a new session: opening the
# terminal makes it the controlling one, as for a login shell (getpass needs /dev/tty).
# A fresh one-thread process does this, not a fork of this multi-threaded one.
TAKE_THE_TERMINAL = (
    "import os, sys\nos.open(os.ttyname(0), os.O_RDWR)\nos.execv(sys.argv[1], sys.argv[1:])\n"
)


def run_on_terminal(
    arguments: list[str], env: Mapping[str, str], stdout: Path, replies: Mapping[str, str]
) -> tuple[int, str]:
    """Runs druva with stdin and stderr on a new pseudo-terminal (its controlling
    terminal, as in an interactive shell) and stdout redirected to a file.
    Answers each prompt in ``replies`` when it appears; returns the exit status
    and everything the terminal showed."""
    terminal, child_side = os.openpty()
    with stdout.open("wb") as output:
        child = subprocess.Popen(
            [sys.executable, "-c", TAKE_THE_TERMINAL, DRUVA, *arguments],
            env=dict(env),
            stdin=child_side,
            stdout=output,
            stderr=child_side,
            start_new_session=True,
        )
    os.close(child_side)
    shown = ""
    pending = dict(replies)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([terminal], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(terminal, 4096).decode(errors="replace")
        except OSError:  # EIO: every process closed its side of the terminal
            break
        if not chunk:
            break
        shown += chunk
        for prompt, reply in list(pending.items()):
            if shown.rstrip().endswith(prompt.rstrip()):
                os.write(terminal, reply.encode() + b"\n")
                del pending[prompt]
    os.close(terminal)
    try:
        return child.wait(timeout=30), shown
    finally:
        if child.poll() is None:
            child.kill()


def test_token_on_a_terminal_prompts_and_hides_the_secret(fake: FakeDruva, tmp_path: Path) -> None:
    # `druva token > token.json` typed at a shell, with no credentials set.
    status, shown = run_on_terminal(
        ["token"],
        clean_environment(DRUVA_BASE_URL=fake.base_url),
        tmp_path / "token.json",
        {"Druva Client ID:": fake.client_id, "Druva Secret Key:": fake.secret},
    )

    assert status == 0, shown
    assert "Druva Client ID:" in shown
    assert "Druva Secret Key:" in shown
    assert fake.client_id in shown  # echoed as typed
    assert fake.secret not in shown  # typed, but hidden
    token = json.loads((tmp_path / "token.json").read_text())
    assert token["token_type"] == "bearer"


def test_get_all_shows_progress_on_a_terminal(credentials: dict[str, str], tmp_path: Path) -> None:
    status, shown = run_on_terminal(
        ["get", USERS, "--all", "--param", "pageSize=50"], credentials, tmp_path / "users.json", {}
    )

    assert status == 0, shown
    assert "250 records, 5 pages" in shown
    assert len(json.loads((tmp_path / "users.json").read_text())) == 250
