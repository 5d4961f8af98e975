from sinacrawl.parsing.urls import canonical_url, doc_id_from_url, is_sina_host


def test_doc_ids_of_every_url_shape():
    cases = {
        "https://finance.sina.com.cn/china/gncj/2021-11-22/doc-ikyamrmz6784021.shtml": "ikyamrmz6784021",
        "https://finance.sina.cn/sa/2005-08-26/detail-ikknscsi2623250.d.html": "ikknscsi2623250",
        "http://k.sina.com.cn/article_6598441619_1894c3a9300100elpc.html": "1894c3a9300100elpc",
        "http://t.cj.sina.com.cn/articles/view/6479293414/182322be600100i6z0": "182322be600100i6z0",
        "http://bj.house.sina.com.cn/p/2005-03-31/031868306.html": "031868306",
        "http://book.sina.com.cn/longbook/1097399113_qiaoguanhua/41.shtml": "41",
        "https://finance.sina.com.cn/": None,
    }
    for url, expected in cases.items():
        assert doc_id_from_url(url) == expected, url


def test_canonical_url_drops_query_and_fragment_and_forces_https():
    assert (
        canonical_url("http://news.sina.com.cn/c/2019-10-23/doc-iicezuev4202091.shtml?cre=tianyi#x")
        == "https://news.sina.com.cn/c/2019-10-23/doc-iicezuev4202091.shtml"
    )


def test_sina_hosts():
    assert is_sina_host("sina.cn") and is_sina_host("t.cj.sina.com.cn")
    assert not is_sina_host("sina.com") and not is_sina_host("notsina.cn") and not is_sina_host("")
