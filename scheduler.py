"""The long-running service behind ``resurface run``: APScheduler 3 jobs over the Resurface store.

Jobs (all referenced as ``"scheduler:<function>"`` so that the persistent job store can reload them):

- ``crawl:<community id>``: one per watched community, every ``crawl_interval_minutes`` of the
  community or else its platform's ``interval_minutes`` (telegram, reddit, forums for the rest), with
  ``scheduler.jitter_seconds`` of jitter so that sources do not all fire together.
- ``sync-watchlist``: every minute, adds/removes/re-times crawl jobs to match the watchlist, so
  ``resurface watch add`` needs no restart.
- ``detect`` (and a one-off ``detect:after-crawl`` a minute after crawls that observed something),
  ``deliver``, ``index``, ``purge`` on the intervals in ``[scheduler]``. Hash lists have no job of their own:
  every detection run matches new fingerprints against them. A job of a retired name
  (:data:`service.jobs.RETIRED`) left in the persistent job store by an earlier version is removed at start.
- ``heartbeat``: refreshes the store lock (:mod:`store.lock`) that keeps a second scheduler out.

Why these job defaults:

- ``coalesce=True``: after a stopped machine or a crawl that overran several intervals, the missed
  runs of a job collapse into one, never a burst.
- ``max_instances=1``: a job never overlaps itself (two crawls of one source would fight over its
  checkpoint); a run that comes due while the previous one is still going is skipped.
- ``misfire_grace_time=None``: that single coalesced run happens however late it is, so data is
  never skipped because the machine was off; together with coalescing it cannot pile up.

Crawls run on their own one-thread executor: one crawl at a time per process keeps the per-host rate
limits honest and SQLite's single writer uncontended; the other jobs share a small pool, so a long
crawl never delays the heartbeat or alert delivery.

Stopping: SIGTERM/SIGINT set a stop flag. The crawl runner checks it after each committed batch (a
page and its checkpoint) and before each source, so the service exits within one page, with every
finished page and its checkpoint saved; the next start resumes from there. Other jobs finish the
run in progress. Then the lock is released.

With ``service.executor = "celery"`` this process stays the one scheduler but runs nothing itself: a due crawl
or job is enqueued (:mod:`service.executor`) and ``resurface worker`` processes run it (:mod:`service.tasks`),
one crawl per community and one run per job at a time by PostgreSQL advisory locks.

The job table (``apscheduler_jobs``) is created by APScheduler itself in the Resurface database on
first start; it is not part of our Alembic migrations (APScheduler owns its layout).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import FrameType
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from config.settings import Settings
from crawlers.registry import crawlable_platforms, default_interval
from service import crawl as crawl_runner
from service import jobs
from service.app import App
from service.crawl import SourcePool
from store import lock
from store import models as m
from store.status import JOBS_TABLE, WATCHED_STATES, crawl_job_id, crawl_retry_job_id

if TYPE_CHECKING:
    from apscheduler.job import Job
    from apscheduler.schedulers.background import BackgroundScheduler

    from service.executor import CeleryExecutor

log = logging.getLogger("resurface.scheduler")

HEARTBEAT_SECONDS = 30
LOCK_STALE_AFTER = timedelta(minutes=3)
SYNC_SECONDS = 60
DETECT_AFTER_CRAWL = timedelta(seconds=60)
CRAWL_WORKERS = 1
OTHER_WORKERS = 4
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}


# --- periodic tasks --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Task:
    name: str
    body: Callable[[App], str]
    interval: Callable[[Settings], timedelta]


TASKS: dict[str, Task] = {t.name: t for t in (
    Task("detect", jobs.detect, lambda s: timedelta(minutes=s.scheduler.detect_interval_minutes)),
    Task("deliver", jobs.deliver, lambda s: timedelta(minutes=s.scheduler.deliver_interval_minutes)),
    Task("index", jobs.index, lambda s: timedelta(minutes=s.scheduler.index_interval_minutes)),
    Task("purge", jobs.purge, lambda s: timedelta(hours=s.scheduler.purge_interval_hours)),
)}
_TASK_LOCKS = {name: threading.Lock() for name in TASKS}


def crawl_interval(settings: Settings, platform: str, override_minutes: int | None) -> timedelta:
    """The community's own interval, else its platform plugin's default (the forums' for platforms without one)."""
    if override_minutes:
        return timedelta(minutes=override_minutes)
    minutes = default_interval(settings, platform)
    return timedelta(minutes=minutes if minutes is not None else settings.forums.interval_minutes)


# --- the service -----------------------------------------------------------------------------------

_CURRENT: Service | None = None


def current() -> Service | None:
    """The service running in this process (job functions find the App through it)."""
    return _CURRENT


class Service:
    def __init__(self, app: App, *, owner: str | None = None, tasks: list[str] | None = None) -> None:
        self.app = app
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}"
        self.stop_event = threading.Event()
        self.wanted = list(TASKS) if tasks is None else tasks
        self.active: list[str] = []
        self.token: str | None = None
        self.scheduler: BackgroundScheduler | None = None
        self._in_flight = 0
        self._idle = threading.Condition()
        self.sources = SourcePool(app.settings)  # long-lived: pacing state survives between crawl jobs
        # service.executor = "celery": this process only enqueues; `resurface worker` processes run the work.
        self.executor: CeleryExecutor | None = None
        if app.settings.service.executor == "celery":
            from service.executor import CeleryExecutor

            self.executor = CeleryExecutor(app.settings)

    # -- life cycle --

    def should_stop(self) -> bool:
        return self.stop_event.is_set()

    def request_stop(self, reason: str = "requested") -> None:
        if not self.stop_event.is_set():
            log.info("scheduler stopping (%s): finishing the current batch", reason)
        self.stop_event.set()

    def start(self, *, paused: bool = False) -> None:
        """Take the store lock, load the persistent jobs, register ours, start the scheduler thread.

        ``paused=True`` starts with nothing firing (tests drive the jobs themselves).
        """
        global _CURRENT
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

        _ = self.app.key  # fail before taking the lock when the pseudonymisation key is missing
        self.token = lock.acquire(self.app.store, self.owner, stale_after=LOCK_STALE_AFTER)
        try:
            if _CURRENT is not None:
                raise RuntimeError("a scheduler service is already running in this process")
            self.scheduler = _new_scheduler(
                jobstores={"default": SQLAlchemyJobStore(engine=self.app.store.engine, tablename=JOBS_TABLE)},
                executors={"default": ThreadPoolExecutor(OTHER_WORKERS), "crawl": ThreadPoolExecutor(CRAWL_WORKERS)},
                job_defaults=JOB_DEFAULTS, timezone=UTC,
            )
            _CURRENT = self
            self.scheduler.start(paused=True)
            self._register_fixed_jobs()
            sources = self.sync_watchlist()
            self._resume_interrupted()
            log.info("scheduler %s started on %s: jobs active: crawl (%d sources), %s", self.owner,
                     self.app.settings.store_url.split("://", 1)[0], sources, ", ".join(self.active) or "none")
            if not paused:
                self.scheduler.resume()
        except BaseException:
            self._teardown()
            raise

    def stop(self) -> None:
        """Finish the running jobs (crawls stop after their current batch), release the lock."""
        self.request_stop("shutdown")
        if self.scheduler is not None and self.scheduler.running:
            # Wait for running jobs *before* shutdown(): APScheduler holds its job store lock while
            # it waits for the executors, so a job that touches the scheduler then would deadlock.
            self.scheduler.pause()
            with self._idle:
                self._idle.wait_for(lambda: self._in_flight == 0)
        self._teardown()
        self.sources.close()
        if self.executor is not None:
            self.executor.close()
        log.info("scheduler %s stopped cleanly", self.owner)

    def _teardown(self) -> None:
        global _CURRENT
        self.stop_event.set()
        if self.scheduler is not None and self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        if self.token is not None:
            if not lock.release(self.app.store, self.token):
                log.warning("scheduler lock was no longer ours at shutdown")
            self.token = None
        if _CURRENT is self:
            _CURRENT = None

    # -- jobs --

    def _add(self, job_id: str, func: str, trigger: Any, *, executor: str = "default",
             args: list[Any] | None = None) -> None:
        """Register with replace_existing=True, keeping a persisted job's next run time when its
        trigger is unchanged, so that a restart neither reruns nor postpones anything."""
        assert self.scheduler is not None
        existing = self.scheduler.get_job(job_id)
        same = existing is not None and _same_trigger(existing, trigger)
        next_run = existing.next_run_time if same and existing is not None else datetime.now(UTC)
        self.scheduler.add_job(func, trigger, id=job_id, name=job_id, args=args or [], executor=executor,
                               replace_existing=True, next_run_time=next_run)

    def _register_fixed_jobs(self) -> None:
        from apscheduler.triggers.interval import IntervalTrigger

        assert self.scheduler is not None
        self._remove_retired()
        self._add("heartbeat", "scheduler:heartbeat_job", IntervalTrigger(seconds=HEARTBEAT_SECONDS, timezone=UTC))
        self._add("sync-watchlist", "scheduler:sync_watchlist_job", IntervalTrigger(seconds=SYNC_SECONDS, timezone=UTC))
        self.active = []
        for name, task in TASKS.items():
            if name not in self.wanted:
                if self.scheduler.get_job(name):
                    self.scheduler.remove_job(name)
                continue
            self.active.append(name)
            interval = task.interval(self.app.settings)
            self._add(name, f"scheduler:{name}_job", IntervalTrigger(seconds=interval.total_seconds(), timezone=UTC))

    def _remove_retired(self) -> None:
        """Drop jobs an earlier version stored under a name no task answers to any more. They are removed by
        id, without loading them: loading one would look up a job function that no longer exists."""
        from apscheduler.jobstores.base import JobLookupError

        assert self.scheduler is not None
        for name, why in jobs.RETIRED.items():
            try:
                self.scheduler.remove_job(name)
            except JobLookupError:
                continue
            log.info("removed the stored %r job of an earlier version: %s", name, why)

    def sync_watchlist(self) -> int:
        """Make the crawl jobs match the watchlist. Returns the number of crawl jobs."""
        from apscheduler.triggers.interval import IntervalTrigger

        assert self.scheduler is not None
        settings = self.app.settings
        crawlable = crawlable_platforms()  # entered by hand, or a platform nothing crawls: nothing to schedule
        with self.app.store.session() as session:
            rows = session.execute(select(m.Community.id, m.Community.platform, m.Community.crawl_interval_minutes,
                                          m.Community.attrs).where(m.Community.watch_state.in_(WATCHED_STATES))).all()
        wanted = {crawl_job_id(cid): (cid, crawl_interval(settings, platform, minutes))
                  for cid, platform, minutes, attrs in rows
                  if not (attrs or {}).get("manual") and platform in crawlable}
        jitter = settings.scheduler.jitter_seconds or None
        for job_id, (cid, interval) in wanted.items():
            trigger = IntervalTrigger(seconds=interval.total_seconds(), jitter=jitter, timezone=UTC)
            existing = self.scheduler.get_job(job_id)
            if existing is None or not _same_trigger(existing, trigger):
                if existing is None:
                    log.info("scheduling crawls of community #%d every %s", cid, interval)
                self._add(job_id, "scheduler:crawl_job", trigger, executor="crawl", args=[cid])
        for job in self.scheduler.get_jobs():
            base = job.id.replace("crawl-retry:", "crawl:")
            if base.startswith("crawl:") and base not in wanted:
                log.info("community #%s left the watchlist: %s removed", job.id.split(":")[1], job.id)
                job.remove()
        return len(wanted)

    def _resume_interrupted(self) -> None:
        """Crawls cut short by the last shutdown ("interrupted") or by a crash ("running") run again
        now, from their checkpoints, instead of waiting a whole interval."""
        assert self.scheduler is not None
        runs = m.CrawlRun
        with self.app.store.session() as session:
            latest = select(func.max(runs.id)).group_by(runs.community_id).scalar_subquery()
            cut = list(session.scalars(
                select(runs.community_id).join(m.Community, m.Community.id == runs.community_id)
                .where(runs.id.in_(latest), runs.outcome.in_(("interrupted", "running")),
                       m.Community.watch_state.in_(WATCHED_STATES))))
        for cid in cut:
            if self.scheduler.get_job(crawl_job_id(cid)) is None:
                continue  # not crawlable any more (entered by hand since)
            log.info("resuming the interrupted crawl of community #%d from its checkpoint", cid)
            self.scheduler.add_job("scheduler:crawl_job", "date", run_date=datetime.now(UTC),
                                   id=crawl_retry_job_id(cid), args=[cid], executor="crawl", replace_existing=True)

    def crawl(self, community_id: int) -> None:
        if self.should_stop():
            return
        if self.executor is not None:
            with self.app.store.session() as session:
                platform = session.scalar(select(m.Community.platform).where(m.Community.id == community_id))
            if platform is not None:
                self.executor.crawl(community_id, platform)
            return
        started = time.perf_counter()
        results = crawl_runner.crawl_once(self.app, [community_id], should_stop=self.should_stop, pool=self.sources)
        for result in results:
            log.info("crawl of community #%d by %s: %s, %d new posts of %d seen (%.1fs)%s", community_id,
                     result.source, result.outcome, result.stats.posts_new, result.stats.posts_seen,
                     time.perf_counter() - started, f": {result.error}" if result.error else "")
            if result.outcome == "rescheduled":
                self._retry_later(community_id)
            if result.outcome in ("ok", "unavailable", "failed", "interrupted"):
                self.detect_soon()

    def _retry_later(self, community_id: int) -> None:
        assert self.scheduler is not None
        with self.app.store.session() as session:
            at = session.scalar(select(m.CrawlRun.next_run_at).where(m.CrawlRun.community_id == community_id)
                                .order_by(m.CrawlRun.id.desc()).limit(1))
        at = at or datetime.now(UTC) + timedelta(minutes=1)
        self.scheduler.add_job("scheduler:crawl_job", "date", run_date=at, id=crawl_retry_job_id(community_id),
                               args=[community_id], executor="crawl", replace_existing=True)
        log.info("crawl of community #%d rescheduled for %s", community_id, at.isoformat())

    def detect_soon(self) -> None:
        """Detection a minute after crawls that saw something; a burst of crawls shares one run."""
        if self.scheduler is None or "detect" not in self.active or self.should_stop():
            return
        if self.scheduler.get_job("detect:after-crawl") is None:
            self.scheduler.add_job("scheduler:detect_job", "date", run_date=datetime.now(UTC) + DETECT_AFTER_CRAWL,
                                   id="detect:after-crawl", replace_existing=True)

    def run_task(self, name: str) -> None:
        if self.should_stop():
            return
        if self.executor is not None:  # one instance at a time is the workers' advisory lock
            self.executor.job(name)
            return
        started = time.perf_counter()
        with _TASK_LOCKS[name]:  # the interval run and an after-crawl run never overlap
            try:
                summary = TASKS[name].body(self.app)
            except Exception as exc:
                log.exception("%s job failed: %s: %s", name, type(exc).__name__, exc)
                return
        log.info("%s: %s (%.1fs)", name, summary, time.perf_counter() - started)

    def heartbeat(self) -> None:
        if self.token is None:
            return
        try:
            ours = lock.heartbeat(self.app.store, self.token)
        except Exception as exc:  # the store is briefly unreachable: the next beat retries
            log.warning("scheduler heartbeat failed: %s: %s", type(exc).__name__, exc)
            return
        if not ours:
            log.error("scheduler lock was taken over by another process; stopping this one")
            self.token = None
            self.request_stop("lock lost")


