"""``sinacrawl``: the one command an installed sinacrawl gives, usable from any folder.

::

    sinacrawl crawl finance -a channels=china,macro     # scrapy crawl, with the project's settings
    sinacrawl extract page.html                         # re-extract saved pages (JSON Lines)
    sinacrawl channels [--json]                         # the channel registry
    sinacrawl demo                                      # an offline crawl of a mock Sina site
    sinacrawl scrapy shell URL                          # any Scrapy command, same settings

Each subcommand is one entry of :data:`COMMANDS` (name → ``module:function`` taking the rest
of the command line and returning an exit status), so adding one is adding a line. New
spiders need no entry: ``sinacrawl crawl NAME`` finds every spider in ``sinacrawl.spiders``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from sinacrawl import __version__

SETTINGS_MODULE = "sinacrawl.settings"

COMMANDS: dict[str, tuple[str, str]] = {
    "crawl": ("sinacrawl.cli:crawl", "run a spider: finance (channel listings), article (URLs), …"),
    "extract": ("sinacrawl.extract:main", "re-extract saved article pages, one JSON line each"),
    "channels": ("sinacrawl.channels:main", "list the channels a crawl can read"),
    "demo": ("sinacrawl.testing.demo:main", "crawl a local mock Sina site into ./demo-archive"),
    "scrapy": ("sinacrawl.cli:scrapy", "any Scrapy command (shell, parse, list, …), same settings"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = [
        f"sinacrawl {__version__}: a Scrapy crawler for Sina Finance",
        "",
        "usage: sinacrawl COMMAND [ARGS...]    (sinacrawl COMMAND --help for its options)",
        "",
        "commands:",
        *(f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()),
    ]
    return "\n".join(lines)


def load(target: str) -> Callable[[list[str]], int | None]:
    """The function a ``module:function`` entry names."""
    module, _, function = target.partition(":")
    return getattr(import_module(module), function)


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``sinacrawl COMMAND ARGS...``; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if args else 2
    if args[0] == "--version":
        print(f"sinacrawl {__version__}")
        return 0
    if args[0] not in COMMANDS:
        print(f"sinacrawl: unknown command {args[0]!r}\n\n{usage()}", file=sys.stderr)
        return 2
    status = load(COMMANDS[args[0]][0])(args[1:])
    return int(status or 0)


def scrapy(argv: list[str]) -> int:
    """``scrapy ARGS`` with sinacrawl's settings, wherever it is run from."""
    from scrapy.cmdline import execute

    # A settings module of the user's own (e.g. one that imports sinacrawl.settings) wins.
    os.environ.setdefault("SCRAPY_SETTINGS_MODULE", SETTINGS_MODULE)
    try:
        execute(["sinacrawl scrapy", *argv])
    except SystemExit as done:  # Scrapy's commands end by exiting with their status
        return done.code if isinstance(done.code, int) else int(done.code is not None)
    return 0


def crawl(argv: list[str]) -> int:
    """``scrapy crawl ARGS``: sinacrawl's crawl command (run lock, exit statuses)."""
    if "-h" in argv or "--help" in argv:
        status = scrapy(["crawl", "--help"])
        print(f"\nSpiders and their -a arguments:\n\n{spiders_help()}")
        return status
    return scrapy(["crawl", *argv])


def spiders_help() -> str:
    """Each spider's name and its module's docstring, which lists its ``-a`` arguments."""
    import pkgutil

    from scrapy.utils.spider import iter_spider_classes

    package = import_module("sinacrawl.spiders")
    modules = [
        import_module(f"{package.__name__}.{info.name}")
        for info in pkgutil.iter_modules(package.__path__)
    ]
    found = {
        spider.name: sys.modules[spider.__module__].__doc__ or ""
        for module in modules
        for spider in iter_spider_classes(module)
    }
    return "\n\n".join(
        f"{name}:\n" + "\n".join(f"    {line}".rstrip() for line in doc.strip().splitlines())
        for name, doc in sorted(found.items())
    )


if __name__ == "__main__":
    sys.exit(main())
