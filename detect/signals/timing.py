"""*timing*: B created, or surging, within ``timing_window_days`` after A's shutdown or rename.

The value falls from 1 right after the end to 0.5 at the window's edge. A reserve group made shortly
*before* the end counts a little less (0.6), unless it also surged after the end: created before,
grown after is the typical reserve group and scores 0.9 (issue 15, class 7).
"""

from __future__ import annotations

from typing import Any

from detect.signals.base import PairEvidence, Signal, SignalPlugin, investigator, iso, ngo
from model.privacy import Shape


def timing_signal(ev: PairEvidence, window_days: int) -> Signal:
    if ev.source_event_at is None:
        return Signal("timing", 0.0, [])
    best = 0.0
    detail: dict[str, Any] = {}
    moments = [("target_started", ev.target_started_at)] + [("target_surge", at) for at in ev.target_surges]
    for what, at in moments:
        if at is None:
            continue
        delta = (at - ev.source_event_at).total_seconds() / 86400
        if 0 <= delta <= window_days:
            value = 1.0 - 0.5 * delta / window_days
        elif -window_days <= delta < 0:
            value = 0.6
        else:
            value = 0.0
        if value > best:
            best = value
            detail = {"source_event": ev.source_event, "source_event_at": iso(ev.source_event_at), what: iso(at),
                      "days_after": round(delta, 2), "window_days": window_days}
    started, end = ev.target_started_at, ev.source_event_at
    surged_after = [at for at in ev.target_surges if 0 <= (at - end).total_seconds() / 86400 <= window_days]
    if started is not None and surged_after and -window_days <= (started - end).total_seconds() / 86400 < 0:
        # a reserve group made before the end that grew after it: the typical case (issue 15, class 7)
        value = 0.9
        if value > best:
            best = value
            detail = {"source_event": ev.source_event, "source_event_at": iso(end),
                      "target_started": iso(started), "target_surge": iso(surged_after[0]),
                      "days_after": round((surged_after[0] - end).total_seconds() / 86400, 2),
                      "started_days_before": round((end - started).total_seconds() / 86400, 2),
                      "window_days": window_days}
    return Signal("timing", best, [detail] if detail else [])


SIGNAL = SignalPlugin(
    name="timing", weighted=True,
    evidence_fields={
        **ngo(Shape.TIME, "source_event_at", "target_started", "target_surge"),
        **ngo(Shape.NUMBER, "days_after", "window_days"),
        # not allow-listed for NGOs (alerts/privacy.py), so investigator-only
        **investigator(Shape.NAME, "source_event"),
        **investigator(Shape.NUMBER, "started_days_before"),
    },
    compute=lambda ev, settings: timing_signal(ev, settings.timing_window_days),
)
