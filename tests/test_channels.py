"""The channel registry: the channels SPEC §2 names, clear errors, a printable registry."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sinacrawl.channels import (
    CHANNELS,
    DEFAULT_CHANNEL,
    HtmlSource,
    RollSource,
    UnknownChannel,
    get_channels,
    main,
)
from tests.conftest import REPO


def test_default_channel_reproduces_the_seed_feed():
    china = CHANNELS[DEFAULT_CHANNEL]
    assert DEFAULT_CHANNEL == "china"
    assert china.sources == (RollSource(155, 1686),)
    # exactly the seed post's category lines, including its 國-style 內
    assert china.categories == ("金融", "新浪财经", "新浪财经－国內")


@pytest.mark.parametrize(
    ("pageid", "lid"),
    [
        (155, 1686),
        (155, 1687),
        (155, 1688),
        (155, 1689),
        (155, 1690),
        (153, 2516),
        (164, 1693),
        (166, 1703),
    ],
)
def test_spec_rolls_are_registered(pageid, lid):
    rolls = {s for c in CHANNELS.values() for s in c.sources}
    assert RollSource(pageid, lid) in rolls


def test_an_html_listing_channel_and_stock_rolls():
    html = [c for c in CHANNELS.values() if any(isinstance(s, HtmlSource) for s in c.sources)]
    assert [s.url for c in html for s in c.sources] == [
        "https://finance.sina.com.cn/roll/c/56592.shtml"
    ]
    pageids = {s.pageid for c in CHANNELS.values() for s in c.sources if isinstance(s, RollSource)}
    assert 153 in pageids


@pytest.mark.parametrize(
    ("name", "lid", "label"),
    [("caijing", 2516, "财经"), ("stock", 2517, "股市"), ("usstock", 2518, "美股")],
)
def test_pageid_153_channels_use_the_public_list_ids(name, lid, label):
    # usstock once read 2516 (财经) and hkstock 2517 (股市): the public lists say otherwise.
    channel = CHANNELS[name]
    assert channel.sources == (RollSource(153, lid),)
    assert channel.label == label and channel.categories[-1] == f"新浪财经－{label}"
    assert "hkstock" not in CHANNELS  # no evidence for any Hong Kong list id


def test_no_two_channels_read_the_same_list():
    sources = [s for c in CHANNELS.values() for s in c.sources]
    assert len(sources) == len(set(sources))


def test_every_channel_is_well_formed():
    paths = set()
    for name, channel in CHANNELS.items():
        assert channel.name == name and name.isidentifier()
        assert channel.sources
        assert channel.categories[:2] == ("金融", "新浪财经")
        assert all(c and "/" not in c for c in channel.categories)  # archive path parts
        paths.add(channel.categories)
    assert len(paths) == len(CHANNELS)  # no two channels share an archive folder


def test_get_channels_keeps_order_and_drops_repeats():
    assert [c.name for c in get_channels("macro, china,macro")] == ["macro", "china"]
    assert [c.name for c in get_channels("")] == ["china"]
    assert [c.name for c in get_channels(["usstock"])] == ["usstock"]


def test_misspelled_channel_is_a_clear_error():
    with pytest.raises(UnknownChannel) as info:
        get_channels("china,chna,macor")
    message = str(info.value)
    assert "'chna'" in message and "'macor'" in message
    for name in CHANNELS:
        assert name in message


def test_roll_page_url():
    assert RollSource(153, 2516).page_url(3, 20) == (
        "https://feed.mix.sina.com.cn/api/roll/get?pageid=153&lid=2516&k=&num=20&page=3"
    )


def test_printing_the_registry(capsys):
    assert main([]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(CHANNELS)
    assert lines[0].startswith("china") and "(default)" in lines[0] and "lid=1686" in lines[0]
    assert main(["--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in data] == list(CHANNELS)
    assert data[0]["categories"] == ["金融", "新浪财经", "新浪财经－国內"]
    assert main(["--bogus"]) == 2


def test_python_dash_m_prints_the_registry():
    out = subprocess.run(
        [sys.executable, "-m", "sinacrawl.channels"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert "新浪财经－国內" in out and "listed" in out
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "lid=2518" in lines["usstock"] and "美股" in lines["usstock"]
    assert "lid=2516" in lines["caijing"] and "lid=2517" in lines["stock"]
