"""Body cleaning: real 2021–22 #artibody bodies (the archive posts) and small cases."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from lxml import etree

from sinacrawl.parsing.text import (
    absolute_url,
    clean_body,
    clean_fragment,
    collapse,
    drop,
    html_to_text,
    is_content_image,
    unwrap,
)
from tests.conftest import FIXTURES
from tests.update_golden import boilerplate_in

POSTS = sorted((FIXTURES / "hexo-posts").glob("*.md"))
QR_APP_IMAGE = "343233024.png"  # the 新浪财经APP QR code every 2021–22 body ends with
BASE = "https://finance.sina.com.cn/china/2021-11-22/doc-ikyamrmz6784021.shtml"
_HIDDEN = re.compile(r"(?s)<!--.*?-->|<style.*?</style>|<script.*?</script>")
_P = re.compile(r"(?s)<p\b[^>]*>(.*?)</p>")


def post_body(path: Path) -> str:
    """The HTML inside the post's <div> wrapper (after the front matter)."""
    text = path.read_text(encoding="utf-8")
    body = re.split(r"(?m)^---\s*$", text, maxsplit=2)[2]
    return body.replace("&#123;", "{").replace("&#125;", "}")


def visible_paragraphs(html: str) -> list[str]:
    """Text of each raw <p> outside comments/styles: what a reader of the post sees."""
    out = []
    for inner in _P.findall(_HIDDEN.sub("", html)):
        text = collapse(re.sub(r"<[^>]+>", "", inner))
        if text:
            out.append(text)
    return out


def test_there_are_21_real_posts():
    assert len(POSTS) == 21


@pytest.mark.parametrize("path", POSTS, ids=lambda p: p.stem[:30])
def test_real_body_is_cleaned(path: Path):
    raw = post_body(path)
    assert "责任编辑" in raw and QR_APP_IMAGE in raw  # the flaws the cleaning must remove
    body = clean_fragment(raw, BASE)
    assert body.text and body.html
    assert not boilerplate_in(body.text), boilerplate_in(body.text)
    assert not boilerplate_in(body.html), boilerplate_in(body.html)
    assert QR_APP_IMAGE not in body.html and all(QR_APP_IMAGE not in i for i in body.images)
    for tag in ("<script", "<style", "<!--", "appendQr", "app-kaihu-qr", "article-editor"):
        assert tag not in body.html
    assert "\n\n" not in body.html, "a blank line would end Hexo's raw HTML block"
    assert all(i.startswith(("http://", "https://")) for i in body.images)


@pytest.mark.parametrize("path", POSTS, ids=lambda p: p.stem[:30])
def test_every_article_paragraph_survives(path: Path):
    raw = post_body(path)
    lines = set(clean_fragment(raw, BASE).text.splitlines())
    kept = [p for p in visible_paragraphs(raw) if not boilerplate_in(p)]
    missing = [p for p in kept if p not in lines]
    assert not missing, missing[:3]


def test_tables_are_kept():
    path = next(p for p in POSTS if "tables" in p.name)
    body = clean_fragment(post_body(path), BASE)
    assert body.html.count("<table") >= 1
    assert "<td" in body.html and "<tr" in body.html
    assert "79750.1" in body.text  # a figure of the article (its 利润总额)


def test_images_keep_their_order_and_absolute_urls():
    path = next(p for p in POSTS if "AI篮球" in p.name)
    body = clean_fragment(post_body(path), BASE)
    assert len(body.images) == 9
    assert [re.search(r"/(\w{4})-", i).group(1) for i in body.images[:3]] == [
        "3e3d",
        "a571",
        "d571",
    ]
    assert body.html.count("<img") == 9


# --- small cases ---------------------------------------------------------------------------


def clean(html: str, **kwargs) -> tuple[str, str, list[str]]:
    body = clean_fragment(html, BASE, **kwargs)
    return body.html, body.text, body.images


def test_scripts_styles_ads_share_bars_and_players_go():
    html, text, images = clean(
        "<p>正文一</p><script>var a='广告'</script><style>.x{}</style>"
        '<ins class="sinaads">广告位</ins><div class="sinaads">广告</div>'
        '<div class="page-tools">分享到微博</div><div class="video-2017">视频标题</div>'
        '<div id="wx_pic"><img src="//n.sinaimg.cn/default/x/320X320.png"></div>'
        '<p style="display:none">隐藏</p><!-- 注释 --><p>正文二</p>'
    )
    assert text == "正文一\n正文二"
    assert images == []
    for junk in ("广告", "分享", "视频", "隐藏", "注释", "<img"):
        assert junk not in html


def test_editor_line_disclaimer_and_promotions_go():
    _, text, _ = clean(
        "<p>正文。</p><p>免责声明：本文仅代表作者个人观点。</p>"
        "<p>进入【新浪财经股吧】讨论</p><p>海量资讯、精准解读，尽在新浪财经APP</p>"
        '<p class="article-editor">责任编辑：霍琦 SF142</p><p>责任编辑：张三</p>'
    )
    assert text == "正文。"


def test_everything_after_an_end_marker_goes():
    _, text, images = clean(
        "<p>正文。</p><p>来源：新浪体育</p><p>本期精彩回顾</p><p>别的文章标题</p>"
        '<img src="http://n.sinaimg.cn/translate/x/qr.jpg">【本文来自微信公众号“环球网”】'
    )
    assert text == "正文。\n来源：新浪体育"
    assert images == []


