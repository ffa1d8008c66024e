"""Alert lifecycle: raise (with dedup and escalation), the outbox rows, and analyst state changes.

``raise_alert`` is the only way detectors create alerts. It runs inside the caller's transaction and
writes the alert and its outbox rows (:class:`~store.models.Delivery`) together, so an alert can never
exist without its deliveries nor a delivery without its alert (the transactional-outbox pattern).

States: ``new`` → ``delivered`` (the deliverer sent it to at least one audience) → ``acknowledged``
→ ``confirmed`` | ``dismissed``. Confirm and dismiss are accepted from any earlier state (an analyst
who confirms has evidently seen the alert); a confirmed or dismissed alert is final.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from config.settings import AudienceSettings, Settings
from detect.candidates import set_candidate_state
from model.errors import UsageError
from model.vocab import ALERT_KINDS, AlertDraft, level_rank
from store import models as m

log = logging.getLogger(__name__)

class AlertStateError(UsageError):
    """An analyst action that the alert's current state does not allow."""


# ---------------------------------------------------------------- payload


def community_ref(community: m.Community | None) -> dict[str, Any] | None:
    if community is None:
        return None
    return {"platform": community.platform, "handle": community.handle, "title": community.title,
            "url": community.url}


def build_payload(session: Session, draft: AlertDraft, created_at: datetime) -> dict[str, Any]:
    """The alert JSON (docs/alerts.md) without ``id`` and ``state`` (those live in their own columns)."""
    source = session.get(m.Community, draft.source_community_id) if draft.source_community_id else None
    target = session.get(m.Community, draft.target_community_id) if draft.target_community_id else None
    signals = [{"name": str(s.get("name", "")), "score": float(s.get("score", 0.0)),
                "evidence": list(s.get("evidence", []))} for s in draft.signals]
    source_ref = community_ref(source)
    if draft.kind == "rebrand" and source_ref is not None:
        source_ref = _as_it_was(source_ref, signals)
    return {"kind": draft.kind, "level": draft.level, "score": round(float(draft.score), 4),
            "source": source_ref, "target": community_ref(target), "signals": signals,
            "created_at": created_at.isoformat()}


def _as_it_was(ref: dict[str, Any], signals: list[dict[str, Any]]) -> dict[str, Any]:
    """A rebrand's source as it was before a handle change: its old handle and link, so that the alert
    reads "old → new" (the target is the channel as it is now, under its new handle)."""
    renames = [e for s in signals if s["name"] == "rename" for e in s["evidence"] if isinstance(e, dict)]
    out = dict(ref)
    for e in renames:
        old, new = e.get("old"), e.get("new")
        if not isinstance(old, str) or not old:
            continue
        if e.get("field") == "handle" and isinstance(new, str) and (ref.get("handle") or "").lower() == new.lower():
            out["handle"] = old
            url = str(ref.get("url") or "")
            if url.rstrip("/").lower().endswith("/" + new.lower()):
                out["url"] = url.rstrip("/")[: -len(new)] + old
    return out


def alert_json(alert: m.Alert, session: Session | None = None) -> dict[str, Any]:
    """The full alert JSON (docs/alerts.md) (``session`` is accepted for symmetry; the payload is self-contained)."""
    payload = dict(alert.payload or {})
    return {
        "id": alert.id,
        "kind": alert.kind,
        "level": alert.level,
        "score": alert.score,
        "source": payload.get("source"),
        "target": payload.get("target"),
        "signals": payload.get("signals", []),
        "created_at": payload.get("created_at") or alert.created_at.isoformat(),
        "state": alert.state,
        "escalations": alert.escalations,
        "updated_at": alert.updated_at.isoformat(),
    }


# ---------------------------------------------------------------- outbox


def digest_window(digest: str, at: datetime) -> tuple[datetime, datetime]:
    """The [start, end) window an alert raised at ``at`` falls into for an hourly or daily digest."""
    at = at.astimezone(UTC)
    if digest == "hourly":
        start = at.replace(minute=0, second=0, microsecond=0)
        return start, start + timedelta(hours=1)
    start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def audiences_for(settings: Settings, level: str) -> list[tuple[str, AudienceSettings]]:
    rank = level_rank(level)
    return [(name, aud) for name, aud in settings.alerts.audiences.items() if rank >= level_rank(aud.min_level)]


