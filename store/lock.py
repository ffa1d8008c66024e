"""Named locks in the store. The scheduler lock: one ``resurface run`` per store (APScheduler 3 supports
one scheduler per job store). The crawl lock: one ``resurface crawl --once`` at a time, never beside a
running service (two crawls at once fetched every page twice).

A row in ``kv`` under the lock's key (:data:`LOCK_KEY`, :data:`CRAWL_LOCK_KEY`) names the owner
(``host:pid``) and a random token; its ``updated_at`` is the heartbeat. Taking the lock is atomic on
SQLite and PostgreSQL alike: an INSERT (the primary key makes a second one fail), or else an UPDATE
guarded by ``updated_at < stale cut-off`` (a dead owner's lock is taken over; a live one's is not).
Heartbeat and release are compare-and-swap on the ``updated_at`` just read, so a process whose lock
was taken over while it was frozen finds out instead of overwriting the new owner.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from model.errors import ResurfaceError
from store import models as m
from store.db import Store

log = logging.getLogger("resurface.scheduler")

LOCK_KEY = "scheduler.lock"
CRAWL_LOCK_KEY = "crawl.lock"
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


def read_lock(session: Session, key: str = LOCK_KEY) -> LockInfo | None:
    row = session.execute(select(_KV.c.value, _KV.c.updated_at).where(_KV.c.key == key)).first()
    if row is None:
        return None
    value = row.value or {}
    return LockInfo(str(value.get("owner", "?")), str(value.get("token", "")), value.get("started_at"),
                    row.updated_at)


def acquire(store: Store, owner: str, *, stale_after: timedelta, now: datetime | None = None,
            key: str = LOCK_KEY, what: str = "another scheduler is running on this store",
            advice: str = "Stop it first (one `resurface run` per store)") -> str:
    """Take the lock and return its token, or raise :class:`LockHeld` naming the current owner."""
    token = uuid.uuid4().hex
    for _attempt in range(3):
        at = now or m.utcnow()
        value = {"owner": owner, "token": token, "started_at": at.isoformat()}
        try:
            with store.session() as session:
                session.execute(_KV.insert().values(key=key, value=value, updated_at=at))
            return token
        except IntegrityError:
            pass  # someone holds (or held) it: take it over only if their heartbeat is stale
        with store.session() as session:
            previous = read_lock(session, key)
            if previous is None:
                continue  # released between our two statements: try the insert again
            stale = update(_KV).where(_KV.c.key == key, _KV.c.updated_at < at - stale_after)
            taken = session.connection().execute(stale.values(value=value, updated_at=at)).rowcount
        if taken == 1:
            log.warning("took over the lock %s from %s, silent for %ds (it must have died)",
                        key, previous.owner, int(previous.age(at).total_seconds()))
            return token
        raise LockHeld(
            f"{what}: {previous.owner}, last heartbeat "
            f"{int(previous.age(at).total_seconds())}s ago. {advice}; "
            f"if it died, its lock expires {int(stale_after.total_seconds())}s after its last heartbeat."
        )
    raise LockHeld(f"the lock {key} kept changing hands while starting; try again")


def _swap(store: Store, token: str, now: datetime | None, *, remove: bool, key: str = LOCK_KEY) -> bool:
    with store.session() as session:
        current = read_lock(session, key)
        if current is None or current.token != token:
            return False
        guard = (_KV.c.key == key, _KV.c.updated_at == current.heartbeat_at)
        stmt = delete(_KV).where(*guard) if remove else update(_KV).where(*guard).values(updated_at=now or m.utcnow())
        return session.connection().execute(stmt).rowcount == 1


def heartbeat(store: Store, token: str, now: datetime | None = None, key: str = LOCK_KEY) -> bool:
    """Refresh the lock. False means it is no longer ours (taken over after we stalled)."""
    return _swap(store, token, now, remove=False, key=key)


def release(store: Store, token: str, key: str = LOCK_KEY) -> bool:
    """Give the lock up (clean exit). False if it was not ours any more."""
    return _swap(store, token, None, remove=True, key=key)


def live_owner(store: Store, key: str, stale_after: timedelta, now: datetime | None = None) -> LockInfo | None:
    """The holder of ``key`` if its heartbeat is fresh, else None."""
    with store.session() as session:
        info = read_lock(session, key)
    if info is None or info.age(now or m.utcnow()) >= stale_after:
        return None
    return info


CRAWL_STALE_AFTER = timedelta(minutes=3)
CRAWL_HEARTBEAT_SECONDS = 30.0


@contextmanager
def crawl_lock(store: Store, owner: str, *, stale_after: timedelta = CRAWL_STALE_AFTER,
               heartbeat_seconds: float = CRAWL_HEARTBEAT_SECONDS) -> Iterator[str]:
    """Hold the crawl lock for a one-off crawl: refused while a service runs on this store or another
    one-off crawl holds it. A thread keeps the heartbeat fresh; a crash leaves a lock that goes stale."""
    service = live_owner(store, LOCK_KEY, stale_after)
    if service is not None:
        raise LockHeld(f"the service is running on this store ({service.owner}) and crawls on its schedule; "
                       "stop it first or let it crawl")
    token = acquire(store, owner, stale_after=stale_after, key=CRAWL_LOCK_KEY,
                    what="another crawl is running on this store", advice="Wait for it to finish")
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(heartbeat_seconds):
            if not heartbeat(store, token, key=CRAWL_LOCK_KEY):
                log.warning("the crawl lock was taken over while this crawl was still running")
                return

    thread = threading.Thread(target=beat, name="crawl-lock-heartbeat", daemon=True)
    thread.start()
    try:
        yield token
    finally:
        stop.set()
        thread.join()
        release(store, token, key=CRAWL_LOCK_KEY)
