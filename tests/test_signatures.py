"""The signatures Python sees are the binary's real ones, with the core's
defaults, and the typed stub is checked against them: a default that drifts
between the stub and the binary fails stubtest."""

from __future__ import annotations

import inspect
import os
import shutil
import subprocess
import sys
from pathlib import Path

import druva
import pytest

PACKAGE = Path(druva.__file__).parent


def test_sync_and_async_twins_have_one_signature() -> None:
    assert inspect.signature(druva.AsyncSession) == inspect.signature(druva.Session)
    assert inspect.signature(druva.get_token_async) == inspect.signature(druva.get_token)
    for verb in ("request", "get", "post", "put", "patch", "delete", "paginate", "map", "close"):
        assert getattr(druva.AsyncSession, verb) is getattr(druva.Session, verb), verb


def test_the_signatures_show_the_defaults_the_calls_run_with() -> None:
    parameters = inspect.signature(druva.Session).parameters
    defaults = {name: p.default for name, p in parameters.items() if p.default is not p.empty}
    assert defaults == {
        "region": "cloud",
        "base_url": None,
        "token_url": None,
        "scope": None,
        "timeout": 30.0,
        "max_retries": 3,
        "leeway": 60.0,
        "ca_bundle": None,
        "proxy": None,
        "max_response_bytes": 100 * 1024 * 1024,
        "rate_limit_wait": 120.0,
        "max_concurrency": None,
        "msp": False,
        "token_cache": None,
        "client_auth": "basic",
        "token_params": None,
    }
    token = inspect.signature(druva.get_token).parameters
    assert token["region"].default == "cloud"
    assert token["timeout"].default == 30.0
    assert token["force_refresh"].default is False
    assert token["client_auth"].default == "basic"
    assert token["token_params"].default is None
    assert token["proxy"].default is None


def run_stubtest(stub_folder: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = dict(os.environ, MYPYPATH=str(stub_folder))
    return subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "druva._druva", "--ignore-missing-stub"],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.mark.timeout(600)
def test_stubtest_fails_when_a_stub_default_differs_from_the_binary(tmp_path: Path) -> None:
    pytest.importorskip("mypy")
    stubs = tmp_path / "stubs" / "druva"
    stubs.mkdir(parents=True)
    for source in PACKAGE.glob("*.py*"):
        if source.suffix in (".py", ".pyi") or source.name == "py.typed":
            shutil.copy(source, stubs / source.name)
    stub = stubs / "_druva.pyi"
    text = stub.read_text()
    drifted = text.replace("timeout: float = 30.0", "timeout: float = 31.0").replace(
        'region: str = "cloud"', 'region: str = "govcloud"'
    )
    assert drifted != text
    stub.write_text(drifted)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    result = run_stubtest(tmp_path / "stubs", elsewhere)

    assert result.returncode != 0, result.stdout
    for name in ("Session.__new__", "AsyncSession.__new__", "get_token", "get_token_async"):
        assert f"druva._druva.{name} is inconsistent" in result.stdout, result.stdout
    assert "which is different from stub parameter default 31.0" in result.stdout
