"""Real Hexo 8 builds the archive: every page has its title, its true instant and its body.

Hexo and its renderers are installed from npm once into a cache outside the repo
(tests/node_tools.py); each test lays out a throw-away site around an archive written by
the HexoPipeline and runs ``hexo generate`` with the machine's TZ set to New York, so a date
that depended on the builder's zone would show. Both ``date`` styles are checked against
the site config they are meant for (SPEC §4).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import pytest
from lxml import html as lxml_html

from sinacrawl.pipelines.hexo import HexoPipeline
from sinacrawl.posts import post_path
from tests.conftest import FIXTURES
from tests.node_tools import node_project
from tests.test_hexo import seed_item

pytestmark = pytest.mark.slow

HEXO_PACKAGES = {"hexo": "^8.1.2", "hexo-renderer-marked": "^7.0.1", "hexo-renderer-ejs": "^2.0.0"}
# A minimal theme: the post layout prints what the test checks, nothing else.
POST_LAYOUT = (
    '<article data-source="<%= page.source %>"><h1 class="p-name"><%= page.title %></h1>'
    '<time datetime="<%= page.date.toISOString() %>"></time>'
    '<div class="e-content"><%- page.content %></div></article>\n'
)

HOSTILE = [
    {
        "doc_id": "itemplate00001",
        "title": "模板语法 {{ site.title }} 与 {% raw %}",
        "body_html": "<p>双括号 {{ site.title }} 和 {% if x %}标签{% endif %}</p>\n\n"
        "<p>原样 {% raw %}raw{% endraw %} 和孤立的 {% endraw %} 以及 {# 注释 #}</p>",
    },
    {
        "doc_id": "imarkdown00002",
        "title": 'it\'s: a "title" # not a comment --- yes',
        "body_html": "<p># 不是标题</p>\n\n\n<p>*不是强调* 和 ```三个反引号```</p>\n"
        "<pre>    缩进四格</pre>\n<p>```</p>\n<p>~~~</p>",
    },
    {
        "doc_id": "iscript000003",
        "title": "yes",
        "body_html": '<p>脚本之前</p><script>document.write("坏")</script>'
        '<p onclick="alert(1)">点击之后</p><iframe src="https://evil.example/"></iframe>',
    },
    {
        "doc_id": "iemoji0000004",
        "title": "1e3 📈 行情\n第二行",
        "body_html": '<p>图片 <img src="https://n.sinaimg.cn/finance/a.jpg"> 之后</p>',
    },
]


@pytest.fixture(scope="session")
def hexo_modules() -> Path:
    return node_project("hexo8", HEXO_PACKAGES) / "node_modules"


def archive_items() -> list[dict]:
    items = [seed_item(p) for p in sorted((FIXTURES / "hexo-posts").glob("*.md"))]
    for n, extra in enumerate(HOSTILE):
        items.append(
            {
                "categories": ["金融", "新浪财经"],
                "published_at": f"2026-11-27T0{n}:59:5{n}+08:00",  # Beijing night: UTC day before
                "headimg": None,
                "source": "新浪财经-自媒体综合",
                **extra,
            }
        )
    return items


def build(site: Path, modules: Path, items: list[dict], hexo_timezone: str | None) -> dict:
    """Write the archive with the pipeline, run ``hexo generate``, return pages by source."""
    (site / "themes" / "mini" / "layout").mkdir(parents=True)
    for name in ("post", "index", "page"):
        (site / "themes" / "mini" / "layout" / f"{name}.ejs").write_text(POST_LAYOUT)
    config = "title: sinacrawl test\nurl: http://localhost\ntheme: mini\n"
    if hexo_timezone:
        config += f"timezone: {hexo_timezone}\n"
    (site / "_config.yml").write_text(config)
    package = {"name": "site", "private": True, "hexo": {"version": "8.1.2"}}
    (site / "package.json").write_text(json.dumps({**package, "dependencies": HEXO_PACKAGES}))
    (site / "node_modules").symlink_to(modules)

    pipe = HexoPipeline(site / "source" / "_posts", hexo_timezone)
    pipe.open_spider()
    for item in items:
        pipe.store(item)
    pipe.close_spider()

    env = {**os.environ, "TZ": "America/New_York"}
    proc = subprocess.run(
        [str(modules / ".bin" / "hexo"), "generate"],
        cwd=site,
        env=env,
        capture_output=True,
        timeout=600,
        check=False,
    )
    log = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    assert proc.returncode == 0, log[-3000:]
    assert "ERROR" not in log, log[-3000:]
    # The archive's own state (.sinacrawl/: index, lock) is hidden from Hexo.
    assert not [
        p for p in (site / "public").rglob("*") if "sinacrawl" in p.name or "sqlite" in p.name
    ]
    pages = {}
    for page in (site / "public").rglob("index.html"):
        root = lxml_html.fromstring(page.read_bytes().decode("utf-8"))
        for article in root.iter("article"):
            pages[article.get("data-source")] = article
    return pages


def text_of(fragment: str) -> str:
    root = lxml_html.fragment_fromstring(fragment, create_parent="div")
    for bad in root.xpath(".//script|.//iframe|.//style"):
        bad.drop_tree()
    return re.sub(r"\s+", " ", root.text_content()).strip()


def instant(iso: str) -> str:
    when = datetime.fromisoformat(iso).astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.000Z")


@pytest.mark.parametrize("hexo_timezone", [None, "Asia/Shanghai"])
def test_hexo_generates_every_post_with_title_true_date_and_body(
    tmp_path, hexo_modules, hexo_timezone
):
    items = archive_items()
    pages = build(tmp_path, hexo_modules, items, hexo_timezone)
    assert len(pages) == len(items)
    for item in items:
        page = pages.get("_posts/" + post_path(item))
        assert page is not None, post_path(item)
        assert page.find_class("p-name")[0].text_content() == item["title"]
        assert page.find(".//time").get("datetime") == instant(item["published_at"]), item["doc_id"]
        content = page.find_class("e-content")[0]
        assert not content.xpath(".//script|.//iframe|.//*[@onclick]")
        shown = re.sub(r"\s+", " ", content.text_content())
        for paragraph in lxml_html.fragment_fromstring(
            item["body_html"], create_parent="div"
        ).xpath(".//p"):
            words = text_of(lxml_html.tostring(paragraph, encoding="unicode"))
            assert words in shown, (item["doc_id"], words)
        for img in content.iter("img"):
            assert img.get("referrerpolicy") == "no-referrer"

    literal = pages["_posts/金融/新浪财经/2026-11-27-itemplate00001.md"]
    assert "{{ site.title }}" in literal.text_content()
    assert "{% endraw %}" in literal.text_content()