def enqueue_deliveries(session: Session, alert: m.Alert, settings: Settings, now: datetime,
                       reason: str | None = None) -> list[m.Delivery]:
    """One outbox row per audience whose ``min_level`` the alert meets. Digest audiences wait for the
    end of their window (``next_attempt_at``) and share a ``digest_key``, so they go out as one message.
    ``reason`` ("recovered") makes a further delivery of an alert at the same level."""
    rows = []
    for name, aud in audiences_for(settings, alert.level):
        row = m.Delivery(alert_id=alert.id, audience=name, level=alert.level, state="pending",
                         idempotency_key=f"{alert.id}:{name}:{reason or alert.level}", next_attempt_at=now,
                         created_at=now,
                         attempts=0, attrs={})
        if aud.digest != "off":
            start, end = digest_window(aud.digest, now)
            row.digest_key = f"{name}:{aud.digest}:{start.strftime('%Y-%m-%dT%H:%MZ')}"
            row.next_attempt_at = end
        session.add(row)
        rows.append(row)
    session.flush()
    return rows


# ---------------------------------------------------------------- raise


def raise_alert(session: Session, draft: AlertDraft, settings: Settings, *, now: datetime | None = None
                ) -> m.Alert | None:
    """Create or escalate an alert; return it, or None when nothing is new.

    Same dedup key and a higher level → escalation: the row is updated (level, score, payload,
    ``escalations``) and new outbox rows are written, but no second alert appears. Same or lower
    level → None. Escalating a dismissed alert reopens it (the detector only raises a dismissed pair
    again when its score rose by ``detect.dismiss_margin``).
    """
    if draft.kind not in ALERT_KINDS:
        raise ValueError(f"unknown alert kind {draft.kind!r}; expected one of {', '.join(ALERT_KINDS)}")
    level_rank(draft.level)
    now = now or m.utcnow()
    key = draft.key
    existing = session.scalar(select(m.Alert).where(m.Alert.dedup_key == key))
    if is_recovery(draft):
        return _mark_recovered(session, existing, draft, settings, now) if existing is not None else None
    if existing is None:
        alert = m.Alert(kind=draft.kind, dedup_key=key, level=draft.level, score=float(draft.score),
                        source_community_id=draft.source_community_id,
                        target_community_id=draft.target_community_id,
                        payload=build_payload(session, draft, now), state="new", created_at=now, updated_at=now,
                        escalations=0)
        try:
            with session.begin_nested():
                session.add(alert)
                session.flush()
        except IntegrityError:
            # Another process raised the same alert between our SELECT and INSERT: treat as existing.
            existing = session.scalar(select(m.Alert).where(m.Alert.dedup_key == key))
            if existing is None:
                raise
        else:
            enqueue_deliveries(session, alert, settings, now)
            log.info("alert #%s raised: %s %s score %.2f", alert.id, alert.kind, alert.level, alert.score)
            return alert
    if level_rank(draft.level) < level_rank(existing.level):
        return None
    if level_rank(draft.level) == level_rank(existing.level):
        _add_new_evidence(session, existing, draft, now)
        return None
    payload = build_payload(session, draft, now)
    payload["created_at"] = (existing.payload or {}).get("created_at", existing.created_at.isoformat())
    payload["escalated_at"] = now.isoformat()
    existing.level = draft.level
    existing.score = float(draft.score)
    existing.payload = payload
    existing.escalations = (existing.escalations or 0) + 1
    existing.updated_at = now
    if existing.state == "dismissed":
        existing.state = "new"
    session.flush()
    enqueue_deliveries(session, existing, settings, now)
    log.info("alert #%s escalated to %s (score %.2f)", existing.id, existing.level, existing.score)
    return existing


def _facts(signals: object) -> set[tuple[str, str]]:
    """(signal, evidence field) pairs that carry a value: what an alert knows, whatever the numbers."""
    found: set[tuple[str, str]] = set()
    for signal in signals if isinstance(signals, list) else []:
        if not isinstance(signal, dict):
            continue
        name = str(signal.get("name"))
        found.add((name, ""))
        for item in signal.get("evidence") or []:
            if isinstance(item, dict):
                found.update((name, str(k)) for k, v in item.items() if v not in (None, "", [], {}, False))
    return found