def _scheduler_class() -> type[BackgroundScheduler]:
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.base import STATE_STOPPED

    class NoLateSubmitScheduler(BackgroundScheduler):
        """APScheduler 3's loop thread wakes once more after ``shutdown()`` and processes due jobs
        against executors that are already shut down: their submission fails, yet date jobs are
        removed and interval jobs advanced, so a run due at shutdown would be lost. Skip that pass."""

        def _process_jobs(self) -> float | None:
            if self.state == STATE_STOPPED:
                return None
            result: float | None = super()._process_jobs()
            return result

    return NoLateSubmitScheduler


def _new_scheduler(**kwargs: Any) -> BackgroundScheduler:
    return _scheduler_class()(**kwargs)


def _same_trigger(job: Job, trigger: Any) -> bool:
    old = job.trigger
    return (type(old) is type(trigger) and getattr(old, "interval", None) == getattr(trigger, "interval", None)
            and getattr(old, "jitter", None) == getattr(trigger, "jitter", None))


# --- job functions (importable references for the job store) ---------------------------------------


@contextmanager
def _running() -> Iterator[Service | None]:
    """The running service, counted as busy until the job ends; None once it is stopping."""
    service = _CURRENT
    if service is None:
        log.warning("a scheduler job fired with no service running in this process; ignored")
        yield None
        return
    with service._idle:
        service._in_flight += 1
    try:
        # Checked after counting ourselves in: stop() sets the flag, then waits for the count.
        yield None if service.should_stop() else service
    finally:
        with service._idle:
            service._in_flight -= 1
            service._idle.notify_all()


