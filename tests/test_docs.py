"""The API reference: every public name of druva has a docstring with an
example, every example runs, and the reference builds without a problem.

The examples are run as a notebook runs them (top-level ``await``
included) against a FakeDruva of 25 users, 10 a page: ``client_id``,
``secret``, ``fake`` and a session ``s`` are given, and a
``druva.Session(client_id, secret)`` that names no server reaches the fake
instead of Druva's cloud. Nothing else differs from what a reader types.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import contextlib
import doctest
import importlib
import importlib.util
import inspect
import io
import itertools
import re
import sys
import traceback
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import druva
import druva.testing
import pytest
from druva.testing import FakeDruva

from tests.conftest import start_redis_server

REPOSITORY = Path(__file__).resolve().parent.parent
# Dunders that are API: the context managers. The others (__iter__, __next__...)
# are type slots, whose docstrings are CPython's; their class documents them.
API_DUNDERS = {"__enter__", "__exit__", "__aenter__", "__aexit__"}
# Names of __all__ that cannot carry a docstring of their own.
NOT_DOCUMENTABLE = {"__version__"}


def public_modules() -> list[types.ModuleType]:
    """druva, druva.testing, and druva.auth when it exists and its optional
    dependencies (requests, httpx) are installed."""
    modules = [druva, druva.testing]
    if importlib.util.find_spec("druva.auth") is not None:
        try:
            modules.append(importlib.import_module("druva.auth"))
        except ImportError as error:
            if error.name not in {"requests", "httpx"}:
                raise
    return modules


def public_members(cls: type) -> list[str]:
    """The public members a class defines itself or takes from a class of druva's."""
    members: dict[str, None] = {}
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] != "druva":
            continue
        for name in vars(klass):
            if not name.startswith("_") or name in API_DUNDERS:
                members.setdefault(name)
    return sorted(members)


def public_names() -> dict[str, Any]:
    """Every public name, qualified (``druva.Session.get``), with its object."""
    names: dict[str, Any] = {}
    for module in public_modules():
        for name in module.__all__:
            if name in NOT_DOCUMENTABLE:
                continue
            value = getattr(module, name)
            qualified = f"{module.__name__}.{name}"
            names[qualified] = value
            if inspect.isclass(value):
                for member in public_members(value):
                    names[f"{qualified}.{member}"] = inspect.getattr_static(value, member)
    return names


PUBLIC = public_names()


def docstring(value: Any) -> str:
    """The docstring help() shows: a property's, a classmethod's function's."""
    if isinstance(value, (classmethod, staticmethod)):
        value = value.__func__
    return inspect.cleandoc(value.__doc__ or "")


def test_the_public_names_include_every_documented_part_of_the_api() -> None:
    expected = {
        "druva.get_token",
        "druva.get_token_async",
        "druva.Session.get",
        "druva.Session.request",
        "druva.Session.post",
        "druva.Session.put",
        "druva.Session.patch",
        "druva.Session.delete",
        "druva.Session.paginate",
        "druva.Session.map",
        "druva.Session.customer",
        "druva.Session.token",
        "druva.Session.close",
        "druva.Session.from_env",
        "druva.Session.__enter__",
        "druva.Session.__exit__",
        "druva.AsyncSession.token",
        "druva.AsyncSession.__aenter__",
        "druva.AsyncSession.__aexit__",
        "druva.Response.json",
        "druva.Response.elapsed",
        "druva.Paginator.cursor",
        "druva.Paginator.pages",
        "druva.Token.access_token",
        "druva.JSONDecodeError",
        "druva.testing.FakeDruva.fail_next",
        "druva.testing.FakeDruva.expire_tokens",
    }
    assert expected <= PUBLIC.keys()


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_every_public_name_has_a_summary_line_and_an_example(name: str) -> None:
    text = docstring(PUBLIC[name])
    lines = text.splitlines()
    assert lines, f"{name} has no docstring"
    assert lines[0].strip() and (len(lines) == 1 or not lines[1].strip()), (
        f"{name}: the docstring's first line should say what it does, alone: {lines[:2]}"
    )
    assert doctest.DocTestParser().get_examples(text), f"{name}'s docstring has no >>> example"


def test_the_paginator_shows_both_kinds_of_iteration() -> None:
    text = docstring(druva.Paginator)
    examples = [example.source for example in doctest.DocTestParser().get_examples(text)]
    assert any(" in users" in source or "next(users)" in source for source in examples)
    assert any("async for" in source for source in examples)


ARGUMENT = re.compile(r"^    (\w+): (.*(?:\n {8}.*)*)", re.MULTILINE)
DEFAULT = re.compile(r"Default ``(.+?)``")


def documented_defaults(text: str) -> dict[str, str]:
    """``{argument: default}`` from the "Default ``X``" of an Args section."""
    if "\nArgs:\n" not in text:
        return {}
    section = text.split("\nArgs:\n", 1)[1].split("\n\n", 1)[0]
    defaults = {}
    for name, description in ARGUMENT.findall(section):
        found = DEFAULT.search(" ".join(description.split()))
        if found:
            defaults[name] = found.group(1)
    return defaults


