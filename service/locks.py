"""PostgreSQL advisory locks: one crawl per community and one run of each job at a time, across all workers.

A session-level ``pg_try_advisory_lock(class, key)`` held on a connection of its own for the length of the
work. It never waits: a worker that does not get it leaves the work to the one that has it. When a worker dies,
PostgreSQL ends its session and the lock goes with it, so a redelivered task can take it at once.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import text

from store.db import Store

CRAWL_LOCKS = 0x52534301  # "RSC\x01": one lock per community id
JOB_LOCKS = 0x52534A01  # "RSJ\x01": one lock per job name


def job_key(name: str) -> int:
    """A job name as the int4 the advisory lock takes."""
    return zlib.crc32(name.encode()) & 0x7FFFFFFF


@contextmanager
def advisory_lock(store: Store, lock_class: int, key: int) -> Iterator[bool]:
    """Yield True while this process holds ``(lock_class, key)``, False when another session holds it."""
    if store.engine.dialect.name != "postgresql":
        raise RuntimeError("advisory locks need PostgreSQL (service.executor = \"celery\" needs a PostgreSQL store)")
    with store.engine.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": lock_class, "k": key}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:c, :k)"), {"c": lock_class, "k": key})
                conn.commit()
