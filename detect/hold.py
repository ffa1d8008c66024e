"""A Telegram shutdown held at "likely" while links that may lead to the same channel are unread.

A channel that changes its handle and a channel that is deleted look the same from the old handle:
Telegram answers "this handle does not exist" for both. What tells them apart is the channel read under
its new handle, which Resurface only reaches through a link somebody posted (a lead). So when such a
shutdown is confirmed while Telegram leads found since the channel was last read are still waiting to
be crawled, the alert says "likely" and names how many; a later cycle raises it to "strong" once those
leads have been read (or ``detect.shutdown_hold_hours`` have passed) and none of them was the channel.
If one was, the shutdown is marked recovered and a rebrand is raised instead (issue 15, class 4).

The leads that hold a shutdown are fixed when it is confirmed (found between the channel's last good
read and that cycle), so a busy deployment whose links never run dry still lets it go after one round.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from crawlers.registry import link_recognisers
from detect.events import READABLE
from model.records import CommunityStatus
from model.vocab import AlertDraft, CommunityInfo
from store import models as m


def movable_platforms() -> frozenset[str]:
    """Platforms whose communities can leave an address for another while staying the same community: their
    plugins say so (``LinkRecogniser.addresses_move``; Telegram's)."""
    return frozenset(r.platform for r in link_recognisers() if r.addresses_move)


@dataclass(frozen=True)
class Hold:
    """Why a shutdown stays at "likely": the unread leads, the window they were found in, and until when."""

    lead_urls: tuple[str, ...]
    since: datetime
    confirmed_at: datetime
    until: datetime

    def evidence(self) -> dict[str, Any]:
        return {"pending_leads": len(self.lead_urls), "pending_lead_urls": list(self.lead_urls),
                "held_since": self.since.isoformat(), "held_at": self.confirmed_at.isoformat(),
                "held_until": self.until.isoformat()}


HOLD_KEYS = ("pending_leads", "pending_lead_urls", "held_since", "held_at", "held_until")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def holdable(info: CommunityInfo | None, evidence: Mapping[str, Any]) -> bool:
    """A definitive "deleted" answer for a community that has a handle on a platform where handles move."""
    return (info is not None and info.platform in movable_platforms() and bool(info.handle)
            and evidence.get("status") == CommunityStatus.DELETED.value
            and evidence.get("definitive", True) is not False)


def last_read(session: Session, community_id: int) -> datetime | None:
    """When the community was last read normally (its latest readable snapshot's last observation)."""
    value = session.scalar(select(func.max(m.Snapshot.last_observed_at)).where(
        m.Snapshot.community_id == community_id, m.Snapshot.status.in_([str(status) for status in READABLE]),
        m.Snapshot.native_id.is_not(None)))
    return _utc(value) if value is not None else None


def unread_leads(session: Session, source_id: int, platform: str, since: datetime, until: datetime) -> list[str]:
    """Public leads to the source's platform being followed, found in ``[since, until]``, not yet crawled
    since found."""
    # read: its community row, or a community observed under its handle (a channel read under a new
    # handle may be stored on the row of its old one, found by its stable id), answered since it was found
    crawled = exists().where(or_(m.Snapshot.community_id == m.Lead.community_id,
                                 func.lower(m.Snapshot.handle) == func.lower(m.Lead.handle)),
                             m.Snapshot.last_observed_at >= m.Lead.found_at)
    rows = session.scalars(select(m.Lead.url).where(
        m.Lead.platform == platform, m.Lead.state == "watching", m.Lead.handle.is_not(None),
        m.Lead.is_private.is_(False), m.Lead.community_id.is_not(None), m.Lead.community_id != source_id,
        m.Lead.found_at >= since, m.Lead.found_at <= until,
        ~crawled).order_by(m.Lead.id))
    return list(rows)


def hold_for(session: Session, info: CommunityInfo | None, evidence: Mapping[str, Any], now: datetime,
             hours: int) -> Hold | None:
    """The hold a newly confirmed shutdown gets, or None (not holdable, holding off, or nothing unread)."""
    if hours <= 0 or info is None or not holdable(info, evidence):
        return None
    since = last_read(session, info.id)
    if since is None:
        first_failed = evidence.get("first_failed_at")
        if not isinstance(first_failed, str):
            return None
        since = _utc(datetime.fromisoformat(first_failed))
    now = _utc(now)
    urls = unread_leads(session, info.id, info.platform, since, now)
    return Hold(tuple(urls), since, now, now + timedelta(hours=hours)) if urls else None


def _held_item(alert: m.Alert) -> dict[str, Any] | None:
    for signal in (alert.payload or {}).get("signals", []):
        if isinstance(signal, dict) and signal.get("name") == "shutdown":
            for item in signal.get("evidence") or []:
                if isinstance(item, dict) and "held_until" in item:
                    return item
    return None


def released_drafts(session: Session, now: datetime, skip: Collection[str] = ()) -> list[AlertDraft]:
    """Strong drafts for held shutdowns whose leads have all been read, or whose hold has run out, and
    whose community has not been read again since (a community that came back is marked recovered by
    its own event instead). ``skip``: dedup keys this cycle already drafts."""
    now = _utc(now)
    drafts: list[AlertDraft] = []
    held = session.scalars(select(m.Alert).where(m.Alert.kind == "shutdown", m.Alert.level == "likely"))
    for alert in held:
        if alert.dedup_key in skip:
            continue
        item = _held_item(alert)
        if item is None or alert.source_community_id is None or any(
                s.get("name") == "recovered" for s in (alert.payload or {}).get("signals", [])):
            continue
        try:
            since = _utc(datetime.fromisoformat(str(item["held_since"])))
            confirmed = _utc(datetime.fromisoformat(str(item["held_at"])))
            until = _utc(datetime.fromisoformat(str(item["held_until"])))
        except (KeyError, ValueError):
            continue
        source_id = alert.source_community_id
        back = last_read(session, source_id)
        if back is not None and back > confirmed:
            continue
        platform = session.scalar(select(m.Community.platform).where(m.Community.id == source_id))
        # (a source row gone from the store has nothing left to wait for)
        pending = unread_leads(session, source_id, platform, since, confirmed) if platform is not None else []
        if pending and now < until:
            continue
        released = {k: v for k, v in item.items() if k not in HOLD_KEYS}
        released["leads_read"] = int(item.get("pending_leads") or 0) - len(pending)
        if pending:
            released["held_until"] = until.isoformat()  # ran out: said, so nobody reads it as "all read"
        drafts.append(AlertDraft(kind="shutdown", level="strong", score=1.0, source_community_id=source_id,
                                 target_community_id=None,
                                 signals=[{"name": "shutdown", "score": 1.0, "evidence": [released]}],
                                 dedup_key=alert.dedup_key))
    return drafts
