"""The outbox deliverer: sends pending deliveries, with retries, rate limits and digests.

Crash semantics (see docs/alerts.md): a unit of work (one delivery, or all deliveries of one digest)
is marked ``sending`` and committed *before* anything is sent, and marked ``sent`` and committed
after. A process that dies in between leaves the rows in ``sending``; the next run sends them again
with the *same* idempotency key. So a message is never lost and at worst repeated once, and the
receiver can tell the repeat by the key. Run one deliverer at a time (the scheduler is one process).

Retries: within a run, tenacity retries a failing unit with exponential backoff and jitter
(``tries_per_run`` attempts, the ``sleep`` is injectable); every attempt is a row in
``delivery_attempts``. A unit still failing goes back to ``pending`` with ``next_attempt_at`` in the
future; after ``alerts.max_attempts`` attempts in all it becomes ``failed``. Per URL progress is kept
in ``attrs["sent_urls"]``, so a retry only re-sends to the URLs that failed.

Flood control: at most ``max_per_hour`` messages per audience per rolling hour. When more single
alerts are due than the budget allows, they all go out as one digest message ("storm"); with no
budget left they wait until the hour frees up. Digest audiences (hourly/daily) collect rows under a
``digest_key`` and send them as one message when the window closes.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, distinct, func, or_, select
from sqlalchemy.orm import Session
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from alerts.channels import ChannelError, Sender, expand_url, send_apprise
from alerts.context import with_context
from alerts.lifecycle import alert_json, mark_delivered
from alerts.render import Message, render_alert, render_digest
from config.settings import AudienceSettings, Settings
from model.errors import MissingSecret
from store import models as m
from store.db import Store

log = logging.getLogger(__name__)

HOUR = timedelta(hours=1)
MAX_BACKOFF = timedelta(hours=6)


@dataclass
class DeliveryReport:
    """What one run did, in messages (one digest = one message) and in outbox rows."""

    messages_sent: int = 0
    rows_sent: int = 0
    digests_sent: int = 0
    rows_retrying: int = 0
    rows_failed: int = 0
    rows_postponed: int = 0
    repeats: int = 0
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Unit:
    """One message to send: one delivery row, or the rows of one digest."""

    audience: str
    row_ids: tuple[int, ...]
    digest_key: str | None
    key: str
    recovering: bool = False


def url_id(url: str) -> str:
    """Stable id of a configured (unexpanded) URL for per-URL progress; holds no secret."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def retry_delay(attempts: int, rng: Callable[[], float] = random.random) -> timedelta:
    """Delay before the next run may retry: exponential in the attempts so far, with jitter."""
    base = min(MAX_BACKOFF.total_seconds(), 60.0 * 2 ** max(0, attempts - 1))
    return timedelta(seconds=base * (0.5 + rng() / 2))


# ---------------------------------------------------------------- planning


def _sent_last_hour(session: Session, audience: str, now: datetime) -> tuple[int, datetime | None]:
    """Messages sent to an audience in the rolling hour (a digest counts once), and the oldest one's time."""
    window = and_(m.Delivery.audience == audience, m.Delivery.state == "sent", m.Delivery.sent_at > now - HOUR)
    singles = session.scalar(select(func.count()).select_from(m.Delivery)
                             .where(window, m.Delivery.digest_key.is_(None))) or 0
    digests = session.scalar(select(func.count(distinct(m.Delivery.digest_key)))
                             .where(window, m.Delivery.digest_key.is_not(None))) or 0
    oldest = session.scalar(select(func.min(m.Delivery.sent_at)).where(window))
    return singles + digests, oldest


def _digest_unit(audience: str, digest_key: str, rows: Sequence[m.Delivery], recovering: bool = False) -> Unit:
    return Unit(audience, tuple(r.id for r in rows), digest_key, f"digest:{digest_key}", recovering)


