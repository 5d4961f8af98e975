"""The finance spider's decisions, without Scrapy: where a stream goes after its walk, which
day windows it reads, how a day counts, and which gaps stay open at the end."""

from __future__ import annotations

from collections import deque
from datetime import date, datetime, timedelta

import pytest

from sinacrawl.history import DAY_SECONDS, day_start
from sinacrawl.parsing.dates import BEIJING
from sinacrawl.parsing.listing import ListingEntry, ListingPage
from sinacrawl.spiderargs import Window
from sinacrawl.walks import Closing, DayOutcome, Limits, Plan, Step, StreamRun

DAY = date(2026, 11, 10)
START = day_start(DAY)
CRON = Plan(Window(), Limits(max_pages=3, catchup_days=2, history_max_pages=5, low_water=4))
WINDOW = Window(datetime(2026, 11, 1, tzinfo=BEIJING), datetime(2026, 11, 15, tzinfo=BEIJING))
BACKFILL = Plan(WINDOW, CRON.limits)


def page(*times: int, has_more: bool = True, next_url: str | None = None) -> ListingPage:
    entries = tuple(
        ListingEntry(
            url=f"https://finance.sina.com.cn/a/doc-i{n}.shtml",
            doc_id=f"i{n}",
            ctime=datetime.fromtimestamp(t, BEIJING),
        )
        for n, t in enumerate(times)
    )
    return ListingPage(entries=entries, has_more=has_more, next_url=next_url)


def run_over(low: int, high: int, **kw) -> StreamRun:
    """A stream whose walk left ``[low, high)`` to read."""
    return StreamRun(low=low, high=high, **kw)


# --- the walk ---


def test_note_page_sets_newest_only_from_the_first_walk_page():
    run = StreamRun()
    run.note_page(page(START + 500, START + 100), 1, deeper=False)
    assert (run.newest, run.reach, run.last_page) == (START + 500, START + 100, 1)
    run.note_page(page(START + 50, next_url="https://x.sina.com.cn/2"), 2, deeper=False)
    assert (run.newest, run.reach, run.next_url) == (
        START + 500,
        START + 50,
        "https://x.sina.com.cn/2",
    )
    run.note_page(page(START - 10), 1, deeper=True)
    assert (run.newest, run.reach) == (START + 500, START - 10)


@pytest.mark.parametrize(
    ("older", "has_more", "page_no", "ended", "on"),
    [
        (1, True, 1, "older", False),
        (0, False, 1, "end", False),
        (0, True, 3, "max_pages", False),
        (0, True, 2, "end", True),
    ],
)
def test_walk_on(older, has_more, page_no, ended, on):
    run = StreamRun(reach=START)
    assert CRON.walk_on(run, page(START, has_more=has_more), page_no, older) is on
    assert run.walk_ended == ended


def test_a_backfill_walk_stops_once_it_is_past_the_window():
    run = StreamRun(reach=int(WINDOW.until.timestamp()) + 60)
    assert not BACKFILL.walk_on(run, page(START), 1, 0)
    assert run.walk_ended == "ahead"


# --- after the walk ---


def test_history_range_of_a_cron_run_reaches_back_to_the_last_clean_mark():
    run = StreamRun(reach=START + 900)
    assert CRON.history_range(run, "max_pages", START, now=START + 5000) == (START, START + 900)
    assert CRON.history_range(run, "known", START, now=START + 5000) is None
    assert CRON.history_range(run, "older", START, now=START + 5000) is None
    assert CRON.history_range(run, "max_pages", None, now=START + 5000) is None
    assert CRON.history_range(StreamRun(), "end", START, now=START + 5000) == (START, START + 5000)
    assert CRON.history_range(StreamRun(reach=START), "end", START, now=START + 1) is None


def test_history_range_of_a_backfill_is_its_window_below_the_walk():
    since, until = int(WINDOW.since.timestamp()), int(WINDOW.until.timestamp())
    assert BACKFILL.history_range(StreamRun(), "end", None, now=0) == (since, until)
    assert BACKFILL.history_range(StreamRun(reach=since + 60), "max_pages", None, now=0) == (
        since,
        since + 60,
    )
    open_end = Plan(Window(WINDOW.since), CRON.limits)
    assert open_end.history_range(StreamRun(), "end", None, now=until) == (since, until)


