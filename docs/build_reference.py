"""Builds the API reference of the installed druva package, with pdoc.

    pip install '.[docs]'                          # Python 3.10 or later
    python docs/build_reference.py                 # into docs/reference/
    python docs/build_reference.py --out DIR

The pages are made from the docstrings Python sees at run time (``help()``
shows the same text), for ``druva``, ``druva.testing`` and, when it can be
imported, ``druva.auth`` (requests and httpx are test extras: without them
it is left out, and the build says so). The build fails on any warning
pdoc gives and on any reference that does not lead anywhere: a
``druva.Name`` or a code span naming one of druva's names (``Session``,
``Paginator.cursor``, ``paginate()``) that pdoc could not turn into a link
is a typo or a stale name, which pdoc itself would leave as plain text.
"""

from __future__ import annotations

import argparse
import html.parser
import importlib
import importlib.util
import inspect
import re
import sys
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pdoc
import pdoc.doc
import pdoc.render

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "reference"
TEMPLATES = HERE / "templates"
MODULES = ("druva", "druva.testing")
# Imported only when present and importable: its dependencies are test extras.
OPTIONAL_MODULES = ("druva.auth",)


def modules() -> tuple[list[str], list[str]]:
    """The modules to document, and a note for each optional one left out."""
    chosen, notes = list(MODULES), []
    for name in OPTIONAL_MODULES:
        if importlib.util.find_spec(name) is None:
            continue
        try:
            importlib.import_module(name)
        except ImportError as error:
            notes.append(f"{name} left out: it cannot be imported here ({error})")
            continue
        chosen.append(name)
    return chosen, notes


def private_base(base: tuple[str, str]) -> bool:
    """Whether ``(module, qualname)`` is a private class of druva's, whose
    members its public subclasses show as their own."""
    module, qualname = base
    return module.split(".")[0] == "druva" and qualname.startswith("_")


def members_shown(cls: pdoc.doc.Class) -> list[pdoc.doc.Doc[Any]]:
    """A class's own members, and those it takes from a private druva base."""
    shown = list(cls.own_members)
    for base, members in cls.inherited_members.items():
        if private_base(base):
            shown.extend(members)
    return shown


def public_bases(cls: pdoc.doc.Class) -> list[tuple[str, str, str]]:
    """A class's bases, its private druva ones left out."""
    return [base for base in cls.bases if not private_base(base[:2])]


def constructor_signature(cls: pdoc.doc.Class) -> inspect.Signature | None:
    """The signature of a class whose constructor pdoc shows no member for
    (a pyo3 class's ``#[new]``), as ``help()`` reads it."""
    init = cls.members.get("__init__")
    if init is not None and init.obj is not object.__init__:
        return None
    if getattr(cls.obj, "__text_signature__", None) is None:
        return None
    try:
        return inspect.signature(cls.obj)
    except (TypeError, ValueError):
        return None


def configure() -> None:
    pdoc.render.configure(
        docformat="google",
        show_source=False,
        template_directory=TEMPLATES,
        footer_text="druva API reference",
    )
    pdoc.render.env.globals.update(
        members_shown=members_shown,
        public_bases=public_bases,
        private_base=private_base,
        constructor_signature=constructor_signature,
    )


def public_names(module_names: Iterable[str]) -> tuple[set[str], set[str]]:
    """The names a reference may point at: those in each module's
    ``__all__``, and the public members of its classes."""
    names: set[str] = set()
    members: set[str] = set()
    for module_name in module_names:
        module = importlib.import_module(module_name)
        for name in getattr(module, "__all__", ()):
            names.add(name)
            # A name that does not resolve is pdoc's to report.
            value = getattr(module, name, None)
            if inspect.isclass(value):
                members.update(member for member in dir(value) if not member.startswith("_"))
    return names, members


IDENTIFIER = re.compile(r"(?:[A-Za-z_]\w*)(?:\.[A-Za-z_]\w*)*(?:\(\))?")
DOTTED_DRUVA = re.compile(r"(?<![\w./:-])druva(?:\.[A-Za-z_]\w*)+")


class UnlinkedReferences(html.parser.HTMLParser):
    """Collects, from a page, the references to druva's names that are not links.

    A reference is ``druva.Name...`` in prose or in a code span, a code
    span that starts with one of ``names`` (``Session``, ``Session.get()``,
    ``Paginator.cursor``), or one that calls one of ``members``
    (``paginate()``). Code blocks (the examples) hold code, not
    references, and are skipped.
    """

    def __init__(self, names: set[str], members: set[str]) -> None:
        super().__init__()
        self.names = names
        self.members = members
        self.open: list[str] = []
        self.code = ""
        self.code_linked = False
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.open.append(tag)
        if tag == "code":
            self.code, self.code_linked = "", False
        elif tag == "a" and self.inside("code"):
            self.code_linked = True

    def handle_endtag(self, tag: str) -> None:
        if tag not in self.open:
            return
        while self.open.pop() != tag:
            pass
        if tag != "code" or self.code_linked or self.inside("a", "pre"):
            return
        if self.is_reference(self.code):
            self.found.append(self.code)

    def handle_data(self, data: str) -> None:
        if self.inside("code"):
            self.code += data
        elif not self.inside("a", "pre", "script", "style", "head", "title"):
            self.found.extend(DOTTED_DRUVA.findall(data))

    def inside(self, *tags: str) -> bool:
        return any(tag in self.open for tag in tags)

    def is_reference(self, text: str) -> bool:
        if not IDENTIFIER.fullmatch(text):
            return False
        first = text.split(".")[0]
        if first == "druva" or first in self.names:
            return True
        return first.endswith("()") and first[: -len("()")] in self.members


def unlinked_references(output: Path, module_names: Sequence[str]) -> list[str]:
    names, members = public_names(module_names)
    problems: list[str] = []
    for page in sorted(output.rglob("*.html")):
        parser = UnlinkedReferences(names, members)
        parser.feed(page.read_text(encoding="utf-8"))
        problems.extend(
            f"{page.relative_to(output)}: {reference!r} is not a link "
            "(a typo, or a name the reference does not document)"
            for reference in dict.fromkeys(parser.found)
        )
    return problems


def build(output: Path, module_names: Sequence[str]) -> list[str]:
    """Writes the reference of ``module_names`` into ``output``; returns
    what is wrong with it (pdoc's warnings, references that lead nowhere)."""
    configure()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pdoc.pdoc(*module_names, output_directory=output)
    problems = [f"pdoc: {warning.message}" for warning in caught]
    return problems + unlinked_references(output, module_names)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUTPUT, help=f"default: {OUTPUT}")
    arguments = parser.parse_args(argv)
    module_names, notes = modules()
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    problems = build(arguments.out, module_names)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        print(f"the reference has {len(problems)} problem(s)", file=sys.stderr)
        return 1
    print(f"reference of {', '.join(module_names)}: {arguments.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
