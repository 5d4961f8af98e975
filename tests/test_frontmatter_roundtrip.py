"""Front matter survives PyYAML and js-yaml (Hexo's parser) whatever the title holds (SPEC §4).

Hostile titles, sources and category names come from hypothesis (2,000+ examples) and a fixed
list; every rendered post is read back by PyYAML here and, in one node process, by js-yaml 4
and by hexo-front-matter 4 (what Hexo 8 itself calls). Zero mismatches allowed.
"""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sinacrawl.posts import front_matter, render_post
from tests.node_tools import node_project, run_node

FIXED_TITLES = [
    "人社部：党领导就业和社保工作的重大成就与经验启示",
    "it's a 'quoted' \"double\" title",
    "key: value # not a comment",
    "#hashtag at start",
    "---",
    "--- leading document marker",
    "...",
    "title\nwith newline",
    "title\r\nwith CRLF\rand CR",
    "yes",
    "no",
    "null",
    "~",
    "true",
    "1e3",
    "0x1F",
    "012",
    ".inf",
    "2021-11-22",
    "2021-11-22 17:33:50",
    "control \x00\x01\x07\x08\x1b\x7f chars",
    "C1 \x80\x85\x9f chars",
    "line separator \u2028 and paragraph \u2029",
    "BOM \ufeff inside",
    "non-character \ufffe\uffff",
    "emoji 📈🚀 and 🇨🇳 flags",
    "\ttab at start and\ttab inside",
    "  leading and trailing spaces  ",
    "",
    " ",
    "'",
    "''",
    '"',
    "\\",
    "\\n not a newline",
    "{{ site.title }} {% raw %}",
    "[a, b]",
    "{a: b}",
    "&anchor *alias !tag",
    "| > literal markers",
    "@at `backtick` %percent",
    "- dash like a list",
    "? question",
    "a: b: c",
    "<script>alert(1)</script>",
    "新浪财经－国內",
    "\u3000全角空格\u3000",
    "zero\u200bwidth",
    "\U0001f600" * 50,
]


def post_for(title: str, source: str = "新京报", category: str = "金融") -> dict:
    return {
        "doc_id": "ikyamrmz6784021",
        "title": title,
        "source": source,
        "author": None,
        "categories": ["金融", category],
        "headimg": "https://n.sinaimg.cn/finance/a.jpg?x='1'&y=#2",
        "published_at": "2021-11-22T17:33:50+08:00",
        "body_html": "<p>正文</p>",
    }


def expected(post: dict) -> dict:
    return {
        "title": post["title"],
        "author": post["source"] or "新浪财经",
        "categories": post["categories"],
        "headimg": post["headimg"],
    }


def pyyaml_reads(post: dict) -> dict:
    data = yaml.safe_load(front_matter(post).strip().strip("-"))
    return {k: data.get(k) for k in ("title", "author", "categories", "headimg")}


pieces = st.sampled_from([*FIXED_TITLES, ":", " #", "'", '"', "\n", "---", "\\", "\x85", "\u2028"])
hostile = st.lists(st.one_of(pieces, st.text(max_size=12)), max_size=6).map("".join)


JS = r"""
const yaml = require('js-yaml');
const fm = require('hexo-front-matter');
const posts = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const pick = (d) => ({title: d.title, author: d.author, categories: d.categories, headimg: d.headimg});
const out = posts.map((text) => {
  try {
    const block = text.split('\n---\n')[0].slice(4);
    const parsed = fm.parse(text);
    return {jsyaml: pick(yaml.load(block)), hexo: pick(parsed), body: parsed._content};
  } catch (e) { return {error: String(e)}; }
});
process.stdout.write(JSON.stringify(out));
"""


def test_front_matter_round_trips_through_pyyaml_and_js_yaml():
    posts: list[dict] = [post_for(t) for t in FIXED_TITLES]
    posts += [post_for("title", source=t, category=t or "x") for t in FIXED_TITLES if t.strip()]

    @settings(
        max_examples=2000,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(title=hostile, source=hostile, category=hostile.filter(lambda s: s != ""))
    def collect(title, source, category):
        post = post_for(title, source or None, category)
        assert pyyaml_reads(post) == expected(post)  # fails (and shrinks) right here
        posts.append(post)

    collect()
    assert len(posts) >= 2000 + len(FIXED_TITLES)
    for post in posts[: 2 * len(FIXED_TITLES)]:
        assert pyyaml_reads(post) == expected(post)

    folder = node_project("yaml", {"js-yaml": "^4.1.0", "hexo-front-matter": "^4.2.1"})
    texts = [render_post(p).decode("utf-8") for p in posts]
    results = run_node(JS, texts, cwd=folder)
    failures = []
    for post, result in zip(posts, results, strict=True):
        want = expected(post)
        if "error" in result or result["jsyaml"] != want or result["hexo"] != want:
            failures.append((post["title"], post["source"], result))
        elif "<p>正文</p>" not in result["body"]:
            failures.append((post["title"], "body lost", result))
    assert not failures, f"{len(failures)} of {len(posts)} failed, e.g. {failures[:3]!r}"
