"""Retention: purge post texts older than ``privacy.retention_days`` (DESIGN §7).

Only the text goes: the post row (URL, times, payload hash), its media fingerprints, its MinHash
signature, its extracted links and every alert stay, so evidence and detection keep working. A
post's age is its ``created_at`` on the platform, or ``fetched_at`` when the platform gave no date.

Purged posts are queued for the search indexer in the same transaction, so the derived index loses
the text too (an index that kept it would defeat the purge). Each purge is written to the audit log.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from store import audit
from store import models as m
from store.ingest import _enqueue as enqueue_for_index

log = logging.getLogger("resurface.retention")

CHUNK = 900  # ids per UPDATE: under SQLite's bound-parameter limit


def purge_texts(session: Session, older_than_days: int, *, now: datetime | None = None) -> int:
    """Set ``text`` to NULL and stamp ``text_purged_at`` on posts older than the cut-off.

    Returns how many posts were purged. Idempotent: already purged posts are not touched again.
    """
    if older_than_days < 1:
        raise ValueError(f"older_than_days must be at least 1, not {older_than_days}")
    now = now or m.utcnow()
    cutoff = now - timedelta(days=older_than_days)
    age = func.coalesce(m.Post.created_at, m.Post.fetched_at)
    ids = list(session.scalars(
        select(m.Post.id).where(m.Post.text.is_not(None), age < cutoff).order_by(m.Post.id)
    ))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        session.execute(update(m.Post).where(m.Post.id.in_(chunk)).values(text=None, text_purged_at=now)
                        .execution_options(synchronize_session=False))
        enqueue_for_index(session, "post", chunk)
    if ids:
        audit.record(session, "retention.purge", "posts",
                     {"posts": len(ids), "older_than_days": older_than_days, "cutoff": cutoff.isoformat()})
    log.info("retention: purged the text of %d posts older than %d days", len(ids), older_than_days)
    return len(ids)
