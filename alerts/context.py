"""What the store knows around an alert, for its plain-language summary (:mod:`alerts.summary`).

The alert JSON is a snapshot of the evidence at raise time; people also want to read *what kind* of
community it is (channel or group), *since when* Resurface has watched it, the *name it had before* a
rename (a Telegram service post says only the new one) and, for a forum, the *threads* the evidence
lies in. :func:`alert_context` reads those from the store when a message is rendered and returns them as
the alert's ``context`` member. Only names, kinds, statuses, dates and thread links built from the
forum's address and the thread number: nothing from a post's text, no member.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.summary import FORUMS, MAX_THREADS, thread_id_from_url, thread_url
from store import models as m


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _community(session: Session, community: m.Community) -> dict[str, Any]:
    titles = session.scalars(select(m.Snapshot.title).where(m.Snapshot.community_id == community.id,
                                                            m.Snapshot.title.is_not(None))
                             .order_by(m.Snapshot.observed_at, m.Snapshot.id))
    former: list[str] = []
    for title in titles:
        if title and title != community.title and title not in former:
            former.append(title)
    return {"kind": community.kind, "status": community.status, "first_seen": _iso(community.first_seen),
            "removed_at": _iso(community.removed_at), "former_titles": former}


def _post_urls(alert: dict[str, Any]) -> list[str]:
    urls: list[str] = []
    for signal in alert.get("signals") or []:
        for item in (signal.get("evidence") or []) if isinstance(signal, dict) else []:
            if not isinstance(item, dict):
                continue
            for key in ("post_url", "matched_post_url"):
                value = item.get(key)
                if isinstance(value, str) and value not in urls:
                    urls.append(value)
    return urls


def _threads(session: Session, community: m.Community, urls: Iterable[str]) -> list[str]:
    """Links of the forum threads the evidence's posts lie in, by thread number (never by title)."""
    if community.platform not in FORUMS or not community.url:
        return []
    wanted = list(urls)
    found: list[str] = []
    stored: dict[str, str | None] = {}
    if wanted:
        for url, thread in session.execute(select(m.Post.url, m.Post.thread_id).where(
                m.Post.community_id == community.id, m.Post.url.in_(wanted))):
            stored[url] = thread
    prefix = community.url.rstrip("/") + "/"
    for url in wanted:
        thread = stored.get(url) or (thread_id_from_url(community.platform, url) if url.startswith(prefix) else None)
        built = thread_url(community.platform, community.url, thread) if thread else None
        if built and built not in found:
            found.append(built)
    return found[:MAX_THREADS]


def alert_context(session: Session, alert: m.Alert, payload: dict[str, Any]) -> dict[str, Any]:
    """The ``context`` member for ``payload`` (the alert's JSON): per side, the community's kind,
    status, first sighting, removal and earlier names, and the forum threads its evidence lies in."""
    context: dict[str, Any] = {"threads": {}}
    urls = _post_urls(payload)
    for side, community_id in (("source", alert.source_community_id), ("target", alert.target_community_id)):
        community = session.get(m.Community, community_id) if community_id is not None else None
        if community is None:
            continue
        context[side] = _community(session, community)
        context["threads"][side] = _threads(session, community, urls)
    return context


def with_context(session: Session, alert: m.Alert, payload: dict[str, Any]) -> dict[str, Any]:
    return {**payload, "context": alert_context(session, alert, payload)}
