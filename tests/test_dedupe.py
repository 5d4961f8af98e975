"""Deduplication within a run: by doc_id and by canonical URL."""

from __future__ import annotations

import pytest

from sinacrawl.exceptions import DuplicateArticle
from sinacrawl.pipelines.dedupe import DedupePipeline

URL = "https://finance.sina.com.cn/china/gncj/2021-11-22/doc-ikyamrmz6784021.shtml"


def test_second_item_with_same_doc_id_dropped():
    pipe = DedupePipeline()
    first = {"doc_id": "ikyamrmz6784021", "url": URL}
    assert pipe.process_item(first) is first
    with pytest.raises(DuplicateArticle) as info:
        pipe.process_item({"doc_id": "ikyamrmz6784021", "url": URL.replace("china", "roll")})
    assert info.value.reason == "duplicate"


def test_same_canonical_url_under_other_id_dropped():
    pipe = DedupePipeline()
    pipe.process_item({"doc_id": "a1", "url": URL})
    with pytest.raises(DuplicateArticle):
        pipe.process_item(
            {"doc_id": "a2", "url": "http://FINANCE.sina.com.cn" + URL[27:] + "?x=1#y"}
        )


def test_different_articles_pass_and_a_new_run_starts_empty():
    pipe = DedupePipeline()
    for n in range(1000):
        pipe.process_item(
            {"doc_id": f"id{n}", "url": f"https://finance.sina.com.cn/doc-i{n}.shtml"}
        )
    assert len(pipe.seen) == 2000
    assert DedupePipeline().process_item({"doc_id": "id1", "url": URL})
