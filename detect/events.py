"""Events from observations: rename, handle reuse, shutdown, surge.

Pure functions over snapshot views derive :class:`EventDraft` objects; :func:`derive_events` loads the
views from the store and :func:`persist_events` writes the drafts whose ``dedup_key`` is new, so
running detection twice over the same data creates nothing the second time.

Why snapshots: ingest stores one row per *distinct* observed state and counts repeats in
``observations``, so consecutive rows of a community are exactly its state changes, and the number of
failed fetches in a row is the ``observations`` of its trailing "unreachable" rows.
"""

from __future__ import annotations

import hashlib
import itertools
import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import DetectSettings
from model.records import GONE_STATUSES, STATUS_DEFINITIVE, CommunityStatus
from store import models as m

READABLE = frozenset({CommunityStatus.ACTIVE, CommunityStatus.RENAMED, CommunityStatus.QUARANTINED})
#: A surge needs at least this many new members (or joins per day), whatever the ratio.
MIN_SURGE_MEMBERS = 20
MIN_SURGE_JOINS = 10
#: With no usual rate to compare with (fewer than three readings), growth by this factor between two
#: readings is a surge (issue 15, class 9: a successor growing 40 → 480 after its source vanished).
NO_BASELINE_GROWTH = 5.0


@dataclass(frozen=True, slots=True)
class SnapshotView:
    id: int
    community_id: int
    observed_at: datetime
    last_observed_at: datetime
    observations: int
    native_id: str | None
    handle: str | None
    title: str | None
    status: str
    member_count: int | None
    source_url: str | None = None
    #: False when a gone status came from an ambiguous answer (see ``model.records.STATUS_DEFINITIVE``)
    definitive: bool = True


@dataclass(frozen=True, slots=True)
class EventDraft:
    kind: str  # rename, handle_reuse, shutdown, surge, announcement
    dedup_key: str
    community_id: int
    occurred_at: datetime
    evidence: dict[str, Any] = field(default_factory=dict)
    related_community_id: int | None = None


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).hexdigest()[:16]


def _readable(s: SnapshotView) -> bool:
    return s.native_id is not None and s.status in READABLE


# --- pure derivations ----------------------------------------------------------------------------


def rename_key(community_id: int, field_name: str, new_value: str) -> str:
    """Shared by snapshot renames and Telegram service posts, so one rename seen both ways is one event."""
    return f"rename:{community_id}:{field_name}:{_digest(new_value.strip().casefold())}"


def rename_events(snapshots: Sequence[SnapshotView]) -> list[EventDraft]:
    """Title or handle changes between consecutive readable snapshots of the same native id."""
    out: list[EventDraft] = []
    previous: SnapshotView | None = None
    for snap in sorted(snapshots, key=lambda s: (s.observed_at, s.id)):
        if not _readable(snap):
            continue
        if previous is not None and previous.native_id == snap.native_id:
            for field_name, old, new in (("title", previous.title, snap.title),
                                         ("handle", previous.handle, snap.handle)):
                if old and new and old.strip().casefold() != new.strip().casefold():
                    out.append(EventDraft(
                        "rename", rename_key(snap.community_id, field_name, new), snap.community_id,
                        snap.observed_at,
                        {"field": field_name, "old": old, "new": new, "via": "snapshot",
                         "native_id": snap.native_id, "observed_at": snap.observed_at.isoformat(),
                         "previous_observed_at": previous.last_observed_at.isoformat(),
                         "source_url": snap.source_url},
                    ))
        previous = snap
    return out


def service_rename_event(community_id: int, post_id: int, post_url: str, created_at: datetime,
                         new_title: str, old_title: str | None) -> EventDraft:
    """A Telegram service message "channel name was changed to …"."""
    return EventDraft("rename", rename_key(community_id, "title", new_title), community_id, created_at,
                      {"field": "title", "old": old_title, "new": new_title, "via": "service_post",
                       "post_id": post_id, "post_url": post_url, "observed_at": created_at.isoformat()})


