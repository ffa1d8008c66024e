"""The scheduler service (`resurface run`): jobs, cycles, the store lock, graceful stop and resume.

No sleeps: in-process tests drive the real APScheduler by setting job run times to "now" and waiting
on job-executed events with timeouts, or call the job functions directly; the subprocess test waits
on the local server's request log and on the service's log lines.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import ClassVar

import pytest
from sqlalchemy import func, select, text

import scheduler
from cli import main
from config.settings import Settings
from crawlers import errors
from crawlers.base import Source, Target, register
from model import records as r
from scheduler import Service, Task, crawl_job, sync_watchlist_job
from service.app import App
from store import lock
from store import models as m
from store.db import Store, open_store
from store.status import crawl_job_id, crawl_retry_job_id, status_report
from store.watchlist import add_watch, parse_target, remove_watch
from tests.conftest import TEST_KEY
from tests.factories import post, ref, snapshot
from tests.support.httpserver import HttpServer, RecordedRequest, Reply

ROOT = Path(__file__).resolve().parent.parent
WAIT = 30.0


class PagedSource(Source):
    """One page of three new posts per crawl (``pages`` per crawl); some handles fail."""

    name: ClassVar[str] = "paged_test"
    platform: ClassVar[str] = "telegram"
    pages: ClassVar[int] = 1
    on_page: ClassVar[Callable[[int], None] | None] = None

    def __init__(self, settings: object) -> None:
        pass

    def crawl(self, target: Target) -> Iterator[r.Record]:
        if target.handle == "boom_chan":
            raise RuntimeError("parser bug")
        if target.handle == "flaky_chan":
            raise errors.TransientError(f"{target.url}: connection reset")
        yield snapshot()
        last = int(target.cursor.get("last", 0))
        for page in range(self.pages):
            if PagedSource.on_page is not None:
                PagedSource.on_page(page)
            yield from (post(n) for n in range(last + 1, last + 4))
            last += 3
            yield r.Checkpoint(ref(), self.name, {"last": last})


@pytest.fixture(autouse=True)
def paged(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    import crawlers.base as base

    monkeypatch.setattr(base, "_REGISTRY", {})
    monkeypatch.setattr(base, "load_builtin_sources", lambda: None)
    register(PagedSource)
    PagedSource.pages = 1
    PagedSource.on_page = None
    yield
    assert scheduler.current() is None, "a test left a service running"


@pytest.fixture
def store_app(settings: Settings, any_store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    """An App on SQLite or PostgreSQL (the store handed in, not opened from settings)."""
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    application = App(settings)
    application.__dict__["store"] = any_store
    yield application


def watch(app: App, *handles: str) -> dict[str, int]:
    ids = {}
    with app.store.session() as s:
        for h in handles:
            ids[h] = add_watch(s, parse_target(f"@{h}"))[0].id
    return ids


def post_numbers(app: App) -> list[int]:
    with app.store.session() as s:
        return sorted(int(x) for x in s.scalars(select(m.Post.native_post_id)))


def outcomes(app: App, community_id: int) -> list[str]:
    with app.store.session() as s:
        return list(s.scalars(select(m.CrawlRun.outcome).where(m.CrawlRun.community_id == community_id)
                              .order_by(m.CrawlRun.id)))


def wait_for_jobs(events: queue.Queue[tuple[str, BaseException | None]], wanted: set[str]) -> None:
    seen: set[str] = set()
    while not wanted <= seen:
        job_id, exc = events.get(timeout=WAIT)
        assert exc is None, f"job {job_id} raised {exc!r}"
        seen.add(job_id)


def test_three_cycles_in_one_process_and_a_crashing_source_does_not_stop_the_others(store_app: App) -> None:
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED

    ids = watch(store_app, "good_chan", "boom_chan", "flaky_chan")
    jobs = {crawl_job_id(i) for i in ids.values()}
    events: queue.Queue[tuple[str, BaseException | None]] = queue.Queue()
    service = Service(store_app, tasks=[])
    service.start(paused=True)
    try:
        assert service.scheduler is not None
        service.scheduler.add_listener(lambda e: events.put((e.job_id, e.exception)),
                                       EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        for cycle in range(3):
            if cycle == 0:
                service.scheduler.resume()  # new crawl jobs are due at once
            else:
                for job_id in jobs:
                    service.scheduler.modify_job(job_id, next_run_time=datetime.now(UTC))
                service.scheduler.wakeup()
            wait_for_jobs(events, jobs)
    finally:
        service.stop()
    assert post_numbers(store_app) == list(range(1, 10))
    assert outcomes(store_app, ids["good_chan"]) == ["ok"] * 3
    assert outcomes(store_app, ids["boom_chan"]) == ["failed"] * 3
    with store_app.store.session() as s:
        report = status_report(s)
    by_id = {row["community_id"]: row for row in report["sources"]}
    assert [by_id[ids[h]]["error_streak"] for h in ("good_chan", "boom_chan", "flaky_chan")] == [0, 3, 3]
    assert "RuntimeError: parser bug" in by_id[ids["boom_chan"]]["last_error"]
    # Jobs persist in the store: the next run of every source is known after the service stopped.
    now = datetime.now(UTC)
    assert all(datetime.fromisoformat(row["next_run_at"]) > now for row in report["sources"])
    assert report["service"]["running"] is False


def test_a_crawl_job_that_raises_is_logged_and_the_next_source_still_runs(
        app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import service.crawl as runner

    ids = watch(app, "good_chan", "other_chan")
    real = runner.crawl_once

    def crawl_once(app_: App, only: list[int], **kw: object) -> list[runner.RunResult]:
        if only == [ids["good_chan"]]:
            raise OSError("disk full")
        return real(app_, only, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(runner, "crawl_once", crawl_once)
    service = Service(app, tasks=[])
    service.start(paused=True)
    try:
        with caplog.at_level(logging.INFO, "resurface"):
            crawl_job(ids["good_chan"])
            crawl_job(ids["other_chan"])
    finally:
        service.stop()
    assert f"crawl job for community #{ids['good_chan']} failed: OSError: disk full" in caplog.text
    assert outcomes(app, ids["other_chan"]) == ["ok"]


def test_stop_mid_crawl_saves_the_page_and_the_next_start_resumes_from_the_checkpoint(app: App) -> None:
    ids = watch(app, "good_chan")
    PagedSource.pages = 3
    first = Service(app, tasks=[])
    first.start(paused=True)
    PagedSource.on_page = lambda page: first.request_stop("test") if page == 1 else None
    try:
        crawl_job(ids["good_chan"])  # stop requested while page 2 is being fetched
    finally:
        first.stop()
    assert post_numbers(app) == list(range(1, 7))  # pages 1 and 2, page 3 never fetched
    assert outcomes(app, ids["good_chan"]) == ["interrupted"]

    PagedSource.on_page = None
    second = Service(app, tasks=[])
    second.start(paused=True)
    try:
        assert second.scheduler is not None
        retry = second.scheduler.get_job(crawl_retry_job_id(ids["good_chan"]))
        assert retry is not None, "an interrupted crawl is resumed at start-up"
        retry.func(*retry.args)
    finally:
        second.stop()
    assert post_numbers(app) == list(range(1, 16))  # resumed after 6: 7..15, nothing twice, nothing missing


def test_watchlist_changes_are_picked_up_without_a_restart(app: App) -> None:
    app.settings.scheduler.jitter_seconds = 0
    ids = watch(app, "good_chan")
    service = Service(app, tasks=[])
    service.start(paused=True)
    try:
        sched = service.scheduler
        assert sched is not None
        assert sched.get_job(crawl_job_id(ids["good_chan"])).trigger.interval == timedelta(minutes=60)
        with app.store.session() as s:
            reddit = add_watch(s, parse_target("https://www.reddit.com/r/somesub"))[0].id
            forum = add_watch(s, parse_target("https://forum.example.org", platform="discourse"))[0].id
            manual = add_watch(s, parse_target("https://facebook.com/groups/x", platform="facebook"))[0].id
            s.get(m.Community, ids["good_chan"]).crawl_interval_minutes = 15  # type: ignore[union-attr]
        sync_watchlist_job()
        intervals = {cid: sched.get_job(crawl_job_id(cid)).trigger.interval for cid in (ids["good_chan"], reddit,
                                                                                       forum)}
        assert intervals == {ids["good_chan"]: timedelta(minutes=15), reddit: timedelta(minutes=120),
                             forum: timedelta(minutes=240)}
        assert sched.get_job(crawl_job_id(manual)) is None  # entered by hand: nothing to crawl
        with app.store.session() as s:
            remove_watch(s, "@good_chan")
        sync_watchlist_job()
        assert sched.get_job(crawl_job_id(ids["good_chan"])) is None
    finally:
        service.stop()


def test_a_second_scheduler_on_the_same_store_is_refused(store_app: App) -> None:
    first = Service(store_app, owner="box-a:111", tasks=[])
    first.start(paused=True)
    try:
        with pytest.raises(lock.LockHeld, match=r"another scheduler is running on this store: box-a:111"):
            Service(store_app, owner="box-b:222", tasks=[]).start(paused=True)
    finally:
        first.stop()
    second = Service(store_app, owner="box-b:222", tasks=[])
    second.start(paused=True)  # the clean exit released the lock
    second.stop()


def test_lock_takeover_only_when_the_owner_is_silent(any_store: Store) -> None:
    t0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    stale = timedelta(minutes=3)
    token_a = lock.acquire(any_store, "box-a:1", stale_after=stale, now=t0)
    assert lock.heartbeat(any_store, token_a, now=t0 + timedelta(minutes=2))
    with pytest.raises(lock.LockHeld, match="box-a:1"):
        lock.acquire(any_store, "box-b:2", stale_after=stale, now=t0 + timedelta(minutes=4))
    token_b = lock.acquire(any_store, "box-b:2", stale_after=stale, now=t0 + timedelta(minutes=6))
    # The frozen first owner wakes up: its heartbeat and release fail and do not touch b's lock.
    assert not lock.heartbeat(any_store, token_a)
    assert not lock.release(any_store, token_a)
    with any_store.session() as s:
        held = lock.read_lock(s)
    assert held is not None and held.owner == "box-b:2"
    assert lock.release(any_store, token_b)
    with any_store.session() as s:
        assert lock.read_lock(s) is None


def test_a_service_that_lost_its_lock_stops(app: App) -> None:
    service = Service(app, tasks=[])
    service.start(paused=True)
    try:
        with app.store.session() as s:
            row = s.get(m.KeyValue, lock.LOCK_KEY)
            assert row is not None
            row.value = {**row.value, "owner": "usurper:9", "token": "not-yours"}
        scheduler.heartbeat_job()
        assert service.should_stop()
    finally:
        service.stop()
    with app.store.session() as s:
        assert s.get(m.KeyValue, lock.LOCK_KEY) is not None  # the usurper's lock is left alone


def test_task_jobs_run_and_failures_are_logged(
        app: App, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    def broken(_app: App) -> str:
        raise ValueError("index corrupt")

    monkeypatch.setitem(scheduler.TASKS, "index", Task("index", broken, lambda s: timedelta(minutes=5)))
    service = Service(app, tasks=["purge", "index"])
    with caplog.at_level(logging.INFO, "resurface"):
        service.start(paused=True)
        try:
            assert service.active == ["index", "purge"]
            assert service.scheduler is not None
            assert service.scheduler.get_job("deliver") is None  # not asked for
            scheduler.purge_job()
            scheduler.index_job()
        finally:
            service.stop()
    assert "jobs active: crawl (0 sources), index, purge" in caplog.text
    assert "purge: 0 post texts purged" in caplog.text
    assert "index job failed: ValueError: index corrupt" in caplog.text


def test_resurface_run_refuses_to_start_beside_a_running_scheduler(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'resurface.db'}")
    try:
        lock.acquire(store, "elsewhere:42", stale_after=timedelta(minutes=3))
        with pytest.raises(SystemExit) as info:
            main(["--config", str(config), "run"])
    finally:
        store.close()
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert "another scheduler is running on this store: elsewhere:42" in err


def _store_old_hashlists_job(store: Store) -> None:
    """The row an earlier version left in the job store: a ``hashlists`` job whose function
    (``scheduler:hashlists_job``) no longer exists. Written as APScheduler 3 writes a job's state."""
    import pickle

    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.triggers.interval import IntervalTrigger

    from store.status import JOBS_TABLE

    due = datetime.now(UTC) - timedelta(minutes=1)
    state = {"version": 1, "id": "hashlists", "func": "scheduler:hashlists_job",
             "trigger": IntervalTrigger(minutes=15, timezone=UTC), "executor": "default", "args": (), "kwargs": {},
             "name": "hashlists_job", "misfire_grace_time": None, "coalesce": True, "max_instances": 1,
             "next_run_time": due}
    table = SQLAlchemyJobStore(engine=store.engine, tablename=JOBS_TABLE).jobs_t
    table.create(store.engine, checkfirst=True)
    with store.engine.begin() as connection:
        connection.execute(table.insert().values(id="hashlists", next_run_time=due.timestamp(),
                                                 job_state=pickle.dumps(state, pickle.HIGHEST_PROTOCOL)))


