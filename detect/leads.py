"""Leads: communities reached from watched ones, by a link in a post or by a name search.

Every link to a community found in a watched community becomes a lead with its provenance (the post,
the community, when). Public leads are watched automatically (``watch_state="lead"``) within
``crawl.lead_depth``, ``crawl.lead_platforms`` and ``crawl.lead_min_members``, inheriting the case and
labels of the community that led to them. Private invites are recorded for a human
(``state="needs_human"``) and never joined. A Telegram invite's *public page* (``t.me/+CODE``: the
group's title, description and member count, shown to anyone without joining) is read, though: the invite
becomes a community ``+CODE`` watched as a candidate (``attrs.private_invite``), so that a migration alert
can name what is public about it (issue 15, class 3); the lead stays with a human.

When a community shuts down or renames, platforms that allow it are searched for similarly named
communities (:class:`NameSearch`, implemented by the crawlers); close matches become candidates
(``watch_state="candidate"``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import CrawlSettings
from crawlers.registry import link_recognisers
from detect.names import best_name_match
from model.errors import UsageError
from model.records import LinkKind, Platform
from model.targets import parse_target
from model.vocab import WATCHED_STATES, community_url
from store import models as m
from store.watchlist import manual_platform_of_url

#: Link kinds that point at a community (not at an arbitrary web page).
COMMUNITY_LINKS = frozenset({
    LinkKind.TELEGRAM_PUBLIC, LinkKind.TELEGRAM_POST, LinkKind.TELEGRAM_INVITE, LinkKind.DISCORD_INVITE,
    LinkKind.WHATSAPP_INVITE, LinkKind.SIGNAL_GROUP, LinkKind.REDDIT_SUBREDDIT, LinkKind.REDDIT_POST,
    LinkKind.FORUM,
})
WATERMARK_KEY = "detect.leads.last_link_id"
#: Name-search results at least this similar to the gone community become candidates.
SEARCH_MIN_SIMILARITY = 0.8


class NameSearch(Protocol):
    """Search a platform for communities by name: ``(platform, query) -> [(handle, title, url)]``.

    Implemented by crawlers of platforms that allow it (Reddit's subreddit search); a platform that
    does not returns ``[]``."""

    def __call__(self, platform: str, query: str) -> Sequence[tuple[str, str | None, str]]: ...


@dataclass(frozen=True, slots=True)
class LinkView:
    id: int
    post_id: int | None
    community_id: int
    url: str
    kind: str
    target_platform: str | None
    target_handle: str | None
    invite_code: str | None
    is_private: bool
    found_at: datetime


@dataclass(frozen=True, slots=True)
class LeadDecision:
    url: str
    state: str  # watching, needs_human, new (recorded, not followed), ignored
    depth: int
    reason: str


def _crawlable() -> frozenset[str]:
    """The platforms whose links a registered plugin recognises (a plugin that recognises links to its
    communities crawls them), except the catch-all web pages (a link to a plain web page is a lead to
    record, not a community to follow). Read from the link recognisers, which the plugin packages declare
    at module level: building the plugins themselves would import every platform's sources (Telethon,
    Scrapy, ...), seconds of a detection cycle."""
    return frozenset(recogniser.platform for recogniser in link_recognisers()) - {Platform.WEB}


def decide(link: LinkView, source_depth: int, crawl: CrawlSettings, member_count: int | None) -> LeadDecision:
    """What to do with a lead (pure): follow it, leave it for a human, or only record it."""
    url = community_url(link.target_platform, link.target_handle, link.url)
    depth = source_depth + 1
    platform = link.target_platform
    if link.is_private or (platform is not None and platform not in _crawlable()):
        return LeadDecision(url, "needs_human", depth, "private invite: never joined automatically")
    if not platform or not link.target_handle:
        return LeadDecision(url, "new", depth, "no crawlable community behind this link")
    if depth > crawl.lead_depth:
        return LeadDecision(url, "new", depth, f"beyond crawl.lead_depth={crawl.lead_depth}")
    if platform not in crawl.lead_platforms:
        return LeadDecision(url, "new", depth, f"{platform} is not in crawl.lead_platforms")
    if member_count is not None and member_count < crawl.lead_min_members:
        return LeadDecision(url, "ignored", depth, f"{member_count} members < crawl.lead_min_members")
    return LeadDecision(url, "watching", depth, "public lead within depth and filters")


# --- store edge ---------------------------------------------------------------------------------


def _find_community(session: Session, platform: str, handle: str) -> m.Community | None:
    return session.scalars(
        select(m.Community).where(m.Community.platform == platform, func.lower(m.Community.handle) == handle.lower())
        .order_by(m.Community.native_id.is_(None), m.Community.id).limit(1)
    ).first()


def _new_community(platform: str, handle: str, url: str, seen_at: datetime, title: str | None = None) -> m.Community:
    return m.Community(platform=platform, handle=handle.lower() if platform == Platform.TELEGRAM else handle, url=url,
                       title=title, status="active", first_seen=seen_at, last_seen=seen_at, labels=[], attrs={},
                       watch_state="seen")


def _mark_watched(community: m.Community, *, state: str, source: m.Community, origin_post_id: int | None,
                  depth: int) -> bool:
    """Watch a community as ``state``, inheriting the case of ``source``. Never demotes a seed and
    never re-watches what an operator set to ignored. Returns whether it changed."""
    if community.watch_state not in (None, "seen"):
        return False
    community.watch_state = state
    community.origin_post_id = origin_post_id
    community.origin_community_id = source.id
    community.depth = depth
    community.case_name = community.case_name or source.case_name
    community.labels = sorted({*(community.labels or []), *(source.labels or [])})
    return True


def _watermark(session: Session) -> int:
    row = session.get(m.KeyValue, WATERMARK_KEY)
    return int((row.value or {}).get("id", 0)) if row is not None else 0


def _set_watermark(session: Session, value: int) -> None:
    row = session.get(m.KeyValue, WATERMARK_KEY)
    if row is None:
        session.add(m.KeyValue(key=WATERMARK_KEY, value={"id": value}, updated_at=m.utcnow()))
    else:
        row.value = {"id": value}
        row.updated_at = m.utcnow()


def _watched(session: Session, ids: set[int]) -> dict[int, m.Community]:
    """The watched communities among ``ids`` (those whose links become leads), by id."""
    wanted = sorted(ids)
    return {c.id: c for start in range(0, len(wanted), 500) for c in session.scalars(
        select(m.Community).where(m.Community.id.in_(wanted[start:start + 500]),
                                  m.Community.watch_state.in_(WATCHED_STATES)))}


@dataclass
class LeadResult:
    new_leads: list[m.Lead]
    watched: list[int]  # community ids newly watched as leads or candidates


def discover_leads(session: Session, crawl: CrawlSettings) -> LeadResult:
    """Turn links found since the last run (in watched communities) into leads.

    Batched: the communities and known lead URLs are read once, so the first run over a large store
    costs one pass over its links, not a query per link."""
    since = _watermark(session)
    stmt = (select(m.Link.id, m.Link.post_id, m.Link.community_id, m.Link.url, m.Link.kind, m.Link.target_platform,
                   m.Link.target_handle, m.Link.invite_code, m.Link.is_private, m.Link.found_at)
            .where(m.Link.id > since, m.Link.kind.in_([str(k) for k in COMMUNITY_LINKS]))
            .order_by(m.Link.id))
    result = LeadResult([], [])
    found = [LinkView(**row._asdict()) for row in session.execute(stmt)]
    last = max([since, *(link.id for link in found)])
    sources = _watched(session, {link.community_id for link in found})
    links = [link for link in found if link.community_id in sources]
    if not links:
        if last > since:
            _set_watermark(session, last)
        return result
    by_handle: dict[tuple[str, str], tuple[int, int | None]] = {}
    for cid, platform, handle, members in session.execute(
            select(m.Community.id, m.Community.platform, m.Community.handle, m.Community.member_count)
            .where(m.Community.handle.is_not(None)).order_by(m.Community.native_id.is_(None).desc(),
                                                             m.Community.id.desc())):
        if handle:
            by_handle[(platform, handle.lower())] = (cid, members)  # ends with the preferred row
    known_urls = set(session.scalars(select(m.Lead.url)))
    wanted = sorted({known[0] for link in links if link.target_platform and link.target_handle
                     and (known := by_handle.get((link.target_platform, link.target_handle.lower()))) is not None})
    for start in range(0, len(wanted), 500):  # load them into the session in a few queries, not one each
        list(session.scalars(select(m.Community).where(m.Community.id.in_(wanted[start:start + 500]))))
    watched: list[m.Community] = []
    new_communities: list[tuple[m.Lead, m.Community]] = []
    with session.no_autoflush:  # new communities get their ids in one flush below
        for link in links:
            source = sources[link.community_id]
            if (link.target_platform == source.platform and link.target_handle and source.handle
                    and link.target_handle.lower() == source.handle.lower()):
                continue  # a channel linking to its own posts
            known = (by_handle.get((link.target_platform, link.target_handle.lower()))
                     if link.target_platform and link.target_handle else None)
            decision = decide(link, source.depth, crawl, known[1] if known is not None else None)
            if decision.url in known_urls:
                continue
            known_urls.add(decision.url)
            community_id = known[0] if known is not None else None
            community = None
            if (decision.state == "needs_human" and link.kind == LinkKind.TELEGRAM_INVITE and link.invite_code
                    and link.target_platform == Platform.TELEGRAM):
                community = _invite_community(session, link, source, decision.depth)
                community_id = community.id  # None until the flush below when it is new
            if decision.state == "watching":
                assert link.target_platform and link.target_handle
                if community_id is not None:
                    community = session.get(m.Community, community_id)
                if community is None:
                    community = _new_community(link.target_platform, link.target_handle, decision.url, link.found_at)
                    session.add(community)
                if _mark_watched(community, state="lead", source=source, origin_post_id=link.post_id,
                                 depth=decision.depth):
                    watched.append(community)
            lead = m.Lead(url=decision.url, kind=link.kind, platform=link.target_platform, handle=link.target_handle,
                          invite_code=link.invite_code, is_private=link.is_private, state=decision.state,
                          depth=decision.depth, source_post_id=link.post_id, source_community_id=source.id,
                          community_id=community_id, found_at=link.found_at,
                          attrs={"reason": decision.reason, "link_url": link.url})
            session.add(lead)
            result.new_leads.append(lead)
            if community is not None and community_id is None:
                new_communities.append((lead, community))
    _set_watermark(session, last)
    session.flush()  # one flush gives every new community its id
    for lead, community in new_communities:
        lead.community_id = community.id
    result.watched = [c.id for c in watched]
    session.flush()
    return result


#: At most this many distinct sites linked from one gone community are followed (a source that links
#: to dozens of sites is a link list, and every followed site costs a crawl).
MAX_SITES_PER_SOURCE = 5


def follow_site_links(session: Session, gone: Sequence[int], crawl: CrawlSettings) -> list[int]:
    """Web sites linked from posts of watched communities that shut down become candidates (platform
    ``web``; the crawler recognises a forum's software and relabels it): a banned subreddit's link to
    "our forum" is where its members may have gone (issue 15, class 5). Links are hostile input: only
    URLs that :func:`model.targets.parse_target` reads as a ``web`` site are kept (never an uncrawlable
    platform's host), the crawler's address guard still applies, and at most
    ``MAX_SITES_PER_SOURCE`` sites per source are followed, within ``crawl.lead_depth``. Returns the
    ids of communities newly made candidates."""
    if not gone or crawl.lead_depth < 1:
        return []
    sources = {c.id: c for c in session.scalars(select(m.Community).where(
        m.Community.id.in_(list(gone)), m.Community.watch_state.in_(WATCHED_STATES)))}
    if not sources:
        return []
    found: list[int] = []
    per_source: dict[int, set[str]] = {}
    stmt = (select(m.Link.community_id, m.Link.post_id, m.Link.url, m.Link.found_at)
            .where(m.Link.community_id.in_(list(sources)), m.Link.kind == str(LinkKind.WEB)).order_by(m.Link.id))
    for cid, post_id, url, found_at in session.execute(stmt):
        source = sources[cid]
        if (source.depth or 0) + 1 > crawl.lead_depth:
            continue
        try:
            target = parse_target(url)
        except UsageError:
            continue
        if target.platform != Platform.WEB or not target.url or manual_platform_of_url(target.url):
            continue
        sites = per_source.setdefault(cid, set())
        if target.url in sites or len(sites) >= MAX_SITES_PER_SOURCE:
            continue
        sites.add(target.url)
        community = session.scalars(select(m.Community).where(
            m.Community.url.in_([target.url, target.url + "/"])).order_by(m.Community.id).limit(1)).first()
        if community is None:
            community = m.Community(platform=Platform.WEB, url=target.url, kind=target.kind, status="active",
                                    first_seen=found_at, last_seen=found_at, labels=[],
                                    attrs={"linked_from_gone_source": True}, watch_state="seen")
            session.add(community)
            session.flush()
        if community.id == source.id:
            continue
        if _mark_watched(community, state="candidate", source=source, origin_post_id=post_id,
                         depth=(source.depth or 0) + 1):
            found.append(community.id)
    session.flush()
    return found


def invite_handle(code: str) -> str:
    """The handle under which a Telegram invite's public page is stored: ``+CODE`` (case kept)."""
    return "+" + code.lstrip("+")


def _invite_community(session: Session, link: LinkView, source: m.Community, depth: int) -> m.Community:
    """The community standing for a private Telegram invite: its public page is read (never joined)."""
    assert link.invite_code
    handle = invite_handle(link.invite_code)
    community = session.scalars(select(m.Community).where(m.Community.platform == Platform.TELEGRAM,
                                                          m.Community.handle == handle).limit(1)).first()
    if community is None:
        community = m.Community(platform=Platform.TELEGRAM, handle=handle, url=f"https://t.me/{handle}", title=None,
                                status="active", first_seen=link.found_at, last_seen=link.found_at, labels=[],
                                attrs={"private_invite": True, "invite_code": link.invite_code},
                                watch_state="seen")
        session.add(community)
    _mark_watched(community, state="candidate", source=source, origin_post_id=link.post_id, depth=depth)
    return community


def search_similar(session: Session, community: m.Community, search: NameSearch, crawl: CrawlSettings,
                   names: Sequence[str]) -> list[int]:
    """Search each allowed platform for communities named like ``community`` (a shut-down or renamed
    one); close matches become candidates. Returns the ids of communities newly made candidates."""
    query = next((n for n in names if n), None)
    if query is None:
        return []
    found: list[int] = []
    for platform in crawl.lead_platforms:
        for handle, title, url in search(platform, query):
            if not handle:
                continue
            if platform == community.platform and community.handle and handle.lower() == community.handle.lower():
                continue
            similarity, matched_a, matched_b = best_name_match(names, [handle, title])
            if similarity < SEARCH_MIN_SIMILARITY:
                continue
            lead_url = community_url(platform, handle, url)
            target = _find_community(session, platform, handle)
            if target is None:
                target = _new_community(platform, handle, lead_url, m.utcnow(), title)
                session.add(target)
            if target.id == community.id:
                continue
            changed = _mark_watched(target, state="candidate", source=community, origin_post_id=None,
                                    depth=community.depth + 1)
            session.flush()
            if changed:
                found.append(target.id)
            if session.scalar(select(m.Lead.id).where(m.Lead.url == lead_url)) is None:
                session.add(m.Lead(url=lead_url, kind="search", platform=platform, handle=handle, state="watching",
                                   depth=community.depth + 1, source_community_id=community.id,
                                   community_id=target.id, found_at=m.utcnow(),
                                   attrs={"query": query, "similarity": round(similarity, 3),
                                          "matched": [matched_a, matched_b]}))
    session.flush()
    return found
