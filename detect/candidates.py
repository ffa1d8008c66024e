"""Migration candidates' verdicts: the one owner of a candidate's state (detection honours it; the
alert lifecycle calls it when an analyst confirms or dismisses a migration alert)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from model.errors import UsageError
from model.vocab import CANDIDATE_STATES
from store import models as m


def set_candidate_state(session: Session, source_id: int, target_id: int, state: str) -> m.Candidate:
    """An analyst's verdict on a pair. Dismissing remembers the score, so the pair alerts again only
    if its score rises by ``detect.dismiss_margin`` over it."""
    if state not in CANDIDATE_STATES:
        raise UsageError(f"candidate state must be one of {', '.join(CANDIDATE_STATES)}, not {state!r}")
    row = session.scalar(select(m.Candidate).where(m.Candidate.source_id == source_id,
                                                   m.Candidate.target_id == target_id))
    if row is None:
        raise UsageError(f"no migration candidate #{source_id} → #{target_id}")
    row.state = state
    if state == "dismissed":
        row.dismissed_score = row.score
    session.flush()
    return row
