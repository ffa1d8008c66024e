"""Ingest: idempotent, versioned snapshots, memberships, pseudonyms; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from crawlers import records as r
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest, load_checkpoint
from tests.conftest import TEST_KEY
from tests.factories import T0, post, ref, snapshot


def ctx() -> IngestContext:
    return IngestContext(key=TEST_KEY)


def count(store: Store, model: type[m.Base]) -> int:
    with store.session() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_same_post_twice_is_one_row(any_store: Store) -> None:
    records = [snapshot(), post(1), post(2)]
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
    records = [snapshot(), post(1, links=(link,), media=(fp,)),
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
    from config.watchlist import add_watch, parse_target

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
    try:
        with any_store.session() as s:
            ingest(s, [post(2), object()], ctx())  # type: ignore[list-item]
    except TypeError as exc:
        assert "object" in str(exc)
    assert count(any_store, m.Post) == 1
