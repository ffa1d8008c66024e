"""Ingest: the single write path from crawler records to the store.

Idempotent: the same post twice is one row; an unchanged snapshot bumps the latest snapshot's
``last_observed_at`` instead of adding a row; memberships widen first/last seen. Raw member ids and
handles are replaced by keyed pseudonyms here, so they never reach the database (unless the
deployment sets ``privacy.store_raw_member_ids``).

Retention holds at ingest too: a post older than ``retention_days`` (by its platform date, else its
fetch time, as in :mod:`store.retention`) is stored without its text and stamped ``text_purged_at``,
as if the purge had already run; and a post whose text was purged never gets a text back from a
re-crawl, edited or not.

Posts go in batched per call, because ingest has to keep up with full-history crawls (see
bench/ingest.py). On PostgreSQL (the portable path) that is one bulk INSERT .. ON CONFLICT DO NOTHING
.. RETURNING. On SQLite, SQLAlchemy's per-row parameter processing cost more than the database work,
so posts, members and memberships go through the driver's executemany with values pre-converted
exactly as SQLAlchemy stores them (see :func:`_sqlite_datetime`); tests check that both paths store
identical rows. Everything in one call runs in the caller's transaction: a failure loses the batch,
never what was stored before.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from model import records as r
from store import models as m
from store.pseudonym import handle_pseudonym, member_pseudonym
from store.resolve import find_by_handle, find_by_native, ref_keys

log = logging.getLogger("resurface.ingest")


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
    #: Force the portable (SQLAlchemy) write path on SQLite too; tests compare both paths.
    portable: bool = False
    #: ``privacy.retention_days``: texts of posts older than this are never stored (None: keep all).
    retention_days: int | None = None
    #: The clock retention is measured against (None: now). Tests fix it.
    now: datetime | None = None

    def text_cutoff(self) -> datetime | None:
        """Posts older than this are stored without their text."""
        if self.retention_days is None:
            return None
        return (self.now or m.utcnow()) - timedelta(days=self.retention_days)


def _insert(session: Session, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def _sqlite_fast(session: Session, ctx: IngestContext) -> bool:
    return not ctx.portable and session.get_bind().dialect.name == "sqlite"


def _sqlite_cursor(session: Session) -> Any:
    """A driver cursor on the session's own connection, so its writes are in the same transaction."""
    return session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]


def _sqlite_datetime(value: datetime | None) -> str | None:
    """A datetime as :class:`store.models.UTCDateTime` on SQLite stores it: naive means UTC, then
    converted to UTC and written as SQLAlchemy's SQLite DATETIME text, always with microseconds
    ("2026-01-01 12:00:00.000000"). ``isoformat`` is that text with a "T" and without zero
    microseconds, and several times faster than ``strftime``."""
    if value is None:
        return None
    if value.tzinfo is None:
        text = value.isoformat(" ")
    else:
        text = (value if value.tzinfo is UTC else value.astimezone(UTC)).isoformat(" ")[:-6]  # "+00:00"
    return text if value.microsecond else text + ".000000"


#: Memoised: a batch repeats its fetch time, and a post's creation time is also its author's
#: membership first/last seen.
_sqlite_datetime_memo = lru_cache(maxsize=16384)(_sqlite_datetime)


def _sqlite_json(value: Any) -> str:
    """A JSON column value as SQLAlchemy's JSON type stores it on SQLite (plain ``json.dumps``)."""
    return "{}" if isinstance(value, dict) and not value else json.dumps(value)


def _content_hash(*parts: Any) -> str:
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# --- communities and snapshots -------------------------------------------------------------------


def _remember(ctx: IngestContext, community: m.Community) -> None:
    for key in ref_keys(community.platform, community.native_id, community.handle):
        ctx.communities[key] = community.id


