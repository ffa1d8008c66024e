"""Ingest: the single write path from crawler records to the store.

Idempotent: the same post twice is one row; an unchanged snapshot bumps the latest snapshot's
``last_observed_at`` instead of adding a row; memberships widen first/last seen. Raw member ids and
handles are replaced by keyed pseudonyms here, so they never reach the database (unless the
deployment sets ``privacy.store_raw_member_ids``).

Posts go in with bulk INSERT .. ON CONFLICT DO NOTHING .. RETURNING, batched per call, because
ingest has to keep up with full-history crawls (see bench/ingest.py). Everything in one call runs in
the caller's transaction: a failure loses the batch, never what was stored before.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crawlers import records as r
from store import models as m
from store.pseudonym import handle_pseudonym, member_pseudonym


@dataclass
class IngestStats:
    snapshots: int = 0
    snapshot_versions: int = 0
    posts_seen: int = 0
    posts_new: int = 0
    posts_updated: int = 0
    memberships: int = 0
    links: int = 0
    media: int = 0
    checkpoints: int = 0
    new_post_ids: list[int] = field(default_factory=list)
    changed_community_ids: set[int] = field(default_factory=set)

    def add(self, other: IngestStats) -> None:
        for name in ("snapshots", "snapshot_versions", "posts_seen", "posts_new", "posts_updated",
                     "memberships", "links", "media", "checkpoints"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.new_post_ids.extend(other.new_post_ids)
        self.changed_community_ids |= other.changed_community_ids


@dataclass
class IngestContext:
    """Per-run state: the key and id caches (pseudonym -> member id, community ref -> id)."""

    key: bytes
    store_raw_member_ids: bool = False
    target_community_id: int | None = None
    members: dict[str, int] = field(default_factory=dict)
    communities: dict[tuple[str, str], int] = field(default_factory=dict)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _content_hash(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# --- communities and snapshots -------------------------------------------------------------------


def _ref_keys(platform: str, native_id: str | None, handle: str | None) -> list[tuple[str, str]]:
    keys = []
    if native_id:
        keys.append((platform, "id:" + native_id))
    if handle:
        keys.append((platform, "@" + handle.lower()))
    return keys


def _remember(ctx: IngestContext, community: m.Community) -> None:
    for key in _ref_keys(community.platform, community.native_id, community.handle):
        ctx.communities[key] = community.id


def _find_by_native(session: Session, platform: str, native_id: str) -> m.Community | None:
    return session.scalar(
        select(m.Community).where(m.Community.platform == platform, m.Community.native_id == native_id)
    )


def _find_by_handle(session: Session, platform: str, handle: str) -> m.Community | None:
    return session.scalar(
        select(m.Community)
        .where(m.Community.platform == platform, func.lower(m.Community.handle) == handle.lower())
        .order_by(m.Community.native_id.is_(None).desc(), m.Community.id)
        .limit(1)
    )


def _resolve_snapshot_community(session: Session, snap: r.CommunitySnapshot, ctx: IngestContext) -> m.Community:
    """Find the community a snapshot describes, keyed by its stable native id, never by handle alone.

    A watched seed starts with a handle and no native id; its first successful snapshot fills it in.
    If the seed already has a different native id, its handle now belongs to another community
    (rename or handle reuse): the snapshot goes to that other community and the seed is marked.
    """
    target = session.get(m.Community, ctx.target_community_id) if ctx.target_community_id else None
    if snap.native_id:
        existing = _find_by_native(session, snap.platform, snap.native_id)
        if existing is not None:
            return existing
        if target is not None and target.platform == snap.platform:
            if target.native_id is None:
                target.native_id = snap.native_id
                return target
            if target.native_id != snap.native_id:
                target.attrs = {**(target.attrs or {}), "handle_now_points_to": snap.native_id}
        elif target is None and snap.handle:
            seed = _find_by_handle(session, snap.platform, snap.requested_handle or snap.handle)
            if seed is not None and seed.native_id is None:
                seed.native_id = snap.native_id
                return seed
        community = m.Community(platform=snap.platform, native_id=snap.native_id, handle=snap.handle,
                                url=snap.url, watch_state="seen", first_seen=snap.fetched_at,
                                last_seen=snap.fetched_at, labels=[], attrs={})
        session.add(community)
        session.flush()
        return community
    # No native id: the community could not be read. Attach the observation to what was asked for.
    if target is not None:
        return target
    handle = snap.requested_handle or snap.handle
    found = _find_by_handle(session, snap.platform, handle) if handle else None
    if found is not None:
        return found
    community = m.Community(platform=snap.platform, native_id=None, handle=handle, url=snap.url,
                            watch_state="seen", first_seen=snap.fetched_at, last_seen=snap.fetched_at,
                            labels=[], attrs={})
    session.add(community)
    session.flush()
    return community


def ingest_snapshot(session: Session, snap: r.CommunitySnapshot, ctx: IngestContext, stats: IngestStats) -> int:
    community = _resolve_snapshot_community(session, snap, ctx)
    readable = snap.native_id is not None and snap.status in (r.CommunityStatus.ACTIVE, r.CommunityStatus.RENAMED)
    content = _content_hash(snap.native_id, snap.handle, snap.title, snap.description, snap.status,
                            snap.member_count)
    payload = snap.payload_sha256 or r.payload_hash(snap)
    latest = session.scalar(
        select(m.Snapshot).where(m.Snapshot.community_id == community.id)
        .order_by(m.Snapshot.observed_at.desc(), m.Snapshot.id.desc()).limit(1)
    )
    stats.snapshots += 1
    if latest is not None and latest.content_sha256 == content:
        latest.last_observed_at = max(latest.last_observed_at, snap.fetched_at)
        latest.observations += 1
    else:
        session.add(m.Snapshot(
            community_id=community.id, observed_at=snap.fetched_at, last_observed_at=snap.fetched_at,
            native_id=snap.native_id, handle=snap.handle, title=snap.title, description=snap.description,
            status=snap.status, member_count=snap.member_count, online_count=snap.online_count,
            content_sha256=content, source_url=snap.source_url or snap.url, payload_sha256=payload,
            attrs=dict(snap.extra),
        ))
        stats.snapshot_versions += 1
        stats.changed_community_ids.add(community.id)
    # The community row carries the newest readable state; failures only change its status.
    community.status = snap.status
    community.last_seen = max(community.last_seen, snap.fetched_at)
    if readable:
        community.handle = snap.handle or community.handle
        community.title = snap.title if snap.title is not None else community.title
        community.description = snap.description if snap.description is not None else community.description
        community.url = snap.url or community.url
        community.member_count = snap.member_count if snap.member_count is not None else community.member_count
        if snap.kind != r.CommunityKind.UNKNOWN:
            community.kind = snap.kind
        community.created_at_platform = snap.created_at or community.created_at_platform
    session.flush()
    _remember(ctx, community)
    if snap.requested_handle:
        ctx.communities[(snap.platform, "@" + snap.requested_handle.lower())] = community.id
    _enqueue(session, "community", [community.id])
    return community.id


def community_id_for(session: Session, ref: r.CommunityRef, ctx: IngestContext, seen_at: datetime) -> int:
    for key in _ref_keys(ref.platform, ref.native_id, ref.handle):
        if key in ctx.communities:
            return ctx.communities[key]
    found = None
    if ref.native_id:
        found = _find_by_native(session, ref.platform, ref.native_id)
    if found is None and ref.handle:
        found = _find_by_handle(session, ref.platform, ref.handle)
    if found is None and ctx.target_community_id is not None and not ref.native_id and not ref.handle:
        found = session.get(m.Community, ctx.target_community_id)
    if found is None:
        # A post about a community we never observed: keep a stub so nothing is lost.
        found = m.Community(platform=ref.platform, native_id=ref.native_id, handle=ref.handle, url=ref.url,
                            title=ref.title, watch_state="seen", first_seen=seen_at, last_seen=seen_at,
                            labels=[], attrs={})
        session.add(found)
        session.flush()
    _remember(ctx, found)
    for key in _ref_keys(ref.platform, ref.native_id, ref.handle):
        ctx.communities[key] = found.id
    return found.id


# --- members ----------------------------------------------------------------------------------


def member_ids(session: Session, members: Sequence[r.RawMember], ctx: IngestContext,
               seen_at: datetime) -> list[int]:
    """Pseudonymise and upsert members; returns their row ids in order."""
    pseudonyms = [member_pseudonym(ctx.key, mb.platform, mb.user_id, mb.handle) for mb in members]
    missing: dict[str, dict[str, Any]] = {}
    for mb, pseudo in zip(members, pseudonyms, strict=True):
        if pseudo not in ctx.members and pseudo not in missing:
            missing[pseudo] = {
                "pseudonym": pseudo, "platform": mb.platform,
                "handle_pseudonym": handle_pseudonym(ctx.key, mb.handle),
                "raw_user_id": mb.user_id if ctx.store_raw_member_ids else None,
                "raw_handle": mb.handle if ctx.store_raw_member_ids else None,
                "first_seen": seen_at, "last_seen": seen_at,
            }
    if missing:
        rows = list(missing.values())
        session.connection().execute(
            _insert(session, m.Member.__table__).on_conflict_do_nothing(index_elements=["pseudonym"]), rows)
        keys = list(missing)
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            for pseudo, member_id in session.execute(
                select(m.Member.pseudonym, m.Member.id).where(m.Member.pseudonym.in_(chunk))
            ):
                ctx.members[pseudo] = member_id
    return [ctx.members[p] for p in pseudonyms]


def _upsert_memberships(session: Session, rows: dict[tuple[int, int], dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    table = m.Membership.__table__
    stmt = _insert(session, table)
    least, greatest = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
    excluded = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=["community_id", "member_id"],
        set_={
            "first_seen": least(table.c.first_seen, excluded.first_seen),
            "last_seen": greatest(table.c.last_seen, excluded.last_seen),
            "seen_posting": table.c.seen_posting | excluded.seen_posting,
            "seen_listed": table.c.seen_listed | excluded.seen_listed,
        },
    )
    session.connection().execute(stmt, list(rows.values()))


def _merge_membership(rows: dict[tuple[int, int], dict[str, Any]], community_id: int, member_id: int,
                      seen_at: datetime, how: str) -> None:
    key = (community_id, member_id)
    row = rows.get(key)
    if row is None:
        rows[key] = {"community_id": community_id, "member_id": member_id, "first_seen": seen_at,
                     "last_seen": seen_at, "seen_posting": how == "posted", "seen_listed": how != "posted"}
        return
    row["first_seen"] = min(row["first_seen"], seen_at)
    row["last_seen"] = max(row["last_seen"], seen_at)
    row["seen_posting"] = row["seen_posting"] or how == "posted"
    row["seen_listed"] = row["seen_listed"] or how != "posted"


# --- posts ------------------------------------------------------------------------------------


def _post_row(post: r.Post, community_id: int, author_id: int | None) -> dict[str, Any]:
    fwd = post.forwarded_from
    return {
        "community_id": community_id, "native_post_id": post.native_post_id, "url": post.url,
        "author_id": author_id, "created_at": post.created_at, "edited_at": post.edited_at,
        "fetched_at": post.fetched_at, "text": post.text, "text_purged_at": None, "kind": post.kind,
        "service_action": post.service_action, "service_value": post.service_value, "views": post.views,
        "reply_to": post.reply_to, "thread_id": post.thread_id, "thread_title": post.thread_title,
        "fwd_platform": fwd.platform if fwd else None, "fwd_native_id": fwd.native_id if fwd else None,
        "fwd_handle": fwd.handle.lower() if fwd and fwd.handle else None,
        "fwd_post_id": fwd.post_id if fwd else None, "fwd_name": fwd.name if fwd else None,
        "fwd_hidden": bool(fwd and fwd.hidden), "has_media": bool(post.media),
        "source_url": post.source_url or post.url,
        "payload_sha256": post.payload_sha256 or r.post_payload_hash(post),
        "attrs": dict(post.extra),
    }


def _enqueue(session: Session, doc_type: str, ids: Iterable[int]) -> None:
    """Mark documents for the search indexer with INSERT .. SELECT over the source table, the ids
    as one expanding parameter per chunk: no per-row parameter processing on the hot path."""
    id_list = list(ids)
    source_table = (m.Post if doc_type == "post" else m.Community).__table__
    now = m.utcnow()
    conn = session.connection()
    for start in range(0, len(id_list), 900):
        chunk = id_list[start:start + 900]
        rows = select(literal(doc_type), source_table.c.id, literal("upsert"),
                      literal(now, m.UTCDateTime()), literal(0)).where(source_table.c.id.in_(chunk))
        stmt = _insert(session, m.IndexOutbox.__table__).from_select(
            ["doc_type", "doc_id", "op", "enqueued_at", "attempts"], rows)
        # A document already queued gets a fresh enqueued_at: the indexer removes a row only if it
        # is unchanged since it read it, so a change made while indexing is not lost.
        conn.execute(stmt.on_conflict_do_update(index_elements=["doc_type", "doc_id"],
                                                set_={"enqueued_at": stmt.excluded.enqueued_at}))


def ingest_posts(session: Session, posts: Sequence[r.Post], ctx: IngestContext, stats: IngestStats,
                 memberships: dict[tuple[int, int], dict[str, Any]]) -> None:
    if not posts:
        return
    # Last occurrence wins when a batch repeats a post.
    unique: dict[tuple[int, str], tuple[r.Post, int]] = {}
    for post in posts:
        cid = community_id_for(session, post.community, ctx, post.fetched_at)
        unique[(cid, post.native_post_id)] = (post, cid)
    items = list(unique.values())
    authored = [(i, p.author) for i, (p, _) in enumerate(items) if p.author is not None]
    ids = member_ids(session, [a for _, a in authored], ctx, posts[0].fetched_at) if authored else []
    author_of: dict[int, int] = {i: mid for (i, _), mid in zip(authored, ids, strict=True)}
    rows = [_post_row(p, cid, author_of.get(i)) for i, (p, cid) in enumerate(items)]
    stats.posts_seen += len(rows)

    posts_table = m.Post.__table__
    stmt = (
        _insert(session, posts_table)
        .on_conflict_do_nothing(index_elements=["community_id", "native_post_id"])
        .returning(posts_table.c.id, posts_table.c.community_id, posts_table.c.native_post_id)
    )
    new: dict[tuple[int, str], int] = {}
    conn = session.connection()
    for start in range(0, len(rows), 1000):
        result = conn.execute(stmt, rows[start:start + 1000])
        for post_id, cid, native in result:
            new[(cid, native)] = post_id
    stats.posts_new += len(new)
    stats.new_post_ids.extend(new.values())

    existing = [(key, item) for key, item in unique.items() if key not in new]
    if existing:
        _update_changed_posts(session, existing, stats)

    link_rows: list[dict[str, Any]] = []
    media_rows: list[dict[str, Any]] = []
    for i, (post, cid) in enumerate(items):
        if post.author is not None:
            _merge_membership(memberships, cid, author_of[i], post.created_at or post.fetched_at, "posted")
        post_id = new.get((cid, post.native_post_id))
        if post_id is None:
            continue
        for link in post.links:
            link_rows.append({
                "post_id": post_id, "community_id": cid, "url": link.url, "kind": str(link.kind),
                "target_platform": link.platform, "target_handle": link.handle.lower() if link.handle else None,
                "invite_code": link.invite_code, "target_post_id": link.post_id, "is_private": link.is_private,
                "found_at": post.fetched_at,
            })
        for fp in post.media:
            media_rows.append({
                "post_id": post_id, "sha256": fp.sha256, "pdq": fp.pdq, "pdq_quality": fp.pdq_quality,
                "kind": fp.kind, "width": fp.width, "height": fp.height, "source_url": fp.source_url,
                "created_at": post.fetched_at,
            })
    if link_rows:
        conn.execute(_insert(session, m.Link.__table__).on_conflict_do_nothing(index_elements=["post_id", "url"]),
                     link_rows)
        stats.links += len(link_rows)
    if media_rows:
        conn.execute(
            _insert(session, m.MediaFingerprint.__table__).on_conflict_do_nothing(index_elements=["post_id", "sha256"]),
            media_rows,
        )
        stats.media += len(media_rows)
    _enqueue(session, "post", new.values())


def _update_changed_posts(session: Session, existing: list[tuple[tuple[int, str], tuple[r.Post, int]]],
                          stats: IngestStats) -> None:
    """Re-seen posts: keep one row, but record an edit (text or edited_at changed) and fresh views."""
    by_community: dict[int, dict[str, r.Post]] = {}
    for (cid, native), (post, _) in existing:
        by_community.setdefault(cid, {})[native] = post
    changed: list[int] = []
    for cid, posts in by_community.items():
        natives = list(posts)
        for start in range(0, len(natives), 500):
            chunk = natives[start:start + 500]
            for row in session.execute(
                select(m.Post.id, m.Post.native_post_id, m.Post.text, m.Post.edited_at, m.Post.text_purged_at)
                .where(m.Post.community_id == cid, m.Post.native_post_id.in_(chunk))
            ):
                post = posts[row.native_post_id]
                values: dict[str, Any] = {}
                if post.views is not None:
                    values["views"] = post.views
                edited = post.edited_at is not None and post.edited_at != row.edited_at
                if row.text_purged_at is None and (edited or (post.text is not None and post.text != row.text)):
                    values.update(text=post.text, edited_at=post.edited_at, fetched_at=post.fetched_at)
                    changed.append(row.id)
                if values:
                    session.execute(update(m.Post).where(m.Post.id == row.id).values(**values))
    stats.posts_updated += len(changed)
    _enqueue(session, "post", changed)


# --- the entry point -------------------------------------------------------------------------


def ingest(session: Session, records: Iterable[r.Record], ctx: IngestContext) -> IngestStats:
    """Store a batch of records in the caller's transaction, in order."""
    stats = IngestStats()
    pending_posts: list[r.Post] = []
    memberships: dict[tuple[int, int], dict[str, Any]] = {}

    def flush_posts() -> None:
        ingest_posts(session, pending_posts, ctx, stats, memberships)
        pending_posts.clear()

    for record in records:
        if isinstance(record, r.Post):
            pending_posts.append(record)
            continue
        flush_posts()
        if isinstance(record, r.CommunitySnapshot):
            ingest_snapshot(session, record, ctx, stats)
        elif isinstance(record, r.Membership):
            cid = community_id_for(session, record.community, ctx, record.seen_at)
            (mid,) = member_ids(session, [record.member], ctx, record.seen_at)
            _merge_membership(memberships, cid, mid, record.seen_at, record.how)
        elif isinstance(record, r.Checkpoint):
            _upsert_memberships(session, memberships)
            stats.memberships += len(memberships)
            memberships.clear()
            save_checkpoint(session, community_id_for(session, record.community, ctx, m.utcnow()),
                            record.source, dict(record.cursor))
            stats.checkpoints += 1
        else:
            raise TypeError(f"ingest cannot store {type(record).__name__}")
    flush_posts()
    _upsert_memberships(session, memberships)
    stats.memberships += len(memberships)
    return stats


def save_checkpoint(session: Session, community_id: int, source: str, cursor: dict[str, Any]) -> None:
    stmt = _insert(session, m.Checkpoint).values(
        community_id=community_id, source=source, cursor=cursor, updated_at=m.utcnow()
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["community_id", "source"],
        set_={"cursor": stmt.excluded.cursor, "updated_at": stmt.excluded.updated_at},
    )
    session.execute(stmt)


def load_checkpoint(session: Session, community_id: int, source: str) -> dict[str, Any]:
    row = session.get(m.Checkpoint, (community_id, source))
    return dict(row.cursor) if row is not None else {}
