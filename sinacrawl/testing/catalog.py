"""What the mock Sina site holds: channels and their articles, built deterministically from a
config (a JSON-ready dict). The same config always gives the same doc ids, titles, times and
pages, so a test can build the catalog in-process and know exactly what a crawl should find.

Articles are referred to as ``"<channel>:<index>"`` (index 0 is the channel's newest article)
or ``"real:<file stem prefix>"`` (``"real:p11"``) in the config's ``faults``, ``omit``,
``page_dates``, ``revised``, ``hosts`` and ``also_list`` entries. A config names only what
differs from DEFAULT_CONFIG, e.g.::

    {"channels": [{"name": "china", "pageid": 155, "lid": 1686, "count": 12}],
     "faults": {"china:3": {"kind": "flaky", "status": 503, "times": 2}},
     "omit": {"china:5": ["date", "source"]}}
"""

from __future__ import annotations

import copy
import os
import random
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sinacrawl.parsing.dates import BEIJING

FAULT_KINDS = (
    "status",  # always answer with "status" (404, 410, 500, …)
    "flaky",  # "status" (500/503) "times" times, then the page
    "throttle",  # 429 with Retry-After: "retry_after" seconds, "times" times, then the page
    "redirect_loop",  # 302 between two URLs forever
    "offsite",  # 302 to a non-Sina host (this mock's own /offsite/ path on 127.0.0.1)
    "hang",  # hold the connection for "seconds" (or until the client gives up), send nothing
    "reset",  # close the connection with a TCP RST instead of answering
    "short_body",  # Content-Length larger than the bytes sent, then close
    "oversize",  # a body of "bytes" bytes (default 12 MB), announced or chunked
    "gbk_utf8_header",  # a GBK page (meta gb2312) served with "charset=utf-8" in the header
    "gzip_bomb",  # a small gzip body that inflates to "bytes" (default 256 MB)
)

# Faults a listing page (roll API or HTML roll listing) can have, keyed "<channel>:<page>".
LISTING_FAULT_KINDS = (
    "status",
    "flaky",
    "throttle",
    "hang",
    "reset",
    "malformed",  # a 200 whose JSON is cut off
    "api_error",  # a 200 whose result.status.code is not 0 ("code", "msg")
)

DEFAULT_CONFIG: dict[str, Any] = {
    "seed": 1,
    # The newest listed article; older ones follow at "spacing_minutes" intervals.
    "newest": "2026-11-20T12:00:00+08:00",
    "spacing_minutes": 30,
    # Page size in KB: a number, or [min, max] drawn per article (80–150 for benchmarks).
    "size_kb": 6,
    # How many rendered pages the server keeps in memory.
    "page_cache": 4096,
    # Every n-th generated article is GBK-encoded (0: none).
    "gbk_every": 5,
    # The roll API never returns more than this many entries a page.
    "max_num": 50,
    # Each: "name" (a label for refs), "pageid"/"lid" (its roll API list; 0/0 for a channel
    # only an HTML listing shows), "count", "path" (of its article URLs) and "also_list"
    # (refs of other channels' articles it lists too).
    "channels": [
        {"name": "china", "pageid": 155, "lid": 1686, "count": 20, "path": "china/gncj"},
        {"name": "macro", "pageid": 155, "lid": 1687, "count": 20, "path": "china/hgjj"},
        {"name": "usstock", "pageid": 153, "lid": 2518, "count": 20, "path": "stock/usstock/c"},
    ],
    # {"ref": {"kind": ..., ...}}; see FAULT_KINDS.
    "faults": {},
    # {"china:2": {"kind": ...}}: listing page 2 of channel china misbehaves.
    "listing_faults": {},
    # {"ref": ["date", "source"]}: the page lacks these, the listing still has them.
    "omit": {},
    # {"ref": "2026-01-02T08:00:00+08:00"}: the page's byline shows this time, not the listing's.
    "page_dates": {},
    # Refs whose page and listing show a later edit (mtime two hours after ctime).
    "revised": [],
    # {"ref": "tech.sina.com.cn"}: serve (and list) that article on another Sina host.
    "hosts": {},
    # {"host": {"status": 503}} or {"host": {"body": "User-agent: *\nDisallow: /x/"}}
    "robots": {},
    # Server-rendered roll listings /finance.sina.com.cn/roll/c/<cid>.shtml?page=N:
    # [{"cid": 56592, "channel": "listed", "per_page": 20}] lists that channel's articles.
    "html_listings": [],
    # Serve the real fixture pages: false, "auto" (SINACRAWL_FIXTURES or ../shared/fixtures)
    # or a directory; "real_pages_channel" names the channel whose listing also lists them.
    "real_pages": False,
    "real_pages_channel": "china",
}

