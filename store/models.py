"""The system of record: SQLAlchemy 2 models.

Portable across SQLite and PostgreSQL: JSON columns, timezone-aware UTC datetimes (see
:class:`UTCDateTime`), integer surrogate keys with natural unique keys beside them. Member rows hold
pseudonyms only; ``raw_user_id``/``raw_handle`` stay NULL unless ``privacy.store_raw_member_ids``.

Table and column names are storage keys: change them only with a migration.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC; returns timezone-aware UTC datetimes on every backend (SQLite drops tzinfo)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class Community(Base):
    __tablename__ = "communities"
    __table_args__ = (
        UniqueConstraint("platform", "native_id", name="uq_communities_platform_native_id"),
        Index("ix_communities_platform_handle", "platform", "handle"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    platform: Mapped[str] = mapped_column(String(32))
    native_id: Mapped[str | None] = mapped_column(String(512))
    handle: Mapped[str | None] = mapped_column(String(256))
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    url: Mapped[str | None] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32), default="unknown")
    status: Mapped[str] = mapped_column(String(32), default="active")
    member_count: Mapped[int | None] = mapped_column(BigInteger)
    watch_state: Mapped[str] = mapped_column(String(16), default="seed")  # seed, lead, candidate, ignored
    labels: Mapped[list[Any]] = mapped_column(default=list)
    case_name: Mapped[str | None] = mapped_column(String(128), index=True)
    # Soft reference (no FK): posts reference communities, so an FK here would be a cycle.
    origin_post_id: Mapped[int | None] = mapped_column(BigInteger)
    origin_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    depth: Mapped[int] = mapped_column(Integer, default=0)
    crawl_interval_minutes: Mapped[int | None] = mapped_column(Integer)
    created_at_platform: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Snapshot(Base):
    """A distinct observed state. Unchanged observations bump ``last_observed_at``/``observations``
    of the latest row instead of adding one."""

    __tablename__ = "snapshots"
    __table_args__ = (Index("ix_snapshots_community_observed", "community_id", "observed_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    observed_at: Mapped[datetime]
    last_observed_at: Mapped[datetime]
    observations: Mapped[int] = mapped_column(Integer, default=1)
    native_id: Mapped[str | None] = mapped_column(String(512))
    handle: Mapped[str | None] = mapped_column(String(256))
    title: Mapped[str | None] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32))
    member_count: Mapped[int | None] = mapped_column(BigInteger)
    online_count: Mapped[int | None] = mapped_column(BigInteger)
    content_sha256: Mapped[str] = mapped_column(String(64))
    source_url: Mapped[str | None] = mapped_column(Text)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    platform: Mapped[str] = mapped_column(String(32))
    handle_pseudonym: Mapped[str | None] = mapped_column(String(64), index=True)
    raw_user_id: Mapped[str | None] = mapped_column(String(256))
    raw_handle: Mapped[str | None] = mapped_column(String(256))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


FORWARDED = "fwd_native_id IS NOT NULL OR fwd_handle IS NOT NULL"


class Post(Base):
    __tablename__ = "posts"
    __table_args__ = (
        UniqueConstraint("community_id", "native_post_id", name="uq_posts_community_native_post_id"),
        Index("ix_posts_community_created", "community_id", "created_at"),
        # the forwarded posts alone (detection's forwards signal reads them all, and most posts are not)
        Index("ix_posts_forwarded", "id", sqlite_where=text(FORWARDED), postgresql_where=text(FORWARDED)),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    native_post_id: Mapped[str] = mapped_column(String(256))
    url: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"), index=True)
    created_at: Mapped[datetime | None]
    edited_at: Mapped[datetime | None]
    fetched_at: Mapped[datetime]
    text: Mapped[str | None] = mapped_column(Text)
    text_purged_at: Mapped[datetime | None]
    kind: Mapped[str] = mapped_column(String(16), default="post")
    service_action: Mapped[str | None] = mapped_column(String(64))
    service_value: Mapped[str | None] = mapped_column(Text)
    views: Mapped[int | None] = mapped_column(BigInteger)
    reply_to: Mapped[str | None] = mapped_column(String(256))
    thread_id: Mapped[str | None] = mapped_column(String(256))
    thread_title: Mapped[str | None] = mapped_column(Text)
    fwd_platform: Mapped[str | None] = mapped_column(String(32))
    fwd_native_id: Mapped[str | None] = mapped_column(String(512))
    fwd_handle: Mapped[str | None] = mapped_column(String(256), index=True)
    fwd_post_id: Mapped[str | None] = mapped_column(String(256))
    fwd_name: Mapped[str | None] = mapped_column(Text)
    fwd_hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    has_media: Mapped[bool] = mapped_column(Boolean, default=False)
    source_url: Mapped[str | None] = mapped_column(Text)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_member_community", "member_id", "community_id"),
                      Index("ix_memberships_community_first_seen", "community_id", "first_seen"))

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    seen_posting: Mapped[bool] = mapped_column(Boolean, default=False)
    seen_listed: Mapped[bool] = mapped_column(Boolean, default=False)


class MediaFingerprint(Base):
    __tablename__ = "media_fingerprints"
    __table_args__ = (UniqueConstraint("post_id", "sha256", name="uq_media_fingerprints_post_sha256"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    pdq: Mapped[str | None] = mapped_column(String(64), index=True)
    pdq_quality: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16), default="photo")
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    source_url: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TextSignature(Base):
    """MinHash signature of a post text above the minimum length (kept after text purge)."""

    __tablename__ = "text_signatures"

    post_id: Mapped[int] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True)
    num_perm: Mapped[int] = mapped_column(Integer)
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class Link(Base):
    __tablename__ = "links"
    __table_args__ = (
        UniqueConstraint("post_id", "url", name="uq_links_post_url"),
        Index("ix_links_target", "target_platform", "target_handle"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"), index=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))
    target_platform: Mapped[str | None] = mapped_column(String(32))
    target_handle: Mapped[str | None] = mapped_column(String(256))
    invite_code: Mapped[str | None] = mapped_column(String(256))
    target_post_id: Mapped[str | None] = mapped_column(String(256))
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    found_at: Mapped[datetime] = mapped_column(default=utcnow)


class Lead(Base):
    """A community reached through a link (or a name search); private invites wait for a human."""

    __tablename__ = "leads"
    __table_args__ = (UniqueConstraint("url", name="uq_leads_url"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(32))  # link kind, or "search"
    platform: Mapped[str | None] = mapped_column(String(32))
    handle: Mapped[str | None] = mapped_column(String(256))
    invite_code: Mapped[str | None] = mapped_column(String(256))
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(String(16), default="new")  # new, watching, needs_human, ignored
    depth: Mapped[int] = mapped_column(Integer, default=1)
    source_post_id: Mapped[int | None] = mapped_column(ForeignKey("posts.id", ondelete="SET NULL"))
    source_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Checkpoint(Base):
    __tablename__ = "checkpoints"

    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), primary_key=True)
    source: Mapped[str] = mapped_column(String(64), primary_key=True)
    cursor: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CrawlRun(Base):
    __tablename__ = "crawl_runs"
    __table_args__ = (Index("ix_crawl_runs_community_started", "community_id", "started_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    source: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str] = mapped_column(String(16), default="running")  # ok, failed, unavailable, skipped
    error: Mapped[str | None] = mapped_column(Text)
    records: Mapped[int] = mapped_column(Integer, default=0)
    new_posts: Mapped[int] = mapped_column(Integer, default=0)
    next_run_at: Mapped[datetime | None]


class Event(Base):
    __tablename__ = "events"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # rename, shutdown, surge, announcement, handle_reuse
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    related_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    occurred_at: Mapped[datetime]
    detected_at: Mapped[datetime] = mapped_column(default=utcnow)
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Candidate(Base):
    __tablename__ = "candidates"
    __table_args__ = (UniqueConstraint("source_id", "target_id", name="uq_candidates_source_target"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("communities.id", ondelete="CASCADE"), index=True)
    score: Mapped[float] = mapped_column(Float)
    level: Mapped[str] = mapped_column(String(16))
    signals: Mapped[list[Any]] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(16), default="open")  # open, confirmed, dismissed
    dismissed_score: Mapped[float | None] = mapped_column(Float)
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # migration, rebrand, shutdown, hash_match, surge
    dedup_key: Mapped[str] = mapped_column(String(255), unique=True)
    level: Mapped[str] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    source_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    target_community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id", ondelete="SET NULL"))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the alert JSON (docs/alerts.md) minus id/state
    state: Mapped[str] = mapped_column(String(16), default="new", index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """Outbox row: one alert (or escalation) for one audience. Written with the alert."""

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id", ondelete="CASCADE"), index=True)
    audience: Mapped[str] = mapped_column(String(64))
    level: Mapped[str] = mapped_column(String(16))
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending, sending, sent, failed, digest
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]
    digest_key: Mapped[str | None] = mapped_column(String(128))
    attrs: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DeliveryAttempt(Base):
    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    ok: Mapped[bool] = mapped_column(Boolean)
    error: Mapped[str | None] = mapped_column(Text)


class AuditEntry(Base):
    """Append-only, hash-chained: ``hash`` = SHA-256(prev_hash + canonical entry); ``mac`` = HMAC-SHA-256
    of ``hash`` under the audit key, which lives outside the database (so a forger who recomputes the
    chain cannot recompute the MACs). NULL ``mac`` only on entries written before audit keys existed."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str | None] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    mac: Mapped[str | None] = mapped_column(String(64))


