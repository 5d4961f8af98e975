"""Progress: a live line on a terminal, a compact log line in cron, nothing when off."""

from __future__ import annotations

import io
import logging

import pytest
from scrapy import Spider
from scrapy.exceptions import NotConfigured
from scrapy.utils.test import get_crawler

from sinacrawl.extensions.progress import CLEAR_LINE, Progress, progress_line


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _crawler(**settings):
    crawler = get_crawler(Spider, {"EXTENSIONS_BASE": {}, **settings})
    crawler.stats.open_spider()
    return crawler


def test_progress_line_shows_pages_outcomes_rate_and_errors() -> None:
    line = progress_line(
        {
            "response_received_count": 300,
            "sinacrawl/articles/stored": 250,
            "sinacrawl/articles/dropped/invalid": 3,
            "sinacrawl/articles/dropped/out_of_window": 2,
            "sinacrawl/articles/failed/http_404": 4,
            "sinacrawl/articles/duplicate": 1,
            "sinacrawl/articles/skipped_known": 40,
            "log_count/ERROR": 2,
        },
        3725.0,
    )
    assert line == (
        "pages 300 (0.1/s) | stored 250, dropped 5, failed 4, duplicate 1, skipped 40 | "
        "errors 2 | 1:02:05"
    )


def test_auto_mode_draws_a_live_line_on_a_terminal() -> None:
    terminal = FakeTerminal()
    crawler = _crawler()
    progress = Progress.from_crawler(crawler, stream=terminal)
    assert progress.live and progress.interval == 1.0
    crawler.stats.set_value("response_received_count", 7)
    crawler.stats.set_value("sinacrawl/articles/stored", 5)
    progress.tick()
    progress.tick()
    out = terminal.getvalue()
    assert out.count(CLEAR_LINE) == 2 and "\n" not in out, "one line, redrawn in place"
    assert "pages 7" in out and "stored 5" in out
    progress.spider_closed(None, "finished")
    assert terminal.getvalue().endswith(" | finished\n")


def test_auto_mode_logs_once_a_minute_without_a_terminal(caplog) -> None:
    stream = io.StringIO()
    crawler = _crawler()
    progress = Progress.from_crawler(crawler, stream=stream)
    assert not progress.live and progress.interval == 60.0
    crawler.stats.set_value("response_received_count", 3)
    with caplog.at_level(logging.INFO, logger="sinacrawl.extensions.progress"):
        progress.tick()
    assert [r.getMessage()[:17] for r in caplog.records] == ["progress: pages 3"]
    assert stream.getvalue() == "", "no terminal control codes in cron logs"


def test_log_lines_wipe_the_live_line_first() -> None:
    terminal = FakeTerminal()
    crawler = _crawler(SINACRAWL_PROGRESS="tty")
    progress = Progress.from_crawler(crawler, stream=terminal)
    handler = logging.StreamHandler(terminal)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        progress._handlers.append(handler)
        handler.addFilter(progress._filter)
        progress.tick()
        logging.getLogger("some.component").warning("a warning")
    finally:
        root.removeHandler(handler)
    assert terminal.getvalue().endswith(CLEAR_LINE + "a warning\n")


@pytest.mark.parametrize("mode", ["off", "sometimes"])
def test_off_or_unknown_mode_switches_progress_off(mode: str) -> None:
    with pytest.raises(NotConfigured):
        Progress.from_crawler(_crawler(SINACRAWL_PROGRESS=mode), stream=FakeTerminal())
