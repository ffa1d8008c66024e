"""Read what the graph needs from the store into plain records (the only I/O of graph building).

Everything is aggregated in SQL (counts, first/last times per community pair) so that memory grows
with the number of community pairs, not with the number of posts or links. Targets of forwards and
links are resolved to communities here, by the store's rules (:class:`store.resolve.CommunityResolver`):
by native id, then by handle (current handles first, then handles a community had in earlier snapshots,
so a link to a renamed channel's old handle still lands on it), then by URL. Links and forwards to
communities never observed are left out: they are leads, not yet nodes.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model.records import GONE_STATUSES
from model.vocab import CommunityInfo
from store import models as m
from store.resolve import CommunityResolver

log = logging.getLogger(__name__)

__all__ = ["CommunityInfo", "GraphData", "load_graph_data"]

@dataclass(frozen=True, slots=True)
class NameChange:
    community_id: int
    at: datetime
    old_handle: str | None
    new_handle: str | None
    old_title: str | None
    new_title: str | None


@dataclass(frozen=True, slots=True)
class PairCount:
    """Forwards: ``count`` posts in ``target_id`` forwarded from ``source_id``."""

    source_id: int
    target_id: int
    count: int
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True, slots=True)
class LinkCount:
    source_id: int  # where the links were posted
    target_id: int  # the community they point to
    mentions: int
    announcements: int
    first_at: datetime | None
    last_at: datetime | None


@dataclass(frozen=True, slots=True)
class MigrationInfo:
    source_id: int
    target_id: int
    score: float
    level: str
    state: str
    computed_at: datetime | None


@dataclass(frozen=True, slots=True)
class EventInfo:
    community_id: int
    kind: str
    occurred_at: datetime
    related_id: int | None


@dataclass(frozen=True, slots=True)
class SharedMembers:
    a: int
    b: int
    shared: int
    overlap_coefficient: float
    jaccard: float
    significance: float


@dataclass(frozen=True, slots=True)
class RepostedContent:
    source: int
    target: int
    media_matches: int
    text_matches: int
    forwards: int


@dataclass(frozen=True, slots=True)
class MemberLink:
    member_key: str  # a one-way hash of the stored pseudonym, never a raw id or handle
    platform: str
    community_id: int
    first_seen: datetime
    last_seen: datetime
    posted: bool


@dataclass(frozen=True, slots=True)
class GraphData:
    communities: tuple[CommunityInfo, ...]
    renames: tuple[NameChange, ...] = ()
    forwards: tuple[PairCount, ...] = ()
    links: tuple[LinkCount, ...] = ()
    migrations: tuple[MigrationInfo, ...] = ()
    events: tuple[EventInfo, ...] = ()
    shared_members: tuple[SharedMembers, ...] = ()
    reposted: tuple[RepostedContent, ...] = ()
    members: tuple[MemberLink, ...] = field(default=())


def member_key(pseudonym: str) -> str:
    """Export id of a member: a further hash of the pseudonym, so exported files cannot be joined
    back to the database's member table by a plain lookup."""
    return "m" + hashlib.sha256(b"resurface-graph-member:" + pseudonym.encode()).hexdigest()[:16]


def _communities(session: Session) -> tuple[list[m.Community], dict[int, str | None]]:
    rows = list(session.scalars(select(m.Community).order_by(m.Community.id)))
    return rows, {c.id: c.native_id for c in rows}


def _snapshot_history(session: Session) -> tuple[list[NameChange], dict[int, datetime], list[tuple[int, str]]]:
    """Renames (consecutive readable snapshots whose handle or title differ), when each community
    entered its current unreadable state, and every handle each community ever had."""
    renames: list[NameChange] = []
    gone_at: dict[int, datetime] = {}
    handles: set[tuple[int, str]] = set()
    stmt = (
        select(m.Snapshot.community_id, m.Snapshot.observed_at, m.Snapshot.native_id, m.Snapshot.handle,
               m.Snapshot.title, m.Snapshot.status)
        .order_by(m.Snapshot.community_id, m.Snapshot.observed_at, m.Snapshot.id)
        .execution_options(yield_per=5000)
    )
    current: int | None = None
    last_handle: str | None = None
    last_title: str | None = None
    for cid, observed_at, native_id, handle, title, status in session.execute(stmt):
        if cid != current:
            current, last_handle, last_title = cid, None, None
        if status in GONE_STATUSES:
            gone_at.setdefault(cid, observed_at)
            continue
        gone_at.pop(cid, None)
        if native_id is None:
            continue
        if handle:
            handles.add((cid, handle))
        handle_changed = bool(handle and last_handle and handle.lower() != last_handle.lower())
        title_changed = bool(title and last_title and title != last_title)
        if handle_changed or title_changed:
            renames.append(NameChange(cid, observed_at, last_handle, handle or last_handle, last_title,
                                      title or last_title))
        last_handle = handle or last_handle
        last_title = title or last_title
    return renames, gone_at, sorted(handles)


