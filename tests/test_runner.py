"""The crawl runner with a scripted in-test source: batching, checkpoints, failures isolated."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

import pytest
from sqlalchemy import func, select

from crawlers import errors
from crawlers.base import Source, Target, register, registered
from model import records as r
from service.app import App
from service.crawl import crawl_once
from store import models as m
from store.watchlist import add_watch, parse_target
from tests.contract import check_records
from tests.factories import post, ref, snapshot


class ScriptedSource(Source):
    """Yields two pages of posts for @good_chan; fails for the others as scripted."""

    name: ClassVar[str] = "scripted_test"
    platform: ClassVar[str] = "telegram"
    calls: ClassVar[list[Target]] = []
    explode_after_page: ClassVar[int | None] = None

    def __init__(self, settings: object) -> None:
        pass

    def crawl(self, target: Target) -> Iterator[r.Record]:
        ScriptedSource.calls.append(target)
        if target.handle == "flaky_chan":
            raise errors.TransientError(f"{target.url}: connection reset")
        if target.handle == "buggy_chan":
            raise RuntimeError("parser bug")
        if target.handle == "flood_chan":
            raise errors.RescheduleSource(f"{target.url}: FloodWait 900 s", 900)
        if target.handle == "junk_chan":
            raise errors.BadResponse(f"{target.url} is not a Telegram channel preview (no .tgme_channel_info)")
        if target.handle == "gone_chan":
            raise errors.CommunityUnavailable(f"{target.url}: banned", r.CommunityStatus.BANNED)
        yield snapshot()
        start = int(target.cursor.get("last", 0))
        for page in range(2):
            first = start + page * 3 + 1
            yield from (post(n) for n in range(first, first + 3))
            if self.explode_after_page == page:
                raise errors.TransientError("killed mid-crawl")
            yield r.Checkpoint(ref(), self.name, {"last": first + 2})


@pytest.fixture(autouse=True)
def scripted(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import crawlers.base as base

    saved = dict(base._REGISTRY)
    base._REGISTRY.clear()
    # restored after the test: later tests need the real plugins' sources again
    monkeypatch.setattr(base, "load_builtin_sources", lambda: None)
    register(ScriptedSource)
    ScriptedSource.calls.clear()
    ScriptedSource.explode_after_page = None
    yield
    base._REGISTRY.clear()
    base._REGISTRY.update(saved)


def watch(app: App, *handles: str) -> None:
    with app.store.session() as s:
        for h in handles:
            add_watch(s, parse_target(f"@{h}"))


def post_count(app: App) -> int:
    with app.store.session() as s:
        return s.scalar(select(func.count()).select_from(m.Post)) or 0


def test_registry_refuses_a_second_source_with_the_same_name() -> None:
    class Impostor(ScriptedSource):
        pass

    with pytest.raises(ValueError, match="scripted_test"):
        register(Impostor)
    assert registered()["scripted_test"] is ScriptedSource


def test_records_pass_the_contract(app: App) -> None:
    target = Target(1, "telegram", "good_chan", "https://t.me/good_chan")
    check_records(list(ScriptedSource(None).crawl(target)), "telegram")


def test_second_crawl_resumes_from_the_checkpoint(app: App) -> None:
    watch(app, "good_chan")
    crawl_once(app)
    assert post_count(app) == 6
    crawl_once(app)
    assert ScriptedSource.calls[-1].cursor == {"last": 6}
    assert post_count(app) == 12


def test_killed_crawl_keeps_finished_pages_and_resumes_without_gaps(app: App) -> None:
    watch(app, "good_chan")
    ScriptedSource.explode_after_page = 1
    [result] = crawl_once(app)
    assert result.outcome == "failed"
    # Page 1 and its checkpoint were committed together; page 2 died before its checkpoint.
    assert post_count(app) == 3
    ScriptedSource.explode_after_page = None
    crawl_once(app)
    with app.store.session() as s:
        natives = sorted(int(x) for x in s.scalars(select(m.Post.native_post_id)))
    assert natives == list(range(1, 10))


def test_one_failing_source_does_not_stop_the_others(app: App) -> None:
    watch(app, "flaky_chan", "buggy_chan", "gone_chan", "good_chan")
    results = {r.community_id: r for r in crawl_once(app)}
    outcomes = sorted(r.outcome for r in results.values())
    assert outcomes == ["failed", "failed", "ok", "unavailable"]
    assert post_count(app) == 6
    with app.store.session() as s:
        statuses = dict(s.execute(select(m.Community.handle, m.Community.status)).all())
        runs = s.scalar(select(func.count()).select_from(m.CrawlRun))
    assert statuses["gone_chan"] == "banned"
    assert statuses["flaky_chan"] == "unreachable"
    assert runs == 4


def test_manual_entries_are_skipped(app: App) -> None:
    from store.watchlist import WatchTarget

    with app.store.session() as s:
        add_watch(s, WatchTarget("facebook", None, None, native_id="manual:Mia Moglie"), title="Mia Moglie")
    [result] = crawl_once(app)
    assert (result.outcome, result.error) == ("skipped", "entered by hand")


def test_a_source_that_cannot_start_does_not_stop_the_others(app: App) -> None:
    class Unreachable(Source):
        name: ClassVar[str] = "unreachable_api_test"
        platform: ClassVar[str] = "reddit"

        @classmethod
        def from_settings(cls, settings: object) -> Source:  # type: ignore[override]
            raise ConnectionError("api.example: connection refused")

        def crawl(self, target: Target) -> Iterator[r.Record]:
            raise AssertionError("never built")

    register(Unreachable)
    watch(app, "good_chan")
    [result] = crawl_once(app)
    assert result.outcome == "ok"
    assert post_count(app) == 6


def test_a_long_flood_wait_reschedules_after_the_wait_it_asked_for(app: App) -> None:
    watch(app, "flood_chan")
    [result] = crawl_once(app)
    assert result.outcome == "rescheduled"
    with app.store.session() as s:
        run = s.scalars(select(m.CrawlRun)).one()
        assert run.next_run_at is not None and run.finished_at is not None
        assert 890 <= (run.next_run_at - run.finished_at).total_seconds() <= 910


def test_a_page_with_no_structure_we_recognise_is_a_failed_observation(app: App) -> None:
    """A channel that later serves junk (an error page with 200, a page cut off) is not read: that
    counts like a network failure, so repeated failures still become a shutdown for detection."""
    from config.settings import DetectSettings
    from detect.events import load_snapshots, shutdown_event

    watch(app, "junk_chan")
    for _ in range(3):
        [result] = crawl_once(app)
        assert result.outcome == "failed" and "not a Telegram channel preview" in (result.error or "")
    with app.store.session() as s:
        community = s.scalars(select(m.Community)).one()
        snap = s.scalars(select(m.Snapshot)).one()
        assert (community.status, snap.status, snap.observations) == ("unreachable", "unreachable", 3)
        assert snap.attrs["observation"] == "bad_page" and snap.attrs[r.STATUS_DEFINITIVE] is False
        assert "not a Telegram channel preview" in snap.attrs[r.STATUS_EVIDENCE]
        views = load_snapshots(s)[community.id]
    event = shutdown_event(community.id, views, DetectSettings().shutdown_confirmations)
    assert event is not None and event.evidence["failed_observations"] == 3
