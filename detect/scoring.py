"""Migration scoring: the registered signals of a pair (A → B) combined into a score and a level
(possible, likely, strong).

Pure: the pipeline (:mod:`detect.pipeline`) gathers a :class:`PairEvidence` from the store and calls
:func:`score_pair`. Weights and level thresholds come from ``settings.detect``.

Each signal is a plugin in :mod:`detect.signals` (one module each: announcement, name, members, content,
timing, and the unweighted surge and private_invite); its module explains its curve. The score is the
weighted mean of the weighted signals, in [0, 1]. The weighted mean treats a missing signal as
evidence against; the floors below keep clear cases from being averaged away:

- A clear announcement in A of B — successor wording, close to A's end, not diluted by a directory —
  is what an investigator acts on even before anyone has moved, so it alone reaches "likely".
- Corroboration: after A shut down or renamed, two independent kinds of strong evidence (an
  announcement, the members, the content; not name or timing, which coincidence produces) make
  the pair "strong" whatever the weights of the absent signals.
- Single decisive kinds of evidence, after A shut down or renamed: content this strong with forwards
  from A (or several reposts), or members this strong, reach "likely" on their own (each floor is
  justified by a class of issue 15 next to its constant).

The evidence types and :class:`Signal` live in :mod:`detect.signals.base` and stay importable from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from config.settings import DetectSettings
from detect.signals import signals
from detect.signals.base import Announcement, ContentEvidence, MemberEvidence, PairEvidence, Signal
from detect.signals.members import members_signal
from model.vocab import LEVELS

#: An announcement this clear (successor wording, close in time, not a directory) is never below "likely".
DECISIVE_ANNOUNCEMENT = 0.9
#: Two independent kinds of evidence this strong, after A shut down or renamed, make a pair "strong".
CORROBORATING = 0.8
#: After A shut down or renamed, content this strong (issue 15 classes 1 and 2: six or nine re-encoded
#: reposts plus four forwards from A score 0.998) with at least one forward from A or
#: ``DECISIVE_CONTENT_ITEMS`` reposts is never below "likely": an unrelated channel reposting one popular
#: picture scores 0.39 and stays out.
DECISIVE_CONTENT = 0.9
DECISIVE_CONTENT_ITEMS = 4
#: After A shut down, members this strong (the members signal at full count and significance) are never
#: below "likely" when at least ``DECISIVE_SOURCE_SHARE`` of A's known members are in B: most of A moved
#: (issue 15 class 6, 16 of 18 members; class 7, 14 of 16). A large source losing 40 of its 100 members
#: to a busy community is corroborating evidence, not a migration on its own.
DECISIVE_MEMBERS = 0.9
DECISIVE_SOURCE_SHARE = 0.5


@dataclass(frozen=True, slots=True)
class PairScore:
    source_id: int
    target_id: int
    score: float
    level: str | None
    signals: tuple[Signal, ...]

    def signal(self, name: str) -> Signal | None:
        return next((s for s in self.signals if s.name == name), None)


def level_for(score: float, levels: dict[str, float]) -> str | None:
    """The highest level whose threshold the score reaches, or None below "possible"."""
    found = None
    for name in LEVELS:
        if score >= levels.get(name, math.inf):
            found = name
    return found


def _corroboration_floor(ev: PairEvidence, signals: tuple[Signal, ...], levels: dict[str, float]) -> float:
    """The weighted mean treats a missing signal as evidence against; these floors keep clear cases
    from being averaged away (see the module docstring)."""
    floor = 0.0
    by_name = {s.name: s.score for s in signals}
    if by_name.get("announcement", 0.0) >= DECISIVE_ANNOUNCEMENT:
        floor = max(floor, levels.get("likely", 0.0))
    if ev.source_event is not None:
        c = ev.content
        if (c is not None and by_name.get("content", 0.0) >= DECISIVE_CONTENT
                and (c.forwards > 0 or c.media_matches + c.text_matches >= DECISIVE_CONTENT_ITEMS)):
            floor = max(floor, levels.get("likely", 0.0))
        mem = ev.members
        if (mem is not None and by_name.get("members", 0.0) >= DECISIVE_MEMBERS and mem.size_a > 0
                and mem.shared / mem.size_a >= DECISIVE_SOURCE_SHARE):
            floor = max(floor, levels.get("likely", 0.0))
    independent = sum(1 for name in ("announcement", "members", "content") if by_name.get(name, 0.0) >= CORROBORATING)
    if ev.source_event is not None and independent >= 2:
        floor = max(floor, levels.get("strong", 0.0))
    return floor


def score_pair(ev: PairEvidence, settings: DetectSettings) -> PairScore:
    """Every registered signal of the pair, in registry order; the score is the weighted mean of the
    weighted ones (a weighted signal with nothing to say counts as 0), raised to the floors."""
    weights = settings.weights
    weighted_names: list[str] = []
    weighted: list[Signal] = []
    found: list[Signal] = []
    for plugin in signals():
        if plugin.weighted:
            weighted_names.append(plugin.name)
        signal = plugin.score(ev, settings)
        if signal is None:
            continue
        found.append(signal)
        if plugin.weighted:
            weighted.append(signal)
    total = sum(max(weights.get(s, 0.0), 0.0) for s in weighted_names) or 1.0
    score = sum(max(weights.get(s.name, 0.0), 0.0) * s.score for s in weighted) / total
    score = max(score, _corroboration_floor(ev, tuple(weighted), settings.levels))
    return PairScore(ev.source_id, ev.target_id, score, level_for(score, settings.levels), tuple(found))


__all__ = ["Announcement", "ContentEvidence", "MemberEvidence", "PairEvidence", "PairScore", "Signal", "level_for",
           "members_signal", "score_pair"]
