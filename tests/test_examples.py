"""examples/quickstart.py runs as the README promises: offline as it is, and
against whatever server the DRUVA_* variables name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from druva.testing import FakeDruva

USERS = "/insync/usermanagement/v1/users"
QUICKSTART = Path(__file__).resolve().parent.parent / "examples" / "quickstart.py"


def run_quickstart(tmp_path: Path, **variables: str) -> subprocess.CompletedProcess[str]:
    """Runs the quickstart as a user would, from a directory outside the source tree."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("DRUVA_")}
    env.update(variables)
    return subprocess.run(
        [sys.executable, str(QUICKSTART)],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_quickstart_runs_offline_against_its_own_fake(tmp_path: Path) -> None:
    result = run_quickstart(tmp_path)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith("No DRUVA_CLIENT_ID / DRUVA_SECRET_KEY: a fake Druva at http://")
    assert "get_token: Token(access_token='***', token_type='bearer'" in result.stdout
    assert "get_token again: the same token: True" in result.stdout
    assert "GET /insync/endpoints/v1/devices: 200, 5 devices" in result.stdout
    assert "paginate /insync/usermanagement/v1/users: 120 users in 3 pages" in result.stdout
    assert "AsyncSession gather of 3 GETs: statuses [200, 200, 200]" in result.stdout
    assert "AsyncSession paginate /insync/endpoints/v1/devices:" in result.stdout


def test_quickstart_uses_the_credential_in_the_environment(tmp_path: Path) -> None:
    with FakeDruva(users=30, page_size=10) as fake:
        result = run_quickstart(
            tmp_path,
            DRUVA_CLIENT_ID=fake.client_id,
            DRUVA_SECRET_KEY=fake.secret,
            DRUVA_BASE_URL=fake.base_url,
        )

        assert result.returncode == 0, result.stderr
        assert "fake Druva" not in result.stdout
        assert "30 users in 3 pages" in result.stdout
        assert fake.secret not in result.stdout + result.stderr
        # get_token, Session and AsyncSession share one process-wide token cache.
        assert fake.token_requests == 1
        users_requests = [r for r in fake.requests if r["path"] == USERS]
        assert len(users_requests) == 3 + 1  # three pages, then one gathered GET
        assert all(r["auth_scheme"] == "Bearer" and r["bearer_valid"] for r in users_requests)


def test_import_druva_leaves_asyncio_unimported() -> None:
    """asyncio takes longer to import than druva itself; sync users never pay for it."""
    code = "import sys, druva; print('asyncio' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
