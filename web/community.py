"""A community's page: status history, candidates in and out, leads, posts (investigators only)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from model.errors import UsageError
from store import models as m
from store.leads import lead_doc
from store.watchlist import watch_json

POSTS_SHOWN = 50


def _name(session: Session, community_id: int | None) -> dict[str, Any] | None:
    c = session.get(m.Community, community_id) if community_id else None
    return None if c is None else {"id": c.id, "platform": c.platform, "name": c.title or c.handle or c.url}


def community_view(session: Session, community_id: int, *, full: bool) -> dict[str, Any]:
    c = session.get(m.Community, community_id)
    if c is None:
        raise UsageError(f"no community #{community_id}")
    timeline: list[dict[str, Any]] = []
    for s in session.scalars(select(m.Snapshot).where(m.Snapshot.community_id == c.id)
                             .order_by(m.Snapshot.observed_at.desc()).limit(100)):
        timeline.append({"at": s.observed_at, "what": "snapshot", "detail": f"{s.status}, "
                         f"{'' if s.member_count is None else s.member_count} members, title {s.title!r}"})
    for e in session.scalars(select(m.Event).where(or_(m.Event.community_id == c.id,
                                                       m.Event.related_community_id == c.id))
                             .order_by(m.Event.occurred_at.desc()).limit(100)):
        ev = e.evidence or {}
        detail = (f"{ev.get('from')!r} → {ev.get('to')!r}" if e.kind == "rename" and "from" in ev else
                  ", ".join(f"{k}: {v}" for k, v in ev.items() if isinstance(v, str | int | float))[:200])
        timeline.append({"at": e.occurred_at, "what": e.kind, "detail": detail})
    timeline.sort(key=lambda row: row["at"], reverse=True)
    cands_out = [{"other": _name(session, k.target_id), "score": k.score, "level": k.level, "state": k.state}
                 for k in session.scalars(select(m.Candidate).where(m.Candidate.source_id == c.id)
                                          .order_by(m.Candidate.score.desc()))]
    cands_in = [{"other": _name(session, k.source_id), "score": k.score, "level": k.level, "state": k.state}
                for k in session.scalars(select(m.Candidate).where(m.Candidate.target_id == c.id)
                                         .order_by(m.Candidate.score.desc()))]
    leads = [lead_doc(session, lead, with_excerpt=False) for lead in session.scalars(
        select(m.Lead).where(m.Lead.source_community_id == c.id).order_by(m.Lead.found_at.desc()).limit(100))
    ] if full else []
    posts = [{"at": p.created_at, "url": p.url, "text": p.text} for p in session.scalars(
        select(m.Post).where(m.Post.community_id == c.id).order_by(m.Post.created_at.desc()).limit(POSTS_SHOWN))
    ] if full else []
    return {"community": watch_json(c), "timeline": timeline, "candidates_out": cands_out,
            "candidates_in": cands_in, "leads": leads, "posts": posts}