def _add_new_evidence(session: Session, alert: m.Alert, draft: AlertDraft, now: datetime) -> None:
    """A draft at the alert's own level that brings evidence the alert lacks -- a signal it did not have
    (a surge of the successor) or a field that was empty (the public title and member count of a private
    invite whose page was read after the alert was raised) -- is not a new alert and makes no new
    delivery, but the stored alert (what the workspace, ``alerts show`` and evidence bundles read) gains
    it. Numbers that merely moved change nothing. The first payload's time and any recovery mark stay."""
    old = alert.payload or {}
    added = _facts(draft.signals) - _facts(old.get("signals"))
    if not added:
        return
    payload = build_payload(session, draft, now)
    for kept in ("created_at", "escalated_at", "recovered_at"):
        if kept in old:
            payload[kept] = old[kept]
    payload["evidence_added_at"] = now.isoformat()
    alert.payload = payload
    alert.score = max(alert.score, float(draft.score))
    alert.updated_at = now
    session.flush()
    log.info("alert #%s gained evidence: %s", alert.id, ", ".join(sorted(f"{s}.{k}" if k else s for s, k in added)))


def is_recovery(draft: AlertDraft) -> bool:
    """A draft saying that the community of a shutdown alert is back (detection's "recovered" signal)."""
    return draft.kind == "shutdown" and any(s.get("name") == "recovered" for s in draft.signals)


def is_recovered_alert(alert: m.Alert) -> bool:
    return any(s.get("name") == "recovered" for s in (alert.payload or {}).get("signals", []))


def _mark_recovered(session: Session, alert: m.Alert, draft: AlertDraft, settings: Settings, now: datetime
                    ) -> m.Alert | None:
    """Mark a shutdown alert recovered: its payload gains the "recovered" signal (``"recovered": true``
    with when the community read normally again) and every audience that had it is told, once."""
    if is_recovered_alert(alert):
        return None
    payload = dict(alert.payload or {})
    recovered = [{"name": "recovered", "score": 0.0, "evidence": list(s.get("evidence", []))}
                 for s in draft.signals if s.get("name") == "recovered"]
    payload["signals"] = [*payload.get("signals", []), *recovered]
    payload["recovered_at"] = now.isoformat()
    alert.payload = payload
    alert.updated_at = now
    session.flush()
    enqueue_deliveries(session, alert, settings, now, reason="recovered")
    log.info("alert #%s: %s is back, marked recovered", alert.id, alert.kind)
    return alert


# ---------------------------------------------------------------- analyst actions


def get_alert(session: Session, alert_id: int) -> m.Alert:
    alert = session.get(m.Alert, alert_id)
    if alert is None:
        raise UsageError(f"no alert #{alert_id}")
    return alert


def mark_delivered(alert: m.Alert, now: datetime | None = None) -> None:
    if alert.state == "new":
        alert.state = "delivered"
        alert.updated_at = now or m.utcnow()


def _transition(alert: m.Alert, to: str, allowed_from: frozenset[str], verb: str, note: str | None) -> None:
    if alert.state not in allowed_from:
        raise AlertStateError(f"alert #{alert.id} is {alert.state}; cannot {verb} it")
    alert.state = to
    alert.updated_at = m.utcnow()
    if note:
        alert.note = note if not alert.note else f"{alert.note}\n{note}"


def acknowledge(session: Session, alert_id: int, note: str | None = None) -> m.Alert:
    alert = get_alert(session, alert_id)
    _transition(alert, "acknowledged", frozenset({"new", "delivered"}), "acknowledge", note)
    session.flush()
    return alert


def confirm(session: Session, alert_id: int, note: str | None = None) -> m.Alert:
    alert = get_alert(session, alert_id)
    _transition(alert, "confirmed", frozenset({"new", "delivered", "acknowledged"}), "confirm", note)
    _update_candidate(session, alert, "confirmed")
    session.flush()
    return alert


def dismiss(session: Session, alert_id: int, note: str | None = None) -> m.Alert:
    alert = get_alert(session, alert_id)
    _transition(alert, "dismissed", frozenset({"new", "delivered", "acknowledged"}), "dismiss", note)
    _update_candidate(session, alert, "dismissed")
    session.flush()
    return alert


def _update_candidate(session: Session, alert: m.Alert, state: str) -> None:
    """Feed the analyst's verdict back to the migration candidate, so detection honours it."""
    if alert.kind != "migration" or alert.source_community_id is None or alert.target_community_id is None:
        return
    candidate = session.scalar(select(m.Candidate).where(m.Candidate.source_id == alert.source_community_id,
                                                         m.Candidate.target_id == alert.target_community_id))
    if candidate is None:
        return
    set_candidate_state(session, alert.source_community_id, alert.target_community_id, state)
