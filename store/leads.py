"""Leads as ``resurface leads`` and the workspace show them: one JSON shape for both."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from model.errors import UsageError
from store import models as m

#: Lead states. ``reviewed``: a person has looked at it and decided nothing more is needed.
LEAD_STATES: tuple[str, ...] = ("needs_human", "new", "watching", "ignored", "reviewed")
PUBLIC_KEYS = ("title", "description", "member_count", "preview", "page_kind", "checked_at")


def lead_doc(session: Session, lead: m.Lead, *, with_excerpt: bool) -> dict[str, Any]:
    """A lead: where and when it was found, what is public about it, its review; with the post excerpt
    around it only when ``with_excerpt`` (investigators)."""
    source = session.get(m.Community, lead.source_community_id) if lead.source_community_id else None
    post = session.get(m.Post, lead.source_post_id) if lead.source_post_id else None
    attrs = dict(lead.attrs or {})
    doc: dict[str, Any] = {
        "id": lead.id, "url": lead.url, "kind": lead.kind, "platform": lead.platform, "handle": lead.handle,
        "private": bool(lead.is_private), "state": lead.state, "depth": lead.depth,
        "found_at": lead.found_at.isoformat(),
        "found_in": None if source is None else {"platform": source.platform, "handle": source.handle,
                                                 "title": source.title, "url": source.url},
        "found_in_post": None if post is None else post.url,
        # what the invite page or link preview shows publicly, when a crawler read it
        "public": {k: v for k, v in attrs.items() if k in PUBLIC_KEYS},
        "review": attrs.get("review"),
    }
    if with_excerpt and post is not None and post.text:
        doc["post_excerpt"] = post.text[:280]
    return doc


def get_lead(session: Session, lead_id: int) -> m.Lead:
    lead = session.get(m.Lead, lead_id)
    if lead is None:
        raise UsageError(f"no lead #{lead_id}")
    return lead


def list_leads(session: Session, state: str = "needs_human", limit: int = 100) -> list[m.Lead]:
    """Leads in ``state`` (or ``all``), newest first, with the communities and posts they were found in
    loaded in two queries (so :func:`lead_doc` on each costs no further query)."""
    if state not in (*LEAD_STATES, "all"):
        raise UsageError(f"state must be one of {', '.join(LEAD_STATES)}, all; not {state!r}")
    query = select(m.Lead).order_by(m.Lead.found_at.desc(), m.Lead.id.desc()).limit(limit)
    if state != "all":
        query = query.where(m.Lead.state == state)
    leads = list(session.scalars(query))
    community_ids = {lead.source_community_id for lead in leads if lead.source_community_id}
    post_ids = {lead.source_post_id for lead in leads if lead.source_post_id}
    # kept referenced for the session (its identity map holds rows weakly): session.get() answers from it
    loaded: list[object] = session.info.setdefault("resurface_lead_rows", [])
    if community_ids:
        loaded.extend(session.scalars(select(m.Community).where(m.Community.id.in_(community_ids))))
    if post_ids:
        loaded.extend(session.scalars(select(m.Post).where(m.Post.id.in_(post_ids))))
    return leads
