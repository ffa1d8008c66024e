"""Crawl status of one page of watched communities (the watchlist page), with the same meaning as
``resurface status``: last finished run, its outcome and error, next scheduled run, error streak."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from store import models as m
from store.status import STREAK_BREAKERS, scheduled_crawls


def page_statuses(session: Session, ids: Collection[int]) -> dict[int, dict[str, Any]]:
    """Status per community id, for ``ids`` only (so the page costs the same with 10,000 sources)."""
    if not ids:
        return {}
    runs = m.CrawlRun
    next_runs = scheduled_crawls(session)
    latest_ids = (select(func.max(runs.id)).where(runs.outcome != "running", runs.community_id.in_(ids))
                  .group_by(runs.community_id).scalar_subquery())
    latest = {r.community_id: r for r in session.scalars(select(runs).where(runs.id.in_(latest_ids)))}
    last_good = dict(session.execute(
        select(runs.community_id, func.max(runs.started_at))
        .where(runs.outcome.in_(STREAK_BREAKERS), runs.community_id.in_(ids)).group_by(runs.community_id)).all())
    streaks: dict[int, int] = {}
    for cid, started in session.execute(select(runs.community_id, runs.started_at)
                                        .where(runs.outcome == "failed", runs.community_id.in_(ids))).all():
        good = last_good.get(cid)
        if good is None or started > good:
            streaks[cid] = streaks.get(cid, 0) + 1
    out: dict[int, dict[str, Any]] = {}
    for cid in ids:
        run = latest.get(cid)
        out[cid] = {"last_crawl_at": (run.finished_at or run.started_at) if run else None,
                    "last_outcome": run.outcome if run else None, "last_error": run.error if run else None,
                    "next_run_at": next_runs.get(cid), "error_streak": streaks.get(cid, 0)}
    return out
