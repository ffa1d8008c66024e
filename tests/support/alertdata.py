"""Fictional communities and alert drafts with evidence, for the alert tests."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from config.settings import AlertSettings, AudienceSettings, CrawlSettings, Settings
from model.vocab import AlertDraft
from store import models as m

POST_TEXT = "Ci spostiamo tutti nel nuovo canale di riserva, entrate prima che lo chiudano"
PSEUDONYM = "m_7f3c9a1be04d55a2"
POST_URL = "https://t.me/cortile_segreto/42"


def communities(session: Session, count: int = 2) -> list[int]:
    """``count`` Telegram communities: the first 'Il Cortile Segreto', the rest its successors
    (numbered on from those already stored, so it can be called again)."""
    ids = []
    start = session.scalar(select(func.count()).select_from(m.Community)) or 0
    for i in range(start, start + count):
        handle = "cortile_segreto" if i == 0 else f"cortile_segreto_{i + 1}"
        row = m.Community(platform="telegram", native_id=str(1001 + i), handle=handle,
                          title="Il Cortile Segreto" if i == 0 else f"Cortile Segreto {i + 1}",
                          url=f"https://t.me/{handle}", kind="channel")
        session.add(row)
        session.flush()
        ids.append(row.id)
    return ids


def signals(post_id: int | None = None) -> list[dict[str, Any]]:
    return [
        {"name": "announcement", "score": 0.9,
         "evidence": [{"post_id": post_id, "post_url": POST_URL, "excerpt": POST_TEXT, "language": "it",
                       "created_at": "2026-03-01T12:42:00+00:00"}]},
        {"name": "members", "score": 0.7,
         "evidence": [{"shared": 42, "overlap_coefficient": 0.61, "jaccard": 0.2,
                       "examples": [PSEUDONYM], "author_pseudonym": PSEUDONYM}]},
        {"name": "name", "score": 0.5,
         "evidence": [{"source_name": "Il Cortile Segreto", "target_name": "Cortile Segreto 2", "similarity": 0.83}]},
    ]


def draft(source: int, target: int | None, level: str = "likely", score: float = 0.55, kind: str = "migration",
          post_id: int | None = None) -> AlertDraft:
    return AlertDraft(kind=kind, level=level, score=score, source_community_id=source, target_community_id=target,
                      signals=signals(post_id))


def settings_with(base: Settings | None = None, **audiences: AudienceSettings) -> Settings:
    s = base.model_copy(deep=True) if base is not None else Settings(crawl=CrawlSettings(allow_private_addresses=True))
    s.alerts = AlertSettings(audiences=dict(audiences), max_attempts=s.alerts.max_attempts)
    return s
