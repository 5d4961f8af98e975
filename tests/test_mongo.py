"""The MongoDB pipeline over the real wire protocol (nx-27017, or $MONGO_URI's server).

Items here are synthetic (built in this file); what is tested is how they are stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import hypothesis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pymongo import MongoClient, monitoring
from pymongo.errors import AutoReconnect
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from sinacrawl.items import FIELDS, Article
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.pipelines.store import StorePipeline
from sinacrawl.stores.mongo.documents import to_document
from sinacrawl.stores.mongo.lane import MAX_QUEUED_BATCHES, Lane
from sinacrawl.stores.mongo.redact import Redactor
from sinacrawl.stores.mongo.spool import Journal, read_spool, spool_files
from sinacrawl.stores.mongo.writer import MongoWriter
from tests.mongo_server import NxServer, free_port

UTC = timezone.utc
REPO = Path(__file__).resolve().parent.parent


def make_item(n: int, **changes: Any) -> Article:
    """A complete synthetic article number ``n``."""
    doc_id = f"ikyamrmz{6784000 + n}"
    item = Article(
        url=f"https://finance.sina.com.cn/china/gncj/2021-11-22/doc-{doc_id}.shtml",
        doc_id=doc_id,
        title=f"人社部：党领导就业和社保工作的重大成就 {n}",
        published_at="2021-11-22T17:33:50+08:00",
        source="新京报",
        author=None,
        editor="霍琦",
        categories=["金融", "新浪财经", "新浪财经－国內"],
        section=["国内"],
        keywords=["就业", "社保"],
        stocks=["sh603883"],
        body_html=f"<p>第{n}段：就业是最大的民生。</p><p>第二段。</p>",
        body_text=f"第{n}段：就业是最大的民生。\n第二段。",
        images=[],
        headimg=None,
        crawled_at="2026-11-27T08:00:00+00:00",
    )
    for name, value in changes.items():
        item[name] = value
    return item


def settings_for(uri: str, spool: Path, **extra: Any) -> dict[str, Any]:
    return {
        "MONGO_URI": uri,
        "MONGO_SPOOL_DIR": str(spool),
        "MONGO_BATCH_SIZE": 100,
        "MONGO_FLUSH_SECONDS": 60,
        "MONGO_TIMEOUT_MS": 500,
        "MONGO_RETRY_TIMES": 1,
        "MONGO_RETRY_BACKOFF": 0.05,
        "MONGO_PROBE_SECONDS": 0.3,
        **extra,
    }


def lane_of(pipeline: StorePipeline) -> Lane:
    """The Mongo store's article lane (batching, writer, spool) behind the pipeline."""
    return pipeline.store("mongo").lanes["article"]


async def open_pipeline(settings: dict[str, Any]) -> tuple[StorePipeline, Any]:
    crawler = get_crawler(settings_dict=settings)
    pipeline = StorePipeline.from_crawler(crawler)
    await pipeline.open_spider()
    return pipeline, crawler.stats


def store(settings: dict[str, Any], items: Iterable[Any]) -> dict[str, Any]:
    """One pipeline run over the items (open, process, close); the run's stats."""

    async def run() -> dict[str, Any]:
        pipeline, stats = await open_pipeline(settings)
        for item in items:
            await pipeline.process_item(item)
        await pipeline.close_spider()
        return stats.get_stats()

    return asyncio.run(asyncio.wait_for(run(), timeout=120))


def mongo_stats(stats: dict[str, Any]) -> dict[str, int]:
    return {k.rsplit("/", 1)[1]: v for k, v in stats.items() if k.startswith("sinacrawl/mongo/")}


def collection_of(uri: str) -> Any:
    client = MongoClient(uri, serverSelectionTimeoutMS=3000, tz_aware=True)
    return client.get_default_database()["articles"]


def test_not_configured_without_mongo_uri():
    with pytest.raises(NotConfigured):
        StorePipeline.from_crawler(get_crawler(settings_dict={"MONGO_URI": None}))


