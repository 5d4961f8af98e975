"""The compact known-article store: correct like a dict, small at a million ids."""

from __future__ import annotations

import random
import tracemalloc
from datetime import datetime, timezone

from hypothesis import given, settings
from hypothesis import strategies as st

from sinacrawl.archive import ArchiveIndex, Entry
from sinacrawl.state import CompactIdSet, HashIndex, KnownArticles, id_hash, to_epoch


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**32 - 1)), max_size=300))
def test_hash_index_behaves_like_a_dict(pairs):
    index, truth = HashIndex(), {}
    for key, value in pairs:
        index.put(key, value)
        truth[key] = value
    assert len(index) == len(truth)
    assert all(index.get(k) == v for k, v in truth.items())
    assert sorted(truth.items()) == list(index.items())
    assert index.get(2**64 - 1) == truth.get(2**64 - 1)


def test_set_add_reports_newness_and_keeps_8_bytes_an_id():
    seen = CompactIdSet()
    ids = [f"ikyamrm{n:08d}" for n in range(100_000)]
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        assert all(seen.add(i) for i in ids)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert not any(seen.add(i) for i in ids[::97])
    assert len(seen) == 100_000 and "other" not in seen
    # 8 bytes a hash plus array over-allocation and the 4096 empty buckets' headers.
    assert (after - before) / len(ids) < 16


def test_known_articles_current_unless_listing_announces_newer():
    t0 = datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
    known = KnownArticles.from_stores([[("a", to_epoch(t0)), ("b", 0)]])
    assert "a" in known and "c" not in known
    assert known.is_current("a", t0) and known.is_current("a", None)
    assert not known.is_current("a", to_epoch(t0) + 60)
    assert known.is_current("b", t0), "an unknown stored mtime never triggers a re-fetch"
    assert not known.is_current("c")
    known.expect("c", t0)
    assert known.listing_mtime("c") == t0
    known.remember("c", known.listing_mtime("c"))
    assert known.is_current("c", t0) and known.listing_mtime("c") == t0


def test_known_means_held_by_every_store_with_the_older_mtime():
    known = KnownArticles.from_stores([[("a", 100), ("b", 100)], [("b", 50), ("c", 1)]])
    assert "a" not in known and "c" not in known
    assert known.stored_mtime("b") == 50


def test_loaded_from_the_archive_index(tmp_path):
    index = ArchiveIndex(tmp_path)
    index.put(Entry("ikyamrmz6784021", "金融/2021-11-22-ikyamrmz6784021.md", "h", 1637573630))
    index.close()
    known = KnownArticles.from_stores([ArchiveIndex.known(tmp_path)])
    assert known.stored_mtime("ikyamrmz6784021") == 1637573630
    assert list(ArchiveIndex.known(tmp_path / "missing")) == []


def test_hash_is_stable_and_spreads():
    # Stable across processes (unlike hash()), so every run and worker agrees.
    assert id_hash("ikyamrmz6784021") == 0x805DCC56E3F0FE31
    rng = random.Random(1)
    hashes = {id_hash(f"i{rng.getrandbits(60):x}") for _ in range(50_000)}
    assert len(hashes) == 50_000
    buckets = {h >> 52 for h in hashes}
    assert len(buckets) > 4000