def shutdown_event(community_id: int, snapshots: Sequence[SnapshotView], confirmations: int,
                   last_ok_run: datetime | None = None) -> EventDraft | None:
    """A community gone for good: its trailing snapshots give an unambiguous banned/deleted/private/
    removed answer, or failed observations (unreachable, or a gone status from an ambiguous answer such
    as a bare 403) at least ``confirmations`` times in a row. One failed fetch (a flaky network, a
    proxy's 404) is never a shutdown; nor is a run of failures followed by a successful crawl run."""
    ordered = sorted(snapshots, key=lambda s: (s.observed_at, s.id))
    # A handle the channel left (read later under another handle, same stable id) answers "does not
    # exist": that is the handle change, not a shutdown (issue 15, class 4), whatever the crawl order.
    moved = {s.handle.lower() for s in ordered if s.handle and _readable(s) and any(
        _readable(t) and t.handle and t.native_id == s.native_id and t.handle.lower() != s.handle.lower()
        and (t.observed_at, t.id) > (s.observed_at, s.id) for t in ordered)}
    current = next((s.handle.lower() for s in reversed(ordered) if _readable(s) and s.handle), None)
    moved.discard(current or "")
    ordered = [s for s in ordered if _readable(s) or not (s.handle and s.handle.lower() in moved)]
    tail: list[SnapshotView] = []
    for snap in reversed(ordered):
        if _readable(snap) or snap.status not in (GONE_STATUSES | {CommunityStatus.UNREACHABLE}):
            break
        tail.append(snap)
    if not tail:
        return None
    tail.reverse()
    first = tail[0]
    gone = [s for s in tail if s.status in GONE_STATUSES and s.definitive]
    failures = sum(s.observations for s in tail)
    if not gone:
        if failures < confirmations:
            return None
        if last_ok_run is not None and last_ok_run > tail[-1].last_observed_at:
            return None
    if gone:
        status, definitive = gone[0].status, True
    else:  # confirmed by repetition: report what was seen last, marked as not definitive
        status, definitive = tail[-1].status, False
    occurred = gone[0].observed_at if gone else first.observed_at
    anchor = gone[0] if gone else first
    return EventDraft("shutdown", f"shutdown:{community_id}:{anchor.id}", community_id, occurred,
                      {"status": status, "definitive": definitive, "failed_observations": failures,
                       "confirmations_needed": confirmations,
                       "first_failed_at": first.observed_at.isoformat(),
                       "last_failed_at": tail[-1].last_observed_at.isoformat(), "source_url": anchor.source_url})


def recovery_event(shutdown_key: str, community_id: int, last_failed_at: datetime,
                   snapshots: Sequence[SnapshotView]) -> EventDraft | None:
    """A community read normally again after its shutdown: the first readable snapshot observed after
    the shutdown's last failed observation (issue 15, class 8: a subreddit private for one answer, then
    public again). Its alert is then marked recovered (``alerts.lifecycle``)."""
    back = [s for s in sorted(snapshots, key=lambda s: (s.observed_at, s.id))
            if _readable(s) and _utc(s.observed_at) > _utc(last_failed_at)]
    if not back:
        return None
    snap = back[0]
    return EventDraft("recovered", f"recovered:{shutdown_key}", community_id, snap.observed_at,
                      {"recovered": True, "recovered_at": snap.observed_at.isoformat(), "status": snap.status,
                       "shutdown_key": shutdown_key, "source_url": snap.source_url})


def manual_shutdown_event(community_id: int, status: str, removed_at: datetime | None,
                          first_seen: datetime) -> EventDraft | None:
    """A community entered by hand as removed (e.g. a Facebook group taken down)."""
    if status not in GONE_STATUSES:
        return None
    return EventDraft("shutdown", f"shutdown:{community_id}:manual", community_id, removed_at or first_seen,
                      {"status": status, "via": "entered by hand",
                       "removed_at": removed_at.isoformat() if removed_at else None})


