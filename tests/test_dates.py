"""Every date form Sina prints parses to an aware Beijing time; nothing else is guessed."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinacrawl.parsing.dates import (
    BEIJING,
    from_unix,
    parse_date,
    parse_date_and_precision,
    to_iso,
    utc_iso,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # 2017+ byline (span.date)
        ("2021年11月22日 17:33", "2021-11-22T17:33:00+08:00"),
        # 2008-13 #pub_date, no space between day and time
        ("2009年11月09日13:48", "2009-11-09T13:48:00+08:00"),
        # 2005 table byline, a URL before it and the outlet after it
        ("http://house.sina.com.cn 2005年03月31日03:18 北京娱乐信报", "2005-03-31T03:18:00+08:00"),
        # full-width colon, single-digit month/day
        ("2016年5月5日 9：07", "2016-05-05T09:07:00+08:00"),
        ("2019-09-09 20:52:39", "2019-09-09T20:52:39+08:00"),
        # article:published_time with offset
        ("2021-11-22T17:33:50+08:00", "2021-11-22T17:33:50+08:00"),
        # another zone is converted, not relabelled
        ("2022-07-31T06:13:25Z", "2022-07-31T14:13:25+08:00"),
        ("2022-07-31T06:13:25+0000", "2022-07-31T14:13:25+08:00"),
        ("2022-07-31T06:13:25.123+00:00", "2022-07-31T14:13:25+08:00"),
        # mobile meta without zone: Beijing wall-clock time
        ("2005-08-26 05:39:00", "2005-08-26T05:39:00+08:00"),
        # mobile byline
        ("上海证券报网络版 2005.08.26 05:39", "2005-08-26T05:39:00+08:00"),
        ("2004/10/10 17:06", "2004-10-10T17:06:00+08:00"),
        # roll API: Unix seconds as a string (and milliseconds)
        ("1637573630", "2021-11-22T17:33:50+08:00"),
        ("1637573630000", "2021-11-22T17:33:50+08:00"),
        # a day without a time is that day's midnight
        ("2005年03月31日", "2005-03-31T00:00:00+08:00"),
        ("2016-05-25", "2016-05-25T00:00:00+08:00"),
    ],
)
def test_sina_forms(text: str, expected: str):
    value = parse_date(text)
    assert value is not None
    assert value.utcoffset() == timedelta(hours=8)
    assert value.isoformat() == expected


@pytest.mark.parametrize(
    ("text", "timed"),
    [
        ("2021年11月22日 17:33", True),
        ("2005年03月31日", False),
        ("2016-05-25", False),
        ("1637573630", True),
        ("新浪财经", False),
    ],
)
def test_precision_says_whether_a_time_was_given(text: str, timed: bool):
    assert parse_date_and_precision(text)[1] is timed


@pytest.mark.parametrize(
    "text",
    [
        "2021年13月45日 25:61",  # the synthetic bad-date page's byline
        "2021-02-30 10:00:00",
        "2021-11-22 24:00",
        "1850-01-01 10:00",  # not a publication year
    ],
)
def test_impossible_dates_are_none_and_logged(text: str, caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="sinacrawl.parsing.dates"):
        assert parse_date(text) is None
    assert any(r.levelno == logging.WARNING for r in caplog.records)


@pytest.mark.parametrize(
    "text",
    ["yesterday-ish", "Nov 22", "22/11", "2021", "11月22日", "", None, "第2021期", "17:33"],
)
def test_no_fuzzy_guessing(text: str | None):
    """A fuzzy parser would invent a year or a day from these; we answer None."""
    assert parse_date(text) is None


def test_unparseable_text_with_digits_is_logged(caplog: pytest.LogCaptureFixture):
    with caplog.at_level(logging.WARNING, logger="sinacrawl.parsing.dates"):
        assert parse_date("发布于 17:33") is None
    assert "no date form" in caplog.text


def test_from_unix_rejects_non_numbers_and_epoch():
    assert from_unix(None) is None
    assert from_unix("abc") is None
    assert from_unix("0") is None
    assert from_unix(10**20) is None
    assert from_unix(1637573630).tzinfo is BEIJING


def test_iso_helpers():
    assert to_iso(None) is None
    value = datetime(2021, 11, 22, 9, 33, 50, 123456, tzinfo=timezone.utc)
    assert to_iso(value) == "2021-11-22T17:33:50+08:00"
    assert utc_iso(value) == "2021-11-22T09:33:50+00:00"
    assert utc_iso(datetime(2021, 11, 22, 9, 33, 50)) == "2021-11-22T09:33:50+00:00"


@given(st.datetimes(min_value=datetime(1995, 1, 1), max_value=datetime(2099, 12, 31)))
def test_round_trip_of_every_printed_form(moment: datetime):
    moment = moment.replace(microsecond=0, tzinfo=BEIJING)
    minute = moment.replace(second=0)
    assert parse_date(moment.strftime("%Y年%m月%d日 %H:%M")) == minute
    assert parse_date(moment.strftime("%Y年%m月%d日%H:%M")) == minute
    assert parse_date(moment.strftime("%Y-%m-%d %H:%M:%S")) == moment
    assert parse_date(moment.isoformat()) == moment
    assert parse_date(str(int(moment.timestamp()))) == moment


@given(st.text(max_size=60))
def test_any_text_gives_a_date_or_none_never_an_error(text: str):
    value = parse_date(text)
    assert value is None or value.utcoffset() == timedelta(hours=8)
