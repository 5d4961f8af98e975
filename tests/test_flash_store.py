"""Flash storage pieces without a crawl: day sets, day posts, the Hexo flash pipeline, flash
documents in MongoDB (nx-27017), and the mock feed's paging, JSONP, edits and clock."""

from __future__ import annotations

import json
import re
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from pymongo import MongoClient

from sinacrawl.flashes import in_time_order, merge
from sinacrawl.flashposts import day_post_path, render_day
from sinacrawl.items import Article, Flash
from sinacrawl.parsing.flash import parse_feed
from sinacrawl.pipelines.dedupe import DedupePipeline
from sinacrawl.pipelines.validate import ValidatePipeline
from sinacrawl.stores.flashdays import FlashDays
from sinacrawl.stores.hexo import HexoStore
from sinacrawl.stores.mongo.documents import flash_document
from sinacrawl.stores.mongo.redact import Redactor
from sinacrawl.stores.mongo.writer import MongoWriter
from sinacrawl.testing.mocksite import serving

CRAWLED = "2026-09-04T02:38:25+00:00"


def flash(n: int, text: str | None = None, **extra) -> dict:
    minute = f"{n % 60:02d}"
    return {
        "id": str(5076000 + n),
        "url": f"https://finance.sina.com.cn/7x24/2026-09-04/doc-i{n}.shtml",
        "published_at": f"2026-09-04T10:{minute}:00+08:00",
        "updated_at": f"2026-09-04T10:{minute}:00+08:00",
        "text": text or f"第{n}条",
        "html": text or f"第{n}条",
        "tags": ["A股"],
        "stocks": ["sh600519", "gb_aapl"],
        "focus": False,
        "feed": 152,
        "crawled_at": CRAWLED,
        **extra,
    }


def test_a_day_post_keeps_every_spec_4_rule_whatever_the_flashes_say() -> None:
    hostile = (
        '<p>{{ site.title }}</p>\n\n\n<script>alert(1)</script><img src="https://n.sinaimg.cn/a.jpg">'
        '<a href="javascript:x()">链</a> ``` --- '
    )
    day = {}
    for f in (flash(3), flash(1, hostile), flash(2)):
        merge(day, f)
    post = render_day("2026-09-04", in_time_order(day)).decode("utf-8")
    front, body = post[4:].split("\n---\n", 1)
    assert post.startswith("---\n")
    assert yaml.safe_load(front)["title"] == "新浪财经 7×24 2026-09-04"
    assert yaml.safe_load(front)["categories"] == ["金融", "新浪财经", "新浪财经－7x24"]
    assert "\n\n" not in body.strip("\n")
    assert "{" not in body and "&#123;&#123; site.title &#125;&#125;" in body
    assert "<script" not in body and "javascript:" not in body
    assert 'referrerpolicy="no-referrer"' in body
    assert re.findall(r'id="flash-(\d+)"', body) == ["5076001", "5076002", "5076003"]
    assert 'href="https://stock.finance.sina.com.cn/usstock/quotes/aapl.html"' in body
    assert render_day("2026-09-04", in_time_order(day)) == post.encode()  # same bytes


def test_the_hexo_flash_pipeline_rewrites_a_day_only_when_a_flash_was_added_or_changed(
    tmp_path: Path,
) -> None:
    def run(*flashes: dict) -> None:
        days = FlashDays(tmp_path)
        days.open()
        for f in flashes:
            days.put(Flash(**f))
        days.flush()

    post = tmp_path / day_post_path("2026-09-04")
    run(flash(1), flash(2))
    first = post.stat().st_mtime_ns
    run(flash(2), flash(1))
    assert post.stat().st_mtime_ns == first  # nothing new: not rewritten
    run(flash(3))  # a later run with only the new flash keeps the earlier ones
    assert re.findall(r'id="flash-(\d+)"', post.read_text("utf-8")) == [
        "5076001",
        "5076002",
        "5076003",
    ]
    edited = flash(2, "第2条（更正）", updated_at="2026-09-04T10:05:00+08:00")
    run(edited)
    assert "第2条（更正）" in post.read_text("utf-8")
    older = flash(2, "第2条（旧）")  # an older version of it: ignored
    run(older)
    assert "第2条（旧）" not in post.read_text("utf-8")
    assert not [p for p in tmp_path.rglob("*") if "tmp" in p.name]


