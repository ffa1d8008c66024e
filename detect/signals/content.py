"""*content*: what B reposts of A's (pictures by PDQ hash, near-duplicate texts, forwards from A).

Each repost or near-duplicate adds evidence with diminishing returns; a forward counts twice (it
names A explicitly). The first evidence item holds the counts; up to ten examples follow, each the
dictionary :mod:`detect.content` builds (``{post_url, matched_post_url, kind, distance, at}``).
"""

from __future__ import annotations

import math
from typing import Any

from detect.signals.base import PairEvidence, Signal, SignalPlugin, investigator, ngo
from model.privacy import Shape

MAX_EXAMPLES = 10


def content_signal(ev: PairEvidence) -> Signal:
    c = ev.content
    if c is None:
        return Signal("content", 0.0, [])
    weight = c.media_matches + c.text_matches + 2 * c.forwards
    value = 1 - math.exp(-weight / 2) if weight else 0.0
    evidence: list[dict[str, Any]] = [{"media_matches": c.media_matches, "text_matches": c.text_matches,
                                       "forwards_from_source": c.forwards}]
    evidence.extend(c.examples[:MAX_EXAMPLES])
    return Signal("content", value, evidence)


SIGNAL = SignalPlugin(
    name="content", weighted=True,
    evidence_fields={
        **ngo(Shape.NUMBER, "media_matches", "text_matches", "forwards_from_source", "distance"),
        **ngo(Shape.NAME, "kind"),
        **ngo(Shape.TIME, "at"),
        **investigator(Shape.NAME, "post_url", "matched_post_url"),
    },
    compute=lambda ev, settings: content_signal(ev),
)