def member_count_surges(snapshots: Sequence[SnapshotView], factor: float) -> list[EventDraft]:
    """Member-count growth far above the community's own usual rate (median of earlier intervals)."""
    points = [s for s in sorted(snapshots, key=lambda s: (s.observed_at, s.id))
              if _readable(s) and s.member_count is not None]
    out: list[EventDraft] = []
    rates: list[float] = []
    for prev, cur in itertools.pairwise(points):
        assert prev.member_count is not None and cur.member_count is not None
        days = max((cur.observed_at - prev.last_observed_at).total_seconds() / 86400, 1 / 24)
        delta = cur.member_count - prev.member_count
        rate = delta / days
        surge = False
        if len(rates) >= 2:
            baseline = max(statistics.median(rates), 1.0, 0.001 * prev.member_count)
            surge = rate > factor * baseline and delta >= MIN_SURGE_MEMBERS
        else:
            baseline = max(prev.member_count / max(days, 1.0), 1.0)
            surge = (prev.member_count > 0 and cur.member_count >= NO_BASELINE_GROWTH * prev.member_count
                     and delta >= MIN_SURGE_MEMBERS)
        if surge:
            out.append(EventDraft(
                "surge", f"surge:{cur.community_id}:members:{cur.id}", cur.community_id, cur.observed_at,
                {"measure": "member_count", "from": prev.member_count, "to": cur.member_count,
                 "per_day": round(rate, 2), "usual_per_day": round(baseline, 2),
                 "factor": round(rate / baseline, 2),
                 "observed_at": cur.observed_at.isoformat(), "source_url": cur.source_url}))
        rates.append(rate)
    return out


def join_surges(community_id: int, daily_joins: Iterable[tuple[date, int]], factor: float,
                baseline_days: int = 14) -> list[EventDraft]:
    """Days on which far more members were first seen than the community's usual daily rate."""
    days = sorted(daily_joins)
    if len(days) < 4:
        return []
    out: list[EventDraft] = []
    first_day = days[0][0]
    for index, (day, count) in enumerate(days):
        if index < 3 or count < MIN_SURGE_JOINS:
            continue
        start = max(first_day, day - timedelta(days=baseline_days))
        span = max((day - start).days, 1)
        before = sum(c for d, c in days[:index] if d >= start)
        baseline = max(before / span, 1.0)
        if count > factor * baseline:
            at = datetime(day.year, day.month, day.day, tzinfo=UTC)
            out.append(EventDraft("surge", f"surge:{community_id}:joins:{day.isoformat()}", community_id, at,
                                  {"measure": "new_members", "day": day.isoformat(), "joins": count,
                                   "usual_per_day": round(baseline, 2), "factor": round(count / baseline, 2)}))
    return out


# --- store edge ---------------------------------------------------------------------------------


def load_snapshots(session: Session, community_ids: Sequence[int] | None = None) -> dict[int, list[SnapshotView]]:
    stmt = select(m.Snapshot.id, m.Snapshot.community_id, m.Snapshot.observed_at, m.Snapshot.last_observed_at,
                  m.Snapshot.observations, m.Snapshot.native_id, m.Snapshot.handle, m.Snapshot.title,
                  m.Snapshot.status, m.Snapshot.member_count, m.Snapshot.source_url, m.Snapshot.attrs)
    stmt = stmt.order_by(m.Snapshot.community_id, m.Snapshot.observed_at, m.Snapshot.id)
    out: dict[int, list[SnapshotView]] = defaultdict(list)
    rows = (row for chunk in _chunks(None if community_ids is None else set(community_ids))
            for row in session.execute(stmt if chunk is None else stmt.where(m.Snapshot.community_id.in_(chunk))))
    for row in rows:
        attrs = row.attrs or {}
        out[row.community_id].append(SnapshotView(
            row.id, row.community_id, row.observed_at, row.last_observed_at, row.observations, row.native_id,
            row.handle, row.title, row.status, row.member_count, row.source_url,
            definitive=attrs.get(STATUS_DEFINITIVE) is not False))
    return out