def _forwards(session: Session, resolver: CommunityResolver) -> list[PairCount]:
    when = func.coalesce(m.Post.created_at, m.Post.fetched_at)
    stmt = (
        select(m.Post.community_id, m.Post.fwd_platform, m.Post.fwd_native_id, func.lower(m.Post.fwd_handle),
               func.count(), func.min(when), func.max(when))
        .where(m.Post.fwd_platform.is_not(None), m.Post.fwd_hidden.is_(False))
        .group_by(m.Post.community_id, m.Post.fwd_platform, m.Post.fwd_native_id, func.lower(m.Post.fwd_handle))
    )
    merged: dict[tuple[int, int], _Agg] = {}
    for cid, platform, native_id, handle, count, first, last in session.execute(stmt):
        origin = resolver.resolve(platform, native_id, handle)
        if origin is None or origin == cid:
            continue
        _merge(merged, (origin, cid), int(count), first, last)
    return [PairCount(s, t, v.count, v.first, v.last) for (s, t), v in sorted(merged.items())]


@dataclass(slots=True)
class _Agg:
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None

    def add(self, count: int, first: datetime | None, last: datetime | None) -> None:
        self.count += count
        if first is not None and (self.first is None or first < self.first):
            self.first = first
        if last is not None and (self.last is None or last > self.last):
            self.last = last


def _merge(acc: dict[tuple[int, int], _Agg], key: tuple[int, int], count: int,
           first: datetime | None, last: datetime | None) -> None:
    acc.setdefault(key, _Agg()).add(count, first, last)


def _links(session: Session, resolver: CommunityResolver) -> list[LinkCount]:
    when = func.coalesce(m.Post.created_at, m.Link.found_at)
    merged: dict[tuple[int, int], _Agg] = {}
    by_handle = (
        select(m.Link.community_id, m.Link.target_platform, m.Link.target_handle, func.count(), func.min(when),
               func.max(when))
        .select_from(m.Link).outerjoin(m.Post, m.Post.id == m.Link.post_id)
        .where(m.Link.target_handle.is_not(None))
        .group_by(m.Link.community_id, m.Link.target_platform, m.Link.target_handle)
    )
    for cid, platform, handle, count, first, last in session.execute(by_handle):
        target = resolver.resolve(platform, None, handle)
        if target is not None and target != cid:
            _merge(merged, (cid, target), int(count), first, last)
    by_url = (
        select(m.Link.community_id, m.Link.url, func.count(), func.min(when), func.max(when))
        .select_from(m.Link).outerjoin(m.Post, m.Post.id == m.Link.post_id)
        .where(m.Link.target_handle.is_(None))
        .group_by(m.Link.community_id, m.Link.url)
    )
    for cid, url, count, first, last in session.execute(by_url):
        target = resolver.resolve(None, None, None, url)
        if target is not None and target != cid:
            _merge(merged, (cid, target), int(count), first, last)
    announced: dict[tuple[int, int], _Agg] = {}
    stmt = (
        select(m.Event.community_id, m.Event.related_community_id, func.count(), func.min(m.Event.occurred_at),
               func.max(m.Event.occurred_at))
        .where(m.Event.kind == "announcement", m.Event.related_community_id.is_not(None))
        .group_by(m.Event.community_id, m.Event.related_community_id)
    )
    for cid, related, count, first, last in session.execute(stmt):
        if related is not None and related != cid:
            _merge(announced, (int(cid), int(related)), int(count), first, last)
    out = []
    for key in sorted(set(merged) | set(announced)):
        mention = merged.get(key, _Agg())
        announce = announced.get(key, _Agg())
        both = _Agg()
        both.add(0, mention.first, mention.last)
        both.add(0, announce.first, announce.last)
        out.append(LinkCount(key[0], key[1], mention.count, announce.count, both.first, both.last))
    return out


def _migrations(session: Session) -> list[MigrationInfo]:
    stmt = select(m.Candidate).order_by(m.Candidate.source_id, m.Candidate.target_id)
    return [MigrationInfo(c.source_id, c.target_id, float(c.score), c.level, c.state, c.computed_at)
            for c in session.scalars(stmt)]


def _post_spans(session: Session) -> dict[int, tuple[datetime, datetime]]:
    """First and last post of each community by the posts' own dates. Posts without a date are left
    out: their only time is when they were fetched, which says when we looked, not when they were
    written."""
    stmt = (
        select(m.Post.community_id, func.min(m.Post.created_at), func.max(m.Post.created_at))
        .where(m.Post.created_at.is_not(None))
        .group_by(m.Post.community_id)
    )
    return {int(cid): (first, last) for cid, first, last in session.execute(stmt)
            if first is not None and last is not None}


