"""What ``resurface status`` shows: per watched source its last crawl, outcome, next run and error
streak; the backlogs (search outbox, pending deliveries); open alerts by level; the service lock.

Read-only queries over the store. The next run of each crawl comes from the scheduler's own job
table (``apscheduler_jobs``, written by APScheduler's SQLAlchemyJobStore in the same database), read
by job id and ``next_run_time`` only, never unpickled.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Float, Unicode, column, func, inspect, select, table
from sqlalchemy.orm import Session

from model.vocab import WATCHED_STATES
from store import models as m
from store.lock import read_lock

JOBS_TABLE = "apscheduler_jobs"
#: Outcomes that end an error streak; "running" and "interrupted" (a shutdown) neither end nor extend one.
STREAK_BREAKERS = ("ok", "unavailable", "rescheduled", "skipped")
OPEN_ALERT_STATES = ("new", "delivered", "acknowledged")
_CRAWL_JOB = re.compile(r"^crawl(?:-retry)?:(\d+)$")


def crawl_job_id(community_id: int) -> str:
    return f"crawl:{community_id}"


def crawl_retry_job_id(community_id: int) -> str:
    return f"crawl-retry:{community_id}"


@dataclass(frozen=True)
class SourceStatus:
    community_id: int
    platform: str
    handle: str | None
    title: str | None
    url: str | None
    status: str
    last_crawl_at: datetime | None
    last_outcome: str | None
    last_error: str | None
    next_run_at: datetime | None
    error_streak: int

    def as_json(self) -> dict[str, Any]:
        row = asdict(self)
        for key in ("last_crawl_at", "next_run_at"):
            row[key] = row[key].isoformat() if row[key] else None
        return row


@dataclass(frozen=True)
class Backlog:
    index_outbox: int
    deliveries_pending: int
    deliveries_failed: int


def scheduled_crawls(session: Session) -> dict[int, datetime]:
    """Next scheduled crawl per community id (the earlier of its interval job and a retry)."""
    if not inspect(session.connection()).has_table(JOBS_TABLE):
        return {}
    jobs = table(JOBS_TABLE, column("id", Unicode()), column("next_run_time", Float()))
    found: dict[int, datetime] = {}
    for job_id, ts in session.execute(select(jobs.c.id, jobs.c.next_run_time).where(jobs.c.id.like("crawl%"))):
        match = _CRAWL_JOB.match(job_id)
        if match is None or ts is None:
            continue  # a paused job has no next run
        cid, at = int(match.group(1)), datetime.fromtimestamp(float(ts), UTC)
        found[cid] = min(at, found.get(cid, at))
    return found


def error_streaks(session: Session) -> dict[int, int]:
    """Failed runs since each community's last run that did not fail (all of them if none did)."""
    runs = m.CrawlRun
    last_good = dict(session.execute(
        select(runs.community_id, func.max(runs.started_at)).where(runs.outcome.in_(STREAK_BREAKERS))
        .group_by(runs.community_id)).all())
    streaks: dict[int, int] = {}
    failed = session.execute(select(runs.community_id, runs.started_at).where(runs.outcome == "failed"))
    for cid, started in failed.all():
        good = last_good.get(cid)
        if good is None or started > good:
            streaks[cid] = streaks.get(cid, 0) + 1
    return streaks


def source_statuses(session: Session, next_runs: dict[int, datetime] | None = None) -> list[SourceStatus]:
    next_runs = scheduled_crawls(session) if next_runs is None else next_runs
    streaks = error_streaks(session)
    runs = m.CrawlRun
    latest_ids = (select(func.max(runs.id)).where(runs.outcome != "running").group_by(runs.community_id)
                  .scalar_subquery())
    latest = {run.community_id: run for run in session.scalars(select(runs).where(runs.id.in_(latest_ids)))}
    rows = []
    for c in session.scalars(select(m.Community).where(m.Community.watch_state.in_(WATCHED_STATES))
                             .order_by(m.Community.id)):
        run = latest.get(c.id)
        rows.append(SourceStatus(
            community_id=c.id, platform=c.platform, handle=c.handle, title=c.title, url=c.url, status=c.status,
            last_crawl_at=(run.finished_at or run.started_at) if run else None,
            last_outcome=run.outcome if run else None, last_error=run.error if run else None,
            next_run_at=next_runs.get(c.id), error_streak=streaks.get(c.id, 0),
        ))
    return rows


def backlog(session: Session) -> Backlog:
    def count(query: Any) -> int:
        return int(session.scalar(query) or 0)

    deliveries = select(func.count()).select_from(m.Delivery)
    return Backlog(
        index_outbox=count(select(func.count()).select_from(m.IndexOutbox)),
        deliveries_pending=count(deliveries.where(m.Delivery.state.in_(("pending", "sending")))),
        deliveries_failed=count(deliveries.where(m.Delivery.state == "failed")),
    )


def open_alerts_by_level(session: Session) -> dict[str, int]:
    rows = session.execute(select(m.Alert.level, func.count()).where(m.Alert.state.in_(OPEN_ALERT_STATES))
                           .group_by(m.Alert.level))
    return {level: int(n) for level, n in sorted(rows.all())}


def service_state(session: Session, now: datetime, stale_after: timedelta) -> dict[str, Any]:
    lock = read_lock(session)
    if lock is None:
        return {"running": False, "owner": None, "heartbeat_at": None}
    return {"running": lock.age(now) < stale_after, "owner": lock.owner, "heartbeat_at": lock.heartbeat_at.isoformat(),
            "started_at": lock.started_at}


def status_report(session: Session, *, now: datetime | None = None,
                  stale_after: timedelta = timedelta(minutes=3)) -> dict[str, Any]:
    """The whole ``resurface status --format json`` document."""
    now = now or m.utcnow()
    return {
        "service": service_state(session, now, stale_after),
        "sources": [s.as_json() for s in source_statuses(session)],
        "backlog": asdict(backlog(session)),
        "open_alerts": open_alerts_by_level(session),
    }