def signature_of(value: Any) -> inspect.Signature | None:
    if isinstance(value, (classmethod, staticmethod)):
        value = value.__func__
    try:
        return inspect.signature(value)
    except (TypeError, ValueError):
        return None


@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_the_documented_defaults_are_the_signatures(name: str) -> None:
    text = docstring(PUBLIC[name])
    defaults = documented_defaults(text)
    if not defaults:
        return
    signature = signature_of(PUBLIC[name])
    if signature is None and sys.version_info < (3, 10):
        pytest.skip("inspect.signature reads a compiled class's signature from Python 3.10")
    assert signature is not None, name
    for argument, default in defaults.items():
        assert argument in signature.parameters, f"{name} documents no argument {argument}"
        actual = signature.parameters[argument].default
        assert ast.literal_eval(default) == actual, f"{name}({argument}=) defaults to {actual!r}"


def test_documented_defaults_are_read_from_the_args_section() -> None:
    text = "Does.\n\nArgs:\n    timeout: seconds. Default\n        ``30.0``.\n    other: text.\n"
    assert documented_defaults(text) == {"timeout": "30.0"}


# ---- the examples run -----------------------------------------------------------------


class OfflineDruva(types.ModuleType):
    """``druva`` as the examples see it: the same module, but a session, a
    token call or an auth (``druva.auth``) that names no server reaches the
    fake (the MSP one with ``msp=True``) instead of Druva's cloud."""

    def __init__(self, fake: FakeDruva, msp: FakeDruva) -> None:
        super().__init__("druva", druva.__doc__)
        self.__dict__.update(
            {name: value for name, value in vars(druva).items() if not name.startswith("__")}
        )
        self.fake, self.msp = fake, msp
        self.Session = self.offline(druva.Session)
        self.AsyncSession = self.offline(druva.AsyncSession)
        self.get_token = self.offline(druva.get_token)
        self.get_token_async = self.offline(druva.get_token_async)
        self.real_auth = sys.modules.get("druva.auth")
        if self.real_auth is not None:
            self.auth = types.ModuleType("druva.auth", self.real_auth.__doc__)
            self.auth.__dict__.update(vars(self.real_auth))
            for name in ("RequestsAuth", "HttpxAuth"):
                if hasattr(self.real_auth, name):
                    setattr(self.auth, name, self.offline(getattr(self.real_auth, name)))

    def offline(self, call: Callable[..., Any]) -> Any:
        def offline_call(*args: Any, **kwargs: Any) -> Any:
            if not {"region", "base_url", "token_url"} & kwargs.keys():
                kwargs["base_url"] = (self.msp if kwargs.get("msp") else self.fake).base_url
            return call(*args, **kwargs)

        offline_call.from_env = getattr(call, "from_env", None)  # type: ignore[attr-defined]
        return offline_call

    def builtins(self) -> dict[str, Any]:
        """The examples' builtins, whose ``import druva`` gives this module."""

        def offline_import(name: str, *args: Any, **kwargs: Any) -> Any:
            module = builtins.__import__(name, *args, **kwargs)
            if module is druva:
                return self
            if module is not None and module is self.real_auth:
                return self.auth
            return module

        return dict(vars(builtins), __import__=offline_import)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[dict[str, str]]:
    """``redis_url`` for the examples of ``druva.RedisTokenStore``: a
    redis-server of the tests' own, when one is installed."""
    started = start_redis_server()
    if started is None:
        yield {}
        return
    server, url = started
    try:
        yield {"redis_url": url}
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture
def namespace(
    monkeypatch: pytest.MonkeyPatch, redis_server: dict[str, str]
) -> Iterator[dict[str, Any]]:
    with (
        FakeDruva(users=25, page_size=10) as fake,
        FakeDruva(client_id=fake.client_id, secret=fake.secret, msp=True) as msp,
    ):
        monkeypatch.setenv("DRUVA_CLIENT_ID", fake.client_id)
        monkeypatch.setenv("DRUVA_SECRET_KEY", fake.secret)
        monkeypatch.setenv("DRUVA_BASE_URL", fake.base_url)
        monkeypatch.delenv("DRUVA_REGION", raising=False)
        offline = OfflineDruva(fake, msp)
        with druva.Session(fake.client_id, fake.secret, base_url=fake.base_url) as s:
            yield {
                "__name__": "__docs__",
                "__builtins__": offline.builtins(),
                "asyncio": asyncio,
                "druva": offline,
                "FakeDruva": FakeDruva,
                "fake": fake,
                "client_id": fake.client_id,
                "secret": fake.secret,
                "s": s,
                **redis_server,
            }