def test_plan_days_skips_complete_days_and_caps_a_cron_catch_up():
    run = run_over(START - 3 * DAY_SECONDS, START + DAY_SECONDS)  # four days
    days = CRON.plan_days(run, complete={DAY.isoformat()})
    assert days == 2  # catchup_days
    assert list(run.days) == [DAY - timedelta(days=1)]
    assert (run.days_total, run.phase) == (1, "days")
    assert run.gaps == [(START - 3 * DAY_SECONDS, START - DAY_SECONDS)]
    assert run.covered == [(START, START + DAY_SECONDS)]


def test_a_backfill_plans_every_day():
    run = run_over(START - 3 * DAY_SECONDS, START + DAY_SECONDS)
    assert BACKFILL.plan_days(run, complete=set()) == 4
    assert run.days[0] == DAY and run.days[-1] == DAY - timedelta(days=3)
    assert run.gaps == []


# --- what goes out next ---


def test_next_step_waits_for_the_queue_then_sends_held_days_deeper_or_ends():
    run = StreamRun(phase="days", days=deque([DAY]))
    assert run.next_step(pending=5, low_water=4) is Step.WAIT
    run.held = "request"
    assert run.next_step(pending=4, low_water=4) is Step.HELD
    assert run.take_held() == "request" and run.held is None
    assert run.next_step(0, 4) is Step.DAY
    assert run.take_day() == DAY and run.awaiting
    assert run.next_step(0, 4) is Step.WAIT  # its request is out
    run.awaiting = False
    assert run.next_step(0, 4) is Step.END
    deeper = StreamRun(phase="deeper", deeper_page=4)
    assert deeper.next_step(0, 4) is Step.DEEPER
    assert deeper.take_deeper_page() == 4 and deeper.deeper_page is None
    assert StreamRun(phase="walk").next_step(0, 4) is Step.WAIT


def test_deeper_steps():
    low, high = START - DAY_SECONDS, START
    run = run_over(low, high, reach=START - 100)
    assert CRON.deeper_step(run, None, 0, 0, html=False) == "next" and run.deeper_page == 1
    assert CRON.deeper_step(run, page(low - 5), 2, older=1, html=False) == "reached"
    assert run.covered == [(low, high)] and run.deeper_page is None
    run = run_over(low, high, reach=START - 100)
    assert CRON.deeper_step(run, page(has_more=False), 2, 0, html=False) == "short"
    assert run.gaps == [(low, START - 100)]
    run = run_over(low, high)
    assert CRON.deeper_step(run, page(START - 50), 5, 0, html=False) == "max_pages"
    assert run.gaps == [(low, high)]
    run = run_over(low, high)
    assert CRON.deeper_step(run, page(START - 50), 1, 0, html=True) == "no_next"
    run = run_over(low, high, next_url="https://finance.sina.com.cn/roll/2")
    assert CRON.deeper_step(run, page(START - 50), 1, 0, html=True) == "next"


# --- the books ---


def test_a_walk_bucket_covers_what_the_walk_read_unless_something_failed():
    run = StreamRun(newest=START + 900, reach=START)
    assert CRON.bucket_done(run, "walk", failed=0) is DayOutcome.LISTING
    assert run.covered == [(START, START + 901)]
    failed = StreamRun(newest=START + 900, reach=START)
    assert CRON.bucket_done(failed, "walk", failed=1) is DayOutcome.LISTING
    assert failed.covered == []


def test_a_day_is_complete_only_when_whole_over_and_without_failures():
    run = run_over(START - 100, START + DAY_SECONDS, newest=START + 2 * DAY_SECONDS)
    assert BACKFILL.bucket_done(run, DAY.isoformat(), failed=0) is DayOutcome.COMPLETE
    assert run.days_complete == 1 and run.covered == [(START, START + DAY_SECONDS)]
    assert BACKFILL.bucket_done(run, DAY.isoformat(), failed=2) is DayOutcome.INCOMPLETE
    assert run.days_incomplete == [DAY.isoformat()] and run.gaps == [(START, START + DAY_SECONDS)]
    not_over = run_over(START, START + DAY_SECONDS, newest=START + 100)
    assert BACKFILL.bucket_done(not_over, DAY.isoformat(), 0) is DayOutcome.READ
    later = run_over(START, START + 30 * DAY_SECONDS, newest=START + 30 * DAY_SECONDS)
    assert BACKFILL.bucket_done(later, "2026-11-14", 0) is DayOutcome.COMPLETE
    assert BACKFILL.bucket_done(later, "2026-11-15", 0) is DayOutcome.READ  # past the window