def _plan_audience(session: Session, audience: str, aud: AudienceSettings, rows: list[m.Delivery], now: datetime,
                   report: DeliveryReport) -> list[Unit]:
    units: list[Unit] = []
    sending = [r for r in rows if r.state == "sending"]
    pending = [r for r in rows if r.state == "pending"]
    if sending:
        log.warning("%d deliveries to %s were interrupted while sending; sending them again with the same "
                    "idempotency key", len(sending), audience)
    # Recovery first and outside the budget: these were already (maybe) sent once.
    by_digest: dict[str, list[m.Delivery]] = defaultdict(list)
    for row in sending:
        if row.digest_key:
            by_digest[row.digest_key].append(row)
        else:
            units.append(Unit(audience, (row.id,), None, row.idempotency_key, True))
    units.extend(_digest_unit(audience, k, rs, True) for k, rs in by_digest.items())

    sent, oldest = _sent_last_hour(session, audience, now)
    budget = aud.max_per_hour - sent - len(units)
    reopen = (oldest + HOUR) if oldest else now + HOUR

    groups: dict[str, list[m.Delivery]] = defaultdict(list)
    singles: list[m.Delivery] = []
    for row in pending:
        (groups[row.digest_key] if row.digest_key else singles).append(row)
    waiting: list[m.Delivery] = []
    for key, group in groups.items():
        if budget > 0:
            units.append(_digest_unit(audience, key, group))
            budget -= 1
        else:
            waiting.extend(group)
    if singles:
        if len(singles) <= budget:
            units.extend(Unit(audience, (r.id,), None, r.idempotency_key) for r in singles)
        elif budget >= 1:
            storm_key = f"{audience}:storm:{now.strftime('%Y%m%dT%H%M%S%fZ')}"
            for row in singles:
                row.digest_key = storm_key
            units.append(_digest_unit(audience, storm_key, singles))
            log.info("%d alerts for %s exceed max_per_hour=%d: sending one digest", len(singles), audience,
                     aud.max_per_hour)
        else:
            waiting.extend(singles)
    for row in waiting:
        row.next_attempt_at = reopen
    if waiting:
        log.info("rate limit for %s reached (max_per_hour=%d): %d deliveries wait until %s", audience,
                 aud.max_per_hour, len(waiting), reopen.isoformat())
    report.rows_postponed += len(waiting)
    return units


def plan(store: Store, settings: Settings, now: datetime, report: DeliveryReport) -> list[Unit]:
    """Pick what is due and group it into messages (committed, so storm digests keep their key)."""
    units: list[Unit] = []
    with store.session() as session:
        due = session.scalars(
            select(m.Delivery)
            .where(or_(m.Delivery.state == "sending",
                       and_(m.Delivery.state == "pending", m.Delivery.next_attempt_at <= now)))
            .order_by(m.Delivery.id)
        ).all()
        by_audience: dict[str, list[m.Delivery]] = defaultdict(list)
        for row in due:
            by_audience[row.audience].append(row)
        for audience, rows in by_audience.items():
            aud = settings.alerts.audiences.get(audience)
            if aud is None:
                for row in rows:
                    row.state = "failed"
                    row.last_error = f"audience {audience!r} is no longer configured"
                report.rows_failed += len(rows)
                report.errors.append(f"audience {audience!r} is no longer configured")
                continue
            units.extend(_plan_audience(session, audience, aud, rows, now, report))
    return units


# ---------------------------------------------------------------- sending


def _message(session: Session, unit: Unit, rows: Sequence[m.Delivery], aud: AudienceSettings,
             config: str | None = None) -> Message:
    alerts = []
    for row in rows:
        alert = session.get(m.Alert, row.alert_id) if row.alert_id is not None else None
        if alert is not None:
            alerts.append(with_context(session, alert, alert_json(alert, session)))
    if unit.digest_key is None and len(alerts) == 1:
        return render_alert(alerts[0], aud.detail, unit.key, language=aud.language, config=config)
    return render_digest(alerts, aud.detail, unit.key, unit.audience, language=aud.language, config=config)


def _record_attempt(store: Store, unit: Unit, done: set[str], error: str | None, now: datetime) -> None:
    with store.session() as session:
        for row in session.scalars(select(m.Delivery).where(m.Delivery.id.in_(unit.row_ids))):
            row.attempts = (row.attempts or 0) + 1
            row.last_error = error
            row.attrs = {**(row.attrs or {}), "sent_urls": sorted(done)}
            session.add(m.DeliveryAttempt(delivery_id=row.id, at=now, ok=error is None, error=error))


