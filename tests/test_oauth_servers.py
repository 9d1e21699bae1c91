"""druva against a real OAuth 2.0 authorization server nobody here wrote:
Authlib's, run by Flask on loopback, with one client that may authenticate
only with ``client_secret_post`` and a client-credentials grant that requires
an ``audience`` and takes repeated ``resource`` fields. Its protected API
answers 401 to a token the server revoked."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import druva
import pytest

flask = pytest.importorskip("flask")
pytest.importorskip("authlib")
requests = pytest.importorskip("requests")

from authlib.integrations.flask_oauth2 import (  # noqa: E402
    AuthorizationServer,
    ResourceProtector,
    current_token,
)
from authlib.oauth2.rfc6749 import ClientMixin, TokenMixin, grants  # noqa: E402
from authlib.oauth2.rfc6749.errors import InvalidRequestError  # noqa: E402
from authlib.oauth2.rfc6750 import BearerTokenValidator  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

CLIENT_ID = "authlib-post-client"
AUDIENCE = "https://api.example.test"
TOKEN_PARAMS = {"audience": AUDIENCE, "resource": ["https://a.example", "https://b.example"]}


@dataclass
class Client(ClientMixin):  # type: ignore[misc]
    """A confidential client allowed client_secret_post only."""

    client_id: str
    client_secret: str

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str:
        return ""

    def get_allowed_scope(self, scope: str | None) -> str:
        return scope or ""

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return False

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret.encode(), self.client_secret.encode())

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        # The client's token_endpoint_auth_method.
        return endpoint == "token" and method == "client_secret_post"

    def check_response_type(self, response_type: str) -> bool:
        return False

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "client_credentials"


@dataclass
class IssuedToken(TokenMixin):  # type: ignore[misc]
    access_token: str
    client_id: str
    scope: str
    issued_at: float
    expires_in: int
    revoked: bool = False

    def check_client(self, client: Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return self.expires_in

    def is_expired(self) -> bool:
        return time.time() >= self.issued_at + self.expires_in

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class OAuthServer:
    """The running server, what it issued and the token requests it granted."""

    base_url: str
    secret: str
    tokens: dict[str, IssuedToken] = field(default_factory=dict)
    granted: list[dict[str, list[str]]] = field(default_factory=list)

    def revoke_all(self) -> None:
        for token in self.tokens.values():
            token.revoked = True


def start_server(server: OAuthServer) -> Any:
    app = flask.Flask("authlib-test-server")

    class AudienceClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
        """The client-credentials grant, requiring an audience (as Auth0 or
        an MCP server would) and recording every field it was sent. The
        server takes both methods; the client is allowed only one."""

        TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = [
            "client_secret_basic",
            "client_secret_post",
        ]

        def validate_token_request(self) -> None:
            super().validate_token_request()
            fields = {name: list(values) for name, values in self.request.payload.datalist.items()}
            if fields.get("audience") != [AUDIENCE]:
                raise InvalidRequestError(f"audience must be {AUDIENCE}")
            server.granted.append(fields)

    def query_client(client_id: str) -> Client | None:
        return Client(CLIENT_ID, server.secret) if client_id == CLIENT_ID else None

    def save_token(token: dict[str, Any], request: Any) -> None:
        server.tokens[token["access_token"]] = IssuedToken(
            access_token=token["access_token"],
            client_id=request.client.client_id,
            scope=token.get("scope", ""),
            issued_at=time.time(),
            expires_in=token["expires_in"],
        )

    authorization = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    authorization.register_grant(AudienceClientCredentialsGrant)

    class Validator(BearerTokenValidator):  # type: ignore[misc]
        def authenticate_token(self, token_string: str) -> IssuedToken | None:
            return server.tokens.get(token_string)

    require_oauth = ResourceProtector()
    require_oauth.register_token_validator(Validator())

    @app.route("/token", methods=["POST"])
    def issue_token() -> Any:
        return authorization.create_token_response()

    @app.route("/api/whoami")
    @require_oauth()
    def whoami() -> Any:
        return {"client_id": current_token.client_id}

    return make_server("127.0.0.1", 0, app, threaded=True)


@pytest.fixture
def oauth_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[OAuthServer]:
    # Authlib refuses plain http unless told it is a test on loopback.
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    server = OAuthServer(base_url="", secret=secrets.token_urlsafe(16) + "&+/ é")
    http = start_server(server)
    server.base_url = f"http://127.0.0.1:{http.server_port}"
    thread = threading.Thread(target=http.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        http.shutdown()
        thread.join(timeout=10)


def options(server: OAuthServer, **overrides: Any) -> dict[str, Any]:
    return {
        "base_url": server.base_url,
        "client_auth": "post",
        "token_params": TOKEN_PARAMS,
        "timeout": 10.0,
        **overrides,
    }


EXPECTED_FIELDS = {
    "grant_type": ["client_credentials"],
    "audience": [AUDIENCE],
    "resource": ["https://a.example", "https://b.example"],
    "client_id": [CLIENT_ID],
}


def assert_granted_with_the_params(server: OAuthServer, count: int) -> None:
    assert len(server.granted) == count
    for fields in server.granted:
        fields = {name: values for name, values in fields.items() if name != "client_secret"}
        assert fields == EXPECTED_FIELDS


def test_client_secret_post_and_token_params_get_a_token_authlib_accepts(
    oauth_server: OAuthServer,
) -> None:
    token = druva.get_token(CLIENT_ID, oauth_server.secret, **options(oauth_server))
    assert token["token_type"].lower() == "bearer"
    assert token["access_token"] in oauth_server.tokens
    assert_granted_with_the_params(oauth_server, 1)
    with druva.Session(CLIENT_ID, oauth_server.secret, **options(oauth_server)) as session:
        answer = session.get("/api/whoami")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"client_id": CLIENT_ID}
    assert_granted_with_the_params(oauth_server, 1)


def test_basic_authentication_is_refused_by_a_post_only_client(oauth_server: OAuthServer) -> None:
    basic = options(oauth_server, client_auth="basic")
    with pytest.raises(druva.AuthenticationError) as caught:
        druva.get_token(CLIENT_ID, oauth_server.secret, **basic)
    assert caught.value.error == "invalid_client"
    assert oauth_server.secret not in str(caught.value)
    assert oauth_server.granted == []


def test_a_missing_audience_is_an_authentication_error_quoting_the_server(
    oauth_server: OAuthServer,
) -> None:
    with pytest.raises(druva.AuthenticationError) as caught:
        druva.get_token(CLIENT_ID, oauth_server.secret, **options(oauth_server, token_params=None))
    assert caught.value.error == "invalid_request"
    assert AUDIENCE in (caught.value.error_description or "")


def test_a_revoked_token_is_renewed_once_with_the_same_params(oauth_server: OAuthServer) -> None:
    with druva.Session(CLIENT_ID, oauth_server.secret, **options(oauth_server)) as session:
        assert session.get("/api/whoami").status_code == 200
        oauth_server.revoke_all()
        answer = session.get("/api/whoami")
        assert answer.status_code == 200, answer.text
        assert session.get("/api/whoami").status_code == 200
    assert_granted_with_the_params(oauth_server, 2)


def test_an_async_session_renews_a_revoked_token_with_the_same_params(
    oauth_server: OAuthServer,
) -> None:
    async def calls() -> list[int]:
        async with druva.AsyncSession(
            CLIENT_ID, oauth_server.secret, **options(oauth_server)
        ) as session:
            first = await session.get("/api/whoami")
            oauth_server.revoke_all()
            renewed = await asyncio.gather(*(session.get("/api/whoami") for _ in range(5)))
            return [first.status_code, *(answer.status_code for answer in renewed)]

    assert asyncio.run(calls()) == [200] * 6
    assert_granted_with_the_params(oauth_server, 2)


def test_requests_auth_renews_a_revoked_token_with_the_same_params(
    oauth_server: OAuthServer,
) -> None:
    from druva.auth import RequestsAuth

    url = oauth_server.base_url + "/api/whoami"
    with requests.Session() as http:
        http.auth = RequestsAuth(CLIENT_ID, oauth_server.secret, **options(oauth_server))
        assert http.get(url, timeout=10).status_code == 200
        oauth_server.revoke_all()
        answer = http.get(url, timeout=10)
    assert answer.status_code == 200, answer.text
    assert [refused.status_code for refused in answer.history] == [401]
    assert_granted_with_the_params(oauth_server, 2)


README = Path(__file__).resolve().parent.parent / "README.md"


def test_the_readme_sample_for_any_oauth_server_runs_against_authlib(
    oauth_server: OAuthServer,
) -> None:
    section = README.read_text(encoding="utf-8").split("## Any OAuth 2.0 server", 1)[1]
    (sample,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], flags=re.DOTALL)
    env = dict(
        os.environ,
        OAUTH_CLIENT_ID=CLIENT_ID,
        OAUTH_CLIENT_SECRET=oauth_server.secret,
        API_BASE_URL=oauth_server.base_url,
        OAUTH_TOKEN_URL=oauth_server.base_url + "/token",
    )
    result = subprocess.run(
        [sys.executable, "-c", sample], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str({"client_id": CLIENT_ID})
    assert oauth_server.granted[0]["audience"] == [AUDIENCE]
    assert oauth_server.granted[0]["resource"] == ["a", "b"]
