"""The alerts queue as ``resurface alerts list`` filters it, shared with the workspace.

``--state open`` means everything that still needs a person; levels are "at least"; ``case`` and
``platform`` match the source or the target community; ``since`` is a date, a time or an age.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case as case_when
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from model.errors import UsageError
from model.vocab import ALERT_KINDS, ALERT_STATES, LEVELS
from store import models as m

#: ``state=open``: everything that still needs a person.
OPEN_STATES: tuple[str, ...] = ("new", "delivered", "acknowledged")


def parse_since(value: str, now: datetime | None = None) -> datetime:
    """An ISO date or time (UTC unless it says otherwise), or an age such as 36h, 7d, 2w."""
    now = now or datetime.now(UTC)
    text = value.strip()
    match = re.fullmatch(r"(\d+)\s*([hdw])", text, flags=re.IGNORECASE)
    if match:
        amount, unit = int(match.group(1)), match.group(2).lower()
        return now - timedelta(hours=amount * {"h": 1, "d": 24, "w": 24 * 7}[unit])
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"since {value!r}: give a date (2026-08-20), a time (2026-08-20T14:00) "
                         "or an age (36h, 7d, 2w)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class AlertFilter:
    state: str | None = None
    kind: str | None = None
    level: str | None = None
    case: str | None = None
    platform: str | None = None
    since: str | None = None
    limit: int = 100

    def check(self) -> None:
        for name, value, choices in (("state", self.state, (*ALERT_STATES, "open")), ("kind", self.kind, ALERT_KINDS),
                                     ("level", self.level, LEVELS)):
            if value is not None and value not in choices:
                raise UsageError(f"{name} must be one of {', '.join(choices)}, not {value!r}")
        if self.limit < 1:
            raise UsageError("limit must be at least 1")


def known_cases(session: Session) -> list[str]:
    return sorted(c for c in session.scalars(select(m.Community.case_name).distinct()) if c)


def _conditions(session: Session, flt: AlertFilter, now: datetime | None, with_state: bool = True) -> list[Any]:
    where: list[Any] = []
    if with_state and flt.state:
        where.append(m.Alert.state.in_(OPEN_STATES if flt.state == "open" else (flt.state,)))
    if flt.kind:
        where.append(m.Alert.kind == flt.kind)
    if flt.level:
        where.append(m.Alert.level.in_(LEVELS[LEVELS.index(flt.level):]))
    if flt.since:
        where.append(m.Alert.updated_at >= parse_since(flt.since, now))
    if flt.case:
        cases = known_cases(session)
        if flt.case not in cases:
            raise UsageError(f"case {flt.case!r}: no such case (known: {', '.join(cases) or 'none'})")
        members = select(m.Community.id).where(m.Community.case_name == flt.case)
        where.append(or_(m.Alert.source_community_id.in_(members), m.Alert.target_community_id.in_(members)))
    if flt.platform:
        on_platform = select(m.Community.id).where(m.Community.platform == flt.platform)
        where.append(or_(m.Alert.source_community_id.in_(on_platform), m.Alert.target_community_id.in_(on_platform)))
    return where


def query_alerts(session: Session, flt: AlertFilter, now: datetime | None = None) -> list[m.Alert]:
    """Alerts matching ``flt``, strongest first, then most recently updated."""
    flt.check()
    rank = case_when({lvl: i for i, lvl in enumerate(LEVELS)}, value=m.Alert.level, else_=-1)
    query = (select(m.Alert).where(*_conditions(session, flt, now))
             .order_by(rank.desc(), m.Alert.updated_at.desc(), m.Alert.id.desc()).limit(flt.limit))
    return list(session.scalars(query))


def counts_by_state(session: Session, flt: AlertFilter, now: datetime | None = None) -> dict[str, int]:
    """How many alerts per state under the other filters (the queue's tabs)."""
    rows = session.execute(select(m.Alert.state, func.count()).where(*_conditions(session, flt, now, False))
                           .group_by(m.Alert.state))
    found = {state: int(n) for state, n in rows.all()}
    return {state: found.get(state, 0) for state in ALERT_STATES}
