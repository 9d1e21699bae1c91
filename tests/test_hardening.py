"""What a hostile or careless input meets: customer IDs that would change the
token exchange's path, server text that echoes a secret or a token, and a
failed background renewal that must be heard without another call."""

from __future__ import annotations

import base64
import http.server
import json
import logging
import threading
import time
import traceback
import urllib.parse
from collections.abc import Iterator
from typing import Any

import druva
import pytest
from druva.testing import FakeDruva

CUSTOMERS = "/msp/v2/customers"


@pytest.fixture
def msp() -> Iterator[FakeDruva]:
    with FakeDruva(msp=True, customers=2, users=3) as fake:
        yield fake


@pytest.mark.parametrize(
    "customer_id", [".", "..", "a/../b", "a/b", "a?b", "a#b", "%2e%2e", "a\\b"]
)
def test_a_customer_id_that_would_change_the_exchange_path_is_refused_before_any_io(
    msp: FakeDruva, customer_id: str
) -> None:
    with druva.Session(msp.client_id, msp.secret, base_url=msp.base_url, msp=True) as s:
        requests = len(msp.requests)
        with pytest.raises(ValueError, match="customer_id"):
            s.customer(customer_id)
    assert len(msp.requests) == requests, "nothing was sent"


def test_a_customer_id_of_one_segment_is_exchanged_at_its_own_path(msp: FakeDruva) -> None:
    customer_id = msp.customer_ids[0]
    with druva.Session(msp.client_id, msp.secret, base_url=msp.base_url, msp=True) as s:
        assert s.customer(customer_id).get("/insync/usermanagement/v1/users").ok
    paths = [r["path"] for r in msp.requests if r["path"].startswith(CUSTOMERS + "/")]
    assert paths == [f"{CUSTOMERS}/{customer_id}/token"]


# Server text cannot leak: a server that echoes what it received.

SECRET = "s3cr3t/+= x&y"
CLIENT_ID = "echo-client"
TOKEN = "tok-3ch0ed-bearer"


class EchoServer:
    """A loopback server whose token endpoint and API echo the credential
    they received in their error answers. ``token_answers`` are the token
    endpoint's (status, body template) answers in turn, the last repeated;
    ``{echo}`` in a body is replaced by every form of what was sent."""

    def __init__(self, token_answers: list[tuple[int, str]], api_status: int = 401) -> None:
        self.token_answers = list(token_answers)
        self.api_status = api_status
        self.token_requests = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, message: str, *args: Any) -> None:
                pass

            def answer(self, status: int, body: str, headers: dict[str, str]) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                server.token_requests += 1
                answers = server.token_answers
                status, template = answers.pop(0) if len(answers) > 1 else answers[0]
                self.answer(status, template.replace("{echo}", echo(self.headers)), {})

            def do_GET(self) -> None:
                sent = echo(self.headers)
                body = json.dumps({"message": f"token refused: {sent}"})
                self.answer(server.api_status, body, {"WWW-Authenticate": f'Bearer x="{sent}"'})

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def echo(headers: Any) -> str:
    """Every form of the credential a request carried, as a careless server
    might quote it (raw, decoded, URL-encoded), JSON-escaped for a body."""
    authorization = headers.get("Authorization", "")
    scheme, _, credential = authorization.partition(" ")
    forms = [authorization, credential, urllib.parse.quote_plus(credential)]
    if scheme == "Basic":
        decoded = base64.b64decode(credential).decode()
        secret = decoded.partition(":")[2]
        forms += [decoded, secret, urllib.parse.quote_plus(secret), urllib.parse.quote(secret)]
    return json.dumps(" | ".join(forms))[1:-1]


def leaked_forms() -> list[str]:
    basic = base64.b64encode(f"{CLIENT_ID}:{SECRET}".encode()).decode()
    forms = [SECRET, basic, TOKEN]
    forms += [urllib.parse.quote_plus(form) for form in forms]
    forms += [urllib.parse.quote(SECRET)]
    return forms


def assert_no_secret(text: str) -> None:
    for form in leaked_forms():
        assert form not in text, f"{form!r} leaked into: {text}"


def everything_shown_of(error: BaseException) -> str:
    shown = [str(error), repr(error), "".join(traceback.format_exception(type(error), error, None))]
    for name in ("error", "error_description", "message", "code"):
        shown.append(str(getattr(error, name, "")))
    response = getattr(error, "response", None)
    if response is not None:
        shown += [response.text, str(dict(response.headers))]
    return "\n".join(shown)


TOKEN_BODY = json.dumps({"access_token": TOKEN, "token_type": "bearer", "expires_in": 1800})


@pytest.mark.parametrize(
    "answer",
    [
        (400, '{"error": "invalid_grant", "error_description": "bad credential {echo}"}'),
        (401, '{"error": "invalid_client: {echo}"}'),
        (500, '{"code": "Internal {echo}", "message": "Kindly try again: {echo}"}'),
        (418, '{"message": "teapot {echo}"}'),
    ],
    ids=["invalid_grant", "invalid_client", "500", "418"],
)
def test_a_token_endpoint_echoing_the_credential_leaks_it_nowhere(
    answer: tuple[int, str],
) -> None:
    server = EchoServer([answer])
    try:
        with pytest.raises(druva.DruvaError) as raised:
            druva.get_token(CLIENT_ID, SECRET, base_url=server.base_url, force_refresh=True)
    finally:
        server.close()
    shown = everything_shown_of(raised.value)
    assert "***" in shown, "the echo was there, redacted"
    assert_no_secret(shown)


@pytest.mark.parametrize("status", [401, 403])
def test_an_api_echoing_the_bearer_token_in_a_refusal_leaks_it_nowhere(status: int) -> None:
    server = EchoServer([(200, TOKEN_BODY)], api_status=status)
    try:
        with druva.Session(CLIENT_ID, SECRET, base_url=server.base_url) as s:
            response = s.get("/insync/usermanagement/v1/users")
            assert response.status_code == status
            assert_no_secret(response.text)
            with pytest.raises(druva.HTTPStatusError) as raised:
                response.raise_for_status()
            with pytest.raises(druva.HTTPStatusError) as paged:
                list(s.paginate("/insync/usermanagement/v1/users"))
    finally:
        server.close()
    for error in (raised.value, paged.value):
        shown = everything_shown_of(error)
        assert "***" in shown
        assert_no_secret(shown)


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_a_failed_renewal_is_logged_within_moments_and_without_the_echoed_secret() -> None:
    # A token of 4 s is renewed from 2 s before its expiry; the renewal's
    # answers echo the Basic credential (a 500, retried with backoff).
    short = json.dumps({"access_token": TOKEN, "token_type": "bearer", "expires_in": 4})
    server = EchoServer([(200, short), (500, '{"message": "down, you sent {echo}"}')])
    logger = logging.getLogger("druva")
    records = Records()
    logger.addHandler(records)
    try:
        druva.get_token(CLIENT_ID, SECRET, base_url=server.base_url, force_refresh=True)
        warnings: list[logging.LogRecord] = []
        # The main thread only reads cached tokens and sleeps: no blocking
        # call goes through druva's runtime to carry the record to Python.
        for _ in range(100):
            druva.get_token(CLIENT_ID, SECRET, base_url=server.base_url)
            warnings = [r for r in records.records if r.levelno == logging.WARNING]
            if warnings:
                break
            time.sleep(0.05)
    finally:
        logger.removeHandler(records)
        server.close()
    assert warnings, "the failed renewal's WARNING reached the handler"
    message = warnings[0].getMessage()
    assert "renewing the token" in message and "***" in message, message
    assert_no_secret(message)
