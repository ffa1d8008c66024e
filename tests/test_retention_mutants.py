"""Retention edges that mutation testing (``make mutation MODULES=store/retention.py``) showed no other test
pinned: each test here fails on a mutant of store/retention.py that the rest of tests/test_retention.py let
through. Expected values are worked out from the dates the test itself gives the posts.
"""

from __future__ import annotations

import logging
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, func, select

from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from store.retention import PURGE_OP, count_purgeable, purge_texts, run_purge, truncate_wal
from tests.conftest import TEST_KEY
from tests.factories import T0, post, snapshot

# factories.post(n) is created at T0 + n minutes.
CREATED_1 = T0 + timedelta(minutes=1)


def _store_posts(store: Store, *numbers: int, at: object = T0) -> None:
    with store.session() as s:
        ingest(s, [snapshot(), *(post(n, at=at) for n in numbers)],  # type: ignore[arg-type]
               IngestContext(key=TEST_KEY))


def _texts(store: Store) -> dict[str, str | None]:
    with store.session() as s:
        return {native_id: text for native_id, text in s.execute(select(m.Post.native_post_id, m.Post.text))}


def test_a_post_exactly_at_the_cutoff_keeps_its_text_and_one_a_second_older_loses_it(sqlite_store: Store) -> None:
    _store_posts(sqlite_store, 1)
    at_cutoff = CREATED_1 + timedelta(days=180)
    with sqlite_store.session() as s:
        assert purge_texts(s, 180, now=at_cutoff) == 0
    assert _texts(sqlite_store) == {"1": "messaggio numero 1"}
    with sqlite_store.session() as s:
        assert purge_texts(s, 180, now=at_cutoff + timedelta(seconds=1)) == 1
    assert _texts(sqlite_store) == {"1": None}


def test_the_shortest_retention_is_one_day(sqlite_store: Store) -> None:
    _store_posts(sqlite_store, 1)
    with sqlite_store.session() as s:
        assert purge_texts(s, 1, now=CREATED_1 + timedelta(hours=23)) == 0
        assert purge_texts(s, 1, now=CREATED_1 + timedelta(hours=25)) == 1
    with sqlite_store.session() as s, pytest.raises(ValueError, match="at least 1, not -3"):
        purge_texts(s, -3)


def test_a_purged_post_is_queued_for_the_index_once_fresh(sqlite_store: Store) -> None:
    _store_posts(sqlite_store, 1)
    with sqlite_store.session() as s:
        s.execute(m.IndexOutbox.__table__.delete())
    now = CREATED_1 + timedelta(days=200)
    with sqlite_store.session() as s:
        purge_texts(s, 180, now=now)
    with sqlite_store.session() as s:
        (row,) = s.scalars(select(m.IndexOutbox)).all()
        assert (row.doc_type, row.op, row.attempts, row.enqueued_at) == ("post", PURGE_OP, 0, now)


def test_the_purge_is_audited_with_its_counts_and_an_empty_purge_is_not(sqlite_store: Store) -> None:
    _store_posts(sqlite_store, 1, 2)
    now = CREATED_1 + timedelta(days=200)
    with sqlite_store.session() as s:
        before = s.scalar(select(func.count()).select_from(m.AuditEntry))
        assert purge_texts(s, 400, now=now) == 0
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.AuditEntry)) == before
        assert purge_texts(s, 180, now=now) == 2
    with sqlite_store.session() as s:
        entry = s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id.desc()).limit(1)).one()
        assert (entry.action, entry.target) == ("retention.purge", "posts")
        assert entry.details == {"posts": 2, "older_than_days": 180,
                                 "cutoff": (now - timedelta(days=180)).isoformat()}


def test_the_purge_report_as_json(sqlite_store: Store) -> None:
    _store_posts(sqlite_store, 1)
    now = CREATED_1 + timedelta(days=200)
    report = run_purge(sqlite_store, 180, now=now)
    assert report.as_json() == {"posts": 1, "older_than_days": 180,
                                "cutoff": (now - timedelta(days=180)).isoformat(), "dry_run": False,
                                "wal_truncated": True}


def test_a_reader_holding_the_wal_is_reported_not_ignored(tmp_path: Path, sqlite_store: Store,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    """The WAL still holds the purged text until it is emptied: when a reader keeps it, the purge says so
    (and the next one retries) instead of claiming the text is gone from every file."""
    _store_posts(sqlite_store, 1)

    def impatient(dbapi_connection: sqlite3.Connection, *_: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=50")  # the store waits 30 s for a busy WAL

    event.listen(sqlite_store.engine, "checkout", impatient)
    reader = sqlite3.connect(tmp_path / "resurface.db")
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM posts").fetchone()  # holds a snapshot of the WAL
        with caplog.at_level(logging.WARNING, logger="resurface.retention"):
            assert truncate_wal(sqlite_store) is False
        assert any("kept the write-ahead log" in r.getMessage() for r in caplog.records)
    finally:
        reader.rollback()
        reader.close()
        event.remove(sqlite_store.engine, "checkout", impatient)
    assert truncate_wal(sqlite_store) is True


def test_the_moment_of_a_purge_is_always_named(sqlite_store: Store) -> None:
    """``now`` moves the cut-off: it must be spelled ``now=`` at every call, never slip in by position."""
    with sqlite_store.session() as s, pytest.raises(TypeError):
        purge_texts(s, 180, T0)  # type: ignore[misc]
    with sqlite_store.session() as s, pytest.raises(TypeError):
        count_purgeable(s, 180, T0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        run_purge(sqlite_store, 180, False, T0)  # type: ignore[misc]


def test_a_purge_report_cannot_be_altered_after_the_purge(sqlite_store: Store) -> None:
    """What `resurface purge` prints and the audit log says is what happened: the report is frozen."""
    import dataclasses

    report = run_purge(sqlite_store, 180, dry_run=True, now=T0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        report.posts = 0  # type: ignore[misc]


def test_a_dry_run_with_nothing_old_counts_zero(sqlite_store: Store) -> None:
    _store_posts(sqlite_store, 1)
    assert run_purge(sqlite_store, 180, dry_run=True, now=CREATED_1 + timedelta(days=10)).posts == 0
    with sqlite_store.session() as s:
        assert count_purgeable(s, 180, now=CREATED_1 + timedelta(days=10)) == 0


def test_a_purge_larger_than_one_chunk_purges_every_post(sqlite_store: Store) -> None:
    """The purge updates 900 ids at a time; the 901st post must go too."""
    _store_posts(sqlite_store, *range(1, 902))
    with sqlite_store.session() as s:
        assert purge_texts(s, 180, now=T0 + timedelta(days=400)) == 901
    assert set(_texts(sqlite_store).values()) == {None}
    with sqlite_store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.IndexOutbox).where(m.IndexOutbox.op == PURGE_OP)) == 901