def test_first_store_keeps_every_field_with_bson_dates(mongo_uri, tmp_path):
    item = dict(make_item(1))
    item["listing_mtime"] = datetime(2021, 11, 22, 17, 40, 5, tzinfo=BEIJING)
    stats = store(settings_for(mongo_uri, tmp_path), [item])

    doc = collection_of(mongo_uri).find_one({"_id": "ikyamrmz6784001"})
    assert set(FIELDS) <= set(doc)
    for name in ("title", "url", "source", "editor", "body_html", "body_text", "keywords"):
        assert doc[name] == item[name]
    assert doc["author"] is None and doc["headimg"] is None and doc["images"] == []
    assert doc["published_at"] == datetime(2021, 11, 22, 9, 33, 50, tzinfo=UTC)
    assert doc["crawled_at"] == datetime(2026, 11, 27, 8, 0, tzinfo=UTC)
    assert doc["listing_mtime"] == datetime(2021, 11, 22, 9, 40, 5, tzinfo=UTC)
    assert doc["revision"] == 1
    assert len(doc["content_hash"]) == 64
    assert doc["first_seen_at"] == doc["last_seen_at"]
    assert abs(doc["last_seen_at"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert mongo_stats(stats) == {"upserted": 1}
    assert spool_files(tmp_path) == []  # the journal of a written batch is gone


def test_unchanged_article_stored_again_moves_only_last_seen_at(mongo_uri, tmp_path):
    settings = settings_for(mongo_uri, tmp_path)
    store(settings, [make_item(1), make_item(2)])
    before = {d["_id"]: d for d in collection_of(mongo_uri).find()}

    again = make_item(1, crawled_at="2026-11-28T08:00:00+00:00")
    stats = store(settings, [again])

    after = {d["_id"]: d for d in collection_of(mongo_uri).find()}
    changed = {
        k
        for k in after["ikyamrmz6784001"]
        if after["ikyamrmz6784001"][k] != before["ikyamrmz6784001"][k]
    }
    assert changed == {"last_seen_at"}
    assert after["ikyamrmz6784001"]["last_seen_at"] > before["ikyamrmz6784001"]["last_seen_at"]
    assert after["ikyamrmz6784001"]["revision"] == 1
    assert after["ikyamrmz6784002"] == before["ikyamrmz6784002"]
    assert mongo_stats(stats) == {"unchanged": 1}


def test_changed_body_or_title_raises_the_revision(mongo_uri, tmp_path):
    settings = settings_for(mongo_uri, tmp_path)
    first = dict(make_item(1))
    first["listing_mtime"] = datetime(2021, 11, 22, 18, 0, tzinfo=BEIJING)
    store(settings, [first])
    original = collection_of(mongo_uri).find_one()

    stats = store(settings, [make_item(1, body_html="<p>更正后的正文。</p>")])
    revised = collection_of(mongo_uri).find_one()
    assert revised["revision"] == 2
    assert revised["body_html"] == "<p>更正后的正文。</p>"
    assert revised["content_hash"] != original["content_hash"]
    assert revised["first_seen_at"] == original["first_seen_at"]
    assert revised["listing_mtime"] == original["listing_mtime"]  # kept: the item had none
    assert mongo_stats(stats) == {"revised": 1}

    store(settings, [make_item(1, title="新标题", body_html="<p>更正后的正文。</p>")])
    assert collection_of(mongo_uri).find_one()["revision"] == 3
    assert collection_of(mongo_uri).count_documents({}) == 1


def test_listing_mtime_announced_to_the_run_is_stored(mongo_uri, tmp_path):
    # The incremental middleware notes what the listing announced; Article items lack it.
    mtime = datetime(2021, 11, 22, 18, 5, tzinfo=BEIJING)

    async def run() -> None:
        pipeline, _ = await open_pipeline(settings_for(mongo_uri, tmp_path))
        pipeline.known.expect("ikyamrmz6784001", mtime)
        await pipeline.process_item(make_item(1))
        await pipeline.process_item(make_item(2))
        await pipeline.close_spider()
        assert "ikyamrmz6784001" in pipeline.known  # remembered as stored for this run

    asyncio.run(run())
    docs = {d["_id"]: d for d in collection_of(mongo_uri).find()}
    assert docs["ikyamrmz6784001"]["listing_mtime"] == mtime.astimezone(UTC)
    assert docs["ikyamrmz6784002"]["listing_mtime"] is None


def test_newer_listing_mtime_is_recorded_without_a_revision(mongo_uri, tmp_path):
    settings = settings_for(mongo_uri, tmp_path)
    item = dict(make_item(1))
    item["listing_mtime"] = datetime(2021, 11, 22, 18, 0, tzinfo=BEIJING)
    store(settings, [item])
    item["listing_mtime"] = datetime(2021, 11, 23, 9, 0, tzinfo=BEIJING)
    store(settings, [item])
    doc = collection_of(mongo_uri).find_one()
    assert doc["listing_mtime"] == datetime(2021, 11, 23, 1, 0, tzinfo=UTC)
    assert doc["revision"] == 1


def test_url_is_a_unique_index_and_a_refused_document_is_kept(mongo_uri, tmp_path):
    settings = settings_for(mongo_uri, tmp_path)
    store(settings, [make_item(1)])
    indexes = collection_of(mongo_uri).index_information()
    assert any(ix["key"] == [("url", 1)] and ix.get("unique") for ix in indexes.values())

    # Another doc_id claiming the same url: MongoDB refuses it; the original stays.
    thief = make_item(2, url=make_item(1)["url"])
    stats = store(settings, [thief, make_item(3)])
    ids = sorted(d["_id"] for d in collection_of(mongo_uri).find())
    assert ids == ["ikyamrmz6784001", "ikyamrmz6784003"]
    assert stats["sinacrawl/mongo/rejected"] == 1
    assert stats["sinacrawl/mongo/upserted"] == 1
    rejected = list(tmp_path.glob("rejected-*.jsonl"))
    assert len(rejected) == 1 and "ikyamrmz6784002" in rejected[0].read_text()


def crawl_through_accounting(
    settings: dict[str, Any], items: Iterable[Any], *, wait_for_writes: bool = False
) -> dict[str, Any]:
    """The pipeline and the article accounting on one crawler, sent the signals a crawl sends:
    each item's request is scheduled, the item goes through the pipeline and is scraped
    (with ``wait_for_writes``, only once the batches written so far are answered)."""
    from scrapy import Request, signals
    from scrapy.http import Response

    from sinacrawl.extensions.accounting import ArticleAccounting
    from sinacrawl.parsing.listing import ListingEntry

    async def run() -> dict[str, Any]:
        crawler = get_crawler(settings_dict=settings)
        accounting = ArticleAccounting.from_crawler(crawler)  # signals hold it weakly
        send = crawler.signals.send_catch_log
        pipeline = StorePipeline.from_crawler(crawler)
        await pipeline.open_spider()
        for item in items:
            entry = ListingEntry(url=item["url"], doc_id=item["doc_id"])
            request = Request(item["url"], meta={"listing": entry, "doc_id": item["doc_id"]})
            send(signals.request_scheduled, request=request, spider=None)
            item = await pipeline.process_item(item)
            while wait_for_writes and lane_of(pipeline)._draining:
                await asyncio.sleep(0.01)
            response = Response(request.url, request=request)
            send(signals.item_scraped, item=item, response=response, spider=None)
        await pipeline.close_spider()
        send(signals.spider_closed, spider=None, reason="finished")
        assert accounting.pending == {}
        return crawler.stats.get_stats()

    return asyncio.run(asyncio.wait_for(run(), timeout=120))


@pytest.mark.parametrize("refused", ["after the item left the pipelines", "before"])
def test_a_refused_document_counts_once_as_a_failed_article(mongo_uri, tmp_path, refused):
    from sinacrawl.extensions.summary import ExitCode, article_counts, decide

    before = refused == "before"
    settings = settings_for(mongo_uri, tmp_path, MONGO_BATCH_SIZE=1 if before else 100)
    store(settings, [make_item(1)])
    thief = make_item(2, url=make_item(1)["url"])  # MongoDB refuses it: the url is taken
    stats = crawl_through_accounting(settings, [thief, make_item(3)], wait_for_writes=before)
    counts = article_counts(stats)
    assert (counts["scheduled"], counts["stored"], counts["failed"]) == (
        2,
        1,
        {"mongo_rejected": 1},
    )
    code, reasons = decide(stats, "finished")
    assert code == ExitCode.STORAGE_FAILURE
    assert reasons == ["storage failures: 1 items MongoDB rejected"]


def test_a_document_refused_on_replay_is_a_storage_failure_but_no_article_of_this_run(
    mongo_uri, tmp_path
):
    from sinacrawl.extensions.summary import ExitCode, article_counts, decide

    settings = settings_for(mongo_uri, tmp_path)
    store(settings, [make_item(1)])
    journal = Journal(tmp_path)  # what an earlier, killed run left: MongoDB never saw it
    journal.append(to_document(make_item(2, url=make_item(1)["url"]), datetime.now(UTC)))
    journal.seal().keep()
    stats = crawl_through_accounting(settings, [make_item(3)])  # replays it first: refused
    assert stats["sinacrawl/mongo/replayed"] == 1 and stats["sinacrawl/mongo/rejected"] == 1
    counts = article_counts(stats)
    assert (counts["scheduled"], counts["stored"], counts["failed"]) == (1, 1, {})
    assert decide(stats, "finished") == (
        ExitCode.STORAGE_FAILURE,
        ["storage failures: 1 items MongoDB rejected"],
    )


class CommandCounter(monitoring.CommandListener):
    """Records commands sent; registered globally (pymongo has no unregister), so switchable."""

    def __init__(self, keep: tuple[str, ...] = ()) -> None:
        self.commands: list[str] = []
        self.bodies: list[dict] = []  # of the commands named in ``keep``
        self.keep = keep
        self.active = True

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if self.active:
            self.commands.append(event.command_name)
            if event.command_name in self.keep:
                self.bodies.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def test_items_are_written_in_bulk_batches_and_flushed_at_close(mongo_uri, tmp_path):
    counter = CommandCounter()
    monitoring.register(counter)  # applies to clients created from now on
    settings = settings_for(mongo_uri, tmp_path, MONGO_BATCH_SIZE=5)

    async def run() -> tuple[int, int, dict]:
        pipeline, stats = await open_pipeline(settings)
        counter.commands.clear()
        for n in range(12):
            await pipeline.process_item(make_item(n))
        for _ in range(200):  # two full batches go out without waiting for close
            if collection_of(mongo_uri).count_documents({}) == 10:
                break
            await asyncio.sleep(0.05)
        before_close = collection_of(mongo_uri).count_documents({})
        await pipeline.close_spider()
        return before_close, collection_of(mongo_uri).count_documents({}), stats.get_stats()

    try:
        before_close, after_close, stats = asyncio.run(run())
    finally:
        counter.active = False
    assert before_close == 10
    assert after_close == 12
    assert counter.commands.count("update") == 3  # 5 + 5 + 2, one bulk each
    assert counter.commands.count("find") == 3  # one $in read of stored hashes per batch
    assert mongo_stats(stats) == {"upserted": 12}


def test_group_commit_journals_every_tenth_batch_and_the_end_of_the_run(mongo_uri, tmp_path):
    # A batch's local journal file goes only once a journaled write covers it; w:1 for the
    # others keeps bulk writes cheap. 11 full batches of 2: the 10th is journaled, and the
    # 11th is confirmed at close by one journaled write.
    counter = CommandCounter(keep=("update",))
    monitoring.register(counter)
    settings = settings_for(mongo_uri, tmp_path, MONGO_BATCH_SIZE=2)
    try:
        stats = store(settings, [make_item(n) for n in range(22)])
    finally:
        counter.active = False
    journaled = [bool(c.get("writeConcern", {}).get("j")) for c in counter.bodies]
    assert journaled == [False] * 9 + [True, False, True]
    assert mongo_stats(stats) == {"upserted": 22}
    assert spool_files(tmp_path) == []
    assert collection_of(mongo_uri).count_documents({}) == 22


def test_a_write_concern_in_the_uri_is_used_for_every_batch(mongo_uri, tmp_path):
    counter = CommandCounter(keep=("update",))
    monitoring.register(counter)
    uri = mongo_uri + ("&" if "?" in mongo_uri else "?") + "w=1&journal=true"
    try:
        store(settings_for(uri, tmp_path, MONGO_BATCH_SIZE=2), [make_item(n) for n in range(5)])
    finally:
        counter.active = False
    assert [c["writeConcern"] for c in counter.bodies] == [{"w": 1, "j": True}] * 3
    assert spool_files(tmp_path) == []


def test_a_partial_batch_is_flushed_on_the_timer(mongo_uri, tmp_path):
    settings = settings_for(mongo_uri, tmp_path, MONGO_FLUSH_SECONDS=0.2)

    async def run() -> int:
        pipeline, _ = await open_pipeline(settings)
        for n in range(3):
            await pipeline.process_item(make_item(n))
        for _ in range(100):
            if collection_of(mongo_uri).count_documents({}) == 3:
                break
            await asyncio.sleep(0.05)
        seen = collection_of(mongo_uri).count_documents({})
        await pipeline.close_spider()
        return seen

    assert asyncio.run(run()) == 3


def test_a_slow_mongodb_holds_items_back_instead_of_queueing_without_bound(mongo_uri, tmp_path):
    settings = settings_for(mongo_uri, tmp_path, MONGO_BATCH_SIZE=1)

    async def run() -> tuple[int, int]:
        pipeline, stats = await open_pipeline(settings)
        write = lane_of(pipeline).writer.write

        def slow_write(docs, **options):
            time.sleep(0.05)
            return write(docs, **options)

        lane_of(pipeline).writer.write = slow_write
        longest = 0
        for n in range(MAX_QUEUED_BATCHES + 12):
            await pipeline.process_item(make_item(n))
            longest = max(longest, len(lane_of(pipeline)._queue))
        await pipeline.close_spider()
        return longest, stats.get_value("sinacrawl/mongo/upserted")

    longest, stored = asyncio.run(run())
    assert longest <= MAX_QUEUED_BATCHES + 1
    assert stored == MAX_QUEUED_BATCHES + 12


def test_script_payloads_are_stored_exactly_as_the_item_holds_them(mongo_uri, tmp_path):
    # The cleaner has already made these inert text; the store must neither run nor rewrite them.
    body = (
        "<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
        '<p>&lt;iframe src="javascript:alert(2)"&gt;</p>'
        '<p><img src="https://n.sinaimg.cn/x.jpg" alt="x"></p><p>{{ x }} {% raw %}</p>'
    )
    item = make_item(1, body_html=body, body_text="<script>alert(1)</script>")
    store(settings_for(mongo_uri, tmp_path), [item])
    doc = collection_of(mongo_uri).find_one()
    assert doc["body_html"] == body
    assert doc["body_text"] == "<script>alert(1)</script>"


def test_mongo_down_spools_and_the_next_start_replays(mongo_uri, tmp_path):
    dead = f"mongodb://127.0.0.1:{free_port()}/sina"
    stats = store(settings_for(dead, tmp_path), [make_item(n) for n in range(7)])
    assert mongo_stats(stats)["spooled"] == 7
    spooled = spool_files(tmp_path)
    assert sum(len(read_spool(p)[0]) for p in spooled) == 7

    stats = store(settings_for(mongo_uri, tmp_path), [make_item(7)])
    assert mongo_stats(stats) == {"replayed": 7, "upserted": 8}
    assert collection_of(mongo_uri).count_documents({}) == 8
    assert spool_files(tmp_path) == []


def test_a_stale_spool_does_not_undo_a_newer_version(mongo_uri, tmp_path):
    dead = f"mongodb://127.0.0.1:{free_port()}/sina"
    store(settings_for(dead, tmp_path / "old"), [make_item(1, body_html="<p>旧</p>")])
    store(settings_for(mongo_uri, tmp_path / "new"), [make_item(1, body_html="<p>新</p>")])

    stats = store(settings_for(mongo_uri, tmp_path / "old"), [])
    doc = collection_of(mongo_uri).find_one()
    assert doc["body_html"] == "<p>新</p>" and doc["revision"] == 1
    assert mongo_stats(stats) == {"replayed": 1, "stale": 1}


class DropsAfterFirstBulk:
    """A collection whose first bulk write is applied but its reply lost (connection drop)."""

    def __init__(self, collection: Any) -> None:
        self.collection = collection
        self.bulks = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.collection, name)

    def bulk_write(self, ops: Any, **options: Any) -> Any:
        self.bulks += 1
        result = self.collection.bulk_write(ops, **options)
        if self.bulks == 1:
            raise AutoReconnect("connection closed")
        return result


def test_a_retried_batch_is_applied_once_and_counted_as_first_seen(mongo_uri):
    collection = collection_of(mongo_uri)
    collection.insert_one(
        {**to_document(make_item(0), datetime(2026, 1, 1, tzinfo=UTC)), "revision": 1}
    )
    flaky = DropsAfterFirstBulk(collection)
    writer = MongoWriter(flaky, Redactor(mongo_uri), retries=2, backoff=0.01)
    seen = datetime.now(UTC)
    docs = [to_document(make_item(0, body_html="<p>新</p>"), seen)]
    docs += [to_document(make_item(n), seen) for n in (1, 2)]

    result = writer.write(docs)
    # The retry reads everything back as written: nothing left to send, nothing counted twice.
    assert flaky.bulks == 1 and writer.retried == 1
    assert (result.upserted, result.revised, result.unchanged) == (2, 1, 0)
    stored = collection.find_one({"_id": "ikyamrmz6784000"})
    assert stored["revision"] == 2  # raised once, not twice
    assert stored["body_html"] == "<p>新</p>"


def test_replay_skips_a_torn_line_and_a_file_a_live_run_still_writes(mongo_uri, tmp_path):
    dead = f"mongodb://127.0.0.1:{free_port()}/sina"
    store(settings_for(dead, tmp_path), [make_item(n) for n in range(3)])
    (spooled,) = spool_files(tmp_path)
    with spooled.open("ab") as handle:  # a run killed in the middle of a line
        handle.write(b'{"_id": "ikyamrmz67840')
    live = Journal(tmp_path)  # another run's open journal: locked, so not replayed
    live.append(to_document(make_item(9), datetime.now(UTC)))

    stats = mongo_stats(store(settings_for(mongo_uri, tmp_path), []))
    assert stats == {"replayed": 3, "upserted": 3, "spool_unreadable": 1}
    assert collection_of(mongo_uri).count_documents({}) == 3
    segment = live.seal()
    assert segment is not None and spool_files(tmp_path) == [segment.path]
    segment.discard()


SECRET = "S3cr3t/pw-never-shown"


def _secret_free(text: str) -> bool:
    from urllib.parse import quote_plus

    return SECRET not in text and quote_plus(SECRET) not in text and "S3cr3t" not in text


@pytest.mark.parametrize("where", ["nothing listening", "server refusing the login"])
def test_the_password_never_appears_in_logs_stats_or_spool(
    where, tmp_path, caplog, mongo_server_uri
):
    from urllib.parse import quote_plus

    if where == "nothing listening":
        hostport = f"127.0.0.1:{free_port()}"
    else:
        if os.environ.get("MONGO_URI"):
            pytest.skip("needs the local nx-27017 (a real server may accept no such user)")
        hostport = mongo_server_uri.split("://", 1)[1].split("/", 1)[0]
    uri = f"mongodb://sinacrawl:{quote_plus(SECRET)}@{hostport}/sina?authSource=admin"
    caplog.set_level(logging.DEBUG)
    stats = store(settings_for(uri, tmp_path), [make_item(n) for n in range(3)])

    assert mongo_stats(stats)["spooled"] == 3  # nothing lost either
    assert _secret_free(caplog.text)
    assert _secret_free(repr(stats))
    assert all(_secret_free(p.read_text()) for p in tmp_path.iterdir())
    assert "sinacrawl:***@" in caplog.text  # the redacted URI is what the log shows


def test_an_unusable_uri_is_reported_without_its_password():
    uri = f"mongodb://sinacrawl:{SECRET}@127.0.0.1:notaport/sina"
    with pytest.raises(ValueError) as raised:
        StorePipeline.from_crawler(get_crawler(settings_dict={"MONGO_URI": uri}))
    assert _secret_free(str(raised.value))
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


def test_redactor_handles_escaped_and_raw_passwords():
    redact = Redactor("mongodb://u:p%40ss%2Fword@h/db")
    assert redact("p@ss/word p%40ss%2Fword mongodb://u:p%40ss%2Fword@h/db") == (
        "*** *** mongodb://u:***@h/db"
    )
    assert Redactor("mongodb://h/db")("nothing secret") == "nothing secret"


@hypothesis.settings(max_examples=300, deadline=None)
@given(password=st.text(min_size=4, max_size=40).filter(lambda p: p.strip()))
def test_any_password_is_redacted_raw_and_escaped(password):
    from urllib.parse import quote_plus

    uri = f"mongodb://crawler:{quote_plus(password)}@db.example:27017/sina"
    message = f"failed: {uri} / {password} / {quote_plus(password)}"
    clean = Redactor(uri)(message)
    assert password not in clean and quote_plus(password) not in clean


KILLED_RUN = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from scrapy.utils.test import get_crawler
    from sinacrawl.pipelines.store import StorePipeline
    from tests.test_mongo import make_item, settings_for

    async def main():
        settings = settings_for(sys.argv[1], sys.argv[2], MONGO_BATCH_SIZE=1000)
        pipeline = StorePipeline.from_crawler(get_crawler(settings_dict=settings))
        await pipeline.open_spider()
        for n in range(25):
            await pipeline.process_item(make_item(n))
        os.kill(os.getpid(), signal.SIGKILL)  # before any batch was written

    asyncio.run(main())
    """
)


@pytest.mark.slow
def test_a_killed_run_loses_nothing(mongo_uri, tmp_path):
    run = subprocess.run(
        [sys.executable, "-c", KILLED_RUN, mongo_uri, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        timeout=60,
    )
    assert run.returncode == -signal.SIGKILL, run.stderr.decode()[-2000:]
    assert collection_of(mongo_uri).count_documents({}) == 0

    stats = store(settings_for(mongo_uri, tmp_path), [])
    assert mongo_stats(stats) == {"replayed": 25, "upserted": 25}
    assert collection_of(mongo_uri).count_documents({}) == 25


@pytest.mark.slow
def test_server_killed_mid_crawl_then_restarted_loses_and_duplicates_nothing(tmp_path):
    server = NxServer(tmp_path / "server", data=str(tmp_path / "server" / "data")).start()
    try:
        uri = server.uri + "outage"
        settings = settings_for(
            uri,
            tmp_path / "spool",
            MONGO_BATCH_SIZE=10,
            MONGO_FLUSH_SECONDS=0.2,
            MONGO_TIMEOUT_MS=300,
        )
        total = 120

        async def crawl() -> dict[str, Any]:
            pipeline, stats = await open_pipeline(settings)
            for n in range(total):
                await pipeline.process_item(make_item(n))
                # Slower while MongoDB is away, so the outage outlasts the retries.
                await asyncio.sleep(0.06 if 40 <= n < 80 else 0.01)
                if n == 40:
                    server.stop(kill=True)  # MongoDB dies mid-stream
                if n == 80:
                    await asyncio.to_thread(server.start)  # and comes back on the same port
            await pipeline.close_spider()
            return stats.get_stats()

        stats = mongo_stats(asyncio.run(asyncio.wait_for(crawl(), timeout=120)))
        stored = stats.get("upserted", 0)
        assert stats["spooled"] > 0 and stored > 0
        assert stored + stats["spooled"] == total
        docs = list(collection_of(uri).find({}, {"url": 1}))
        assert len({d["url"] for d in docs}) == len(docs) >= stored

        replay = mongo_stats(store(settings, []))
        # Also replayed: batches written just before the outage but not yet confirmed by a
        # journaled write (they read back unchanged).
        assert replay["replayed"] >= stats["spooled"]
        assert replay.get("upserted", 0) + stored == total
        docs = list(collection_of(uri).find({}, {"url": 1, "revision": 1}))
        assert sorted(d["_id"] for d in docs) == sorted(
            make_item(n)["doc_id"] for n in range(total)
        )
        assert len({d["url"] for d in docs}) == total
        assert {d["revision"] for d in docs} == {1}
        assert spool_files(tmp_path / "spool") == []
    finally:
        server.stop()


# --- a real crawl ------------------------------------------------------------------------------

FAST_CRAWL = {
    "AUTOTHROTTLE_ENABLED": "False",
    "DOWNLOAD_DELAY": "0",
    "CONCURRENT_REQUESTS_PER_DOMAIN": "16",
    "DOWNLOAD_TIMEOUT": "5",
}


@pytest.mark.slow
def test_crawls_store_each_article_once_and_an_edit_as_a_revision(mongo_uri, tmp_path):
    pytest.importorskip("sinacrawl.loaders", reason="the extractor is not there yet")
    from sinacrawl.testing.process import mocksite_process, run_crawl

    newest = datetime.now(BEIJING).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    channels = [{"name": "china", "pageid": 155, "lid": 1686, "count": 6, "path": "china/gncj"}]
    config = {"seed": 5, "newest": newest.isoformat(), "size_kb": 6, "channels": channels}
    settings = {**FAST_CRAWL, "MONGO_URI": mongo_uri, "MONGO_SPOOL_DIR": str(tmp_path / "spool")}
    archive = tmp_path / "archive"

    def crawl(site: Any, name: str, **args: Any) -> Any:
        result = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / name,
            args=args,
            settings=settings,
            archive=archive,
        )
        assert result.returncode == 0, result.log[-3000:]
        assert "Traceback" not in result.log
        return result

    def documents() -> dict[str, dict]:
        return {d["_id"]: d for d in collection_of(mongo_uri).find()}

    with mocksite_process(config, tmp_path / "site1") as site:
        first = crawl(site, "run1")
        docs = documents()
        assert sorted(docs) == sorted(a.doc_id for a in site.catalog.articles())
        assert sorted(i["doc_id"] for i in first.items) == sorted(docs)
        for item in first.items:
            doc = docs[item["doc_id"]]
            assert doc["title"] == item["title"] and doc["body_html"] == item["body_html"]
            assert doc["published_at"] == datetime.fromisoformat(item["published_at"])
            assert doc["revision"] == 1
        for article in site.catalog.articles():  # the listing's mtime, to the second
            assert docs[article.doc_id]["listing_mtime"] == article.mtime.replace(microsecond=0)
        assert first.stat("sinacrawl/mongo/upserted") == 6
        assert spool_files(tmp_path / "spool") == []

        second = crawl(site, "run2")  # nothing new: nothing fetched, no document touched
        assert second.stat("sinacrawl/articles/skipped_known") == 6
        assert documents() == docs

    with mocksite_process({**config, "revised": ["china:2"]}, tmp_path / "site2") as site:
        # refresh=1 fetches every article again (the skip of unchanged ones is not tested here):
        # the edited one becomes revision 2, the others only get a later last_seen_at.
        edited = site.catalog.by_ref["china:2"]
        third = crawl(site, "run3", refresh=1)
        assert sorted(i["doc_id"] for i in third.items) == sorted(docs)
        after = documents()
        assert after[edited.doc_id]["revision"] == 2
        assert after[edited.doc_id]["title"] == next(
            i["title"] for i in third.items if i["doc_id"] == edited.doc_id
        )
        assert after[edited.doc_id]["listing_mtime"] == edited.mtime.replace(microsecond=0)
        assert after[edited.doc_id]["first_seen_at"] == docs[edited.doc_id]["first_seen_at"]
        for doc_id, doc in after.items():
            if doc_id != edited.doc_id:
                changed = {k for k in doc if doc[k] != docs[doc_id][k]}
                assert changed == {"last_seen_at"}, (doc_id, changed)
        assert third.stat("sinacrawl/mongo/unchanged") == 5
        assert third.stat("sinacrawl/mongo/revised") == 1


@pytest.mark.slow
def test_a_crawl_with_mongodb_down_spools_then_the_next_crawl_replays(mongo_uri, tmp_path):
    pytest.importorskip("sinacrawl.loaders", reason="the extractor is not there yet")
    from sinacrawl.extensions.summary import ExitCode
    from sinacrawl.testing.process import mocksite_process, run_crawl

    newest = datetime.now(BEIJING).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    channels = [{"name": "china", "pageid": 155, "lid": 1686, "count": 6, "path": "china/gncj"}]
    config = {"seed": 7, "newest": newest.isoformat(), "size_kb": 6, "channels": channels}
    archive = tmp_path / "archive"
    spool = archive / ".sinacrawl" / "mongo-spool"  # the default place
    down = f"mongodb://127.0.0.1:{free_port()}/sina"
    quick = {"MONGO_TIMEOUT_MS": "300", "MONGO_RETRY_TIMES": "1", "MONGO_RETRY_BACKOFF": "0.05"}

    with mocksite_process(config, tmp_path / "site") as site:
        first = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / "run1",
            settings={**FAST_CRAWL, **quick, "MONGO_URI": down},
            archive=archive,
        )
        assert first.returncode == ExitCode.STORAGE_FAILURE, first.log[-3000:]
        assert first.stat("sinacrawl/mongo/spooled") == 6
        assert len(first.posts()) == 6  # the Hexo archive is not held back by MongoDB
        assert sum(len(read_spool(p)[0]) for p in spool_files(spool)) == 6

        second = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / "run2",
            settings={**FAST_CRAWL, "MONGO_URI": mongo_uri},
            archive=archive,
        )
        assert second.returncode == 0, second.log[-3000:]
        assert second.stat("sinacrawl/mongo/replayed") == 6
        assert spool_files(spool) == []
        docs = list(collection_of(mongo_uri).find())
        assert sorted(d["_id"] for d in docs) == sorted(a.doc_id for a in site.catalog.articles())
        assert {d["revision"] for d in docs} == {1}


@pytest.mark.slow
def test_a_crawl_whose_article_mongodb_refuses_counts_it_once_and_keeps_its_post(
    mongo_uri, tmp_path
):
    pytest.importorskip("sinacrawl.loaders", reason="the extractor is not there yet")
    from sinacrawl.extensions.summary import ExitCode
    from sinacrawl.testing.process import mocksite_process, run_crawl

    newest = datetime.now(BEIJING).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    channels = [{"name": "china", "pageid": 155, "lid": 1686, "count": 6, "path": "china/gncj"}]
    config = {"seed": 11, "newest": newest.isoformat(), "size_kb": 6, "channels": channels}
    with mocksite_process(config, tmp_path / "site") as site:
        refused = site.catalog.articles()[2]
        # Another doc_id already holds its url: the unique url index refuses the article.
        collection_of(mongo_uri).insert_one({"_id": "isquatter", "url": refused.url})
        result = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / "run",
            settings={**FAST_CRAWL, "MONGO_URI": mongo_uri, "MONGO_SPOOL_DIR": str(tmp_path)},
        )
    assert result.returncode == ExitCode.STORAGE_FAILURE, result.log[-3000:]
    summary = result.summary
    assert summary is not None
    assert summary["reasons"] == ["storage failures: 1 items MongoDB rejected"]
    articles = summary["articles"]
    assert (articles["scheduled"], articles["stored"], articles["failed"]) == (
        6,
        5,
        {"mongo_rejected": 1},
    )
    assert summary["channels"]["china"]["stored"] == 5
    stored = sorted(d["_id"] for d in collection_of(mongo_uri).find())
    others = [a.doc_id for a in site.catalog.articles() if a is not refused]
    assert stored == sorted(["isquatter", *others])
    # The archive keeps the post MongoDB refused (see the Lane docstring).
    assert sorted(p.stem[11:] for p in result.posts()) == sorted(
        a.doc_id for a in site.catalog.articles()
    )
    assert refused.doc_id in next(tmp_path.glob("rejected-*.jsonl")).read_text("utf-8")
