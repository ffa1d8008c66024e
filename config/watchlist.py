"""The watchlist: what the operator asked Resurface to watch, stored as seed communities.

:func:`parse_target` is pure: it turns what a user types (a URL or ``@handle``) into a
:class:`WatchTarget`, or raises :class:`UsageError` naming the input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.errors import UsageError
from crawlers.records import CRAWLABLE, CommunityKind, CommunityStatus, Platform
from store import models as m

_TG_HANDLE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{3,31}$")
_SUBREDDIT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
_TG_HOSTS = {"t.me", "telegram.me", "telegram.dog", "www.t.me"}
_REDDIT_HOSTS = {"reddit.com", "www.reddit.com", "old.reddit.com", "np.reddit.com", "new.reddit.com", "m.reddit.com"}
_FORUM_PLATFORMS = {Platform.DISCOURSE, Platform.PHPBB, Platform.XENFORO}


@dataclass(frozen=True, slots=True)
class WatchTarget:
    platform: str
    handle: str | None
    url: str | None
    kind: str = CommunityKind.UNKNOWN
    native_id: str | None = None


def parse_target(text: str, platform: str | None = None) -> WatchTarget:
    raw = text.strip()
    if not raw:
        raise UsageError("watch add needs a URL or @handle")
    if raw.startswith("@"):
        handle = raw[1:]
        if platform in (None, Platform.TELEGRAM) and _TG_HANDLE.match(handle):
            handle = handle.lower()
            return WatchTarget(Platform.TELEGRAM, handle, f"https://t.me/{handle}", CommunityKind.CHANNEL)
        raise UsageError(f"{raw!r} is not a valid Telegram handle (5-32 letters, digits or _, starting with a letter)")
    if re.match(r"^/?r/", raw):
        raw = "https://www.reddit.com/" + raw.lstrip("/")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise UsageError(f"{text!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in raw):
        raise UsageError(f"{text!r} is not a valid http(s) URL")
    segments = [s for s in parts.path.split("/") if s]
    if host in _TG_HOSTS and platform in (None, Platform.TELEGRAM):
        if segments[:1] == ["s"]:
            segments = segments[1:]
        if not segments or not _TG_HANDLE.match(segments[0]) or segments[0].lower() in {"joinchat", "share", "proxy"}:
            raise UsageError(f"{text!r} is not a public Telegram channel URL (invite links cannot be watched, "
                             "they are leads for a human)")
        handle = segments[0].lower()
        return WatchTarget(Platform.TELEGRAM, handle, f"https://t.me/{handle}", CommunityKind.CHANNEL)
    if host in _REDDIT_HOSTS and platform in (None, Platform.REDDIT):
        if len(segments) < 2 or segments[0].lower() != "r" or not _SUBREDDIT.match(segments[1]):
            raise UsageError(f"{text!r} is not a subreddit URL (https://www.reddit.com/r/NAME)")
        name = segments[1].lower()
        return WatchTarget(Platform.REDDIT, name, f"https://www.reddit.com/r/{name}", CommunityKind.SUBREDDIT)
    base = f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    if platform is None:
        # A forum's software is recognised from its pages by the crawler; until then it is "web".
        return WatchTarget(Platform.WEB, None, base or raw, CommunityKind.FORUM)
    if platform in _FORUM_PLATFORMS:
        return WatchTarget(platform, None, base, CommunityKind.FORUM, native_id=base)
    return WatchTarget(platform, None, base, CommunityKind.UNKNOWN)


def add_watch(session: Session, target: WatchTarget, *, labels: list[str] | None = None, case: str | None = None,
              title: str | None = None, status: str | None = None, removed_at: datetime | None = None,
              interval_minutes: int | None = None) -> tuple[m.Community, bool]:
    """Add (or re-activate) a seed. Returns the row and whether it was new."""
    query = select(m.Community).where(m.Community.platform == target.platform)
    if target.handle:
        query = query.where(func.lower(m.Community.handle) == target.handle.lower())
    elif target.native_id:
        query = query.where(m.Community.native_id == target.native_id)
    else:
        query = query.where(m.Community.url == target.url)
    existing = session.scalars(query.order_by(m.Community.id)).first()
    now = m.utcnow()
    created = existing is None
    community = existing or m.Community(
        platform=target.platform, handle=target.handle, native_id=target.native_id, url=target.url,
        kind=target.kind, status=CommunityStatus.ACTIVE, first_seen=now, last_seen=now, labels=[], attrs={},
    )
    community.watch_state = "seed"
    community.labels = sorted({*(community.labels or []), *(labels or [])})
    community.case_name = case or community.case_name
    community.title = title or community.title
    if status:
        community.status = status
    community.removed_at = removed_at or community.removed_at
    community.crawl_interval_minutes = interval_minutes or community.crawl_interval_minutes
    if target.platform not in CRAWLABLE and target.platform != Platform.WEB:
        community.attrs = {**(community.attrs or {}), "manual": True}
    session.add(community)
    session.flush()
    return community, created


def list_watched(session: Session, *, include_leads: bool = False) -> list[m.Community]:
    states = ["seed", "lead", "candidate"] if include_leads else ["seed"]
    return list(session.scalars(
        select(m.Community).where(m.Community.watch_state.in_(states)).order_by(m.Community.id)
    ))


def find_watched(session: Session, ref: str) -> m.Community:
    """Find a watched community by numeric id, URL or @handle."""
    if ref.isdigit():
        found = session.get(m.Community, int(ref))
    else:
        target = parse_target(ref)
        query = select(m.Community).where(m.Community.platform == target.platform)
        query = (query.where(func.lower(m.Community.handle) == target.handle) if target.handle
                 else query.where(m.Community.url == target.url))
        found = session.scalars(query.order_by(m.Community.id)).first()
    if found is None or found.watch_state == "ignored":
        raise UsageError(f"{ref!r} is not on the watchlist (see `resurface watch list`)")
    return found


def remove_watch(session: Session, ref: str) -> m.Community:
    """Stop watching. The community and everything observed stay: evidence is never deleted here."""
    community = find_watched(session, ref)
    community.watch_state = "ignored"
    return community


def watch_json(c: m.Community) -> dict[str, object]:
    return {
        "id": c.id, "platform": c.platform, "handle": c.handle, "native_id": c.native_id, "title": c.title,
        "url": c.url, "kind": c.kind, "status": c.status, "watch_state": c.watch_state, "labels": c.labels,
        "case": c.case_name, "member_count": c.member_count,
        "removed_at": c.removed_at.isoformat() if c.removed_at else None,
        "first_seen": c.first_seen.isoformat(), "last_seen": c.last_seen.isoformat(),
    }


def recognise_platform(session: Session, community_id: int, platform: str) -> m.Community:
    """Relabel a community watched as ``web`` once its forum software is known (``platform`` is
    discourse, phpbb or xenforo), keyed like :func:`parse_target` keys forums: native id = base URL.

    If that forum is already stored under the recognised platform, the existing row is returned and
    nothing changes (two rows must not share a (platform, native id) key)."""
    community = session.get(m.Community, community_id)
    if community is None:
        raise UsageError(f"no community #{community_id}")
    if community.platform == platform:
        return community
    if community.platform != Platform.WEB or platform not in _FORUM_PLATFORMS:
        raise UsageError(f"community #{community_id} is {community.platform}; only web communities can be "
                         f"recognised as a forum platform, not {platform!r}")
    native_id = parse_target(community.url or "", platform).native_id
    existing = session.scalars(select(m.Community).where(
        m.Community.platform == platform, m.Community.native_id == native_id, m.Community.id != community_id,
    )).first()
    if existing is not None:
        return existing
    community.platform = platform
    community.native_id = native_id
    community.kind = CommunityKind.FORUM
    community.attrs = {**(community.attrs or {}), "recognised_from": Platform.WEB}
    session.flush()
    return community
