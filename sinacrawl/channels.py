"""The channel registry, as data: a name, where its listings live, its archive category path.

Print it with ``python -m sinacrawl.channels`` (add ``--json`` for machine-readable output).
A channel is read from one or more sources: the roll API (``pageid``/``lid``) or a
server-rendered HTML listing page. Adding a channel is adding one entry to ``CHANNELS``.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from urllib.parse import urlencode

ROLL_API = "https://feed.mix.sina.com.cn/api/roll/get"
DEFAULT_CHANNEL = "china"
ROOT_CATEGORIES = ("金融", "新浪财经")


@dataclass(frozen=True)
class RollSource:
    """A roll API list: ``feed.mix.sina.com.cn/api/roll/get?pageid=…&lid=…``."""

    pageid: int
    lid: int

    def page_url(self, page: int, num: int) -> str:
        """
        >>> RollSource(155, 1686).page_url(2, 50)
        'https://feed.mix.sina.com.cn/api/roll/get?pageid=155&lid=1686&k=&num=50&page=2'
        """
        query = {"pageid": self.pageid, "lid": self.lid, "k": "", "num": num, "page": page}
        return f"{ROLL_API}?{urlencode(query)}"

    def describe(self) -> str:
        return f"roll API pageid={self.pageid} lid={self.lid}"


@dataclass(frozen=True)
class HtmlSource:
    """A server-rendered HTML listing; later pages are found through its own page links."""

    url: str

    def describe(self) -> str:
        return f"HTML listing {self.url}"


Source = RollSource | HtmlSource


@dataclass(frozen=True)
class Channel:
    name: str
    """What ``-a channels=`` takes."""
    label: str
    """Sina's own name for the list."""
    sources: tuple[Source, ...]
    categories: tuple[str, ...]
    """Category path of the channel's posts in the archive (and the item's ``categories``)."""
    verified: bool = True
    """False when the list id comes from public usage and was not seen in real data here."""


def _finance(name: str, label: str, *sources: Source, verified: bool = True) -> Channel:
    return Channel(name, label, sources, (*ROOT_CATEGORIES, f"新浪财经－{label}"), verified)


# Order matters only for printing; the spider follows the order the user gives.
CHANNELS: dict[str, Channel] = {
    c.name: c
    for c in (
        # The seed archive's feed; its category path keeps the seed's spelling (国內).
        Channel("china", "国内", (RollSource(155, 1686),), (*ROOT_CATEGORIES, "新浪财经－国內")),
        _finance("macro", "宏观经济", RollSource(155, 1687)),
        _finance("local", "地方经济", RollSource(155, 1688)),
        _finance("ministries", "部委动态", RollSource(155, 1689)),
        _finance("finance_news", "金融新闻", RollSource(155, 1690)),
        # pageid 153 list ids as public crawlers agree on them (2509 全部, 2516 财经, 2517 股市,
        # 2518 美股, …); the real 2516 response in the shared fixtures lists 2516 on every entry,
        # 2517 on its stock entries and 2518 on its US-stock ones. No public source names a
        # Hong Kong list, so there is no hkstock channel until one is seen.
        _finance("caijing", "财经", RollSource(153, 2516)),
        _finance("stock", "股市", RollSource(153, 2517)),
        _finance("usstock", "美股", RollSource(153, 2518)),
        _finance("chanjing", "产经", RollSource(164, 1693)),
        _finance("consumer", "消费", RollSource(166, 1703)),
        # No roll id: read from the server-rendered roll listing (real page in the fixtures).
        _finance(
            "listed", "上市公司", HtmlSource("https://finance.sina.com.cn/roll/c/56592.shtml")
        ),
    )
}


class UnknownChannel(ValueError):
    """A channel name that is not in the registry; the message lists the valid names."""


def parse_channel_names(value: str | Iterable[str] | None) -> list[str]:
    """``"china, macro"`` → ``["china", "macro"]``; empty means the default channel.

    >>> parse_channel_names(" china,macro,china ")
    ['china', 'macro']
    >>> parse_channel_names(None)
    ['china']
    """
    if value is None:
        return [DEFAULT_CHANNEL]
    items = value.split(",") if isinstance(value, str) else list(value)
    names = list(dict.fromkeys(n.strip() for n in items if n and n.strip()))
    return names or [DEFAULT_CHANNEL]


def get_channels(names: str | Sequence[str] | None) -> list[Channel]:
    """The named channels, in the given order; raises UnknownChannel for any unknown name."""
    wanted = parse_channel_names(names)
    unknown = [n for n in wanted if n not in CHANNELS]
    if unknown:
        raise UnknownChannel(
            f"unknown channel{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"valid names: {', '.join(CHANNELS)}"
        )
    return [CHANNELS[n] for n in wanted]


def _as_json(channel: Channel) -> dict:
    data = asdict(channel)
    data["sources"] = [
        {"type": type(s).__name__, **asdict(s), "describe": s.describe()} for s in channel.sources
    ]
    return data


def main(argv: Sequence[str] | None = None) -> int:
    """Print the registry: one line per channel, or JSON with ``--json``."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args != ["--json"]:
        print("usage: python -m sinacrawl.channels [--json]", file=sys.stderr)
        return 2
    if args == ["--json"]:
        print(json.dumps([_as_json(c) for c in CHANNELS.values()], ensure_ascii=False, indent=1))
        return 0
    width = max(len(n) for n in CHANNELS)
    for channel in CHANNELS.values():
        default = " (default)" if channel.name == DEFAULT_CHANNEL else ""
        unverified = " [list id unverified]" if not channel.verified else ""
        sources = "; ".join(s.describe() for s in channel.sources)
        print(
            f"{channel.name:<{width}}  {channel.label}{default}  {sources}  "
            f"→ {' / '.join(channel.categories)}{unverified}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
