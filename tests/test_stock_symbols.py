"""Recording which symbols listed each article (sinacrawl/symbols.py), on a real wire server."""

from __future__ import annotations

import logging
from pathlib import Path

from pymongo import MongoClient

from sinacrawl.symbols import FILE, SymbolLinks, symbols_of
from tests.mongo_server import free_port


def _collection(uri: str):
    client = MongoClient(uri, serverSelectionTimeoutMS=5000)
    return client, client.get_default_database()["articles"]


def test_pairs_are_kept_beside_the_archive_index_once_each(tmp_path: Path):
    path = tmp_path / ".sinacrawl" / FILE
    links = SymbolLinks(path)
    for doc_id, symbol in [("a", "sh600519"), ("a", "sz000001"), ("b", "sh600519")]:
        links.add(doc_id, symbol)
    links.add("a", "sh600519")
    assert links.save()["new"] == 3
    again = SymbolLinks(path)
    again.add("a", "sh600519")
    again.add("a", "bj430047")
    assert again.save()["new"] == 1
    assert symbols_of(path) == {"a": ["bj430047", "sh600519", "sz000001"], "b": ["sh600519"]}
    assert symbols_of(path, ["b"]) == {"b": ["sh600519"]}


def test_mongo_documents_get_every_symbol_and_missing_ones_wait(tmp_path: Path, mongo_uri: str):
    client, articles = _collection(mongo_uri)
    try:
        articles.insert_one({"_id": "a", "title": "x", "symbols": ["sh600519"]})
        path = tmp_path / FILE
        links = SymbolLinks(path, (mongo_uri, "articles"))
        for pair in [("a", "sh600519"), ("a", "sz000001"), ("b", "sh600519")]:
            links.add(*pair)
        counts = links.save()
        assert counts == {"new": 3, "mongo_recorded": 2, "mongo_pending": 1, "failed": 0}
        assert articles.find_one({"_id": "a"})["symbols"] == ["sh600519", "sz000001"]
        assert articles.find_one({"_id": "b"}) is None  # never created by a symbol alone
        # b is stored later (its write was spooled): the next run adds its symbol
        articles.insert_one({"_id": "b", "title": "y"})
        counts = SymbolLinks(path, (mongo_uri, "articles")).save()
        assert counts["mongo_recorded"] == 1 and counts["mongo_pending"] == 0
        assert articles.find_one({"_id": "b"})["symbols"] == ["sh600519"]
    finally:
        client.close()


def test_mongo_down_keeps_the_pairs_pending_and_logs_no_secret(tmp_path: Path, caplog):
    uri = f"mongodb://user:s3cret@127.0.0.1:{free_port()}/sina"
    links = SymbolLinks(tmp_path / FILE, (uri, "articles"), timeout_ms=300)
    links.add("a", "sh600519")
    with caplog.at_level(logging.ERROR, logger="sinacrawl.symbols"):
        counts = links.save()
    assert counts == {"new": 1, "mongo_recorded": 0, "mongo_pending": 1, "failed": 0}
    assert "could not record stock symbols in MongoDB" in caplog.text
    assert "s3cret" not in caplog.text
    assert symbols_of(tmp_path / FILE) == {"a": ["sh600519"]}


def test_an_unwritable_state_folder_is_an_error_not_a_crash(tmp_path: Path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    links = SymbolLinks(blocker / FILE)
    links.add("a", "sh600519")
    with caplog.at_level(logging.ERROR, logger="sinacrawl.symbols"):
        assert links.save()["failed"] == 1
    assert "could not record stock symbols" in caplog.text