def test_related_link_lines_go_inline_links_stay():
    html, text, _ = clean(
        '<p>相关新闻：<a href="/a.shtml">另一篇</a></p>'
        '<p>此前报道：<a href="https://news.sina.com.cn/c/x.shtml">港媒曝光</a></p>'
        '<p>华为推出了<a href="/x/doc-iabc.shtml">麒麟990 5G</a>芯片，性能领先。</p>'
    )
    assert text == "华为推出了麒麟990 5G芯片，性能领先。"
    assert 'href="https://finance.sina.com.cn/x/doc-iabc.shtml"' in html


def test_headline_repeated_as_first_paragraph_and_standalone_byline_go():
    _, text, _ = clean(
        "<p>文/玉浊清</p><p><b>中国砸5000亿再造“巨龙”</b></p><p>正文第一段。</p>",
        title="中国砸5000亿再造“巨龙”",
    )
    assert text == "正文第一段。"


def test_images_absolute_with_captions_and_no_spacers():
    html, text, images = clean(
        '<div class="img_wrapper"><img src="//n.sinaimg.cn/news/20191023/a.jpg">'
        '<span class="img_descr">图片说明</span></div>'
        '<center><img src="http://i0.sinaimg.cn/home/c.gif"><img data-src="/pic/b.png"></center>'
        '<p><img src="data:image/png;base64,AAAA"></p>'
    )
    assert images == [
        "https://n.sinaimg.cn/news/20191023/a.jpg",
        "https://finance.sina.com.cn/pic/b.png",
    ]
    assert "<figcaption>图片说明</figcaption>" in html
    assert text == "图片说明"
    assert "c.gif" not in html and "data:" not in html


def test_template_images_uploaded_days_before_the_article_are_not_content():
    container = lxml_div(
        '<img src="http://n.sinaimg.cn/translate/20170722/banner.gif">'
        "<p>正文</p>"
        '<img src="http://n.sinaimg.cn/translate/20170727/photo.jpg">'
    )
    body = clean_body(container, BASE, published=date(2017, 7, 27))
    assert body.images == ["http://n.sinaimg.cn/translate/20170727/photo.jpg"]


def test_only_kept_tags_and_attributes_remain():
    html, _, _ = clean(
        '<div class="x"><section><font color="red"><span style="a">红字</span></font></section>'
        '<p cms-style="font-L" onclick="x()">段落<strong class="s">加粗</strong></p>'
        '<table border="1"><tr><td colspan="2" class="c">单元格</td></tr></table></div>'
    )
    assert html == (
        "<p>红字</p><p>段落<strong>加粗</strong></p>"
        '<table><tr><td colspan="2">单元格</td></tr></table>'
    )


def test_layout_tables_left_empty_by_ad_removal_go_data_tables_stay():
    html, text, _ = clean(
        "<p>正文</p><table><tr><td><table><tr><td><script>ad()</script></td></tr></table>"
        '</td></tr></table><table><tr><td colspan="2">数据</td></tr></table>'
    )
    assert html == '<p>正文</p><table><tr><td colspan="2">数据</td></tr></table>'
    assert text == "正文\n数据"


def test_empty_bodies_give_empty_strings():
    assert clean("") == ("", "", [])
    assert clean("<p>　　</p><script>x</script><ins class='sinaads'></ins>") == ("", "", [])
    assert clean_body(None).text == ""


def test_deep_nesting_does_not_recurse():
    html = "<div>" * 3000 + "<p>深处的正文</p>" + "</div>" * 3000
    _, text, _ = clean(html)
    assert text.endswith("深处的正文") or text == ""  # libxml2 may cap the depth; no crash


def test_html_to_text_one_paragraph_a_line():
    assert html_to_text(
        "<p>一 <b>二</b></p><p>三<br>四</p><table><tr><td>五</td></tr></table>"
    ) == ("一 二\n三\n四\n五")
    assert html_to_text("<p>&lt;不是标签&gt; &amp; 完</p>") == "<不是标签> & 完"


def test_drop_and_unwrap_keep_surrounding_text():
    root = lxml_div("前<b>粗</b>中<i>斜</i>后")
    drop(root.find("b"))
    assert root.text == "前中" and root.find("i").text == "斜"
    unwrap(root.find("i"))
    assert "".join(root.itertext()) == "前中斜后"


def test_url_and_image_helpers():
    assert absolute_url("javascript:void(0)", BASE) is None
    assert absolute_url("http://x.sina.com.cn/a.jpg", BASE) == "http://x.sina.com.cn/a.jpg"
    assert not is_content_image("https://n.sinaimg.cn/finance/cece9e13/20200514/343233024.png?x")
    assert not is_content_image("http://image.sinajs.cn/newchart/v5/forex/k/day6/USDCNH.png")
    assert not is_content_image("http://ad4.sina.com.cn/shc/xfrd_01.GIF")
    assert is_content_image("https://k.sinaimg.cn/n/spider20240510/1/w956h645/20240510/x.png")


def test_collapse():
    assert collapse("　　新浪\n\t财经\u00a0\u200b！\x07") == "新浪 财经 ！"
    assert collapse(None) == ""


def lxml_div(html: str) -> etree._Element:
    return etree.fromstring(
        f"<html><body><div>{html}</div></body></html>", etree.HTMLParser()
    ).find("body/div")