def test_flashes_pass_the_article_pipelines_untouched_and_reach_the_hexo_store(
    tmp_path: Path,
) -> None:
    item = Flash(**flash(1))
    assert ValidatePipeline().process_item(item) is item
    assert DedupePipeline().process_item(item) is item
    store = HexoStore(tmp_path)
    store.open_now()
    store.store(Article(doc_id="ix1", title="t", body_text="b", published_at="2026-09-04"))
    store.flash_days.put(item)
    store.flash_days.flush()
    store.close_now()
    assert (tmp_path / day_post_path("2026-09-04")).exists()
    assert ("5076001", 1788487260) in set(store.known_ids())


def test_an_unreadable_day_file_is_an_error_not_a_day_rebuilt_from_the_feed(
    tmp_path: Path,
) -> None:
    days = FlashDays(tmp_path)
    path = days.days.path(152, "2026-09-04")
    path.parent.mkdir(parents=True)
    path.write_text("[1, 2", encoding="utf-8")
    with pytest.raises(ValueError):
        days.put(Flash(**flash(1)))


def test_flash_documents_raise_the_revision_when_the_text_changes(mongo_uri: str) -> None:
    collection = MongoClient(mongo_uri, tz_aware=True).get_default_database().flashes
    writer = MongoWriter(collection, Redactor(mongo_uri), unique_url=False)
    now = datetime(2026, 9, 4, 3, tzinfo=timezone.utc)
    first = writer.write([flash_document(flash(1), now), flash_document(flash(2, url=None), now)])
    assert first.upserted == 2
    same = writer.write([flash_document(flash(1), now + timedelta(minutes=1))])
    assert (same.unchanged, same.revised) == (1, 0)
    edit = flash(1, "改", updated_at="2026-09-04T10:09:00+08:00")
    assert writer.write([flash_document(edit, now + timedelta(minutes=2))]).revised == 1
    doc = collection.find_one({"_id": "5076001"})
    assert (doc["revision"], doc["text"]) == (2, "改")
    assert doc["published_at"] == datetime(2026, 9, 4, 2, 1, tzinfo=timezone.utc)
    assert collection.find_one({"_id": "5076002"})["url"] is None  # no unique url index


def test_the_mock_feed_pages_answers_jsonp_and_moves_its_clock() -> None:
    config = {
        "flash_feed": {
            "interval": 60,
            "reach": 30,
            "edits": [{"n": 50, "after": 630, "text": "改过"}],
            "deletions": [{"n": 51, "after": 30}],
        }
    }
    with serving(config) as server:
        base = f"{server.url}/zhibo.sina.com.cn/api/zhibo/feed?zhibo_id=152&page_size=20"

        def get(query: str) -> bytes:
            with urllib.request.urlopen(f"{base}&{query}", timeout=5) as response:
                return response.read()

        page1 = parse_feed(get("page=1"), feed=152, crawled_at=CRAWLED)
        page2 = parse_feed(get("page=2&callback=jsonp_9"), feed=152, crawled_at=CRAWLED)
        assert get("page=2&callback=jsonp_9").startswith(b"try{jsonp_9(")
        assert (page1.total, page1.pages, len(page1.ids), len(page2.ids)) == (30, 2, 20, 10)
        assert page1.ids == sorted(page1.ids, reverse=True) and page1.ids[-1] > page2.ids[0]
        assert page1.dropped == {"deleted": 1}
        newest = max(page1.ids)
        edited = {f["id"]: f for f in page1.flashes}[str(5000050)]
        assert edited["text"] != "改过"
        with urllib.request.urlopen(f"{server.url}/_mock/clock?advance=60", timeout=5) as r:
            assert r.read().decode().startswith("2026-09-01T01:01:00")
        moved = parse_feed(get("page=1"), feed=152, crawled_at=CRAWLED)
        assert max(moved.ids) == newest + 1
        assert {f["id"]: f for f in moved.flashes}[str(5000050)]["text"] == "改过"
        assert any("<" in json.dumps(f["html"]) for f in moved.flashes)  # HTML in rich_text


def test_the_live_spider_runs_under_a_lock_of_its_own(tmp_path: Path) -> None:
    from scrapy.settings import Settings

    from sinacrawl.extensions.lock import lock_path

    settings = Settings({"ARCHIVE_DIR": str(tmp_path)})
    assert lock_path(settings, "live") == tmp_path / ".sinacrawl" / "live.lock"
    assert (
        lock_path(settings, "finance")
        == lock_path(settings)
        == tmp_path / ".sinacrawl" / "run.lock"
    )
    assert lock_path(Settings({"SINACRAWL_LOCK": "off"}), "live") is None