# The real pages (../shared/fixtures/sina-pages) under their real URLs, with the listing time
# a roll would have shown (the page's own date; the page wins over it anyway). p03's URL is
# not in the fixtures table; the page names it itself (its mood-counter widget).
REAL_PAGES: tuple[tuple[str, str, str], ...] = (
    (
        "p01",
        "http://book.sina.com.cn/longbook/1097399113_qiaoguanhua/41.shtml",
        "2004-10-13T14:01:00",
    ),
    ("p02", "http://bj.house.sina.com.cn/p/2005-03-31/031868306.html", "2005-03-31T03:18:00"),
    ("p03", "http://ent.sina.com.cn/y/2009-11-09/13482762951.shtml", "2009-11-09T13:48:00"),
    (
        "p04",
        "http://finance.sina.com.cn/money/forex/forexroll/2016-05-25/doc-ifxsktkp9337164.shtml",
        "2016-05-25T12:00:00",
    ),
    (
        "p05",
        "https://finance.sina.com.cn/roll/2018-12-28/doc-ihqfskcn2160999.shtml",
        "2018-12-28T12:00:00",
    ),
    (
        "p06",
        "https://news.sina.com.cn/c/2019-10-23/doc-iicezuev4202091.shtml",
        "2019-10-23T12:00:00",
    ),
    (
        "p07",
        "https://news.sina.com.cn/c/2019-09-07/doc-iicezzrq4076655.shtml",
        "2019-09-07T12:00:00",
    ),
    (
        "p08",
        "https://tech.sina.com.cn/t/2019-09-11/doc-iicezzrq4972166.shtml",
        "2019-09-11T12:00:00",
    ),
    (
        "p09",
        "https://news.sina.com.cn/c/2024-05-10/doc-inausehc2630922.shtml",
        "2024-05-10T12:00:00",
    ),
    (
        "p10",
        "https://finance.sina.cn/sa/2005-08-26/detail-ikknscsi2623250.d.html",
        "2005-08-26T05:39:00",
    ),
    (
        "p11",
        "https://finance.sina.com.cn/stock/usstock/c/2026-09-28/doc-initmeau2811260.shtml",
        "2026-09-28T23:20:25",
    ),
    (
        "p12",
        "http://news.sina.com.cn/o/2017-07-27/doc-ifyinwmp0119643.shtml",
        "2017-07-27T12:00:00",
    ),
    (
        "p13",
        "https://news.sina.com.cn/c/2018-09-28/doc-ifxeuwwr9250746.shtml",
        "2018-09-28T12:00:00",
    ),
    (
        "p14",
        "http://k.sina.com.cn/article_6598441619_1894c3a9300100elpc.html",
        "2018-09-28T14:39:00",
    ),
    (
        "p15",
        "http://k.sina.com.cn/article_3057540037_b63e5bc502000bg5u.html",
        "2018-09-28T13:46:00",
    ),
    (
        "p16",
        "http://t.cj.sina.com.cn/articles/view/6479293414/182322be600100i6z0",
        "2018-09-28T16:41:00",
    ),
)

