"""druva in a real Jupyter kernel: the example notebook runs top to bottom, and
the kernel's interrupt stops a blocking call promptly without wedging the kernel.

The kernel is an ipykernel running this very interpreter (so it imports the
druva under test), from a kernelspec written into a temporary directory: no
user-level kernelspec, IPython profile or Jupyter runtime directory is used.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.blocking.client import BlockingKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "notebook.ipynb"
# Starting a kernel on a loaded two-core machine can take a while: be generous there,
# and strict only where the contract is.
STARTUP_TIMEOUT = 120
CELL_TIMEOUT = 120
INTERRUPT_BOUND = 2.0

# Above the suite's 120 s default, so that a slow kernel start meets STARTUP_TIMEOUT
# (and its clear message) rather than pytest-timeout.
pytestmark = pytest.mark.timeout(STARTUP_TIMEOUT + 2 * CELL_TIMEOUT)


@pytest.fixture
def kernel_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[KernelManager]:
    """A manager (not yet started) for an ipykernel running ``sys.executable``."""
    kernels = tmp_path / "kernels"
    (kernels / "python3").mkdir(parents=True)
    (kernels / "python3" / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "Python 3 (the interpreter running the tests)",
                "language": "python",
            }
        )
    )
    for name in ("DRUVA_CLIENT_ID", "DRUVA_SECRET_KEY", "DRUVA_REGION", "DRUVA_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IPYTHONDIR", str(tmp_path / "ipython"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "runtime"))
    manager = KernelManager(
        kernel_name="python3",
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
    )
    yield manager
    if manager.has_kernel:
        manager.shutdown_kernel(now=True)


@contextlib.contextmanager
def started(manager: KernelManager, cwd: Path) -> Iterator[BlockingKernelClient]:
    """Starts the kernel (with this process's environment) and connects a client."""
    manager.start_kernel(cwd=str(cwd))
    client = manager.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=STARTUP_TIMEOUT)
        reply = execute(client, "import sys; print(sys.executable)")
        assert reply.output.strip() == sys.executable
        yield client
    finally:
        client.stop_channels()


@pytest.fixture
def kernel(
    kernel_manager: KernelManager, tmp_path: Path
) -> Iterator[tuple[KernelManager, BlockingKernelClient]]:
    """A started kernel and a client connected to it."""
    with started(kernel_manager, tmp_path) as client:
        yield kernel_manager, client


class Execution:
    """What a cell produced: its execute_reply and the text it printed or returned."""

    def __init__(self, reply: dict[str, Any], output: str) -> None:
        self.reply = reply
        self.output = output

    @property
    def status(self) -> str:
        status: str = self.reply["content"]["status"]
        return status

    @property
    def error_name(self) -> str | None:
        name: str | None = self.reply["content"].get("ename")
        return name


def execute(client: BlockingKernelClient, code: str, timeout: float = CELL_TIMEOUT) -> Execution:
    """Runs ``code`` as a cell and waits for its reply."""
    msg_id = client.execute(code)
    reply = wait_for_reply(client, msg_id, timeout)
    return Execution(reply, collect_output(client, msg_id, timeout))


def execute_after_an_error(client: BlockingKernelClient, code: str) -> Execution:
    """Runs ``code`` as the cell after one that failed.

    After an error ipykernel aborts the execute requests that reach it before it
    has finished clearing its queue (its ``stop_on_error`` behaviour, done
    asynchronously since ipykernel 7), replying ``aborted`` without running
    them. A user would run the cell again; so does this.
    """
    for _ in range(10):
        execution = execute(client, code)
        if execution.status != "aborted":
            return execution
        time.sleep(0.1)
    raise AssertionError("the kernel aborted every request after the error")


