"""Response.json() decodes in Rust to the same objects as json.loads."""

from __future__ import annotations

import json

import druva
import pytest
from druva._druva import json_loads

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
]


@pytest.mark.parametrize("text", SAME_AS_JSON_LOADS)
def test_decodes_like_json_loads(text: str) -> None:
    assert json_loads(text) == json.loads(text)
    assert json_loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("text", ["", "{", "[1,]", "{} {}", "nul", "'x'", "NaN", '"\\x"'])
def test_invalid_json_is_a_protocol_error(text: str) -> None:
    with pytest.raises(druva.ProtocolError, match="invalid JSON"):
        json_loads(text)


def test_invalid_utf8_is_a_protocol_error() -> None:
    with pytest.raises(druva.ProtocolError):
        json_loads(b'"\xff"')


def test_repeated_keys_and_short_values_are_shared_strings() -> None:
    records = json_loads('[{"status": "active"}, {"status": "active"}]')
    first, second = (next(iter(record)) for record in records)
    assert first is second
    assert records[0]["status"] is records[1]["status"]
