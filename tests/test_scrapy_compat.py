"""Private Scrapy API: used only in ``sinacrawl/scrapy_compat.py``, and still there.

When a Scrapy release changes an internal the compat module relies on, the first test here
fails naming it; the other two keep new uses of Scrapy internals from creeping in elsewhere.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import scrapy
from scrapy.http import HtmlResponse

import sinacrawl
from sinacrawl.scrapy_compat import set_url

PACKAGE = Path(sinacrawl.__file__).parent
COMPAT = PACKAGE / "scrapy_compat.py"
# Set on every class by a metaclass (abc's, Scrapy's ItemMeta), not written by sinacrawl.
METACLASS_MEMBERS = {"_abc_impl", "_class"}
# Private names of other libraries that Scrapy happens to use too: lxml's element type.
NOT_SCRAPY = {"_Element"}


def test_the_internals_scrapy_compat_relies_on_are_there() -> None:
    response = HtmlResponse("https://finance.sina.com.cn/a.shtml", body=b"<p>x</p>")
    assert callable(getattr(response, "_set_url", None)), (
        f"Scrapy {scrapy.__version__} has no Response._set_url: set_url() now copies every "
        "response (slower); find the new way or drop the fast path"
    )
    moved = set_url(response, "https://finance.sina.com.cn/b.shtml")
    assert moved is response and response.url == "https://finance.sina.com.cn/b.shtml"


def _modules() -> list[str]:
    names = ["sinacrawl"]
    for info in pkgutil.walk_packages([str(PACKAGE)], prefix="sinacrawl."):
        names.append(info.name)
    return names


def test_no_subclass_overrides_a_private_scrapy_member() -> None:
    """Overriding ``_parse_robots`` and the like is private API too: hook points only."""
    found = []
    for name in _modules():
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != name:
                continue
            bases = [b for b in cls.__mro__[1:] if b.__module__.startswith("scrapy.")]
            for member in set(vars(cls)) - METACLASS_MEMBERS:
                if member.startswith("_") and not member.startswith("__"):
                    found += [f"{cls.__name__}.{member}" for b in bases if member in vars(b)]
    assert found == []


def _private_names(root: Path) -> dict[str, set[Path]]:
    """Every ``_name`` (not dunder) defined, imported or used as an attribute under ``root``."""
    names: dict[str, set[Path]] = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = node.name
            elif isinstance(node, ast.Attribute):
                name = node.attr
            elif isinstance(node, ast.alias):
                name = node.name.rsplit(".", 1)[-1]
            else:
                continue
            if name.startswith("_") and not name.startswith("__"):
                names.setdefault(name, set()).add(path)
    return names


def _defined_names(root: Path) -> set[str]:
    """Names sinacrawl itself defines (functions, classes, attributes it assigns)."""
    defined: set[str] = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                defined.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
    return defined


def test_scrapy_internals_are_used_only_in_the_compat_module() -> None:
    scrapy_private = set(_private_names(Path(scrapy.__file__).parent))
    ours = _private_names(PACKAGE)
    own = _defined_names(PACKAGE)
    used = {
        name: sorted(str(p.relative_to(PACKAGE)) for p in paths if p != COMPAT)
        for name, paths in ours.items()
        if name in scrapy_private and name not in own | NOT_SCRAPY
    }
    assert {name: files for name, files in used.items() if files} == {}