def _last_ok_runs(session: Session, ids: Collection[int] | None = None) -> dict[int, datetime]:
    stmt = (select(m.CrawlRun.community_id, func.max(m.CrawlRun.started_at))
            .where(m.CrawlRun.outcome == "ok").group_by(m.CrawlRun.community_id))
    return {cid: at for chunk in _chunks(ids) for cid, at in session.execute(
        stmt if chunk is None else stmt.where(m.CrawlRun.community_id.in_(chunk)))}


def _chunks(ids: Collection[int] | None, size: int = 500) -> Iterator[list[int] | None]:
    """``None`` once (no restriction), else the ids in chunks (none at all for an empty collection)."""
    if ids is None:
        yield None
        return
    ordered = sorted(ids)
    for start in range(0, len(ordered), size):
        yield ordered[start:start + size]


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _daily_joins(session: Session, ids: Collection[int] | None = None) -> dict[int, list[tuple[date, int]]]:
    day = func.date(m.Membership.first_seen)
    stmt = select(m.Membership.community_id, day, func.count()).group_by(m.Membership.community_id, day)
    out: dict[int, list[tuple[date, int]]] = defaultdict(list)
    for chunk in _chunks(ids):
        for cid, d, n in session.execute(stmt if chunk is None else stmt.where(m.Membership.community_id.in_(chunk))):
            out[cid].append((_as_date(d), int(n)))
    return out


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _service_renames(session: Session, snapshots: dict[int, list[SnapshotView]],
                     ids: Collection[int] | None = None) -> list[EventDraft]:
    """Renames announced by Telegram service posts. A service post older than the first time we read
    the community is history (the first crawl of a channel shows its past renames): it names earlier
    titles but is no new rebrand. The old title is the previous service post's, else the title of the
    last snapshot read before the rename (the service post says only the new one)."""
    stmt = (select(m.Post.id, m.Post.community_id, m.Post.url, m.Post.created_at, m.Post.fetched_at,
                   m.Post.service_value)
            .where(m.Post.kind == "service", m.Post.service_action == "title_changed",
                   m.Post.service_value.is_not(None))
            .order_by(m.Post.community_id, m.Post.created_at))
    rows = [row for chunk in _chunks(ids)
            for row in session.execute(stmt if chunk is None else stmt.where(m.Post.community_id.in_(chunk)))]
    out = []
    previous: dict[int, tuple[datetime, str]] = {}  # the last title a service post announced, and when
    for pid, cid, url, created, fetched, value in rows:
        if not value:
            continue
        when = _utc(created or fetched)
        read = sorted((s for s in snapshots.get(cid, ()) if _readable(s)), key=lambda s: (s.observed_at, s.id))
        if read and when < _utc(read[0].observed_at):
            previous[cid] = (when, value)  # history, seen on the first crawl
            continue
        seen = [(_utc(s.observed_at), s.title) for s in read if _utc(s.observed_at) <= when and s.title]
        candidates = [*seen, *([previous[cid]] if cid in previous else [])]
        older = [title for _, title in sorted(candidates, key=lambda c: c[0])
                 if title.strip().casefold() != value.strip().casefold()]
        out.append(service_rename_event(cid, pid, url, when, value, older[-1] if older else None))
        previous[cid] = (when, value)
    return out