def test_a_stored_hashlists_job_of_an_earlier_version_is_removed_at_start(
        store_app: App, caplog: pytest.LogCaptureFixture) -> None:
    from store.status import JOBS_TABLE

    _store_old_hashlists_job(store_app.store)
    service = Service(store_app, tasks=["detect"])
    with caplog.at_level(logging.INFO):
        service.start(paused=True)
        try:
            assert service.scheduler is not None
            assert sorted(job.id for job in service.scheduler.get_jobs()) == ["detect", "heartbeat", "sync-watchlist"]
        finally:
            service.stop()
    with store_app.store.engine.connect() as connection:
        stored = sorted(connection.scalars(select(text("id")).select_from(text(JOBS_TABLE))))
    assert stored == ["detect", "heartbeat", "sync-watchlist"]
    assert "removed the stored 'hashlists' job of an earlier version: every detection run matches" in caplog.text
    assert not [rec for rec in caplog.records if rec.levelno >= logging.WARNING], caplog.text
    assert "hashlists" not in scheduler.TASKS


# --- end to end: SIGTERM mid-crawl, restart, resume --------------------------------------------------


class ServiceProcess:
    """`resurface run` in a subprocess, its log lines collected by a reader thread."""

    def __init__(self, config: Path, env: dict[str, str]) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([sys.executable, "-m", "cli", "--config", str(config), "run"], env=env,
                                     cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()

    def wait_for_line(self, text: str) -> None:
        with self.cond:
            ok = self.cond.wait_for(lambda: any(text in line for line in self.lines) or self.proc.poll() is not None,
                                    timeout=WAIT * 2)
        assert ok and any(text in line for line in self.lines), f"no log line {text!r}: {self.lines}"

    def wait_exit(self) -> int:
        try:
            code = self.proc.wait(timeout=WAIT * 2)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGABRT)  # PYTHONFAULTHANDLER=1: dumps every thread's stack
            self.proc.wait(timeout=WAIT)
            self.reader.join(timeout=WAIT)
            raise AssertionError("`resurface run` did not exit after SIGTERM:\n" + "\n".join(self.lines)) from None
        self.reader.join(timeout=WAIT)
        return code

    def terminate_and_wait(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.wait_exit()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        self.reader.join(timeout=WAIT)
        assert self.proc.stderr is not None
        self.proc.stderr.close()


def test_sigterm_mid_crawl_then_restart_resumes_without_duplicates_or_gaps(
        tmp_path: Path, http_server: HttpServer) -> None:
    release_page_2 = threading.Event()

    def page_2(_req: RecordedRequest) -> Reply:
        release_page_2.wait(timeout=WAIT * 2)
        return Reply.json({"posts": [4, 5, 6], "last": False})

    http_server.route("/feed?page=1", Reply.json({"posts": [1, 2, 3], "last": False}))
    http_server.route("/feed?page=2", page_2)
    http_server.route("/feed?page=3", Reply.json({"posts": [7, 8, 9], "last": False}))
    http_server.route("/feed?page=4", Reply.json({"posts": [10, 11, 12], "last": True}))
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n[crawl]\nallow_private_addresses = true\n'
                      '[scheduler]\njitter_seconds = 0\n', encoding="utf-8")
    db_url = f"sqlite:///{tmp_path / 'data' / 'resurface.db'}"
    store = open_store(db_url)
    with store.session() as s:
        feed = m.Community(platform="testfeed", url=http_server.url("/feed"), handle="feed", watch_state="seed",
                           kind="forum", status="active", labels=[], attrs={})
        s.add(feed)
        s.flush()
        feed_id = feed.id
    env = {**os.environ, "RESURFACE_PSEUDONYM_KEY": TEST_KEY.decode(),
           "RESURFACE_EXTRA_SOURCES": "tests.support.slow_source", "PYTHONFAULTHANDLER": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("RESURFACE_CONFIG", None)

    first = ServiceProcess(config, env)
    try:
        assert http_server.wait_until(lambda srv: bool(srv.requests_for("/feed?page=2")), timeout=WAIT * 2), \
            first.lines
        code = None
        first.proc.send_signal(signal.SIGTERM)
        first.wait_for_line("scheduler stopping (SIGTERM)")
        release_page_2.set()  # the page in flight arrives after the signal: it is still saved
        code = first.wait_exit()
    finally:
        release_page_2.set()
        first.kill()
    assert code == 0, first.lines
    assert any("stopped cleanly" in line for line in first.lines)
    with store.session() as s:
        assert sorted(int(x) for x in s.scalars(select(m.Post.native_post_id))) == [1, 2, 3, 4, 5, 6], first.lines
        assert s.get(m.Checkpoint, (feed_id, "slow_feed_test")).cursor == {"next_page": 3}  # type: ignore[union-attr]
        assert s.get(m.KeyValue, lock.LOCK_KEY) is None  # released on the clean exit
    assert not http_server.requests_for("/feed?page=3")

    second = ServiceProcess(config, env)
    try:
        second.wait_for_line(f"crawl of community #{feed_id} by slow_feed_test: ok")
        code = second.terminate_and_wait()
    finally:
        second.kill()
    assert code == 0, second.lines
    with store.session() as s:
        numbers = [int(x) for x in s.scalars(select(m.Post.native_post_id))]
        runs = list(s.scalars(select(m.CrawlRun.outcome).where(m.CrawlRun.community_id == feed_id)
                              .order_by(m.CrawlRun.id)))
        assert s.scalar(select(func.count()).select_from(m.Post)) == 12
    store.close()
    assert sorted(numbers) == list(range(1, 13))
    assert runs == ["interrupted", "ok"]
    # Each page was fetched once: the restart resumed at page 3 instead of starting over.
    assert [len(http_server.requests_for(f"/feed?page={n}")) for n in (1, 2, 3, 4)] == [1, 1, 1, 1]
