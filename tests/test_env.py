"""The one reader of DRUVA_* variables, for from_env() and the command line."""

from __future__ import annotations

import pytest
from druva._env import cloud_arguments, credentials, session_arguments

SECRET = "s3cr3t-value-never-shown"
FULL = {
    "DRUVA_CLIENT_ID": "client",
    "DRUVA_SECRET_KEY": SECRET,
    "DRUVA_REGION": "govcloud",
    "DRUVA_BASE_URL": "http://127.0.0.1:9",
}


def test_the_credential_and_the_cloud_come_from_the_environment() -> None:
    assert session_arguments({}, FULL) == (
        "client",
        SECRET,
        {"region": "govcloud", "base_url": "http://127.0.0.1:9"},
    )


def test_other_keyword_arguments_pass_through() -> None:
    _, _, options = session_arguments({"timeout": 5.0, "max_retries": 0}, FULL)
    assert options["timeout"] == 5.0
    assert options["max_retries"] == 0


@pytest.mark.parametrize("empty", ["DRUVA_REGION", "DRUVA_BASE_URL"])
def test_an_empty_region_or_base_url_counts_as_unset(empty: str) -> None:
    _, _, options = session_arguments({}, {**FULL, empty: ""})
    assert set(options) == {"region", "base_url"} - {empty.removeprefix("DRUVA_").lower()}


def test_no_cloud_variables_leave_the_session_defaults() -> None:
    environ = {"DRUVA_CLIENT_ID": "client", "DRUVA_SECRET_KEY": SECRET}
    assert session_arguments({}, environ) == ("client", SECRET, {})


@pytest.mark.parametrize("explicit", [{"region": "cloud"}, {"base_url": "http://localhost:1"}])
def test_an_explicit_region_or_base_url_wins_over_both_variables(
    explicit: dict[str, str],
) -> None:
    _, _, options = session_arguments(explicit, FULL)
    assert options == explicit


def test_an_explicit_none_counts_as_not_given() -> None:
    _, _, options = session_arguments({"region": None, "base_url": None}, FULL)
    assert options == {"region": "govcloud", "base_url": "http://127.0.0.1:9"}


@pytest.mark.parametrize(
    ("environ", "named", "not_named"),
    [
        ({}, ["DRUVA_CLIENT_ID", "DRUVA_SECRET_KEY"], []),
        (
            {"DRUVA_CLIENT_ID": "", "DRUVA_SECRET_KEY": ""},
            ["DRUVA_CLIENT_ID", "DRUVA_SECRET_KEY"],
            [],
        ),
        ({"DRUVA_CLIENT_ID": "client"}, ["DRUVA_SECRET_KEY"], ["DRUVA_CLIENT_ID"]),
        (
            {"DRUVA_CLIENT_ID": "client", "DRUVA_SECRET_KEY": ""},
            ["DRUVA_SECRET_KEY"],
            ["DRUVA_CLIENT_ID"],
        ),
        ({"DRUVA_SECRET_KEY": SECRET}, ["DRUVA_CLIENT_ID"], ["DRUVA_SECRET_KEY"]),
    ],
)
def test_a_missing_or_empty_credential_is_a_value_error_naming_what_to_set(
    environ: dict[str, str], named: list[str], not_named: list[str]
) -> None:
    with pytest.raises(ValueError, match="set DRUVA_") as caught:
        session_arguments({}, environ)
    message = str(caught.value)
    assert all(name in message for name in named)
    assert not any(name in message for name in not_named)
    assert SECRET not in message


def test_credentials_reads_os_environ_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRUVA_CLIENT_ID", "client")
    monkeypatch.setenv("DRUVA_SECRET_KEY", "")
    assert credentials() == ("client", None)


def test_cloud_arguments_fill_only_what_the_caller_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DRUVA_REGION", "govcloud-workloads")
    monkeypatch.delenv("DRUVA_BASE_URL", raising=False)
    assert cloud_arguments({"timeout": 1.0, "ca_bundle": None}) == {
        "timeout": 1.0,
        "region": "govcloud-workloads",
    }