def send_unit(store: Store, settings: Settings, unit: Unit, *, sender: Sender, sleep: Callable[[float], None],
              tries_per_run: int, now: datetime, report: DeliveryReport, env: Mapping[str, str] | None = None,
              clock: Callable[[], datetime] | None = None) -> bool:
    """Send one unit with retries; True when it went out to every URL of its audience."""
    aud = settings.alerts.audiences[unit.audience]
    with store.session() as session:
        rows = list(session.scalars(select(m.Delivery).where(m.Delivery.id.in_(unit.row_ids))))
        for row in rows:
            row.state = "sending"
        message = _message(session, unit, rows, aud, settings.source)
        done: set[str] = set().union(*((r.attrs or {}).get("sent_urls", []) for r in rows))
        attempts_so_far = max((r.attempts or 0) for r in rows)
    # Committed: from here on a crash leaves the rows in "sending", and the next run repeats them.
    if unit.recovering:
        report.repeats += 1
    tries = max(1, min(tries_per_run, settings.alerts.max_attempts - attempts_so_far))
    stamp = clock or (lambda: now)

    def attempt() -> None:
        errors = []
        for url in aud.urls:
            uid = url_id(url)
            if uid in done:
                continue
            try:
                sender(expand_url(url, unit.audience, env), message)
            except (ChannelError, MissingSecret) as exc:
                errors.append(str(exc))
            else:
                done.add(uid)
        error = "; ".join(errors) or None
        _record_attempt(store, unit, done, error, stamp())
        if error:
            raise ChannelError(error)

    retrying = Retrying(stop=stop_after_attempt(tries), wait=wait_exponential_jitter(initial=1, max=15),
                        retry=retry_if_exception_type(ChannelError), sleep=sleep, reraise=True)
    try:
        retrying(attempt)
    except ChannelError as exc:
        _finish_failure(store, settings, unit, str(exc), now, report)
        return False
    _finish_success(store, unit, stamp(), report)
    return True


def _finish_success(store: Store, unit: Unit, now: datetime, report: DeliveryReport) -> None:
    with store.session() as session:
        rows = list(session.scalars(select(m.Delivery).where(m.Delivery.id.in_(unit.row_ids))))
        for row in rows:
            row.state = "sent"
            row.sent_at = now
            row.last_error = None
            alert = session.get(m.Alert, row.alert_id) if row.alert_id is not None else None
            if alert is not None:
                mark_delivered(alert, now)
    report.messages_sent += 1
    report.rows_sent += len(unit.row_ids)
    if unit.digest_key:
        report.digests_sent += 1
    log.info("sent %s to %s (%d alerts)", unit.key, unit.audience, len(unit.row_ids))


def _finish_failure(store: Store, settings: Settings, unit: Unit, error: str, now: datetime,
                    report: DeliveryReport) -> None:
    with store.session() as session:
        rows = list(session.scalars(select(m.Delivery).where(m.Delivery.id.in_(unit.row_ids))))
        attempts = max((r.attempts or 0) for r in rows)
        give_up = attempts >= settings.alerts.max_attempts
        for row in rows:
            row.state = "failed" if give_up else "pending"
            row.next_attempt_at = now + retry_delay(attempts)
    if give_up:
        report.rows_failed += len(unit.row_ids)
        log.error("giving up on %s to %s after %d attempts: %s", unit.key, unit.audience, attempts, error)
    else:
        report.rows_retrying += len(unit.row_ids)
        log.warning("delivery %s to %s failed (attempt %d of %d), will retry: %s", unit.key, unit.audience,
                    attempts, settings.alerts.max_attempts, error)
    report.errors.append(error)


def deliver_pending(store: Store, settings: Settings, now: datetime | None = None, *,
                    sender: Sender = send_apprise, sleep: Callable[[float], None] | None = None,
                    tries_per_run: int = 3, env: Mapping[str, str] | None = None,
                    clock: Callable[[], datetime] | None = None) -> DeliveryReport:
    """Send everything due now. Safe to run again at any time (and after a crash)."""
    now = now or m.utcnow()
    report = DeliveryReport()
    for unit in plan(store, settings, now, report):
        send_unit(store, settings, unit, sender=sender, sleep=sleep or time.sleep, tries_per_run=tries_per_run, now=now,
                  report=report, env=env, clock=clock)
    return report


def deliver_alerts(store: Store, settings: Settings, now: datetime | None = None) -> DeliveryReport:
    """Entry point for the CLI and the scheduler: refuse a bad channel config, then deliver."""
    from alerts.channels import validate_audiences

    validate_audiences(settings)
    return deliver_pending(store, settings, now=now)