OPTIONS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def run_example(
    example: doctest.Example, namespace: dict[str, Any], loop: asyncio.AbstractEventLoop
) -> tuple[str, str | None]:
    """Runs one example as a notebook cell would: its output, and the last
    line of its traceback if it raised."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(example.source, "<example>", "single", flags, dont_inherit=True)
    output = io.StringIO()
    with contextlib.redirect_stdout(output):
        try:
            result = eval(code, namespace)  # noqa: S307 (the docstrings' own examples)
            if inspect.iscoroutine(result):
                loop.run_until_complete(result)
        except Exception as error:
            return output.getvalue(), traceback.format_exception_only(type(error), error)[-1]
    return output.getvalue(), None


def run_examples(name: str, text: str, namespace: dict[str, Any]) -> None:
    checker = doctest.OutputChecker()
    loop = asyncio.new_event_loop()
    try:
        for example in doctest.DocTestParser().get_examples(text):
            if example.options.get(doctest.SKIP):
                continue
            got, error = run_example(example, namespace, loop)
            where = f"{name}, example:\n{example.source}"
            if error is None:
                assert example.exc_msg is None, f"{where}raised nothing"
                assert checker.check_output(example.want, got, OPTIONS), (
                    f"{where}expected:\n{example.want}got:\n{got}"
                )
            else:
                assert example.exc_msg is not None, f"{where}raised {error}"
                assert checker.check_output(example.exc_msg, error, OPTIONS), (
                    f"{where}expected:\n{example.exc_msg}raised:\n{error}"
                )
    finally:
        loop.close()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(PUBLIC))
def test_the_examples_run(name: str, namespace: dict[str, Any]) -> None:
    run_examples(name, docstring(PUBLIC[name]), dict(namespace))


@pytest.mark.parametrize("module", [module.__name__ for module in public_modules()])
def test_the_module_examples_run(module: str, namespace: dict[str, Any]) -> None:
    run_examples(module, docstring(sys.modules[module]), dict(namespace))


def test_an_example_whose_output_differs_fails(namespace: dict[str, Any]) -> None:
    wrong = '>>> s.get("/insync/usermanagement/v1/users/1").status_code\n404\n'
    with pytest.raises(AssertionError, match="expected"):
        run_examples("wrong", wrong, dict(namespace))


def test_an_async_example_runs_as_in_a_notebook(namespace: dict[str, Any]) -> None:
    awaited = (
        ">>> token = await druva.get_token_async(client_id, secret)\n"
        ">>> token.access_token == s.token.access_token\n"
        "True\n"
    )
    run_examples("awaited", awaited, dict(namespace))
    with pytest.raises(AssertionError, match="expected"):
        run_examples("awaited", awaited.replace("True", "False"), dict(namespace))


# ---- the reference builds --------------------------------------------------------------


def load_builder() -> types.ModuleType:
    # The docs extra (which the test extra pulls in) installs pdoc from Python 3.10.
    pytest.importorskip("pdoc")
    path = REPOSITORY / "docs" / "build_reference.py"
    spec = importlib.util.spec_from_file_location("build_reference", path)
    assert spec is not None and spec.loader is not None
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    return builder


@pytest.mark.timeout(300)
def test_the_reference_builds_without_a_problem(tmp_path: Path) -> None:
    builder = load_builder()
    modules, _ = builder.modules()

    assert builder.build(tmp_path, modules) == []

    page = (tmp_path / "druva.html").read_text()
    # The calls Session takes from its private base are documented on it, in full.
    for member in ("Session.get", "Session.paginate", "Session.map", "AsyncSession.map"):
        assert f'id="{member}"' in page, member
    assert "Iterates over every item of a Druva list" in page
    assert (tmp_path / "druva" / "testing.html").exists()


PROBES = itertools.count()


@pytest.fixture
def probe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], list[str]]:
    """Builds the reference plus a module of the given source; its problems."""
    builder = load_builder()
    monkeypatch.syspath_prepend(str(tmp_path))

    def build(source: str) -> list[str]:
        # A name of its own each time: an imported module stays in sys.modules.
        name = f"druva_docs_probe_{next(PROBES)}"
        (tmp_path / f"{name}.py").write_text(source)
        modules, _ = builder.modules()
        problems: list[str] = builder.build(tmp_path / "out", [*modules, name])
        return problems

    return build


@pytest.mark.timeout(300)
def test_a_reference_that_leads_nowhere_fails_the_build(
    probe: Callable[[str], list[str]],
) -> None:
    good = '"""Uses ``druva.Session``, its ``druva.Session.paginate()`` and druva.Response."""\n'
    assert probe(good) == []

    problems = probe(
        good.replace("Session", "Sesion", 1)
        .replace("paginate", "paginte")
        .replace("Response", "Responze")
    )

    assert len(problems) == 3, problems
    for typo in ("druva.Sesion", "druva.Session.paginte()", "druva.Responze"):
        assert any(repr(typo) in problem for problem in problems), (typo, problems)


@pytest.mark.timeout(300)
def test_a_pdoc_warning_fails_the_build(probe: Callable[[str], list[str]]) -> None:
    problems = probe('"""A probe whose __all__ names what it lacks."""\n\n__all__ = ["gone"]\n')

    assert any(problem.startswith("pdoc: ") for problem in problems), problems