# Words the generated headlines and paragraphs are drawn from: common characters only, so every
# page encodes in GB2312 as well as UTF-8.
SUBJECTS = (
    "央行",
    "证监会",
    "国家统计局",
    "财政部",
    "商务部",
    "沪深两市",
    "人民币汇率",
    "制造业",
    "新能源汽车",
    "消费市场",
    "银行业",
    "房地产市场",
    "外贸企业",
    "债券市场",
    "上市公司",
    "科技公司",
)
VERBS = ("发布", "推进", "调整", "稳定", "扩大", "优化", "加快", "回升", "释放", "支持")
OBJECTS = (
    "货币政策",
    "专项债券",
    "消费补贴",
    "数据报告",
    "改革方案",
    "投资计划",
    "出口订单",
    "利润增速",
    "融资成本",
    "就业形势",
    "市场信心",
    "产业升级",
)
MEDIA = (
    "新华社",
    "中国证券报",
    "上海证券报",
    "证券时报",
    "第一财经",
    "新京报",
    "21世纪经济报道",
    "环球市场播报",
    "新浪财经综合",
    "央视新闻",
)
EDITORS = ("张三 SF001", "李四 SF018", "王五", "赵敏 SF142", "郭明煜")
SENTENCE_PARTS = (
    "记者从相关部门了解到",
    "业内人士指出",
    "数据显示",
    "与上年同期相比",
    "分析人士认为",
    "从结构上看",
    "在此背景下",
    "市场普遍预期",
    "值得注意的是",
    "下一步",
)


@dataclass
class MockArticle:
    """One article the mock site lists and serves."""

    ref: str
    """How configs name it: ``china:3`` or ``real:p11``."""
    doc_id: str
    url: str
    """The real Sina URL the listings announce."""
    title: str
    media_name: str
    intro: str
    keywords: tuple[str, ...]
    ctime: datetime
    """Listing time (Beijing); the page's byline shows the same minute."""
    mtime: datetime
    image: str | None
    channels: list[str] = field(default_factory=list)
    """Channels whose listings carry it; the first one owns it."""
    encoding: str = "utf-8"
    """``utf-8`` or ``gbk`` (then the page says gb2312 and so does the header)."""
    omit: frozenset[str] = frozenset()
    fault: dict[str, Any] | None = None
    size_kb: int = 6
    real_file: str | None = None
    """Path of the real fixture page served for it, if any."""
    revised: bool = False
    page_time: datetime | None = None
    """What the page's byline says when it disagrees with the listing (``page_dates``)."""
    index: int = 0
    """Position in the owner channel (generated articles), for the page generator's seed."""

    @property
    def mirror_path(self) -> str:
        """The path this article is served at on the mirror: ``/<host><path>``."""
        parts = urlsplit(self.url)
        return f"/{parts.netloc}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def manifest(self) -> dict[str, Any]:
        """JSON-ready description, for tests and the ``--manifest`` file."""
        return {
            "ref": self.ref,
            "doc_id": self.doc_id,
            "url": self.url,
            "mirror_path": self.mirror_path,
            "title": self.title,
            "media_name": self.media_name,
            "ctime": self.ctime.isoformat(),
            "mtime": self.mtime.isoformat(),
            "channels": list(self.channels),
            "encoding": self.encoding,
            "omit": sorted(self.omit),
            "fault": self.fault,
            "real_file": self.real_file,
            "revised": self.revised,
            "page_time": self.page_time.isoformat() if self.page_time else None,
        }


@dataclass
class MockChannel:
    name: str
    pageid: int
    lid: int
    articles: list[MockArticle] = field(default_factory=list)
    """Newest first, as the roll API lists them."""


@dataclass
class Catalog:
    config: dict[str, Any]
    channels: dict[str, MockChannel]
    by_ref: dict[str, MockArticle]
    by_path: dict[str, MockArticle]

    def channel_for(self, pageid: int, lid: int) -> MockChannel | None:
        for channel in self.channels.values():
            if (channel.pageid, channel.lid) == (pageid, lid):
                return channel
        return None

    def now(self) -> datetime:
        """The site's 'current time': the newest listing time or edit."""
        newest = datetime.fromisoformat(self.config["newest"]).astimezone(BEIJING)
        return max([newest, *(a.mtime for a in self.by_ref.values())])

    def articles(self) -> list[MockArticle]:
        """Every distinct article, each once."""
        return list(self.by_ref.values())

    def manifest(self) -> dict[str, Any]:
        return {
            "channels": {
                name: {
                    "pageid": ch.pageid,
                    "lid": ch.lid,
                    "refs": [a.ref for a in ch.articles],
                }
                for name, ch in self.channels.items()
            },
            "articles": [a.manifest() for a in self.by_ref.values()],
        }


