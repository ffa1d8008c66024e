"""Retention: purge post texts older than ``privacy.retention_days``.

Only the text goes: the post row (URL, times, payload hash), its media fingerprints, its MinHash
signature, its extracted links and every alert stay, so evidence and detection keep working. A
post's age is its ``created_at`` on the platform, or ``fetched_at`` when the platform gave no date.
Ingest applies the same rule (:mod:`store.ingest`): a post already past the window is stored without
its text, and a purged text is never written back by a later crawl.

Purged posts are queued for the search indexer in the same transaction (outbox op ``purge``), so the
derived index loses the text too, and expunges what the old document left in its files (an index
that kept it would defeat the purge). On SQLite the purge overwrites the freed space
(``secure_delete``) and then truncates the write-ahead log, which still holds the pages as they were
before. Each purge is written to the audit log.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, literal, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from store import audit
from store import models as m
from store.db import Store

log = logging.getLogger("resurface.retention")

CHUNK = 900  # ids per UPDATE: under SQLite's bound-parameter limit
#: Outbox op of a purged post: the indexer re-sends it (without text) and then expunges the index files.
PURGE_OP = "purge"


@dataclass(frozen=True, slots=True)
class PurgeReport:
    posts: int
    older_than_days: int
    cutoff: datetime
    dry_run: bool
    wal_truncated: bool | None = None  # SQLite only: whether the write-ahead log could be emptied

    def as_json(self) -> dict[str, object]:
        return {"posts": self.posts, "older_than_days": self.older_than_days, "cutoff": self.cutoff.isoformat(),
                "dry_run": self.dry_run, "wal_truncated": self.wal_truncated}


def _cutoff(older_than_days: int, now: datetime | None) -> datetime:
    if older_than_days < 1:
        raise ValueError(f"older_than_days must be at least 1, not {older_than_days}")
    return (now or m.utcnow()) - timedelta(days=older_than_days)


def _purgeable(cutoff: datetime) -> Select[int]:
    age = func.coalesce(m.Post.created_at, m.Post.fetched_at)
    return select(m.Post.id).where(m.Post.text.is_not(None), age < cutoff)


def count_purgeable(session: Session, older_than_days: int, *, now: datetime | None = None) -> int:
    """How many post texts a purge would remove now (for ``--dry-run``)."""
    cutoff = _cutoff(older_than_days, now)
    return session.scalar(select(func.count()).select_from(_purgeable(cutoff).subquery())) or 0


def _enqueue_purged(session: Session, ids: list[int], now: datetime) -> None:
    """Queue the purged posts for the indexer as ``purge`` (kept as such if already queued)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    rows = select(literal("post"), m.Post.id, literal(PURGE_OP), literal(now, m.UTCDateTime()), literal(0)) \
        .where(m.Post.id.in_(ids))
    stmt = insert(m.IndexOutbox).from_select(["doc_type", "doc_id", "op", "enqueued_at", "attempts"], rows)
    session.execute(stmt.on_conflict_do_update(index_elements=["doc_type", "doc_id"],
                                               set_={"op": PURGE_OP, "enqueued_at": stmt.excluded.enqueued_at}))


def purge_texts(session: Session, older_than_days: int, *, now: datetime | None = None) -> int:
    """Set ``text`` to NULL and stamp ``text_purged_at`` on posts older than the cut-off.

    Returns how many posts were purged. Idempotent: already purged posts are not touched again.
    """
    now = now or m.utcnow()
    cutoff = _cutoff(older_than_days, now)
    if session.get_bind().dialect.name == "sqlite":
        # Overwrite the old text's bytes instead of leaving them in free space (per connection).
        session.execute(text("PRAGMA secure_delete=ON"))
    ids = list(session.scalars(_purgeable(cutoff).order_by(m.Post.id)))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        session.execute(update(m.Post).where(m.Post.id.in_(chunk)).values(text=None, text_purged_at=now)
                        .execution_options(synchronize_session=False))
        _enqueue_purged(session, chunk, now)
    if ids:
        audit.record(session, "retention.purge", "posts",
                     {"posts": len(ids), "older_than_days": older_than_days, "cutoff": cutoff.isoformat()})
    log.info("retention: purged the text of %d posts older than %d days", len(ids), older_than_days)
    return len(ids)


def truncate_wal(store: Store) -> bool | None:
    """SQLite: copy the write-ahead log into the database and empty it (the log still holds pages as
    they were before the purge). Returns whether it was emptied; None on other databases."""
    if store.dialect != "sqlite":
        return None
    with store.engine.connect() as conn:
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
    if busy:
        log.warning("retention: a reader kept the write-ahead log from being truncated; the next purge retries")
    return not busy


def run_purge(store: Store, older_than_days: int, *, dry_run: bool = False, now: datetime | None = None
              ) -> PurgeReport:
    """The purge on demand (``resurface purge``) and on schedule: purge, then empty the WAL."""
    now = now or m.utcnow()
    cutoff = _cutoff(older_than_days, now)
    with store.session() as session:
        if dry_run:
            return PurgeReport(count_purgeable(session, older_than_days, now=now), older_than_days, cutoff, True)
        purged = purge_texts(session, older_than_days, now=now)
    return PurgeReport(purged, older_than_days, cutoff, False, truncate_wal(store))