def wait_for_reply(client: BlockingKernelClient, msg_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        message: dict[str, Any] = client.get_shell_msg(timeout=deadline - time.monotonic())
        if message["parent_header"].get("msg_id") == msg_id:
            return message


def collect_output(client: BlockingKernelClient, msg_id: str, timeout: float) -> str:
    """The cell's printed text and result, up to the kernel going idle."""
    deadline = time.monotonic() + timeout
    output = ""
    while True:
        message = client.get_iopub_msg(timeout=deadline - time.monotonic())
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        content = message["content"]
        if message["msg_type"] == "stream":
            output += content["text"]
        elif message["msg_type"] == "execute_result":
            output += content["data"]["text/plain"]
        elif message["msg_type"] == "status" and content["execution_state"] == "idle":
            return output


def wait_for_printed(client: BlockingKernelClient, msg_id: str, text: str) -> None:
    deadline = time.monotonic() + CELL_TIMEOUT
    while True:
        message = client.get_iopub_msg(timeout=deadline - time.monotonic())
        if message["parent_header"].get("msg_id") != msg_id:
            continue
        if message["msg_type"] == "stream" and text in message["content"]["text"]:
            return
        if message["msg_type"] == "error":
            raise AssertionError(f"the cell failed before {text!r}: {message['content']}")


# The example notebook


def outputs_by_cell(notebook: Any) -> dict[str, str]:
    """Each code cell's printed text and result, by cell id."""
    texts = {}
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        text = ""
        for output in cell.outputs:
            if output.output_type == "stream":
                text += output.text
            elif output.output_type == "execute_result":
                text += output.data["text/plain"]
        texts[cell.id] = text
    return texts


def test_the_example_notebook_runs_in_a_real_kernel(
    kernel_manager: KernelManager, tmp_path: Path
) -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(
        notebook,
        km=kernel_manager,
        timeout=CELL_TIMEOUT,
        startup_timeout=STARTUP_TIMEOUT,
        resources={"metadata": {"path": str(tmp_path)}},
    )

    client.execute()  # raises CellExecutionError if any cell fails

    out = outputs_by_cell(notebook)
    assert out["start-fake"].startswith("a fake Druva at http://127.0.0.1:")
    assert out["async-token"].startswith("Token(access_token='***', token_type='bearer'")
    assert out["async-gather"] == "[200, 200, 200]"
    devices = int(out["async-paginate"].split()[0])
    assert 250 <= devices <= 500  # every user has one or two devices
    assert out["sync-paginate"] == "250"
    assert "emailID" in out["sync-first-user"]
    assert out["shared-cache"] == "True"
    assert re.fullmatch(
        rf"{devices} of {devices} devices have a last backup\n", out["last-backups"]
    )
    assert out["dataframe"] == dataframe_cell_output(devices, pandas_installed())
    assert f"last_backups.csv is complete: {devices} items" in out["export-csv"]
    assert out["read-back"].startswith(f"{devices} rows; the first: ")
    assert (tmp_path / "last_backups.csv.state").is_file()
    # One token for the kernel, one for the druva export process.
    assert out["stop-fake"].startswith("2 token requests, ")


def pandas_installed() -> bool:
    return importlib.util.find_spec("pandas") is not None


def dataframe_cell_output(rows: int, with_pandas: bool) -> str:
    if with_pandas:
        return f"a DataFrame of {rows} rows, columns ['device', 'user', 'ended', 'bytes']\n"
    return "pandas is not installed (pip install pandas): last_backups stays a list of dicts\n"


# pandas is not among the test extras (with numpy it would add about half again to the
# test install), so the DataFrame cell runs here both ways in a kernel of its own: with
# pandas hidden, and with pandas, the real one where it is installed or else a stand-in
# that checks what the cell hands to pandas.DataFrame (the rows), not pandas itself.
HIDDEN_PANDAS = 'raise ImportError("pandas is hidden for this test")\n'
STAND_IN_PANDAS = """\
class DataFrame:
    \"\"\"pandas.DataFrame(list_of_dicts)'s len() and columns (the keys, first seen first).\"\"\"

    def __init__(self, rows):
        self.rows = list(rows)
        self.columns = list(dict.fromkeys(key for row in self.rows for key in row))

    def __len__(self):
        return len(self.rows)
"""
ROWS = [
    {"device": "MACBOOK-00001", "user": "Ada", "ended": "2024-01-02T03:04:05Z", "bytes": 10},
    {"device": "WORKSTATION-00002", "user": "Alan", "ended": "2024-01-03T03:04:05Z", "bytes": 20},
]


@pytest.mark.parametrize("with_pandas", [False, True], ids=["without-pandas", "with-pandas"])
def test_the_dataframe_cell_works_with_and_without_pandas(
    kernel_manager: KernelManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    with_pandas: bool,
) -> None:
    cells = {cell.id: cell for cell in nbformat.read(NOTEBOOK, as_version=4).cells}
    shadow = tmp_path / "shadow"
    if not with_pandas or not pandas_installed():
        (shadow / "pandas").mkdir(parents=True)
        (shadow / "pandas" / "__init__.py").write_text(
            STAND_IN_PANDAS if with_pandas else HIDDEN_PANDAS
        )
        monkeypatch.setenv("PYTHONPATH", str(shadow))

    with started(kernel_manager, tmp_path) as client:
        assert execute(client, f"last_backups = {ROWS!r}").status == "ok"
        cell = execute(client, cells["dataframe"].source)

    assert cell.status == "ok", cell.reply
    assert cell.output == dataframe_cell_output(len(ROWS), with_pandas)


def test_the_example_notebook_is_stored_without_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {cell.id} has stored outputs"
            assert cell.execution_count is None


# The kernel's interrupt

SLOW_CALLS = {
    "get_token": (
        "/token",
        "druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url, timeout=120)",
    ),
    "Session.get": (
        "/insync/usermanagement/v1/users",
        "session.get('/insync/usermanagement/v1/users', timeout=120)",
    ),
}


@pytest.mark.parametrize("call", SLOW_CALLS)
def test_the_kernels_interrupt_stops_a_slow_sync_call(
    kernel: tuple[KernelManager, BlockingKernelClient], call: str
) -> None:
    manager, client = kernel
    delayed_path, slow_call = SLOW_CALLS[call]
    setup = execute(
        client,
        textwrap.dedent(
            f"""
            import threading, time
            import druva
            from druva.testing import FakeDruva

            fake = FakeDruva()
            session = druva.Session(fake.client_id, fake.secret, base_url=fake.base_url)
            DELAYED = {delayed_path!r}

            def announce_in_flight():
                # Runs beside the blocked call: proof that its request reached the server.
                while not any(r["path"].startswith(DELAYED) for r in fake.requests):
                    time.sleep(0.01)
                print("in flight", flush=True)
            """
        ),
    )
    assert setup.status == "ok", setup.reply

    msg_id = client.execute(
        textwrap.dedent(
            f"""
            fake.delay_next(60, path=DELAYED)
            threading.Thread(target=announce_in_flight, daemon=True).start()
            {slow_call}
            """
        )
    )
    wait_for_printed(client, msg_id, "in flight")
    time.sleep(0.2)  # well inside the call, which would take 60 s

    interrupted = time.monotonic()
    manager.interrupt_kernel()
    reply = wait_for_reply(client, msg_id, CELL_TIMEOUT)
    elapsed = time.monotonic() - interrupted

    assert reply["content"]["status"] == "error"
    assert reply["content"]["ename"] == "KeyboardInterrupt"
    assert elapsed < INTERRUPT_BOUND, f"the error reply came {elapsed:.2f} s after the interrupt"

    # The kernel, the runtime and the token cache all still work.
    collect_output(client, msg_id, CELL_TIMEOUT)  # the interrupted cell is done: idle
    following = execute_after_an_error(
        client,
        "druva.get_token(fake.client_id, fake.secret, base_url=fake.base_url)['token_type'], "
        "session.get('/insync/usermanagement/v1/users', params={'pageSize': 1}).status_code",
    )
    assert following.status == "ok", following.reply
    assert following.output == "('bearer', 200)"
