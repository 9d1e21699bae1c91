"""Properties of argument checking and the URL policy, over arbitrary input.

Whatever a caller passes, druva answers with ``TypeError`` / ``ValueError``
before any I/O, or accepts it: never another exception, never a crash. And
whatever URL a session is asked to call, the request goes to the session's own
origin or nowhere.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import druva
import pytest
from druva.testing import FakeDruva
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.timeout(300)

# Text of every kind, lone surrogates and control characters included.
any_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
# Whole numbers of every size (a C long's edges and far past them) and floats.
numbers = st.one_of(
    st.integers(),
    st.sampled_from([2**31, 2**32, 2**63 - 1, -(2**63), 2**64, -(2**64), 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
)
anything = st.one_of(
    st.none(),
    st.booleans(),
    numbers,
    any_text,
    st.binary(max_size=10),
    st.lists(st.text(max_size=5), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.builds(object),
)
hosts = st.sampled_from(
    [
        "127.0.0.1",
        "127.9.9.9",
        "localhost",
        "LOCALHOST.",
        "api.localhost",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "0.0.0.0",  # noqa: S104 - a URL to refuse, not an address to bind
        "10.0.0.1",
        "apis.druva.com",
        "evil.example",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "2130706433",
        "0x7f.1",
        "",
    ]
)
url_like = st.builds(
    lambda scheme, userinfo, host, port, path: f"{scheme}{userinfo}{host}{port}{path}",
    st.sampled_from(["https://", "http://", "HTTP://", "ftp://", "//", "http:/", "https:", ""]),
    st.sampled_from(["", "user@", "user:pw@", "@"]),
    hosts,
    st.sampled_from(["", ":1", ":443", ":0", ":65536", ":x"]),
    st.sampled_from(["", "/", "/token", "/a?b=c", "/a#f", "/\\evil", "/ a", "/%00"]),
)


def is_loopback_http_or_https(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http" or parts.hostname is None:
        return False
    host = parts.hostname.rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeDruva]:
    with FakeDruva(users=5, page_size=5) as server:
        yield server


@pytest.fixture(scope="module")
def session(fake: FakeDruva) -> Iterator[druva.Session]:
    with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url, timeout=5) as s:
        s.get("/insync/usermanagement/v1/users").raise_for_status()
        yield s


# Arguments


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    client_id=st.one_of(any_text, anything),
    secret=st.one_of(any_text, anything),
    region=st.one_of(st.sampled_from(["cloud", "govcloud", "govcloud-workloads"]), anything),
    timeout=st.one_of(numbers, anything),
    max_retries=st.one_of(numbers, anything),
    leeway=st.one_of(numbers, anything),
    max_response_bytes=st.one_of(numbers, anything),
)
def test_session_arguments_are_accepted_or_refused_with_type_or_value_error(
    client_id: Any,
    secret: Any,
    region: Any,
    timeout: Any,
    max_retries: Any,
    leeway: Any,
    max_response_bytes: Any,
) -> None:
    try:
        session = druva.Session(
            client_id,
            secret,
            region=region,
            timeout=timeout,
            max_retries=max_retries,
            leeway=leeway,
            max_response_bytes=max_response_bytes,
        )
    except (TypeError, ValueError):
        return
    session.close()


@pytest.mark.parametrize(
    ("argument", "value"),
    [
        pytest.param("timeout", 10**400, id="timeout=10**400"),
        pytest.param("leeway", 10**400, id="leeway=10**400"),
        pytest.param("max_retries", 2**64, id="max_retries=2**64"),
        pytest.param("max_retries", -(2**64), id="max_retries=-2**64"),
        pytest.param("max_response_bytes", 2**64, id="max_response_bytes=2**64"),
        pytest.param("max_response_bytes", 10**400, id="max_response_bytes=10**400"),
    ],
)
def test_integers_too_large_for_a_c_long_are_value_errors(argument: str, value: int) -> None:
    """Not an OverflowError: a caller's ``except ValueError`` must catch it."""
    with pytest.raises(ValueError, match=argument):
        druva.Session("client", "secret", **{argument: value})


