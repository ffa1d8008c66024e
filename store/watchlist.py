"""The watchlist: what the operator asked Resurface to watch, stored as seed communities.

What a user types is parsed into a :class:`model.targets.WatchTarget` before it gets here.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from model.errors import UsageError
from model.records import CommunityKind, CommunityStatus, Platform
from model.targets import FORUM_PLATFORMS, WatchTarget, parse_target
from store import models as m


def add_watch(session: Session, target: WatchTarget, *, labels: list[str] | None = None, case: str | None = None,
              title: str | None = None, status: str | None = None, removed_at: datetime | None = None,
              interval_minutes: int | None = None,
              crawlable: Collection[str] | None = None) -> tuple[m.Community, bool]:
    """Add (or re-activate) a seed. Returns the row and whether it was new.

    ``crawlable``: the platforms with a crawler (``crawlers.registry.crawlable_platforms()``, which the store
    cannot import: crawlers is its sibling layer, so the caller passes it). A target of another platform, or
    one with neither URL nor handle, is stored as entered by hand (``attrs["manual"]``) and never crawled.
    None: the caller vouches for the platform (a URL parsed as Telegram, Reddit, a forum or ``web``), and only
    the missing URL or handle makes an entry manual."""
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
    uncrawlable = crawlable is not None and target.platform not in crawlable
    if uncrawlable or not (target.url or target.handle):
        # entered by hand (an uncrawlable platform, or only a name): the crawler skips it
        community.attrs = {**(community.attrs or {}), "manual": True}
    session.add(community)
    session.flush()
    return community, created


#: Hosts of platforms Resurface has no crawler for: their URLs are manual entries, never ``web`` forums.
MANUAL_HOSTS: dict[str, str] = {
    "facebook.com": Platform.FACEBOOK, "fb.com": Platform.FACEBOOK, "fb.me": Platform.FACEBOOK,
    "fb.watch": Platform.FACEBOOK, "discord.gg": Platform.DISCORD, "discord.com": Platform.DISCORD,
    "discordapp.com": Platform.DISCORD, "chat.whatsapp.com": Platform.WHATSAPP, "whatsapp.com": Platform.WHATSAPP,
    "wa.me": Platform.WHATSAPP, "signal.group": Platform.SIGNAL, "signal.me": Platform.SIGNAL,
}


def manual_platform_of_url(url: str) -> str | None:
    """The uncrawlable platform whose host (or a subdomain of it, e.g. m.facebook.com) serves ``url``."""
    try:
        host = (urlsplit(url if "://" in url else f"https://{url}").hostname or "").rstrip(".").lower()
    except ValueError:
        return None
    labels = host.split(".")
    for i in range(len(labels) - 1):
        platform = MANUAL_HOSTS.get(".".join(labels[i:]))
        if platform is not None:
            return platform
    return None


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
    if community.platform != Platform.WEB or platform not in FORUM_PLATFORMS:
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
