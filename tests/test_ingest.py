"""Ingest: idempotent, versioned snapshots, memberships, pseudonyms; on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.dialects import sqlite

from model import records as r
from service.app import App
from store import models as m
from store.db import Store, open_store
from store.ingest import IngestContext, _sqlite_datetime, ingest, load_checkpoint
from tests.conftest import TEST_KEY
from tests.factories import T0, post, ref, snapshot


def ctx() -> IngestContext:
    return IngestContext(key=TEST_KEY)


def count(store: Store, model: type[m.Base]) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_same_post_twice_is_one_row(any_store: Store) -> None:
    records: list[r.Record] = [snapshot(), post(1), post(2)]
    with any_store.session() as s:
        first = ingest(s, records, ctx())
    with any_store.session() as s:
        second = ingest(s, records, ctx())
    assert (first.posts_new, second.posts_new) == (2, 0)
    assert count(any_store, m.Post) == 2
    assert count(any_store, m.Community) == 1


def test_unchanged_snapshot_is_not_a_new_version_but_a_change_is(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(at=T0)], ctx())
        ingest(s, [snapshot(at=T0 + timedelta(hours=1))], ctx())
        ingest(s, [snapshot(title="Il Cortile 2.0", at=T0 + timedelta(hours=2))], ctx())
    with any_store.session() as s:
        versions = s.scalars(select(m.Snapshot).order_by(m.Snapshot.observed_at)).all()
        community = s.scalars(select(m.Community)).one()
        assert [v.title for v in versions] == ["Il Cortile Segreto", "Il Cortile 2.0"]
        assert versions[0].observations == 2
        assert versions[0].last_observed_at == T0 + timedelta(hours=1)
        assert community.title == "Il Cortile 2.0"


def test_memberships_widen_first_and_last_seen(any_store: Store) -> None:
    early, late = T0, T0 + timedelta(days=3)
    with any_store.session() as s:
        ingest(s, [snapshot(), post(1, user="42", at=late)], ctx())
    with any_store.session() as s:
        ingest(s, [r.Membership(ref(), r.RawMember("telegram", "42"), early, "participant")], ctx())
    with any_store.session() as s:
        ms = s.scalars(select(m.Membership)).one()
        assert ms.first_seen == early
        assert ms.last_seen == late + timedelta(minutes=1)
        assert ms.seen_posting and ms.seen_listed
    assert count(any_store, m.Member) == 1


def test_edited_post_updates_the_row_and_keeps_one(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(), post(1, text="prima")], ctx())
    edited = post(1, text="dopo")
    with any_store.session() as s:
        stats = ingest(s, [edited], ctx())
    assert stats.posts_updated == 1
    with any_store.session() as s:
        assert s.scalars(select(m.Post.text)).all() == ["dopo"]


def test_links_media_and_checkpoint_are_stored_with_the_page(any_store: Store) -> None:
    link = r.ExtractedLink("https://t.me/+AbCdEf123", r.LinkKind.TELEGRAM_INVITE, platform="telegram",
                           invite_code="AbCdEf123", is_private=True)
    fp = r.MediaFingerprint(sha256="ab" * 32, pdq="f" * 64, pdq_quality=90)
    records: list[r.Record] = [snapshot(), post(1, links=(link,), media=(fp,)),
                               r.Checkpoint(ref(), "telegram_web", {"last_post_id": 1})]
    with any_store.session() as s:
        ingest(s, records, ctx())
    with any_store.session() as s:
        stored = s.scalars(select(m.Link)).one()
        assert (stored.kind, stored.is_private, stored.invite_code) == ("telegram_invite", True, "AbCdEf123")
        assert s.scalars(select(m.MediaFingerprint.pdq)).one() == "f" * 64
        community_id = s.scalars(select(m.Community.id)).one()
        assert load_checkpoint(s, community_id, "telegram_web") == {"last_post_id": 1}
        assert s.scalars(select(m.Post.has_media)).one() is True


def test_every_record_keeps_source_url_fetch_time_and_payload_hash(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(), post(7)], ctx())
    with any_store.session() as s:
        p = s.scalars(select(m.Post)).one()
        snap = s.scalars(select(m.Snapshot)).one()
        assert p.source_url == "https://t.me/cortile_segreto/7" and p.fetched_at is not None
        assert len(p.payload_sha256) == 64 and len(snap.payload_sha256) == 64
        assert snap.source_url == "https://t.me/s/cortile_segreto"


def test_seed_gets_its_native_id_and_handle_reuse_goes_elsewhere(any_store: Store) -> None:
    from store.watchlist import add_watch, parse_target

    with any_store.session() as s:
        seed, _ = add_watch(s, parse_target("https://t.me/cortile_segreto"))
        seed_id = seed.id
    with any_store.session() as s:
        ingest(s, [snapshot(native_id="1001")], IngestContext(key=TEST_KEY, target_community_id=seed_id))
    # Later the handle answers with another channel id: that is a different community.
    with any_store.session() as s:
        ingest(s, [snapshot(native_id="2002", title="Altro")], IngestContext(key=TEST_KEY, target_community_id=seed_id))
    with any_store.session() as s:
        seed_row = s.get(m.Community, seed_id)
        assert seed_row is not None and seed_row.native_id == "1001"
        assert seed_row.attrs["handle_now_points_to"] == "2002"
        other = s.scalars(select(m.Community).where(m.Community.native_id == "2002")).one()
        assert other.id != seed_id


def test_index_outbox_marks_new_posts_and_changed_communities_once(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(), post(1), post(2)], ctx())
        ingest(s, [snapshot(), post(1), post(2)], ctx())
    with any_store.session() as s:
        rows = s.execute(select(m.IndexOutbox.doc_type, func.count()).group_by(m.IndexOutbox.doc_type)).all()
        assert dict(rows) == {"post": 2, "community": 1}


def test_a_failed_batch_loses_nothing_already_stored(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(), post(1)], ctx())
    with pytest.raises(TypeError, match="ingest cannot store object"), any_store.session() as s:
        ingest(s, [post(2), object()], ctx())  # type: ignore[list-item]
    assert count(any_store, m.Post) == 1


# --- retention at ingest ------------------------------------------------------------------------------

RETAINED = 180
LATER = T0 + timedelta(days=200)  # posts made at T0 are past a 180-day retention by then


def retaining(portable: bool = False, now: datetime = LATER) -> IngestContext:
    return IngestContext(key=TEST_KEY, retention_days=RETAINED, now=now, portable=portable)


def test_a_first_crawl_never_stores_the_text_of_a_post_past_retention(any_store: Store) -> None:
    _check_first_crawl_withholds_old_texts(any_store, portable=True)


def test_the_sqlite_fast_path_withholds_old_texts_too(sqlite_store: Store) -> None:
    _check_first_crawl_withholds_old_texts(sqlite_store, portable=False)


def _check_first_crawl_withholds_old_texts(store: Store, portable: bool) -> None:
    any_store = store
    old = post(1, text="testo vecchio da non tenere")
    undated = replace(post(2, text="senza data, recuperato tanto tempo fa"), created_at=None)  # fetched at T0+1h
    recent = post(3, text="testo recente", at=LATER - timedelta(days=2))
    with any_store.session() as s:
        stats = ingest(s, [snapshot(), old, undated, recent], retaining(portable))
    assert stats.posts_new == 3
    with any_store.session() as s:
        rows = {p.native_post_id: p for p in s.scalars(select(m.Post))}
    assert (rows["1"].text, rows["1"].text_purged_at) == (None, LATER)
    assert (rows["2"].text, rows["2"].text_purged_at) == (None, LATER)
    assert (rows["3"].text, rows["3"].text_purged_at) == ("testo recente", None)
    assert rows["1"].url == "https://t.me/cortile_segreto/1" and len(rows["1"].payload_sha256) == 64


def test_a_purged_text_is_never_restored_by_a_recrawl(any_store: Store) -> None:
    from store.retention import purge_texts

    with any_store.session() as s:
        ingest(s, [snapshot(), post(1, text="il testo originale")], ctx())
    with any_store.session() as s:
        assert purge_texts(s, RETAINED, now=LATER) == 1
    # The same post again, then edited, then with a different text: the text stays purged,
    # with or without a retention setting in the crawl (a purge stamp is enough).
    edited = replace(post(1, text="il testo modificato"), edited_at=LATER)
    for context in (ctx(), retaining(), IngestContext(key=TEST_KEY, portable=True)):
        for again in (post(1, text="il testo originale"), edited):
            with any_store.session() as s:
                stats = ingest(s, [snapshot(), again], context)
            assert stats.posts_updated == 0
    with any_store.session() as s:
        (row,) = s.scalars(select(m.Post))
    assert (row.text, row.text_purged_at) == (None, LATER)


def test_an_edit_of_a_post_past_retention_is_not_stored(any_store: Store) -> None:
    with any_store.session() as s:  # stored while still young enough (no purge has run yet)
        ingest(s, [snapshot(), post(1, text="prima versione")], retaining(now=T0 + timedelta(days=1)))
    edited = replace(post(1, text="seconda versione"), edited_at=LATER)
    with any_store.session() as s:
        ingest(s, [edited], retaining())
    with any_store.session() as s:
        assert s.scalars(select(m.Post.text)).all() == ["prima versione"]  # left for the purge to drop


def test_the_app_crawls_with_the_configured_retention(app: App) -> None:
    app.settings.privacy.retention_days = 30
    context = app.ingest_context()
    assert context.retention_days == 30
    with app.store.session() as s:
        ingest(s, [snapshot(), post(1, text="vecchio di anni", at=T0 - timedelta(days=3650))], context)
    with app.store.session() as s:
        assert s.scalars(select(m.Post.text)).all() == [None]


# --- the SQLite fast path stores exactly what the portable (SQLAlchemy) path stores ------------------

_COMPARED_TABLES = ("communities", "snapshots", "members", "memberships", "posts", "links", "media_fingerprints",
                    "index_outbox", "checkpoints")
_WRITE_TIME_COLUMNS = {"communities": (), "snapshots": (), "index_outbox": ("enqueued_at",),
                       "checkpoints": ("updated_at",)}


def _varied_posts(at: datetime) -> list[r.Record]:
    """Posts covering every column: forwards, links, media, edits, service posts, odd time zones."""
    link = r.ExtractedLink("https://t.me/+AbCdEf123", r.LinkKind.TELEGRAM_INVITE, platform="telegram",
                           invite_code="AbCdEf123", is_private=True)
    fp = r.MediaFingerprint(sha256="ab" * 32, pdq="f" * 64, pdq_quality=90, width=640, height=480,
                            source_url="https://cdn.example/x.jpg")
    rome = timezone(timedelta(hours=2))
    base = post(1, links=(link,), media=(fp,), at=at)
    return [
        snapshot(at=at),
        base,
        replace(post(2, user=None, user_handle="Mario_Rossi", text="città ✓", at=at),
                forwarded_from=r.ForwardRef("telegram", "2002", "Altro_Canale", "77", "Altro", hidden=True),
                edited_at=datetime(2026, 3, 1, 15, 30, 0, 123456, tzinfo=rome), views=12,
                extra={"grouped_id": "9", "nota": "è"}),
        replace(post(3, user="42", text=None, at=at), kind="service", service_action="title_changed",
                service_value="Nuovo nome", created_at=datetime(2026, 3, 1, 9, 0, tzinfo=timezone(-timedelta(hours=5))),
                reply_to="1", thread_id="t1", thread_title="Discussione", source_url="https://t.me/s/x"),
        r.Membership(ref(), r.RawMember("telegram", "42"), at - timedelta(days=2), "participant"),
        r.Checkpoint(ref(), "telegram_web", {"last_post_id": 3}),
    ]


def _stored_rows(store: Store) -> dict[str, list[tuple[object, ...]]]:
    """Every stored value as the database holds it (raw driver values, not ORM conversions)."""
    found: dict[str, list[tuple[object, ...]]] = {}
    with store.engine.connect() as conn:
        for table in _COMPARED_TABLES:
            result = conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1, 2")
            skip = {i for i, name in enumerate(result.keys()) if name in _WRITE_TIME_COLUMNS.get(table, ())}
            found[table] = [tuple(v for i, v in enumerate(row) if i not in skip) for row in result]
    return found


def test_sqlite_fast_path_stores_the_same_rows_as_the_portable_path(tmp_path: Path) -> None:
    stores = {name: open_store(f"sqlite:///{tmp_path / name}.db") for name in ("fast", "portable")}
    try:
        for name, store in stores.items():
            context = IngestContext(key=TEST_KEY, portable=name == "portable")
            with store.session() as s:
                ingest(s, _varied_posts(T0), context)
            # Re-seen posts (one edited, others with fresh views), a new one, and a poster seen listed.
            with store.session() as s:
                stats = ingest(s, [replace(post(1, text="modificato"), views=99), post(4, user="42"),
                                   r.Membership(ref(), r.RawMember("telegram", "u1"), T0 + timedelta(days=3)),
                                   *_varied_posts(T0 + timedelta(days=1))[2:4]], context)
            assert (stats.posts_new, stats.posts_updated) == (1, 1)
        fast, portable = (_stored_rows(store) for store in stores.values())
        assert fast["posts"] and fast["links"] and fast["media_fingerprints"] and fast["memberships"]
        for table in _COMPARED_TABLES:
            assert fast[table] == portable[table], table
        assert [row[4:6] for row in fast["members"]] == [(None, None)] * 3  # raw_user_id, raw_handle
        assert "mario_rossi" not in "".join(str(v) for row in fast["members"] for v in row).lower()
    finally:
        for store in stores.values():
            store.close()


def test_sqlite_fast_path_reads_back_through_the_orm_as_utc(sqlite_store: Store) -> None:
    with sqlite_store.session() as s:
        ingest(s, _varied_posts(T0), ctx())
    with sqlite_store.session() as s:
        edited = s.scalars(select(m.Post).where(m.Post.native_post_id == "2")).one()
        service = s.scalars(select(m.Post).where(m.Post.native_post_id == "3")).one()
        assert edited.edited_at == datetime(2026, 3, 1, 13, 30, 0, 123456, tzinfo=UTC)
        assert edited.edited_at is not None and edited.edited_at.utcoffset() == timedelta(0)
        assert service.created_at == datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
        assert edited.attrs == {"grouped_id": "9", "nota": "è"} and edited.fwd_hidden is True
        assert edited.fwd_handle == "altro_canale" and service.attrs == {}
        first_seen = s.scalars(select(m.Membership.first_seen).order_by(m.Membership.first_seen)).first()
        assert first_seen == T0 - timedelta(days=2) and first_seen.tzinfo is not None


def test_posts_of_a_concurrent_writer_are_not_taken_for_new(sqlite_store: Store) -> None:
    """The fast path reads its new posts back by rowid range; it holds the write lock meanwhile, so
    a second writer waits instead of slipping rows into that range."""
    with sqlite_store.session() as s:
        ingest(s, [snapshot(), post(1)], ctx())
        other = sqlite3.connect(str(sqlite_store.engine.url.database), timeout=0)
        try:
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO members (pseudonym, platform, first_seen, last_seen)"
                              " VALUES ('x', 'telegram', '2026-01-01', '2026-01-01')")
        finally:
            other.close()
        stats = ingest(s, [post(1), post(2)], ctx())
    assert stats.posts_new == 1 and count(sqlite_store, m.Post) == 2


@pytest.mark.parametrize("value", [
    None, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 3, 4, 5, 7),  # naive means UTC
    datetime(5, 1, 1, tzinfo=timezone(timedelta(hours=-3))), datetime(2026, 6, 1, 23, 59, 59, 999999,
                                                                       tzinfo=timezone(timedelta(hours=2))),
])
def test_sqlite_datetime_text_is_what_sqlalchemy_binds(value: datetime | None) -> None:
    dialect = sqlite.dialect()
    bind = m.Post.__table__.c.created_at.type.dialect_impl(dialect).bind_processor(dialect)
    assert bind is not None
    assert _sqlite_datetime(value) == bind(value)
