"""Page bytes to text: UTF-8, GB2312/GBK as GB18030, lying labels; never U+FFFD."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sinacrawl.loaders import build_article
from sinacrawl.parsing.encoding import (
    decode_html,
    header_charset,
    html_utf8,
    meta_charset,
    normalise_charset,
    sniff,
)
from tests.conftest import FIXTURES, real_pages

TEXT = "新浪财经讯 人民币汇率保持基本稳定。镕 堃 喆"  # the last three are outside GB2312


def page(charset: str, text: str = TEXT) -> str:
    return f'<html><head><meta charset="{charset}"><title>{text}</title></head><body>{text}</body></html>'


def test_charset_names():
    assert normalise_charset("GB2312") == "gb18030"
    assert normalise_charset("gbk") == "gb18030"
    assert normalise_charset("UTF8") == "utf-8"
    assert normalise_charset("x-unknown") is None
    assert header_charset('text/html;charset="GBK"') == "gb18030"
    assert header_charset("text/html") is None
    assert (
        meta_charset(b'<meta http-equiv="Content-Type" content="text/html; charset=gb2312">')
        == "gb18030"
    )


@pytest.mark.parametrize("codec", ["utf-8", "gb18030", "gbk"])
def test_declared_and_true(codec: str):
    text = TEXT if codec != "gbk" else TEXT[:-6]  # GBK cannot hold the rare characters
    body = page(codec, text).encode(codec)
    assert decode_html(body, f"text/html; charset={codec}") == page(codec, text)


def test_gbk_bytes_under_a_utf8_label():
    body = page("utf-8", TEXT[:-6]).encode("gbk")
    assert TEXT[:-6] in decode_html(body, "text/html; charset=utf-8")
    assert sniff(body, "text/html; charset=utf-8") == "gb18030"


def test_utf8_bytes_under_a_gb2312_label_real_page():
    """A real Sina stock page stored as UTF-8 while its meta says gb2312."""
    raw = (
        FIXTURES / "sina-listings" / "other_vipstock_summary_utf8_labelled_gb2312.html"
    ).read_bytes()
    assert meta_charset(raw) == "gb18030"
    assert decode_html(raw, "text/html; charset=gb2312") == raw.decode("utf-8")
    assert sniff(raw) == "utf-8"


@pytest.mark.parametrize(
    "header", ["text/html; charset=iso-8859-1", "text/html; charset=windows-1252"]
)
def test_single_byte_header_cannot_garble_gb_pages(header: str):
    body = page("gb2312", TEXT).encode("gb18030")
    assert TEXT in decode_html(body, header)


def test_header_contradicting_meta_the_bytes_decide():
    body = page("gb2312", TEXT).encode("utf-8")
    assert TEXT in decode_html(body, "text/html; charset=gbk")


def test_boms():
    assert decode_html(codecs.BOM_UTF8 + "新浪".encode()) == "新浪"
    assert decode_html(codecs.BOM_UTF16_LE + "新浪".encode("utf-16-le")) == "新浪"


def test_damaged_pages_lose_bytes_not_the_page():
    good = page("utf-8").encode("utf-8")
    damaged = good[:50] + b"\xff\xfe\xc3" + good[50:-3]
    text = decode_html(damaged)
    assert "\ufffd" not in text
    assert "人民币汇率" in text


def test_literal_replacement_and_private_use_characters_are_removed():
    body = page("utf-8", "新浪\ufffd财经\ue004").encode("utf-8")
    assert "\ufffd" not in decode_html(body) and "\ue004" not in decode_html(body)
    # p01's user-defined GBK bytes AA A5 decode to U+E004 in GB18030
    assert decode_html(b"\xd0\xc2\xc0\xcb\xaa\xa5", "text/html; charset=gb2312") == "新浪"


def test_html_utf8_passes_clean_utf8_through_untouched():
    body = page("utf-8").encode("utf-8")
    assert html_utf8(body) is body
    assert html_utf8(page("gbk", TEXT[:-6]).encode("gbk")).decode("utf-8") == page("gbk", TEXT[:-6])


def test_empty():
    assert decode_html(b"") == ""
    assert html_utf8(b"") == b""


@given(
    st.binary(max_size=2000),
    st.sampled_from(
        [None, "text/html; charset=utf-8", "text/html; charset=gbk", "text/html; charset=latin-1"]
    ),
)
def test_any_bytes_decode_without_replacement_characters(body: bytes, header: str | None):
    text = decode_html(body, header)
    assert "\ufffd" not in text
    assert not any("\ue000" <= ch <= "\uf8ff" for ch in text)


@given(st.text(min_size=1, max_size=200))
def test_valid_utf8_always_round_trips(text: str):
    text = text.replace("\ufffd", "")
    if any("\ue000" <= ch <= "\uf8ff" for ch in text):
        return
    assert decode_html(text.encode("utf-8"), "text/html; charset=gb2312") == text


@pytest.mark.parametrize(
    "path", [p for p in real_pages() if "gb2312" in p.name], ids=lambda p: p.stem
)
def test_real_gb2312_pages_extract_the_same_whatever_the_header(path):
    body = path.read_bytes()
    titles = {
        build_article(body, None, content_type=header)["title"]
        for header in (
            None,
            "text/html; charset=gb2312",
            "text/html; charset=utf-8",
            "text/html; charset=iso-8859-1",
        )
    }
    assert len(titles) == 1
    (title,) = titles
    assert title and "\ufffd" not in title and not any("\ue000" <= c <= "\uf8ff" for c in title)


def test_utf16_pages_with_a_bom_are_read():
    body = page("utf-16", "人民币汇率保持基本稳定").encode("utf-16")
    item = build_article(body, "https://finance.sina.com.cn/roll/2021-11-22/doc-iutf16.shtml")
    assert item["title"] == "人民币汇率保持基本稳定"