def _recoveries(session: Session, snapshots: dict[int, list[SnapshotView]],
                ids: Collection[int] | None = None) -> list[EventDraft]:
    """Stored shutdowns (seen through snapshots) of communities that read normally again since."""
    out = []
    stmt = select(m.Event.community_id, m.Event.dedup_key, m.Event.occurred_at, m.Event.evidence).where(
        m.Event.kind == "shutdown")
    for cid, key, occurred, evidence in session.execute(stmt):
        if cid not in snapshots or str(key).endswith(":manual") or (ids is not None and cid not in ids):
            continue
        last = (evidence or {}).get("last_failed_at")
        try:
            last_failed = datetime.fromisoformat(last) if isinstance(last, str) else _utc(occurred)
        except ValueError:
            last_failed = _utc(occurred)
        draft = recovery_event(key, cid, last_failed, snapshots[cid])
        if draft is not None:
            out.append(draft)
    return out


def derive_events(session: Session, settings: DetectSettings,
                  snapshots: dict[int, list[SnapshotView]] | None = None,
                  community_ids: Collection[int] | None = None) -> list[EventDraft]:
    """Every event the stored observations support (persisted or not; see :func:`persist_events`).
    With ``community_ids`` (an incremental cycle: the communities that changed), only their events: the
    others' were derived, and stored, by an earlier cycle from the same observations."""
    drafts: list[EventDraft] = []
    snapshots = load_snapshots(session) if snapshots is None else snapshots
    ids = None if community_ids is None else set(community_ids)
    ok_runs = _last_ok_runs(session, ids)
    for cid, snaps in snapshots.items():
        if ids is not None and cid not in ids:
            continue
        drafts.extend(rename_events(snaps))
        shutdown = shutdown_event(cid, snaps, settings.shutdown_confirmations, ok_runs.get(cid))
        if shutdown is not None:
            drafts.append(shutdown)
        drafts.extend(member_count_surges(snaps, settings.surge_factor))
    drafts.extend(_service_renames(session, snapshots, ids))
    drafts.extend(_recoveries(session, snapshots, ids))
    for cid, joins in _daily_joins(session, ids).items():
        drafts.extend(join_surges(cid, joins, settings.surge_factor, settings.timing_window_days))
    stmt = select(m.Community.id, m.Community.platform, m.Community.status, m.Community.removed_at,
                  m.Community.first_seen, m.Community.attrs)
    rows = (row for chunk in _chunks(ids)
            for row in session.execute(stmt if chunk is None else stmt.where(m.Community.id.in_(chunk))))
    pointing: list[tuple[int, str, str, datetime]] = []
    for cid, platform, status, removed_at, first_seen, attrs in rows:
        if cid not in snapshots:
            manual = manual_shutdown_event(cid, status, removed_at, first_seen)
            if manual is not None:
                drafts.append(manual)
        if attrs and attrs.get("handle_now_points_to"):
            pointing.append((cid, platform, str(attrs["handle_now_points_to"]), first_seen))
    for cid, platform, native, _ in pointing:
        other = session.execute(select(m.Community.id, m.Community.handle, m.Community.first_seen)
                                .where(m.Community.platform == platform, m.Community.native_id == native)).first()
        drafts.append(EventDraft(
            "handle_reuse", f"handle_reuse:{cid}:{_digest(native)}", cid,
            other.first_seen if other is not None else m.utcnow(),
            {"now_points_to_native_id": native, "handle": other.handle if other is not None else None},
            related_community_id=other.id if other is not None else None))
    return drafts


def persist_events(session: Session, drafts: Sequence[EventDraft]) -> list[m.Event]:
    """Insert the drafts whose dedup key is new; return the new rows (flushed, with ids)."""
    unique = {d.dedup_key: d for d in drafts}
    existing: set[str] = set()
    keys = list(unique)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        existing.update(session.scalars(select(m.Event.dedup_key).where(m.Event.dedup_key.in_(chunk))))
    new = [m.Event(kind=d.kind, dedup_key=d.dedup_key, community_id=d.community_id,
                   related_community_id=d.related_community_id, occurred_at=d.occurred_at,
                   evidence=_jsonable(d.evidence))
           for key, d in unique.items() if key not in existing]
    session.add_all(new)
    session.flush()
    return new


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
