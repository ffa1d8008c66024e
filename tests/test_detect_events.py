"""Events from stored observations: renames, handle reuse, shutdowns (confirmed, never from one failed
fetch), surges; persisted once."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from config.settings import DetectSettings
from detect.events import (
    SnapshotView,
    derive_events,
    join_surges,
    member_count_surges,
    persist_events,
    shutdown_event,
)
from model import records as r
from store import models as m
from store.db import Store
from store.ingest import IngestContext, ingest
from tests.conftest import TEST_KEY
from tests.factories import T0, post, snapshot


def ctx(target: int | None = None) -> IngestContext:
    return IngestContext(key=TEST_KEY, target_community_id=target)


def gone(handle: str, at: object, status: str = r.CommunityStatus.UNREACHABLE) -> r.CommunitySnapshot:
    return r.CommunitySnapshot(platform="telegram", native_id=None, handle="cortile_segreto", url="https://t.me/cortile_segreto",
                               fetched_at=at, status=status)  # type: ignore[arg-type]


def events_of(store: Store, settings: DetectSettings | None = None) -> list[m.Event]:
    with store.session() as s:
        persist_events(s, derive_events(s, settings or DetectSettings()))
    with store.session() as s:
        return list(s.scalars(select(m.Event).order_by(m.Event.id)))


def test_title_and_handle_change_of_the_same_channel_id_is_a_rename(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(at=T0)], ctx())
        ingest(s, [snapshot(handle="cortile_nuovo", title="Il Cortile Nuovo", at=T0 + timedelta(days=1))], ctx())
        assert len(s.scalars(select(m.Community)).all()) == 1  # same native id, same community
    renames = [e for e in events_of(any_store) if e.kind == "rename"]
    assert {(e.evidence["field"], e.evidence["old"], e.evidence["new"]) for e in renames} == {
        ("title", "Il Cortile Segreto", "Il Cortile Nuovo"), ("handle", "cortile_segreto", "cortile_nuovo")}
    assert all(e.occurred_at == T0 + timedelta(days=1) for e in renames)


def test_rerunning_creates_no_new_events(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(at=T0), snapshot(title="Altro", at=T0 + timedelta(days=1))], ctx())
    first = events_of(any_store)
    second = events_of(any_store)
    assert [e.id for e in first] == [e.id for e in second] and len(first) == 1


def test_telegram_service_post_title_change_is_the_same_rename(any_store: Store) -> None:
    service = r.Post(community=r.CommunityRef("telegram", "1001", "cortile_segreto"), native_post_id="9",
                     url="https://t.me/cortile_segreto/9", fetched_at=T0 + timedelta(days=2),
                     created_at=T0 + timedelta(days=1), kind="service", service_action="title_changed",
                     service_value="Il Cortile Nuovo")
    with any_store.session() as s:
        ingest(s, [snapshot(at=T0), service,
                   snapshot(title="Il Cortile Nuovo", at=T0 + timedelta(days=2))], ctx())
    renames = [e for e in events_of(any_store) if e.kind == "rename"]
    assert len(renames) == 1  # the service post and the snapshot describe one rename
    assert renames[0].evidence["new"] == "Il Cortile Nuovo"


def test_handle_reused_by_another_channel_is_reported(any_store: Store) -> None:
    with any_store.session() as s:
        cid = ingest(s, [snapshot(at=T0)], ctx()).changed_community_ids.pop()
        ingest(s, [snapshot(native_id="2002", title="Someone else", at=T0 + timedelta(days=1))], ctx(cid))
    reuse = [e for e in events_of(any_store) if e.kind == "handle_reuse"]
    assert len(reuse) == 1 and reuse[0].community_id == cid and reuse[0].related_community_id not in (None, cid)


def test_one_failed_fetch_is_not_a_shutdown_but_confirmed_failures_are(any_store: Store) -> None:
    settings = DetectSettings(shutdown_confirmations=3)
    with any_store.session() as s:
        cid = ingest(s, [snapshot(at=T0)], ctx()).changed_community_ids.pop()
        ingest(s, [gone("cortile_segreto", T0 + timedelta(hours=1))], ctx(cid))
    assert [e.kind for e in events_of(any_store, settings)] == []
    with any_store.session() as s:  # it came back: the failure was the network
        ingest(s, [snapshot(at=T0 + timedelta(hours=2))], ctx(cid))
        ingest(s, [gone("cortile_segreto", T0 + timedelta(hours=3 + i)) for i in range(2)], ctx(cid))
    assert [e.kind for e in events_of(any_store, settings)] == []
    with any_store.session() as s:
        ingest(s, [gone("cortile_segreto", T0 + timedelta(hours=6))], ctx(cid))
    shutdowns = [e for e in events_of(any_store, settings) if e.kind == "shutdown"]
    assert len(shutdowns) == 1
    assert shutdowns[0].evidence["failed_observations"] == 3
    assert shutdowns[0].occurred_at == T0 + timedelta(hours=3)


def test_banned_is_a_shutdown_at_once(any_store: Store) -> None:
    with any_store.session() as s:
        cid = ingest(s, [snapshot(at=T0)], ctx()).changed_community_ids.pop()
        ingest(s, [gone("cortile_segreto", T0 + timedelta(days=1), r.CommunityStatus.BANNED)], ctx(cid))
    (event,) = events_of(any_store)
    assert (event.kind, event.evidence["status"]) == ("shutdown", "banned")


def _snap(i: int, members: int, day: float) -> SnapshotView:
    at = T0 + timedelta(days=day)
    return SnapshotView(i, 1, at, at, 1, "1001", "h", "t", "active", members)


def test_member_surge_is_relative_to_the_communitys_own_history() -> None:
    steady = [_snap(i, 1000 + 10 * i, i) for i in range(5)]
    assert member_count_surges(steady, 3.0) == []
    surge = [*steady, _snap(5, 1040 + 400, 5)]
    (event,) = member_count_surges(surge, 3.0)
    assert event.evidence["from"] == 1040 and event.evidence["to"] == 1440


def test_join_surge_needs_history_and_a_jump() -> None:
    days = [(date(2026, 3, d), 3) for d in range(1, 8)]
    assert join_surges(1, days, 3.0) == []
    (event,) = join_surges(1, [*days, (date(2026, 3, 8), 40)], 3.0)
    assert event.evidence["joins"] == 40
    assert join_surges(1, [(date(2026, 3, 1), 500)], 3.0) == []  # a first crawl is not a surge


def test_shutdown_then_successful_crawl_run_is_not_confirmed() -> None:
    at = T0
    snaps = [SnapshotView(1, 1, at, at, 1, "1", "h", "t", "active", 10),
             SnapshotView(2, 1, at + timedelta(hours=1), at + timedelta(hours=5), 5, None, "h", None,
                          "unreachable", None)]
    assert shutdown_event(1, snaps, 3) is not None
    assert shutdown_event(1, snaps, 3, last_ok_run=at + timedelta(hours=6)) is None
    assert shutdown_event(1, snaps, 6) is None


def test_manual_removed_community_is_a_shutdown(any_store: Store) -> None:
    with any_store.session() as s:
        s.add(m.Community(platform="facebook", native_id="manual:Gruppo", title="Gruppo", status="removed",
                          removed_at=T0, watch_state="seed", labels=[], attrs={"manual": True}))
    (event,) = events_of(any_store)
    assert event.kind == "shutdown" and event.occurred_at == T0


def test_posts_alone_make_no_events(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(), post(1), post(2)], ctx())
    assert events_of(any_store) == []


def _ambiguous(at: object, status: str, definitive: bool) -> r.CommunitySnapshot:
    evidence = "bare 403 without reason" if not definitive else "404 with reason: banned"
    return r.CommunitySnapshot(platform="telegram", native_id=None, handle="cortile_segreto", url="https://t.me/cortile_segreto",
                               fetched_at=at, status=status,  # type: ignore[arg-type]
                               extra={r.STATUS_DEFINITIVE: definitive, r.STATUS_EVIDENCE: evidence})


def test_one_ambiguous_gone_answer_is_not_a_shutdown(any_store: Store) -> None:
    """A bare 403 (a proxy, a moment of rate limiting) once is a failed observation, not a ban."""
    with any_store.session() as s:
        ingest(s, [snapshot(at=T0)], ctx())
        ingest(s, [_ambiguous(T0 + timedelta(hours=1), r.CommunityStatus.PRIVATE,
                              definitive=False)], ctx())
        assert s.scalar(select(func.count()).select_from(m.Community)) == 1
    assert [e.kind for e in events_of(any_store) if e.kind == "shutdown"] == []


def test_repeated_ambiguous_answers_confirm_a_shutdown_that_is_not_definitive(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(at=T0)], ctx())
        for hour in (1, 2, 3):
            ingest(s, [_ambiguous(T0 + timedelta(hours=hour), r.CommunityStatus.PRIVATE, definitive=False)],
                   ctx())
    (event,) = [e for e in events_of(any_store) if e.kind == "shutdown"]
    assert event.evidence["status"] == "private"
    assert event.evidence["definitive"] is False
    assert event.evidence["failed_observations"] == 3


def test_an_unambiguous_answer_is_a_shutdown_at_once(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(at=T0)], ctx())
        ingest(s, [_ambiguous(T0 + timedelta(hours=1), r.CommunityStatus.BANNED, definitive=True)], ctx())
    (event,) = [e for e in events_of(any_store) if e.kind == "shutdown"]
    assert event.evidence["status"] == "banned" and event.evidence["definitive"] is True


def test_an_ambiguous_row_confirmed_by_an_unambiguous_answer_becomes_definitive(any_store: Store) -> None:
    with any_store.session() as s:
        ingest(s, [snapshot(at=T0)], ctx())
        ingest(s, [_ambiguous(T0 + timedelta(hours=1), r.CommunityStatus.BANNED, definitive=False)], ctx())
        ingest(s, [_ambiguous(T0 + timedelta(hours=2), r.CommunityStatus.BANNED, definitive=True)], ctx())
    (event,) = [e for e in events_of(any_store) if e.kind == "shutdown"]
    assert event.evidence["definitive"] is True