def crawl_job(community_id: int) -> None:
    with _running() as service:
        if service is not None:
            try:
                service.crawl(community_id)
            except Exception as exc:  # e.g. the store went away: log one line, the next run retries
                log.exception("crawl job for community #%d failed: %s: %s", community_id, type(exc).__name__, exc)


def sync_watchlist_job() -> None:
    with _running() as service:
        if service is not None:
            try:
                service.sync_watchlist()
            except Exception as exc:
                log.exception("watchlist sync failed: %s: %s", type(exc).__name__, exc)


def heartbeat_job() -> None:
    with _running() as service:
        if service is not None:
            service.heartbeat()


def _task_job(name: str) -> None:
    with _running() as service:
        if service is not None:
            service.run_task(name)


def detect_job() -> None:
    _task_job("detect")


def deliver_job() -> None:
    _task_job("deliver")


def index_job() -> None:
    _task_job("index")


def purge_job() -> None:
    _task_job("purge")


# --- running it --------------------------------------------------------------------------------------


def run_forever(app: App, *, service: Service | None = None) -> None:
    """Start the service and block until SIGTERM/SIGINT (or a lost lock), then stop cleanly."""
    service = service or Service(app)
    service.start()
    previous: dict[int, Any] = {}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        service.request_stop(signal.Signals(signum).name)

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous[sig] = signal.signal(sig, on_signal)
    try:
        while not service.stop_event.wait(timeout=60):
            pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        service.stop()