def merged_config(config: dict[str, Any] | None) -> dict[str, Any]:
    """The config with every missing key taken from DEFAULT_CONFIG."""
    merged = copy.deepcopy(DEFAULT_CONFIG)
    merged.update(copy.deepcopy(config or {}))
    return merged


def fixtures_dir(setting: Any) -> Path | None:
    """Where the real pages are, per the ``real_pages`` setting; None when off or missing."""
    if not setting:
        return None
    if setting == "auto" or setting is True:
        default = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures"
        base = Path(os.environ.get("SINACRAWL_FIXTURES", default))
    else:
        base = Path(setting)
    pages = base / "sina-pages" if (base / "sina-pages").is_dir() else base
    return pages if pages.is_dir() else None


def build_catalog(config: dict[str, Any] | None = None) -> Catalog:
    """Every channel and article the config describes, deterministic for a given config."""
    from sinacrawl.testing.daywindows import article_times  # it imports this module

    cfg = merged_config(config)
    rng = random.Random(cfg["seed"])
    newest = datetime.fromisoformat(cfg["newest"]).astimezone(BEIJING)
    spacing = timedelta(minutes=float(cfg["spacing_minutes"]))
    channels: dict[str, MockChannel] = {}
    by_ref: dict[str, MockArticle] = {}
    serial = 0
    for number, spec in enumerate(cfg["channels"]):
        channel = MockChannel(spec["name"], int(spec["pageid"]), int(spec["lid"]))
        channels[channel.name] = channel
        # Channels interleave: each starts a few minutes after the previous one.
        offset = timedelta(minutes=7 * number)
        times = article_times(spec, newest - offset, spacing, rng)
        for index, ctime in enumerate(times):
            article = _generated_article(
                rng, cfg, channel.name, number, index, serial, ctime, spec.get("path", "roll")
            )
            serial += 1
            article.channels.append(channel.name)
            channel.articles.append(article)
            by_ref[article.ref] = article
    _add_real_pages(cfg, channels, by_ref)
    for spec in cfg["channels"]:
        for ref in spec.get("also_list", ()):
            article = by_ref[ref]
            if spec["name"] not in article.channels:
                article.channels.append(spec["name"])
                channels[spec["name"]].articles.append(article)
    _apply_overrides(cfg, by_ref)
    from sinacrawl.testing.stocknews import apply_mobile_forms  # it imports this module

    apply_mobile_forms(cfg, by_ref)
    for channel in channels.values():
        channel.articles.sort(key=lambda a: a.ctime, reverse=True)
    by_path = {a.mirror_path: a for a in by_ref.values()}
    return Catalog(cfg, channels, by_ref, by_path)


def _generated_article(
    rng: random.Random,
    cfg: dict[str, Any],
    channel: str,
    number: int,
    index: int,
    serial: int,
    ctime: datetime,
    path: str,
) -> MockArticle:
    letters = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6))
    doc_id = f"i{letters}{number:02d}{index:05d}"
    url = f"https://finance.sina.com.cn/{path.strip('/')}/{ctime:%Y-%m-%d}/doc-{doc_id}.shtml"
    subject, verb, obj = rng.choice(SUBJECTS), rng.choice(VERBS), rng.choice(OBJECTS)
    title = f"{subject}{verb}{obj}：{rng.choice(SUBJECTS)}{rng.choice(VERBS)}{rng.choice(OBJECTS)}"
    size = cfg["size_kb"]
    size_kb = rng.randint(int(size[0]), int(size[1])) if isinstance(size, list) else int(size)
    gbk_every = int(cfg.get("gbk_every") or 0)
    has_image = rng.random() < 0.7
    day = f"{ctime:%Y%m%d}"
    image = (
        f"https://n.sinaimg.cn/finance/transform/116/w550h366/{day}/{serial:04x}-{doc_id}.jpg"
        if has_image
        else None
    )
    return MockArticle(
        ref=f"{channel}:{index}",
        doc_id=doc_id,
        url=url,
        title=title,
        media_name=rng.choice(MEDIA),
        intro=f"{subject}{verb}{obj}，{rng.choice(SENTENCE_PARTS)}，{rng.choice(OBJECTS)}保持稳定。",
        keywords=(subject, obj),
        ctime=ctime,
        mtime=ctime + timedelta(seconds=rng.randrange(1, 300)),
        image=image,
        encoding="gbk" if gbk_every and serial % gbk_every == gbk_every - 1 else "utf-8",
        size_kb=size_kb,
        index=serial,
    )


