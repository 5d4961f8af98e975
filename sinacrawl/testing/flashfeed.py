"""The mock 7×24 feed (``/zhibo.sina.com.cn/api/zhibo/feed``) with a clock tests can move.

Flash ``n`` (1, 2, …) goes out at ``start + n × interval`` with id ``first_id + n``; at the
feed's current time (``now``) the newest ``reach`` flashes that went out are listed, newest
first, in the real response's shape (``fixtures/sina-listings/zhibo_7x24_feed_*.json``), as
JSON or as JSONP with ``callback=``. Config (``flash_feed`` in the mock site's config)::

    {"start": "2026-09-01T00:00:00+08:00", "interval": 60, "reach": 900, "now": "…",
     "first_id": 5000000, "max_page_size": 100,
     "edits": [{"n": 5, "after": 120, "text": "…"}],     # same id, new text and update_time
     "deletions": [{"n": 6, "after": 60}],                # listed with is_delete=1 from then on
     "hostile_every": 7, "html_every": 5,                 # hostile text / HTML in rich_text
     "faults": {"2": {"kind": "status", "status": 500}}}  # page 2 ("2:100": of size 100) fails

The clock: ``GET /_mock/clock?advance=SECONDS`` or ``?set=ISO`` moves ``now`` (answering the
new time); in-process tests can set ``site.flash_feed.now`` directly.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sinacrawl.parsing.dates import BEIJING
from sinacrawl.testing.pages import jsonp, php_json

if TYPE_CHECKING:
    from sinacrawl.testing.mocksite import Handler, MockSite

FEED_PATH = "/zhibo.sina.com.cn/api/zhibo/feed"
CLOCK_PATH = "/_mock/clock"
DEFAULTS: dict[str, Any] = {
    "start": "2026-09-01T00:00:00+08:00",
    "interval": 60,
    "reach": 900,
    "first_id": 5000000,
    "max_page_size": 100,
    "hostile_every": 7,
    "html_every": 5,
}
TAGS = (("102", "国际"), ("5", "市场"), ("7", "央行"), ("3", "公司"), ("10", "A股"), ("1", "宏观"))
STOCKS = (
    {"market": "cn", "symbol": "sh600519", "key": "贵州茅台"},
    {"market": "hk", "symbol": "00700", "key": "腾讯控股"},
    {"market": "us", "symbol": "aapl", "key": "苹果"},
    {"market": "cn", "symbol": "sih30184", "key": "半导体"},
    {"market": "fund", "symbol": "159558", "key": "半导体"},
)
# Text a flash may carry that must neither break a post nor run anywhere.
HOSTILE = (
    "<script>alert(1)</script>{{ site.title }} {% raw %} --- 标题: '引号' \"双引号\"",
    '<img src="javascript:alert(1)" onerror="alert(2)">图<a href="javascript:x()">链</a>',
    "```\n代码\n```\n\n\n空行之后 # 井号 &lt;b&gt;实体&lt;/b&gt; &amp;",
    "控制\x07字符\u2028分隔\ufeff零宽\u200b <style>p{color:red}</style>",
    '<iframe src="http://127.0.0.1:1/x"></iframe><p onclick="x()">点击</p>',
)


def _time_text(when: datetime) -> str:
    return when.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


@dataclass(frozen=True)
class MockFlash:
    """What flash ``n`` says at a given time (after its edits)."""

    n: int
    id: int
    created: datetime
    updated: datetime
    text: str
    deleted: bool
    tags: tuple[tuple[str, str], ...]
    stocks: tuple[dict[str, str], ...]
    focus: bool

    def entry(self, feed: int) -> dict[str, Any]:
        """The list entry as the real feed sends it (the fields the crawler reads and a few)."""
        day = self.created.strftime("%Y-%m-%d")
        doc = f"nxflash{self.id}"
        ext = {
            "stocks": list(self.stocks),
            "needPushWB": False,
            "docurl": f"https://finance.sina.com.cn/7x24/{day}/doc-i{doc}.shtml",
            "docid": doc,
        }
        return {
            "id": self.id,
            "zhibo_id": feed,
            "type": 0,
            "rich_text": self.text,
            "multimedia": "",
            "commentid": f"live:finance-{feed}-{self.id}:0",
            "create_time": _time_text(self.created),
            "update_time": _time_text(self.updated),
            "is_delete": 1 if self.deleted else 0,
            "is_focus": 1 if self.focus else 0,
            "ext": php_json(ext),
            "tag": [{"id": tid, "name": name} for tid, name in self.tags],
            "docurl": f"https://finance.sina.cn/7x24/{day}/detail-i{doc}.d.html",
        }


class FlashFeed:
    """The feed's flashes as a function of the clock."""

    def __init__(self, config: dict[str, Any] | None) -> None:
        self.config = {**DEFAULTS, **(config or {})}
        self.start = datetime.fromisoformat(self.config["start"]).astimezone(BEIJING)
        self.interval = timedelta(seconds=float(self.config["interval"]))
        self.reach = int(self.config["reach"])
        self.first_id = int(self.config["first_id"])
        self._lock = threading.Lock()
        now = self.config.get("now")
        self._now = (
            datetime.fromisoformat(now).astimezone(BEIJING)
            if now
            else self.start + self.interval * (self.reach + 30)
        )
        self.edits = {int(e["n"]): e for e in self.config.get("edits", ())}
        self.deletions = {int(d["n"]): float(d["after"]) for d in self.config.get("deletions", ())}

    @property
    def now(self) -> datetime:
        with self._lock:
            return self._now

    @now.setter
    def now(self, value: datetime) -> None:
        with self._lock:
            self._now = value.astimezone(BEIJING)

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def newest_n(self, now: datetime | None = None) -> int:
        """The number of the newest flash out at ``now`` (0 before the first)."""
        elapsed = (now or self.now) - self.start
        return max(0, int(elapsed / self.interval))

    def flash(self, n: int, now: datetime | None = None) -> MockFlash:
        """Flash ``n`` as the feed shows it at ``now``."""
        now = now or self.now
        created = self.start + self.interval * n
        text = f"【快讯{n}】第{n}条消息：某公司公告，股价上涨{n % 10}%。"
        hostile_every, html_every = (
            int(self.config["hostile_every"]),
            int(self.config["html_every"]),
        )
        if hostile_every and n % hostile_every == 0:
            text += HOSTILE[(n // hostile_every) % len(HOSTILE)]
        elif html_every and n % html_every == 0:
            text = f'<b>{text}</b><br/>详情&nbsp;见<a href="https://finance.sina.com.cn/">公告</a>'
        updated = created
        edit = self.edits.get(n)
        if edit and now >= created + timedelta(seconds=float(edit["after"])):
            text = str(edit["text"])
            updated = created + timedelta(seconds=float(edit["after"]))
        after = self.deletions.get(n)
        deleted = after is not None and now >= created + timedelta(seconds=after)
        tags = (TAGS[n % len(TAGS)],) + ((TAGS[(n + 2) % len(TAGS)],) if n % 3 == 0 else ())
        stocks = STOCKS[: n % 4] if n % 2 == 0 else ()
        return MockFlash(
            n, self.first_id + n, created, updated, text, deleted, tags, stocks, n % 11 == 0
        )

    def visible(self, now: datetime | None = None) -> list[MockFlash]:
        """What the feed lists at ``now``, newest first."""
        now = now or self.now
        newest = self.newest_n(now)
        oldest = max(1, newest - self.reach + 1)
        return [self.flash(n, now) for n in range(newest, oldest - 1, -1)]

    def payload(self, *, feed: int, page: int, size: int, tag: str) -> dict[str, Any]:
        now = self.now
        listed = [f for f in self.visible(now) if tag in ("", "0") or tag in dict(f.tags)]
        pages = max(1, -(-len(listed) // size))
        chunk = listed[(page - 1) * size : page * size]
        return {
            "result": {
                "status": {"code": 0, "msg": "OK"},
                "timestamp": now.strftime("%a %b %d %H:%M:%S +0800 %Y"),
                "data": {
                    "zhibo": [],
                    "focus": [],
                    "top": {"list": [], "html": ""},
                    "feed": {
                        "list": [f.entry(feed) for f in chunk],
                        "html": "",
                        "page_info": {
                            "totalPage": pages,
                            "pageSize": size,
                            "prePage": max(1, page - 1),
                            "nextPage": min(pages, page + 1),
                            "firstPage": 1,
                            "lastPage": pages,
                            "totalNum": len(listed),
                            "pName": "page",
                            "page": page,
                        },
                        "max_id": chunk[0].id if chunk else 0,
                        "min_id": chunk[-1].id if chunk else 0,
                    },
                },
            }
        }


def _int(query: dict[str, list[str]], name: str, default: int) -> int:
    try:
        return int(query.get(name, [default])[0])
    except ValueError:
        return default


def route(handler: Handler, site: MockSite, path: str, query: dict[str, list[str]]) -> bool:
    """Answer the feed or the clock; False for any other path."""
    feed = site.flash_feed
    if path == FEED_PATH:
        size = min(max(_int(query, "page_size", 20), 1), int(feed.config["max_page_size"]))
        page = max(_int(query, "page", 1), 1)
        faults = feed.config.get("faults", {})
        fault = faults.get(f"{page}:{size}") or faults.get(str(page))
        if fault:
            handler._fault = fault["kind"]
            if handler.fault(site, f"listing:7x24:{page}", fault, {}):
                return True
        payload = feed.payload(
            feed=_int(query, "zhibo_id", 152),
            page=page,
            size=size,
            tag=query.get("tag_id", [""])[0],
        )
        callback = query.get("callback", [""])[0]
        if callback:
            body = jsonp(callback, payload).encode("utf-8")
            handler.send_body(200, body, "application/javascript; charset=utf-8")
        else:
            handler.send_body(200, php_json(payload).encode("ascii"), "application/json")
        return True
    if path == CLOCK_PATH:
        if "set" in query:
            feed.now = datetime.fromisoformat(query["set"][0])
        elif "advance" in query:
            feed.advance(float(query["advance"][0]))
        handler.send_body(200, feed.now.isoformat().encode(), "text/plain")
        return True
    return False
