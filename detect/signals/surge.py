"""*surge*: B's member count surging after A's end, with the counts (issue 15, class 9).

News in itself for an investigator, attached to the migration. It carries no weight in the score
(timing already counts the surge).
"""

from __future__ import annotations

from datetime import datetime

from detect.signals.base import PairEvidence, Signal, SignalPlugin, investigator, ngo
from model.privacy import Shape


def surge_signal(ev: PairEvidence, window_days: int) -> Signal | None:
    """None when B did not surge within ``window_days`` after A's end. A's end is its last post when
    that is earlier than the shutdown we observed (a crawl may read B's new count seconds before it
    reads A's gone page), or when no shutdown is confirmed yet (the migration alert is often raised from
    the announcement before the second "does not exist" answer confirms the end)."""
    ends = [at for at in (ev.source_event_at, ev.source_last_post_at) if at is not None]
    if not ends:
        return None
    end = min(ends)
    items = []
    for detail in ev.target_surge_details:
        at = detail.get("observed_at") or detail.get("at")
        try:
            when = datetime.fromisoformat(str(at))
        except ValueError:
            continue
        delta = (when - end).total_seconds() / 86400
        if 0 <= delta <= window_days:
            items.append({**detail, "days_after": round(delta, 2)})
    if not items:
        return None
    return Signal("surge", 1.0, items)


SIGNAL = SignalPlugin(
    name="surge", weighted=False,
    # the surge event's own evidence (detect.cycle.surge_details), plus how long after A's end
    evidence_fields={
        **ngo(Shape.NUMBER, "from", "to", "factor", "joins", "days_after"),
        **ngo(Shape.TIME, "observed_at", "at", "day"),
        **investigator(Shape.NAME, "measure"),  # not allow-listed for NGOs (alerts/privacy.py)
    },
    compute=lambda ev, settings: surge_signal(ev, settings.timing_window_days),
)
