"""Real Hexo 8 builds the archive: every page has its title, its true instant and its body.

Hexo and its renderers are installed from npm once into a cache outside the repo
(tests/node_tools.py); each test lays out a throw-away site around an archive written by
the HexoStore and runs ``hexo generate`` with the machine's TZ set to New York, so a date
that depended on the builder's zone would show. Both ``date`` styles are checked against
the site config they are meant for (SPEC §4), over the real archive posts with hostile
additions, and over what a real crawl of the mock site wrote.
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

from sinacrawl.posts import post_path
from sinacrawl.stores.hexo import HexoStore
from tests.conftest import FIXTURES
from tests.node_tools import node_project
from tests.test_hexo import assert_seed_layout, seed_item

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


def make_site(site: Path, modules: Path, hexo_timezone: str | None) -> Path:
    """A Hexo site around ``site/source/_posts`` whose config matches ``hexo_timezone``."""
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
    return site / "source" / "_posts"


def generate(site: Path, modules: Path) -> dict:
    """Run ``hexo generate`` (machine TZ: New York); the generated posts by source path."""
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


def build(site: Path, modules: Path, items: list[dict], hexo_timezone: str | None) -> dict:
    """Write ``items`` with the pipeline into a fresh site and generate it."""
    pipe = HexoStore(make_site(site, modules, hexo_timezone), hexo_timezone)
    pipe.open_now()
    for item in items:
        pipe.store(item)
    pipe.close_now()
    return generate(site, modules)


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


def test_hexo_builds_what_a_crawl_of_the_mock_site_wrote(tmp_path, hexo_modules):
    """The whole chain: spider → extractor → pipelines → posts → Hexo → pages."""
    from datetime import timedelta

    from sinacrawl.parsing.dates import BEIJING
    from sinacrawl.testing.process import mocksite_process, run_crawl

    newest = datetime.now(BEIJING).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    channels = [{"name": "china", "pageid": 155, "lid": 1686, "count": 12, "path": "china/gncj"}]
    config = {"seed": 3, "newest": newest.isoformat(), "size_kb": 8, "channels": channels}
    posts = make_site(tmp_path / "site", hexo_modules, "Asia/Shanghai")
    with mocksite_process(config, tmp_path / "mock") as site:
        result = run_crawl(
            "finance",
            upstream=site.url,
            workdir=tmp_path / "run",
            archive=posts,
            settings={"HEXO_TIMEZONE": "Asia/Shanghai", "DOWNLOAD_DELAY": "0"},
        )
    assert result.returncode == 0, result.log[-3000:]
    assert len(result.items) == 12 and len(result.posts()) == 12
    for post in result.posts():
        assert_seed_layout(post.read_text(encoding="utf-8"))
    pages = generate(tmp_path / "site", hexo_modules)
    assert len(pages) == 12
    for item in result.items:
        page = pages["_posts/" + post_path(item)]
        assert page.find_class("p-name")[0].text_content() == item["title"]
        assert page.find(".//time").get("datetime") == instant(item["published_at"])
        shown = re.sub(r"\s+", " ", page.find_class("e-content")[0].text_content())
        for line in item["body_text"].splitlines():
            assert re.sub(r"\s+", " ", line).strip() in shown, (item["doc_id"], line)