@settings(max_examples=300, deadline=None)
@given(base_url=st.one_of(url_like, any_text, anything), token_url=st.one_of(url_like, st.none()))
def test_credentials_go_only_over_tls_or_to_loopback(
    fake: FakeDruva, base_url: Any, token_url: Any
) -> None:
    """An accepted base or token URL is ``https://`` or plain ``http://`` to a
    loopback host; building a session sends nothing."""
    before = fake.token_requests + fake.api_requests
    try:
        session = druva.Session(fake.client_id, fake.secret, base_url=base_url, token_url=token_url)
    except (TypeError, ValueError):
        return
    with session:
        assert is_loopback_http_or_https(session.base_url), session.base_url
        assert is_loopback_http_or_https(session.token_url), session.token_url
        assert "@" not in urlsplit(session.token_url).netloc
    assert fake.token_requests + fake.api_requests == before


@settings(max_examples=200, deadline=None)
@given(
    client_id=st.one_of(any_text, anything),
    secret=st.one_of(any_text, anything),
    timeout=st.one_of(numbers, anything),
    scope=st.one_of(any_text, anything),
)
def test_get_token_refuses_bad_arguments_before_any_request(
    fake: FakeDruva, client_id: Any, secret: Any, timeout: Any, scope: Any
) -> None:
    """Bad arguments are TypeError/ValueError and reach no server; good ones
    get a token or the server's refusal."""
    before = fake.token_requests
    try:
        token = druva.get_token(
            client_id, secret, base_url=fake.base_url, timeout=timeout, scope=scope
        )
    except (TypeError, ValueError):
        assert fake.token_requests == before
        return
    except druva.AuthenticationError:
        assert fake.token_requests == before + 1
        return
    except druva.TimeoutError:
        assume(False)  # a timeout too short to reach the fake says nothing here
        return
    assert token["access_token"]


@settings(max_examples=300, deadline=None)
@given(
    params=st.one_of(
        anything,
        st.dictionaries(any_text, anything, max_size=3),
        st.lists(st.tuples(anything, anything), max_size=3),
    ),
    headers=st.one_of(
        anything,
        st.dictionaries(any_text, st.one_of(any_text, anything), max_size=3),
    ),
    timeout=st.one_of(st.none(), numbers, anything),
)
def test_call_arguments_are_accepted_or_refused_before_sending(
    fake: FakeDruva, session: druva.Session, params: Any, headers: Any, timeout: Any
) -> None:
    before = fake.api_requests
    try:
        response = session.get("/_echo", params=params, headers=headers, timeout=timeout)
    except (TypeError, ValueError):
        assert fake.api_requests == before, "a refused call must send nothing"
        return
    except druva.TimeoutError:
        assume(False)  # a valid but tiny timeout
        return
    assert response.status_code == 200


# The URL policy


def own_origin_variants(base_url: str) -> st.SearchStrategy[str]:
    port = urlsplit(base_url).port
    return st.builds(
        lambda prefix, path: prefix + path,
        st.sampled_from(
            [
                base_url,
                base_url.upper(),
                f"http://localhost:{port}",
                f"https://127.0.0.1:{port}",
                f"http://127.0.0.1:{(port or 0) + 1}",
                f"http://127.0.0.2:{port}",
                f"http://[::1]:{port}",
                f"http://127.0.0.1:{port}@evil.example",
                f"http://evil.example#@127.0.0.1:{port}",
                f"http:127.0.0.1:{port}",
                "",
                "/",
                "//",
                "\\\\",
                "/\\",
                " ",
                "./",
                "../../..",
            ]
        ),
        st.one_of(
            st.sampled_from(
                ["", "/_echo", "/_echo?next=https://evil.example/", "/_echo#frag", "//evil.example"]
            ),
            any_text,
        ),
    )


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_session_never_sends_to_a_foreign_origin(
    fake: FakeDruva, session: druva.Session, data: st.DataObject
) -> None:
    """Any URL is refused with ValueError before anything is sent, or its
    request reaches the session's own server and nothing else."""
    url = data.draw(st.one_of(own_origin_variants(fake.base_url), url_like, any_text))

    def received() -> int:
        return fake.api_requests + fake.token_requests

    before = received()
    try:
        response = session.get(url, timeout=5)
    except (TypeError, ValueError):
        assert received() == before, f"{url!r} was refused after sending"
        return
    assert response.url.startswith(fake.base_url + "/"), (url, response.url)
    assert received() >= before + 1, f"{url!r} reached no server we know"
    try:
        session.paginate(url)
    except druva.DruvaError as error:  # pragma: no cover - paginate checks only the URL
        raise AssertionError(f"paginate({url!r}) did I/O: {error}") from error