def _add_real_pages(
    cfg: dict[str, Any], channels: dict[str, MockChannel], by_ref: dict[str, MockArticle]
) -> None:
    pages = fixtures_dir(cfg.get("real_pages"))
    if pages is None:
        return
    owner = channels.get(cfg.get("real_pages_channel") or "")
    from sinacrawl.parsing.urls import doc_id_from_url

    for prefix, url, when in REAL_PAGES:
        found = sorted(pages.glob(f"{prefix}_*.html"))
        if not found:
            continue
        ctime = datetime.fromisoformat(when).replace(tzinfo=BEIJING)
        article = MockArticle(
            ref=f"real:{prefix}",
            doc_id=doc_id_from_url(url) or prefix,
            url=url,
            title=_real_title(found[0]) or prefix,
            media_name="新浪网",
            intro="",
            keywords=(),
            ctime=ctime,
            mtime=ctime,
            image=None,
            real_file=str(found[0]),
        )
        if owner is not None:
            article.channels.append(owner.name)
            owner.articles.append(article)
        by_ref[article.ref] = article


def _real_title(path: Path) -> str | None:
    """The page's ``<title>`` without the site suffix: good enough for a listing line."""
    raw = path.read_bytes()
    charset = re.search(rb"charset=[\"']?(gb2312|gbk|gb18030)", raw[:4096], re.I)
    text = raw.decode("gb18030" if charset else "utf-8", errors="replace")
    for m in re.finditer(r"<title>([^<'+]+)</title>", text, re.I):
        title = m.group(1).strip().split("_")[0].split("|")[0].strip()
        if title:
            return title
    return None


def _apply_overrides(cfg: dict[str, Any], by_ref: dict[str, MockArticle]) -> None:
    for ref, fault in cfg.get("faults", {}).items():
        kind = fault.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"fault for {ref}: unknown kind {kind!r}; known: {FAULT_KINDS}")
        article = _lookup(by_ref, ref)
        article.fault = dict(fault)
        if kind == "gbk_utf8_header":
            article.encoding = "gbk"
    channels = {spec["name"] for spec in cfg["channels"]}
    for key, fault in cfg.get("listing_faults", {}).items():
        name, _, page = key.rpartition(":")
        if not page.isdigit() or not name:
            raise ValueError(f"listing fault {key!r}: expected '<channel>:<page number>'")
        if fault.get("kind") not in LISTING_FAULT_KINDS:
            raise ValueError(f"listing fault {key!r}: kind must be one of {LISTING_FAULT_KINDS}")
        if name not in channels:
            raise ValueError(f"listing fault {key!r}: no channel {name!r}")
    for ref, fields in cfg.get("omit", {}).items():
        _lookup(by_ref, ref).omit = frozenset(fields)
    for ref, host in cfg.get("hosts", {}).items():
        article = _lookup(by_ref, ref)
        parts = urlsplit(article.url)
        article.url = parts._replace(netloc=host).geturl()
    for ref, when in cfg.get("page_dates", {}).items():
        _lookup(by_ref, ref).page_time = datetime.fromisoformat(when).astimezone(BEIJING)
    for ref in cfg.get("revised", ()):
        article = _lookup(by_ref, ref)
        article.revised = True
        article.mtime = article.ctime + timedelta(hours=2)


def _lookup(by_ref: dict[str, MockArticle], ref: str) -> MockArticle:
    try:
        return by_ref[ref]
    except KeyError:
        raise ValueError(f"config names {ref!r}, which the mock site does not have") from None