class IndexOutbox(Base):
    """What the search indexer still has to (re)index. One row per document; drained in batches."""

    __tablename__ = "index_outbox"
    __table_args__ = (UniqueConstraint("doc_type", "doc_id", name="uq_index_outbox_doc"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    doc_type: Mapped[str] = mapped_column(String(16))  # post, community
    doc_id: Mapped[int] = mapped_column(BigInteger)
    op: Mapped[str] = mapped_column(String(8), default="upsert")  # upsert, delete
    enqueued_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class HashList(Base):
    __tablename__ = "hash_lists"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    source_file: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HashListEntry(Base):
    __tablename__ = "hash_list_entries"
    __table_args__ = (UniqueConstraint("list_id", "pdq", name="uq_hash_list_entries_list_pdq"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("hash_lists.id", ondelete="CASCADE"), index=True)
    pdq: Mapped[str] = mapped_column(String(64))
    label: Mapped[str | None] = mapped_column(Text)


class KeyValue(Base):
    """Small durable state (detector watermarks, scheduler lock owner, index versions)."""

    __tablename__ = "kv"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebUser(Base):
    """A person who signs in to the workspace (``resurface users add``). ``password_hash`` is argon2id;
    NULL for single-sign-on accounts. ``role``: investigator, analyst, ngo or admin."""

    __tablename__ = "web_users"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str | None] = mapped_column(Text)
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    saved_searches: Mapped[list[Any]] = mapped_column(default=list)


class WebSession(Base):
    """A server-side session: the cookie holds only ``id`` (random); the CSRF token lives here."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class ApiToken(Base):
    """A per-user token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("web_users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    label: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