def _resolve_snapshot_community(session: Session, snap: r.CommunitySnapshot, ctx: IngestContext) -> m.Community:
    """Find the community a snapshot describes, keyed by its stable native id, never by handle alone.

    A watched seed starts with a handle and no native id; its first successful snapshot fills it in.
    If the seed already has a different native id, its handle now belongs to another community
    (rename or handle reuse): the snapshot goes to that other community and the seed is marked.
    """
    target = session.get(m.Community, ctx.target_community_id) if ctx.target_community_id else None
    if snap.native_id:
        existing = find_by_native(session, snap.platform, snap.native_id)
        if existing is not None:
            return existing
        if target is not None and target.platform == snap.platform:
            if target.native_id is None:
                target.native_id = snap.native_id
                return target
            if target.native_id != snap.native_id:
                target.attrs = {**(target.attrs or {}), "handle_now_points_to": snap.native_id}
        elif target is None and snap.handle:
            seed = find_by_handle(session, snap.platform, snap.requested_handle or snap.handle)
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
    found = find_by_handle(session, snap.platform, handle) if handle else None
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
        if snap.extra.get(r.STATUS_DEFINITIVE) and (latest.attrs or {}).get(r.STATUS_DEFINITIVE) is False:
            # the same status, now from an unambiguous answer: the row is no longer in doubt
            latest.attrs = {**(latest.attrs or {}), **snap.extra}
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
        for key in ref_keys(snap.platform, None, snap.requested_handle):
            ctx.communities[key] = community.id
    _enqueue(session, "community", [community.id])
    return community.id


def community_id_for(session: Session, ref: r.CommunityRef, ctx: IngestContext, seen_at: datetime) -> int:
    for key in ref_keys(ref.platform, ref.native_id, ref.handle):
        if key in ctx.communities:
            return ctx.communities[key]
    found = None
    if ref.native_id:
        found = find_by_native(session, ref.platform, ref.native_id)
    if found is None and ref.handle:
        found = find_by_handle(session, ref.platform, ref.handle)
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
    for key in ref_keys(ref.platform, ref.native_id, ref.handle):
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
    if missing and _sqlite_fast(session, ctx):
        _sqlite_insert_members(session, missing, ctx)
    elif missing:
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


_MEMBER_COLUMNS = ("pseudonym", "platform", "handle_pseudonym", "raw_user_id", "raw_handle", "first_seen",
                   "last_seen")


def _sqlite_insert_members(session: Session, missing: dict[str, dict[str, Any]], ctx: IngestContext) -> None:
    """The SQLite member upsert: driver executemany, then the ids by pseudonym (500 per query)."""
    cur = _sqlite_cursor(session)
    cur.executemany(
        f"INSERT INTO members ({', '.join(_MEMBER_COLUMNS)}) VALUES ({', '.join('?' * len(_MEMBER_COLUMNS))})"
        " ON CONFLICT (pseudonym) DO NOTHING",
        [(row["pseudonym"], row["platform"], row["handle_pseudonym"], row["raw_user_id"], row["raw_handle"],
          _sqlite_datetime_memo(row["first_seen"]), _sqlite_datetime_memo(row["last_seen"]))
         for row in missing.values()],
    )
    keys = list(missing)
    for start in range(0, len(keys), 500):
        chunk = keys[start:start + 500]
        cur.execute(f"SELECT pseudonym, id FROM members WHERE pseudonym IN ({', '.join('?' * len(chunk))})", chunk)
        ctx.members.update(cur.fetchall())
    cur.close()


_SQLITE_UPSERT_MEMBERSHIPS = (
    "INSERT INTO memberships (community_id, member_id, first_seen, last_seen, seen_posting, seen_listed)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (community_id, member_id) DO UPDATE SET"
    " first_seen = min(memberships.first_seen, excluded.first_seen),"
    " last_seen = max(memberships.last_seen, excluded.last_seen),"
    " seen_posting = (memberships.seen_posting OR excluded.seen_posting),"
    " seen_listed = (memberships.seen_listed OR excluded.seen_listed)"
)


def _upsert_memberships(session: Session, rows: dict[tuple[int, int], dict[str, Any]], ctx: IngestContext) -> None:
    if not rows:
        return
    if _sqlite_fast(session, ctx):
        # Text min/max is time order: every stored value has the one fixed-width UTC format.
        cur = _sqlite_cursor(session)
        cur.executemany(_SQLITE_UPSERT_MEMBERSHIPS, [
            (row["community_id"], row["member_id"], _sqlite_datetime_memo(row["first_seen"]),
             _sqlite_datetime_memo(row["last_seen"]), int(row["seen_posting"]), int(row["seen_listed"]))
            for row in rows.values()
        ])
        cur.close()
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


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _withheld_at(post: r.Post, cutoff: datetime | None, now: datetime) -> datetime | None:
    """``now`` when the post is older than the retention cut-off (its text is not stored), else None."""
    if cutoff is None or post.text is None:
        return None
    return now if _as_utc(post.created_at or post.fetched_at) < cutoff else None


