"""Per-stock news listings and the roll's list-id check (issue 12)."""

from __future__ import annotations

import json
import logging

from sinacrawl.parsing.listing import LidCheck, entries_off_list, parse_roll_api
from tests.conftest import FIXTURES

ROLL = FIXTURES / "sina-listings" / "roll_api_pageid153_lid2516_page1_2026-09-29.json"


def test_every_real_roll_entry_carries_its_lists():
    page = parse_roll_api(ROLL.read_bytes())
    assert len(page.entries) == 50
    assert all(2516 in e.lids and 2509 in e.lids for e in page.entries)
    assert entries_off_list(page, 2516) == []
    # 美股 (2518) is on the US-stock and world entries only
    assert len(entries_off_list(page, 2518)) == 14


def test_a_channel_whose_lid_its_entries_lack_warns_once(caplog):
    page = parse_roll_api(ROLL.read_bytes())
    check = LidCheck()
    with caplog.at_level(logging.WARNING, logger="sinacrawl.parsing.listing"):
        assert check("usstock", 2518, page) is True
        assert check("usstock", 2518, page) is False  # page 2 of the same run: quiet
        assert check("caijing", 2516, page) is False  # the right list: nothing to say
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "usstock" in message and "14 of 50" in message and "lid=2518" in message
    assert "2516" in message  # the lids every off-list entry does carry


def test_entries_without_lids_are_not_judged():
    body = json.dumps(
        {"result": {"data": [{"url": "https://finance.sina.com.cn/a/doc-iabc1234567890.shtml"}]}}
    )
    page = parse_roll_api(body)
    assert page.entries[0].lids == ()
    assert LidCheck()("china", 1686, page) is False


def test_the_finance_spider_warns_once_when_fed_another_lists_roll(caplog):
    from tests.test_spiders import listing_response, make_spider, start_requests

    spider = make_spider(channels="usstock", max_pages="3")
    first = start_requests(spider)[0]
    assert "lid=2518" in first.url
    with caplog.at_level(logging.WARNING):
        out = list(spider.parse_listing(listing_response(first, ROLL)))
        second = next(r for r in out if r.meta.get("listing_page") == 2)
        list(spider.parse_listing(listing_response(second, ROLL)))
    lid_warnings = [r for r in caplog.records if "not on list lid=2518" in r.getMessage()]
    assert len(lid_warnings) == 1
