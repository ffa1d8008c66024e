"""The records every crawler yields and ingest consumes.

Records are frozen, slotted dataclasses. They carry *raw* member identifiers (``RawMember``) only
between a crawler and :func:`store.ingest.ingest`, which replaces them with keyed pseudonyms before
anything touches the database. Media appear only as fingerprints: no record type can hold bytes.

Names here are storage keys (they end up in columns and JSON): do not rename them casually.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Platform(StrEnum):
    TELEGRAM = "telegram"
    REDDIT = "reddit"
    DISCOURSE = "discourse"
    PHPBB = "phpbb"
    XENFORO = "xenforo"
    DISCORD = "discord"
    WHATSAPP = "whatsapp"
    SIGNAL = "signal"
    FACEBOOK = "facebook"
    WEB = "web"
    OTHER = "other"


class CommunityKind(StrEnum):
    CHANNEL = "channel"
    GROUP = "group"
    SUBREDDIT = "subreddit"
    FORUM = "forum"
    BOARD = "board"
    THREAD = "thread"
    PAGE = "page"
    UNKNOWN = "unknown"


class CommunityStatus(StrEnum):
    ACTIVE = "active"
    RENAMED = "renamed"
    PRIVATE = "private"
    BANNED = "banned"
    QUARANTINED = "quarantined"
    DELETED = "deleted"
    REMOVED = "removed"
    UNREACHABLE = "unreachable"


#: Statuses that mean "cannot be read publicly any more" (shutdown candidates).
GONE_STATUSES = frozenset(
    {CommunityStatus.PRIVATE, CommunityStatus.BANNED, CommunityStatus.DELETED, CommunityStatus.REMOVED}
)


#: Keys in ``CommunitySnapshot.extra`` (stored in the snapshot's attrs) that say how sure a crawler is
#: of the status it reports. A gone status from an ambiguous answer (a bare 403/404 that a proxy or a
#: moment of rate limiting could have produced) carries ``status_definitive = False`` and needs the
#: same confirmation as "unreachable"; an unambiguous answer (Reddit's ``reason: banned``, Telegram's
#: "this channel does not exist") carries ``True``. ``status_evidence`` says, in words, what was seen.
STATUS_DEFINITIVE = "status_definitive"
STATUS_EVIDENCE = "status_evidence"


class LinkKind(StrEnum):
    TELEGRAM_PUBLIC = "telegram_public"  # t.me/handle, t.me/s/handle, tg://resolve?domain=
    TELEGRAM_POST = "telegram_post"  # t.me/handle/123
    TELEGRAM_INVITE = "telegram_invite"  # t.me/+CODE, t.me/joinchat/CODE (private)
    DISCORD_INVITE = "discord_invite"
    WHATSAPP_INVITE = "whatsapp_invite"
    SIGNAL_GROUP = "signal_group"
    REDDIT_SUBREDDIT = "reddit_subreddit"
    REDDIT_POST = "reddit_post"
    FORUM = "forum"  # a URL that looks like a forum (phpBB, XenForo, Discourse paths)
    WEB = "web"


@dataclass(frozen=True, slots=True)
class ExtractedLink:
    """A link found in a post, normalised and classified (see :mod:`crawlers.links`)."""

    url: str
    kind: LinkKind
    raw: str = ""
    platform: str | None = None
    handle: str | None = None
    invite_code: str | None = None
    post_id: str | None = None
    is_private: bool = False

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True, slots=True)
class CommunityRef:
    """Points at a community: by stable native id where known, else by handle."""

    platform: str
    native_id: str | None = None
    handle: str | None = None
    url: str | None = None
    title: str | None = None


@dataclass(frozen=True, slots=True)
class RawMember:
    """A platform user as a crawler sees it. Never stored: ingest turns it into pseudonyms."""

    platform: str
    user_id: str | None = None
    handle: str | None = None

    def __repr__(self) -> str:  # keep raw ids out of logs and tracebacks
        return f"RawMember(platform={self.platform!r}, user_id=<hidden>, handle=<hidden>)"


@dataclass(frozen=True, slots=True)
class MediaFingerprint:
    sha256: str
    pdq: str | None = None  # 64 hex chars (256 bits)
    pdq_quality: int | None = None
    kind: str = "photo"
    width: int | None = None
    height: int | None = None
    source_url: str | None = None


@dataclass(frozen=True, slots=True)
class ForwardRef:
    """Where a post was forwarded from. ``hidden`` when the origin hides its identity."""

    platform: str
    native_id: str | None = None
    handle: str | None = None
    post_id: str | None = None
    name: str | None = None
    hidden: bool = False


@dataclass(frozen=True, slots=True)
class CommunitySnapshot:
    """One observation of a community's metadata. ``native_id`` is the stable key (Telegram
    channel id, subreddit id, forum base URL); handles change, native ids do not."""

    platform: str
    native_id: str | None  # None only when the community could not be read (unreachable, gone)
    handle: str | None
    url: str
    fetched_at: datetime
    title: str | None = None
    description: str | None = None
    kind: str = CommunityKind.UNKNOWN
    status: str = CommunityStatus.ACTIVE
    member_count: int | None = None
    online_count: int | None = None
    created_at: datetime | None = None
    source_url: str | None = None
    payload_sha256: str | None = None
    requested_handle: str | None = None  # the handle we asked for, when it resolved elsewhere
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.url

    @property
    def ref(self) -> CommunityRef:
        return CommunityRef(self.platform, self.native_id, self.handle, self.url, self.title)


@dataclass(frozen=True, slots=True)
class Post:
    community: CommunityRef
    native_post_id: str
    url: str
    fetched_at: datetime
    created_at: datetime | None = None
    edited_at: datetime | None = None
    author: RawMember | None = None
    text: str | None = None
    links: tuple[ExtractedLink, ...] = ()
    forwarded_from: ForwardRef | None = None
    media: tuple[MediaFingerprint, ...] = ()
    views: int | None = None
    kind: str = "post"  # post, comment, service
    service_action: str | None = None  # e.g. "title_changed", "photo_changed", "username_changed"
    service_value: str | None = None  # e.g. the new title
    reply_to: str | None = None
    thread_id: str | None = None
    thread_title: str | None = None
    source_url: str | None = None
    payload_sha256: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return self.url


@dataclass(frozen=True, slots=True)
class Membership:
    """A member seen in a community (listed as participant, or by posting)."""

    community: CommunityRef
    member: RawMember
    seen_at: datetime
    how: str = "participant"  # participant, posted, admin


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Where an incremental crawl got to. Yielded after each page and stored in the same
    transaction as that page's records, so a killed crawl resumes without loss or duplicates."""

    community: CommunityRef
    source: str
    cursor: Mapping[str, Any]


