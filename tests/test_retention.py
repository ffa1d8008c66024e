"""Retention purge: old post texts go; fingerprints, signatures, links, alerts and the row stay."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, func, select, text

from service.app import App
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from store.retention import purge_texts, run_purge, truncate_wal
from tests.conftest import TEST_KEY
from tests.factories import T0, post, snapshot

NOW = T0 + timedelta(days=200)


def seed(store: Store) -> None:
    from model import records as r

    media = (r.MediaFingerprint(sha256="a" * 64, pdq="f" * 64, pdq_quality=90),)
    link = (r.ExtractedLink(url="https://t.me/nuovo_cortile", kind=r.LinkKind.TELEGRAM_PUBLIC,
                            platform="telegram", handle="nuovo_cortile"),)
    old = post(1, text="vecchio messaggio " * 10, media=media, links=link)              # ~200 days old
    undated = replace(post(2, text="senza data " * 10), created_at=None)               # fetched ~200 days ago
    recent = post(3, text="messaggio recente", at=NOW - timedelta(days=5))
    records = [snapshot(), old, undated, recent]
    with store.session() as s:
        ingest(s, records, IngestContext(key=TEST_KEY))
        s.execute(delete(m.IndexOutbox))
        s.add(m.Alert(kind="migration", dedup_key="k", level="likely", payload={"signals": []}))


def test_purge_drops_old_texts_and_keeps_the_evidence(any_store: Store) -> None:
    seed(any_store)
    with any_store.session() as s:
        signatures = s.scalar(select(func.count()).select_from(m.TextSignature))
        assert purge_texts(s, 180, now=NOW) == 2
    with any_store.session() as s:
        rows = {p.native_post_id: p for p in s.scalars(select(m.Post))}
        assert rows["1"].text is None and rows["1"].text_purged_at == NOW
        assert rows["2"].text is None  # no platform date: its fetch time counts
        assert rows["3"].text == "messaggio recente" and rows["3"].text_purged_at is None
        assert s.scalar(select(func.count()).select_from(m.MediaFingerprint)) == 1
        assert s.scalar(select(func.count()).select_from(m.Link)) == 1
        assert s.scalar(select(func.count()).select_from(m.TextSignature)) == signatures
        assert s.scalar(select(func.count()).select_from(m.Alert)) == 1
        # The search index is told to drop the texts too, and the purge is in the audit log.
        queued = set(s.scalars(select(m.IndexOutbox.doc_id).where(m.IndexOutbox.doc_type == "post")))
        assert queued == {rows["1"].id, rows["2"].id}
        assert s.scalar(select(m.AuditEntry.action).order_by(m.AuditEntry.id.desc()).limit(1)) == "retention.purge"
    with any_store.session() as s:
        assert purge_texts(s, 180, now=NOW) == 0  # idempotent


def test_purge_refuses_a_nonsense_age(any_store: Store) -> None:
    with any_store.session() as s, pytest.raises(ValueError, match="at least 1"):
        purge_texts(s, 0)


def test_the_purge_job_uses_the_configured_retention(app: App) -> None:
    import scheduler

    seed(app.store)
    app.settings.privacy.retention_days = 400  # nothing is that old yet
    scheduler.TASKS["purge"].body(app)
    with app.store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.Post).where(m.Post.text.is_(None))) == 0
    app.settings.privacy.retention_days = 1
    assert scheduler.TASKS["purge"].body(app) == "3 post texts purged"


SECRET = "Zanzibarone"


def _sqlite_files_with(store_dir: Path, word: str) -> list[str]:
    return sorted(p.name for p in store_dir.iterdir()
                  if p.name.startswith("resurface.db") and word.encode() in p.read_bytes())


def test_purge_leaves_no_copy_in_the_sqlite_file_or_its_wal(tmp_path: Path, sqlite_store: Store) -> None:
    """The service keeps its connections open, so the write-ahead log is not removed on exit: the purge
    itself must empty it, and overwrite the freed bytes in the database file."""
    old = post(1, text=f"{SECRET} " + "testo lungo da dimenticare " * 20)  # ~200 days before NOW
    with sqlite_store.session() as s:
        ingest(s, [snapshot(), old, post(2, text="recente", at=NOW)], IngestContext(key=TEST_KEY))
    assert _sqlite_files_with(tmp_path, SECRET)  # the text is really there before

    report = run_purge(sqlite_store, 180, now=NOW)

    assert (report.posts, report.dry_run, report.wal_truncated) == (1, False, True)
    assert _sqlite_files_with(tmp_path, SECRET) == []
    with sqlite_store.session() as s:  # the store is still open and working
        assert s.scalars(select(m.Post.text).order_by(m.Post.id)).all() == [None, "recente"]


def test_dry_run_counts_and_changes_nothing(any_store: Store) -> None:
    seed(any_store)
    report = run_purge(any_store, 180, dry_run=True, now=NOW)
    assert (report.posts, report.dry_run, report.wal_truncated) == (2, True, None)
    assert report.cutoff == NOW - timedelta(days=180)
    with any_store.session() as s:
        assert s.scalar(select(func.count()).select_from(m.Post).where(m.Post.text.is_(None))) == 0
        assert s.scalar(select(func.count()).select_from(m.IndexOutbox)) == 0
    assert run_purge(any_store, 180, now=NOW).posts == 2


def test_purged_posts_are_queued_as_purges_even_when_already_queued(any_store: Store) -> None:
    seed(any_store)
    with any_store.session() as s:  # post 1 is already waiting for the indexer as an ordinary upsert
        first = s.scalar(select(m.Post.id).where(m.Post.native_post_id == "1"))
        s.add(m.IndexOutbox(doc_type="post", doc_id=first, op="upsert"))
    with any_store.session() as s:
        purge_texts(s, 180, now=NOW)
    with any_store.session() as s:
        ops = {doc_id: op for doc_id, op in s.execute(select(m.IndexOutbox.doc_id, m.IndexOutbox.op))}
    assert ops[first] == "purge" and set(ops.values()) == {"purge"} and len(ops) == 2


def test_purge_overwrites_freed_bytes_even_where_sqlite_would_not(tmp_path: Path, sqlite_store: Store) -> None:
    """Debian's SQLite overwrites deleted content by default; others do not. The purge must not rely
    on the build: here the connection starts with secure_delete off, as on such a build."""
    old = post(1, text=f"{SECRET} " + "testo lungo da dimenticare " * 20)
    with sqlite_store.session() as s:
        ingest(s, [snapshot(), old], IngestContext(key=TEST_KEY))
    with sqlite_store.session() as s:
        s.execute(text("PRAGMA secure_delete=OFF"))
        assert purge_texts(s, 180, now=NOW) == 1
    assert truncate_wal(sqlite_store) is True
    assert _sqlite_files_with(tmp_path, SECRET) == []
