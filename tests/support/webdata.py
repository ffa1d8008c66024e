"""A small store for the workspace tests: two Telegram communities, the announcement post, a migration
alert with post text and a member pseudonym in its evidence, a private-invite lead, two users."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from alerts.lifecycle import raise_alert
from service.app import App
from store import accounts
from store import models as m
from store.ingest import ingest
from tests import factories as f
from tests.support.alertdata import draft

PASSWORDS = {"ines": "investigator-pass-1", "nadia": "ngo-pass-12345", "ana": "analyst-pass-1"}
INVITE_URL = "https://t.me/+AbCdEfGhIjKlMnOp"


@dataclass
class WebWorld:
    alert_id: int
    lead_id: int
    source_id: int
    target_id: int


class Clock:
    """The workspace's injectable clock: tests move it instead of sleeping."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


def populate(app: App, post_text: str) -> WebWorld:
    with app.store.session() as s:
        recent = datetime.now(UTC) - timedelta(days=2)
        ingest(s, [f.snapshot(at=recent), f.post(42, text=post_text, at=recent),
                   f.snapshot(native_id="2002", handle="cortile_due", title="Cortile Due", at=recent)],
               app.ingest_context())
        source = s.scalar(select(m.Community.id).where(m.Community.handle == "cortile_segreto"))
        target = s.scalar(select(m.Community.id).where(m.Community.handle == "cortile_due"))
        post_id = s.scalar(select(m.Post.id))
        assert source and target and post_id
        s.add(m.Candidate(source_id=source, target_id=target, score=0.55, level="likely"))
        alert = raise_alert(s, draft(source, target, post_id=post_id), app.settings)
        assert alert is not None
        lead = m.Lead(url=INVITE_URL, kind="telegram_invite", platform="telegram", is_private=True,
                      state="needs_human", source_post_id=post_id, source_community_id=source,
                      attrs={"title": "Riserva", "member_count": 311})
        s.add(lead)
        s.flush()
        accounts.create_user(s, "ines", "investigator", PASSWORDS["ines"])
        accounts.create_user(s, "nadia", "ngo", PASSWORDS["nadia"])
        accounts.create_user(s, "ana", "analyst", PASSWORDS["ana"])
        return WebWorld(alert.id, lead.id, source, target)