def _stored_renames(session: Session) -> list[NameChange]:
    """Renames the detector stored as ``rename`` events (one per changed field), merged into one
    change per community and moment. Events without a readable field/old/new are skipped."""
    stmt = (
        select(m.Event.community_id, m.Event.occurred_at, m.Event.evidence)
        .where(m.Event.kind == "rename")
        .order_by(m.Event.community_id, m.Event.occurred_at, m.Event.id)
    )
    merged: dict[tuple[int, datetime], dict[str, str | None]] = {}
    for cid, at, evidence in session.execute(stmt):
        ev = evidence if isinstance(evidence, dict) else {}
        field_name = ev.get("field")
        if field_name not in ("title", "handle") or not ev.get("new"):
            log.info("graph: rename event of community %s at %s has no field/new value; skipped", cid, at)
            continue
        change = merged.setdefault((int(cid), at), {})
        change[f"old_{field_name}"] = ev.get("old")
        change[f"new_{field_name}"] = ev.get("new")
    return [NameChange(cid, at, c.get("old_handle"), c.get("new_handle"), c.get("old_title"), c.get("new_title"))
            for (cid, at), c in sorted(merged.items(), key=lambda kv: (kv[0][0], kv[0][1]))]


def _events(session: Session) -> list[EventInfo]:
    stmt = select(m.Event.community_id, m.Event.kind, m.Event.occurred_at, m.Event.related_community_id).order_by(
        m.Event.community_id, m.Event.occurred_at, m.Event.id)
    return [EventInfo(int(cid), kind, at, related) for cid, kind, at, related in session.execute(stmt)]


@dataclass(frozen=True)
class PairStatistics:
    """How to count shared members and reposted content between communities. The graph sits beside
    detection and does not import it: the service layer passes detection's statistics in
    (:func:`service.graph.load_graph_data`); without them the graph has no such edges."""

    shared_members: Callable[[Session, Collection[int] | None, int], list[SharedMembers]]
    reposted: Callable[[Session, Collection[int] | None], list[RepostedContent]]


def _members(session: Session, community_ids: Collection[int] | None) -> list[MemberLink]:
    """Memberships of members seen in at least two communities (the only ones that connect)."""
    multi = select(m.Membership.member_id).group_by(m.Membership.member_id).having(func.count() >= 2)
    if community_ids is not None:
        multi = multi.where(m.Membership.community_id.in_(list(community_ids)))
    stmt = (
        select(m.Member.pseudonym, m.Member.platform, m.Membership.community_id, m.Membership.first_seen,
               m.Membership.last_seen, m.Membership.seen_posting)
        .join(m.Member, m.Member.id == m.Membership.member_id)
        .where(m.Membership.member_id.in_(multi))
        .execution_options(yield_per=10000)
    )
    if community_ids is not None:
        stmt = stmt.where(m.Membership.community_id.in_(list(community_ids)))
    out = [MemberLink(member_key(pseudo), platform, int(cid), first, last, bool(posted))
           for pseudo, platform, cid, first, last, posted in session.execute(stmt)]
    out.sort(key=lambda x: (x.member_key, x.community_id))
    return out


def case_names(session: Session) -> list[str]:
    """Every case name some community carries, sorted."""
    stmt = select(m.Community.case_name).where(m.Community.case_name.is_not(None)).distinct()
    return sorted(str(c) for c in session.scalars(stmt) if c)


def load_graph_data(session: Session, *, members: bool = False, min_shared: int = 1,
                    community_ids: Collection[int] | None = None,
                    pair_stats: PairStatistics | None = None) -> GraphData:
    """Everything :func:`graph.builder.build_graph` needs. ``community_ids`` narrows the pair
    statistics (shared members, reposted content, member nodes) to pairs touching those ids."""
    rows, native_ids = _communities(session)
    renames, gone_at, old_handles = _snapshot_history(session)
    # Renames the detector stored win over ones recomputed from snapshots; the recomputed ones stay
    # only for communities the detector has not (yet) written a rename event for.
    stored = _stored_renames(session)
    stored_ids = {r.community_id for r in stored}
    renames = sorted([*stored, *(r for r in renames if r.community_id not in stored_ids)],
                     key=lambda r: (r.community_id, r.at))
    posts = _post_spans(session)
    communities = tuple(
        CommunityInfo(
            id=c.id, platform=c.platform, handle=c.handle, title=c.title, status=c.status, kind=c.kind,
            watch_state=c.watch_state, member_count=c.member_count, case_name=c.case_name,
            labels=tuple(str(x) for x in (c.labels or [])), url=c.url, first_seen=c.first_seen,
            last_seen=c.last_seen, created_at_platform=c.created_at_platform, removed_at=c.removed_at,
            gone_at=gone_at.get(c.id) if c.status in GONE_STATUSES else None,
            first_post=posts[c.id][0] if c.id in posts else None,
            last_post=posts[c.id][1] if c.id in posts else None,
        )
        for c in rows
    )
    resolver = CommunityResolver.build(communities, native_ids, old_handles)
    return GraphData(
        communities=communities,
        renames=tuple(renames),
        forwards=tuple(_forwards(session, resolver)),
        links=tuple(_links(session, resolver)),
        migrations=tuple(_migrations(session)),
        events=tuple(_events(session)),
        shared_members=tuple(pair_stats.shared_members(session, community_ids, min_shared)) if pair_stats else (),
        reposted=tuple(pair_stats.reposted(session, community_ids)) if pair_stats else (),
        members=tuple(_members(session, community_ids)) if members else (),
    )