Record = CommunitySnapshot | Post | Membership | Checkpoint


_PRIMITIVES = (str, int, float, bool, type(None))


def _jsonable(value: Any) -> Any:
    # Primitives first: this runs for every field of every post at ingest (see bench/ingest.py).
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    fields = getattr(value, "__dataclass_fields__", None)
    if fields is not None and not isinstance(value, type):
        return {name: _jsonable(getattr(value, name)) for name in fields}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def to_json(record: Any) -> dict[str, Any]:
    """The one serialisation of a record (JSON-compatible dict)."""
    data = _jsonable(record)
    assert isinstance(data, dict)
    return data


def post_payload_hash(post: Post) -> str:
    """Payload hash of a post in its pseudonymous form (the author left out: a hash over a raw member
    id would let anyone confirm a guessed id). Flat and hand-ordered because ingest hashes every post."""
    fwd = post.forwarded_from
    parts = [
        post.community.platform, post.community.native_id, post.community.handle, post.native_post_id, post.url,
        post.created_at.isoformat() if post.created_at else None,
        post.edited_at.isoformat() if post.edited_at else None,
        post.text, post.kind, post.service_action, post.service_value, post.reply_to, post.thread_id,
        post.thread_title, [link.url for link in post.links],
        [fwd.platform, fwd.native_id, fwd.handle, fwd.post_id, fwd.name, fwd.hidden] if fwd else None,
        [[fp.sha256, fp.pdq, fp.pdq_quality, fp.kind] for fp in post.media],
    ]
    blob = _COMPACT_JSON.encode(parts)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# What json.dumps(..., separators=(",", ":"), ensure_ascii=False) builds on every call (ingest: per post).
_COMPACT_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def payload_hash(data: Any) -> str:
    """SHA-256 of a canonical JSON serialisation (sorted keys, no whitespace)."""
    blob = json.dumps(_jsonable(data), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()
