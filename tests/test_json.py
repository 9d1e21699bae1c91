"""Response.json() decodes in Rust to the same objects as json.loads."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import druva
import pytest
from druva._druva import json_loads
from druva.testing import FakeDruva
from hypothesis import given, settings
from hypothesis import strategies as st

USERS = "/insync/usermanagement/v1/users"


def session_for(fake: FakeDruva) -> druva.Session:
    return druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)


SAME_AS_JSON_LOADS = [
    "{}",
    "[]",
    '"text"',
    "0",
    "-0",
    "1.5e300",
    "-12.25",
    "true",
    "null",
    '{"a": 1, "b": [1, 2.5, null, true, false, "s"], "c": {"d": {}}}',
    '{"a": 1, "a": 2}',
    '"\\u00e9\\u4e2d\\ud83d\\ude00 \\n\\t\\"\\\\"',
    '{"emoji": "😀", "accents": "café"}',
    "18446744073709551615",
    "-9223372036854775808",
    '[{"status": "active", "userID": 1}, {"status": "active", "userID": 2}]',
    " [1 , 2] ",
    # Strings with escapes before, in and after a run of eight plain bytes.
    '["abcdefg\\"h", "abcdefgh\\\\", "a\\u0041bcdefghijklmnop\\/q", "\\r\\n\\b\\f"]',
    '{"abcdefghijklmnop": "ABCDEFGHIJKLMNOPQRSTUVWXYZ", "x": "long text, no escapes at all"}',
    '"\\u0000 \\u001f \\ud800\\udc00 \\uDBFF\\uDFFF"',
    '\t\r\n[\n{\r\n"a"\t:\n[ ]\n,"b" : { }\n}\t]\r\n',
    "[0, -1, 1.0, -1.5e-3, 2E+2, 9223372036854775807, 9223372036854775808]",
    # Records whose keys repeat, written alike or not.
    '[{"a\\"b": 1, "k": 2}, {"a\\"b": 3, "k": 4}, {"a\\u0022b": 5, "\\u006b": 6}]',
    '[{"id": 1, "name": "x"}, {"id": 2, "nam": "y"}, {"i": 3, "named": "z"}, {}]',
]


@pytest.mark.parametrize("text", SAME_AS_JSON_LOADS)
def test_decodes_like_json_loads(text: str) -> None:
    assert json_loads(text) == json.loads(text)
    assert json_loads(text.encode()) == json.loads(text)


# Bodies that json.loads rejects at the same place, with the same words.
FAILS_LIKE_JSON_LOADS = [
    "",
    " ",
    "{",
    "[",
    "[1, 2",
    "[1,]",
    "[1 2]",
    '{"a": 1,}',
    '{"a" 1}',
    '{"a": 1',
    '{"é": x}',
    '{"a": 1} x',
    "{} {}",
    "nul",
    "'x'",
    '"\\x"',
    '"abc',
    '{"a": "b\n"}',
    '\n\n  {"ключ": tru}',
    '[{"emoji": "😀"}, {"emoji": "😀",',
    '{"druva": "this body is not valid JSON",',
    "[1, 2,]",
    '{"a": [1,}',
    '[{"a": 1},]',
    '{"a"',
    '{"a": 1, "b"}',
    "{1:2}",
    '["a" "b"]',
    "[true x]",
    "true false",
    "[]]",
    "[-]",
    "[tx]",
    "[1.]",
    '"\\u12x"',
    '"\t"',
    # A key met before with an escaped quote, now with a bare one.
    '[{"a\\"b": 1}, {"a"b": 2}]',
]


def json_loads_error(text: str) -> json.JSONDecodeError:
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads(text)
    return caught.value


@pytest.mark.parametrize("text", FAILS_LIKE_JSON_LOADS)
def test_invalid_json_fails_like_json_loads(text: str) -> None:
    assert_fails_like_json_loads(text)


def assert_fails_like_json_loads(text: str) -> None:
    expected = json_loads_error(text)
    for data in (text, text.encode()):
        with pytest.raises(druva.JSONDecodeError) as caught:
            json_loads(data)
        error = caught.value
        assert (error.msg, error.doc, error.pos) == (expected.msg, expected.doc, expected.pos)
        assert (error.lineno, error.colno) == (expected.lineno, expected.colno)
        assert str(error) == str(expected)


def test_a_json_decode_error_is_every_class_existing_code_catches() -> None:
    with pytest.raises(druva.JSONDecodeError) as caught:
        json_loads("[1, 2")
    error = caught.value
    assert isinstance(error, druva.ProtocolError)
    assert isinstance(error, druva.DruvaError)
    assert isinstance(error, json.JSONDecodeError)
    assert isinstance(error, ValueError)


def test_invalid_utf8_is_a_json_decode_error_with_the_body_replaced() -> None:
    with pytest.raises(druva.JSONDecodeError) as caught:
        json_loads(b'["\xff"]')
    error = caught.value
    assert error.doc == '["\ufffd"]'
    assert error.pos == 2


def test_a_bad_body_from_response_json_is_caught_as_a_value_error(fake: FakeDruva) -> None:
    fake.malform_next(path=USERS)
    with session_for(fake) as s:
        response = s.get(USERS)
        with pytest.raises(ValueError) as caught:
            response.json()
        token = s.token["access_token"]
    error = caught.value
    expected = json_loads_error(response.text)
    assert isinstance(error, json.JSONDecodeError)
    assert (error.msg, error.doc, error.pos) == (expected.msg, expected.doc, expected.pos)
    assert token not in str(error)
    assert token not in repr(error)


def test_a_bad_page_is_caught_as_a_value_error_and_the_page_is_retried(fake: FakeDruva) -> None:
    with session_for(fake) as s:
        pages = s.paginate(USERS)
        fake.malform_next(path=USERS)
        with pytest.raises(ValueError) as caught:
            list(pages)
        assert isinstance(caught.value, druva.JSONDecodeError)
        assert s.token["access_token"] not in str(caught.value)
        assert len(list(pages)) == 250


def test_a_token_answer_that_is_not_json_is_a_protocol_error_that_quotes_nothing(
    fake: FakeDruva,
) -> None:
    fake.malform_next(path="/token")
    with pytest.raises(druva.ProtocolError) as caught:
        session_for(fake).get(USERS)
    assert not isinstance(caught.value, json.JSONDecodeError)
    assert "this body is not valid JSON" not in str(caught.value)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: st.lists(children) | st.dictionaries(st.text(), children),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(value=JSON_VALUES, ensure_ascii=st.booleans(), indent=st.sampled_from([None, 0, 2]))
def test_any_document_decodes_like_json_loads(
    value: object, ensure_ascii: bool, indent: int | None
) -> None:
    text = json.dumps(value, ensure_ascii=ensure_ascii, indent=indent)
    assert repr(json_loads(text.encode())) == repr(json.loads(text))


@pytest.mark.parametrize("special", ['\\"', "\\\\", "\\n", "\\u00e9", "é", "\t"])
def test_a_string_special_at_any_place_of_a_run_decodes_like_json_loads(special: str) -> None:
    for place in range(18):
        text = '["' + "a" * place + special + "b" * (17 - place) + '", 1]'
        if special == "\t":
            assert_fails_like_json_loads(text)
        else:
            assert json_loads(text.encode()) == json.loads(text)


def test_repeated_keys_and_short_values_are_shared_strings() -> None:
    records = json_loads('[{"status": "active"}, {"status": "active"}]')
    first, second = (next(iter(record)) for record in records)
    assert first is second
    assert records[0]["status"] is records[1]["status"]


# Integers beyond 64 bits stay exact ints, as json.loads keeps them.
EXACT_NUMBERS = [
    "123456789012345678901234567890",
    "-123456789012345678901234567890",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "-18446744073709551616",
    "-0",
    "1" + "0" * 400,
    "[1.5, -0.0, 1e19, 1e30, 123456789012345678901234567890, 2.5e-300, 7]",
    '{"id": 123456789012345678901234567890, "s": "9 123456789012345678901234567890 \\"", '
    '"n": [18446744073709551616, -1, 0.1]}',
    # Floats read to the nearest double, as json.loads does (1.0e30 was
    # 9.999999999999999e+29).
    "[1.0e30, 2.2250738585072014e-308, 1.7976931348623157e308, 0.30000000000000004]",
    "[5e-324, 1.7976931348623157e+308, 123.456e-7, 9007199254740993.0, 0.1e1]",
]


@pytest.mark.parametrize("text", EXACT_NUMBERS)
def test_numbers_keep_their_type_and_every_digit(text: str) -> None:
    assert repr(json_loads(text)) == repr(json.loads(text))


def test_a_document_broken_after_a_big_integer_fails_like_json_loads() -> None:
    text = "[123456789012345678901234567890, 1 2]"
    error = json_loads_error(text)
    with pytest.raises(druva.JSONDecodeError) as caught:
        json_loads(text)
    assert (caught.value.msg, caught.value.pos) == (error.msg, error.pos)


BIG = 123456789012345678901234567890
BIG_PAGE = json.dumps(
    {"users": [{"userID": BIG, "quota": -BIG, "ratio": 0.5}], "nextPageToken": ""}
).encode()


@pytest.fixture
def big_number_server() -> Iterator[str]:
    """A server whose token endpoint answers a token and whose other paths
    answer a one-page list of records holding integers beyond 64 bits."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.answer(
                b'{"access_token": "big-token", "token_type": "bearer", "expires_in": 1800}'
            )

        def do_GET(self) -> None:
            self.answer(BIG_PAGE)

        def answer(self, body: bytes) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_big_integers_stay_exact_in_response_json_and_paginate(big_number_server: str) -> None:
    with druva.Session("big-client", "big-secret", base_url=big_number_server) as s:
        assert s.get(USERS).json() == json.loads(BIG_PAGE)
        (user,) = s.paginate(USERS)
    assert user == {"userID": BIG, "quota": -BIG, "ratio": 0.5}
    assert type(user["userID"]) is int


def test_records_of_changing_sizes_decode_like_json_loads_in_document_order() -> None:
    # Each object is made at the size of the one before it at its depth: a
    # larger, a smaller and an empty one after it must not show the guess.
    sizes = [10, 10, 40, 3, 0, 12, 1, 64, 10]
    records = [
        {f"field{n}": {"inner": [{"k": n} for _ in range(size % 3)]} for n in range(size)}
        for size in sizes
    ]
    text = json.dumps({"users": records, "nextPageToken": ""})
    decoded = json_loads(text)
    assert decoded == json.loads(text)
    for got, record in zip(decoded["users"], records):
        assert list(got) == list(record), "keys in the document's order"
        assert len(got) == len(record)
