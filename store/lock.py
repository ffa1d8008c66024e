"""The scheduler lock: one ``resurface run`` per store (APScheduler 3 supports one scheduler per job store).

A row in ``kv`` under :data:`LOCK_KEY` names the owner (``host:pid``) and a random token; its
``updated_at`` is the heartbeat. Taking the lock is atomic on SQLite and PostgreSQL alike: an INSERT
(the primary key makes a second one fail), or else an UPDATE guarded by ``updated_at < stale
cut-off`` (a dead owner's lock is taken over; a live one's is not). Heartbeat and release are
compare-and-swap on the ``updated_at`` just read, so a process whose lock was taken over while it
was frozen finds out instead of overwriting the new owner.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.errors import ResurfaceError
from store import models as m
from store.db import Store

log = logging.getLogger("resurface.scheduler")

LOCK_KEY = "scheduler.lock"
_KV: Any = m.KeyValue.__table__


class LockHeld(ResurfaceError):
    """Another scheduler owns this store."""


@dataclass(frozen=True)
class LockInfo:
    owner: str
    token: str
    started_at: str | None
    heartbeat_at: datetime

    def age(self, now: datetime) -> timedelta:
        return now - self.heartbeat_at


def read_lock(session: Session) -> LockInfo | None:
    row = session.execute(select(_KV.c.value, _KV.c.updated_at).where(_KV.c.key == LOCK_KEY)).first()
    if row is None:
        return None
    value = row.value or {}
    return LockInfo(str(value.get("owner", "?")), str(value.get("token", "")), value.get("started_at"),
                    row.updated_at)


def acquire(store: Store, owner: str, *, stale_after: timedelta, now: datetime | None = None) -> str:
    """Take the lock and return its token, or raise :class:`LockHeld` naming the current owner."""
    token = uuid.uuid4().hex
    for _attempt in range(3):
        at = now or m.utcnow()
        value = {"owner": owner, "token": token, "started_at": at.isoformat()}
        try:
            with store.session() as session:
                session.execute(_KV.insert().values(key=LOCK_KEY, value=value, updated_at=at))
            return token
        except IntegrityError:
            pass  # someone holds (or held) it: take it over only if their heartbeat is stale
        with store.session() as session:
            previous = read_lock(session)
            if previous is None:
                continue  # released between our two statements: try the insert again
            stale = update(_KV).where(_KV.c.key == LOCK_KEY, _KV.c.updated_at < at - stale_after)
            taken = session.connection().execute(stale.values(value=value, updated_at=at)).rowcount
        if taken == 1:
            log.warning("took over the scheduler lock from %s, silent for %ds (it must have died)",
                        previous.owner, int(previous.age(at).total_seconds()))
            return token
        raise LockHeld(
            f"another scheduler is running on this store: {previous.owner}, last heartbeat "
            f"{int(previous.age(at).total_seconds())}s ago. Stop it first (one `resurface run` per store); "
            f"if it died, its lock expires {int(stale_after.total_seconds())}s after its last heartbeat."
        )
    raise LockHeld("the scheduler lock kept changing hands while starting; try again")


def _swap(store: Store, token: str, now: datetime | None, *, remove: bool) -> bool:
    with store.session() as session:
        current = read_lock(session)
        if current is None or current.token != token:
            return False
        guard = (_KV.c.key == LOCK_KEY, _KV.c.updated_at == current.heartbeat_at)
        stmt = delete(_KV).where(*guard) if remove else update(_KV).where(*guard).values(updated_at=now or m.utcnow())
        return session.connection().execute(stmt).rowcount == 1


def heartbeat(store: Store, token: str, now: datetime | None = None) -> bool:
    """Refresh the lock. False means it is no longer ours (taken over after we stalled)."""
    return _swap(store, token, now, remove=False)


def release(store: Store, token: str) -> bool:
    """Give the lock up (clean exit). False if it was not ours any more."""
    return _swap(store, token, None, remove=True)