def _post_row(post: r.Post, community_id: int, author_id: int | None,
              withheld_at: datetime | None = None) -> dict[str, Any]:
    fwd = post.forwarded_from
    return {
        "community_id": community_id, "native_post_id": post.native_post_id, "url": post.url,
        "author_id": author_id, "created_at": post.created_at, "edited_at": post.edited_at,
        "fetched_at": post.fetched_at, "text": None if withheld_at else post.text, "text_purged_at": withheld_at,
        "kind": post.kind,
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
    last_ref: r.CommunityRef | None = None
    cid = 0
    for post in posts:
        if post.community is not last_ref:  # a page's posts share one ref object: resolve it once
            cid = community_id_for(session, post.community, ctx, post.fetched_at)
            last_ref = post.community
        unique[(cid, post.native_post_id)] = (post, cid)
    items = list(unique.values())
    authored = [(i, p.author) for i, (p, _) in enumerate(items) if p.author is not None]
    ids = member_ids(session, [a for _, a in authored], ctx, posts[0].fetched_at) if authored else []
    author_of: dict[int, int] = {i: mid for (i, _), mid in zip(authored, ids, strict=True)}
    stats.posts_seen += len(items)

    cutoff = ctx.text_cutoff()
    now = ctx.now or m.utcnow()
    withheld = {i: _withheld_at(p, cutoff, now) for i, (p, _) in enumerate(items)} if cutoff else {}
    if any(withheld.values()):
        log.info("retention: %d posts older than %d days stored without their text",
                 sum(1 for w in withheld.values() if w), ctx.retention_days)

    fast = _sqlite_fast(session, ctx)
    if fast:
        new = _sqlite_insert_posts(session, unique, author_of, stats, withheld, cutoff, now)
    else:
        rows = [_post_row(p, cid, author_of.get(i), withheld.get(i)) for i, (p, cid) in enumerate(items)]
        posts_table = m.Post.__table__
        stmt = (
            _insert(session, posts_table)
            .on_conflict_do_nothing(index_elements=["community_id", "native_post_id"])
            .returning(posts_table.c.id, posts_table.c.community_id, posts_table.c.native_post_id)
        )
        new = {}
        conn = session.connection()
        for start in range(0, len(rows), 1000):
            result = conn.execute(stmt, rows[start:start + 1000])
            for post_id, cid, native in result:
                new[(cid, native)] = post_id
        existing = [(key, item) for key, item in unique.items() if key not in new]
        if existing:
            _update_changed_posts(session, _stored_posts(session, existing), stats, cutoff, now)
    stats.posts_new += len(new)
    stats.new_post_ids.extend(new.values())
    conn = session.connection()

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
    if not fast:  # the SQLite path has queued its new posts already
        _enqueue(session, "post", new.values())


_POST_COLUMNS = (
    "community_id", "native_post_id", "url", "author_id", "created_at", "edited_at", "fetched_at", "text",
    "text_purged_at", "kind", "service_action", "service_value", "views", "reply_to", "thread_id", "thread_title",
    "fwd_platform", "fwd_native_id", "fwd_handle", "fwd_post_id", "fwd_name", "fwd_hidden", "has_media",
    "source_url", "payload_sha256", "attrs",
)
_SQLITE_INSERT_POST = (f"INSERT INTO posts ({', '.join(_POST_COLUMNS)})"
                       f" VALUES ({', '.join('?' * len(_POST_COLUMNS))})"
                       " ON CONFLICT (community_id, native_post_id) DO NOTHING")


def _sqlite_post_values(post: r.Post, community_id: int, author_id: int | None,
                        withheld_at: datetime | None = None) -> tuple[Any, ...]:
    """:func:`_post_row` as the tuple SQLAlchemy would bind on SQLite, in ``_POST_COLUMNS`` order
    (datetimes as text, booleans as 0/1, ``attrs`` as JSON text)."""
    fwd = post.forwarded_from
    return (
        community_id, post.native_post_id, post.url, author_id, _sqlite_datetime_memo(post.created_at),
        _sqlite_datetime_memo(post.edited_at), _sqlite_datetime_memo(post.fetched_at),
        None if withheld_at else post.text, _sqlite_datetime(withheld_at), post.kind,
        post.service_action, post.service_value, post.views, post.reply_to, post.thread_id, post.thread_title,
        fwd.platform if fwd else None, fwd.native_id if fwd else None,
        fwd.handle.lower() if fwd and fwd.handle else None, fwd.post_id if fwd else None,
        fwd.name if fwd else None, int(bool(fwd and fwd.hidden)), int(bool(post.media)),
        post.source_url or post.url, post.payload_sha256 or r.post_payload_hash(post),
        _sqlite_json(dict(post.extra)) if post.extra else "{}",
    )


def _sqlite_insert_posts(session: Session, unique: dict[tuple[int, str], tuple[r.Post, int]],
                         author_of: dict[int, int], stats: IngestStats,
                         withheld: dict[int, datetime | None], cutoff: datetime | None,
                         now: datetime) -> dict[tuple[int, str], int]:
    """SQLite posts without SQLAlchemy's per-row work; returns the new rows' ids by (community, native id).

    A no-op write first takes SQLite's write lock (pysqlite starts no transaction for a SELECT), so
    no other writer can insert until commit. Holding it, the rows this INSERT adds get rowids above
    the old maximum: one range query reads exactly the new posts back (the others were already
    stored), where RETURNING would cost SQLAlchemy's per-row processing again.
    """
    cur = _sqlite_cursor(session)
    cur.execute("UPDATE posts SET id = id WHERE 0")
    cur.execute("SELECT coalesce(max(id), 0) FROM posts")
    (before,) = cur.fetchone()
    cur.executemany(_SQLITE_INSERT_POST, [_sqlite_post_values(post, cid, author_of.get(i), withheld.get(i))
                                          for i, (post, cid) in enumerate(unique.values())])
    inserted = cur.rowcount
    new: dict[tuple[int, str], int] = {}
    cur.execute("SELECT id, community_id, native_post_id FROM posts WHERE id > ?", (before,))
    for post_id, cid, native in cur:
        new[(cid, native)] = post_id
    cur.close()
    if len(new) != inserted:  # SQLite hands out random rowids only past 2**63 - 1
        raise RuntimeError(f"posts: inserted {inserted} rows but read back {len(new)}")
    if new:
        # Same rows as _enqueue(session, "post", new.values()), as one range INSERT .. SELECT.
        session.connection().exec_driver_sql(
            "INSERT INTO index_outbox (doc_type, doc_id, op, enqueued_at, attempts)"
            " SELECT 'post', id, 'upsert', ?, 0 FROM posts WHERE id > ? ORDER BY id"
            " ON CONFLICT (doc_type, doc_id) DO UPDATE SET enqueued_at = excluded.enqueued_at",
            (_sqlite_datetime(m.utcnow()), before),
        )
    existing = [(key, item) for key, item in unique.items() if key not in new]
    if existing:
        _update_changed_posts(session, _stored_posts(session, existing), stats, cutoff, now)
    return new


def _stored_posts(session: Session, items: list[tuple[tuple[int, str], tuple[r.Post, int]]]
                  ) -> dict[tuple[int, str], tuple[r.Post, Any]]:
    """The stored rows of those posts that are already in the store, with the re-seen record."""
    by_community: dict[int, dict[str, r.Post]] = {}
    for (cid, native), (post, _) in items:
        by_community.setdefault(cid, {})[native] = post
    found: dict[tuple[int, str], tuple[r.Post, Any]] = {}
    for cid, posts in by_community.items():
        natives = list(posts)
        for start in range(0, len(natives), 500):
            chunk = natives[start:start + 500]
            for row in session.execute(
                select(m.Post.id, m.Post.native_post_id, m.Post.text, m.Post.edited_at, m.Post.text_purged_at)
                .where(m.Post.community_id == cid, m.Post.native_post_id.in_(chunk))
            ):
                found[(cid, row.native_post_id)] = (posts[row.native_post_id], row)
    return found


def _update_changed_posts(session: Session, stored: dict[tuple[int, str], tuple[r.Post, Any]],
                          stats: IngestStats, cutoff: datetime | None, now: datetime) -> None:
    """Re-seen posts: keep one row, but record an edit (text or edited_at changed) and fresh views.

    A purged text is never written back, and neither is the edit of a post past the retention cut-off.
    """
    changed: list[int] = []
    for post, row in stored.values():
        values: dict[str, Any] = {}
        if post.views is not None:
            values["views"] = post.views
        edited = post.edited_at is not None and post.edited_at != row.edited_at
        expired = _withheld_at(post, cutoff, now) is not None
        if (row.text_purged_at is None and not expired
                and (edited or (post.text is not None and post.text != row.text))):
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
            _upsert_memberships(session, memberships, ctx)
            stats.memberships += len(memberships)
            memberships.clear()
            save_checkpoint(session, community_id_for(session, record.community, ctx, m.utcnow()),
                            record.source, dict(record.cursor))
            stats.checkpoints += 1
        else:
            raise TypeError(f"ingest cannot store {type(record).__name__}")
    flush_posts()
    _upsert_memberships(session, memberships, ctx)
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