def test_close_records_unread_days_and_moves_the_mark_after_a_clean_cron_walk():
    run = run_over(START - DAY_SECONDS, START + DAY_SECONDS, newest=START + 5 * DAY_SECONDS)
    run.phase = "days"
    run.days.append(DAY)  # never read
    run.covered.append((START - 3 * DAY_SECONDS, START - 2 * DAY_SECONDS))
    closing = CRON.close(
        run,
        unfinished=[(DAY - timedelta(days=1)).isoformat(), "walk"],
        known=[(START - 3 * DAY_SECONDS, START - 2 * DAY_SECONDS + 10)],
        newest_clean=START,
        articles_failed=False,
        reason="finished",
    )
    assert closing == Closing(
        stored=[
            (START - 2 * DAY_SECONDS, START - 2 * DAY_SECONDS + 10),
            (START - DAY_SECONDS, START + DAY_SECONDS),
        ],
        open=[
            (START - 2 * DAY_SECONDS, START - 2 * DAY_SECONDS + 10),
            (START - DAY_SECONDS, START + DAY_SECONDS),
        ],
        newest_clean=START + 5 * DAY_SECONDS,
    )
    assert run.days_incomplete == [(DAY - timedelta(days=1)).isoformat()]
    assert run.day_counts() == {"days_complete": 0, "days_incomplete": 2, "days_total": 0}


def close(plan: Plan, run: StreamRun, *, last: int | None, **kw) -> Closing:
    """``plan.close`` of a run with nothing unfinished and no known gaps, by default clean."""
    args = {"unfinished": [], "known": [], "articles_failed": False, "reason": "finished"}
    return plan.close(run, newest_clean=last, **{**args, **kw})


def test_close_keeps_the_mark_after_failures_and_reports_what_a_failed_walk_left_unread():
    run = StreamRun(newest=START + 500, reach=START, unread=(START - 100, START))
    kept = close(CRON, run, last=START - 900, articles_failed=True)
    assert kept == Closing(stored=[], open=[(START - 100, START)], newest_clean=None)
    interrupted = run_over(START - 100, START + 100, phase="deeper", reach=START)
    assert close(CRON, interrupted, last=None, reason="shutdown").stored == [(START - 100, START)]


def test_a_backfill_moves_the_mark_only_when_its_walk_reached_it():
    def mark(plan: Plan, reach: int, last: int | None) -> int | None:
        return close(plan, StreamRun(newest=START + 500, reach=reach), last=last).newest_clean

    assert mark(BACKFILL, START, START + 10) == START + 500
    assert mark(BACKFILL, START + 20, START + 10) is None
    assert mark(BACKFILL, START, None) is None
    assert mark(CRON, START, None) == START + 500
    assert mark(CRON, START, START + 600) is None  # not newer


def test_limits_from_settings():
    from scrapy.settings import Settings

    settings = Settings(
        {"SINACRAWL_CATCHUP_DAYS": -1, "SINACRAWL_HISTORY_MAX_PAGES": 0, "CONCURRENT_REQUESTS": 40}
    )
    assert Limits.from_settings(settings, max_pages=3, num=50) == Limits(3, 0, 1, 100)
    assert Limits.from_settings(Settings(), max_pages=9, num=10).low_water == 32


def test_a_source_ignores_day_windows_when_its_first_dated_day_page_is_mostly_elsewhere():
    inside, elsewhere = (
        datetime.fromtimestamp(START + 60, BEIJING),
        datetime(2026, 1, 1, tzinfo=BEIJING),
    )
    run = StreamRun()
    assert not run.ignores_windows([None], DAY) and run.windows is None  # nothing dated yet
    assert run.ignores_windows([inside, elsewhere, elsewhere], DAY) and run.windows is False
    assert not run.ignores_windows([elsewhere], DAY)  # judged once
    honours = StreamRun()
    assert not honours.ignores_windows([inside, elsewhere], DAY) and honours.windows is True


def test_a_deeper_walk_counts_entries_older_than_low_as_older_than_the_window():
    run = run_over(START, START + DAY_SECONDS)
    before = datetime.fromtimestamp(START - 1, BEIJING)
    assert CRON.position(run, before, deeper=True) == -1
    assert CRON.position(run, before, deeper=False) == 0  # a walk reads it: no window
    assert CRON.position(run, None, deeper=True) == 0
    assert BACKFILL.position(run, datetime(2026, 11, 16, tzinfo=BEIJING), deeper=False) == 1


def test_the_next_walk_page_is_held_while_the_queue_is_full():
    run = StreamRun()
    assert not run.send_or_hold("page 2", pending=5, low_water=4)
    assert run.held == "page 2" and run.awaiting
    sent = StreamRun()
    assert sent.send_or_hold("page 2", pending=4, low_water=4)
    assert sent.held is None and sent.awaiting
