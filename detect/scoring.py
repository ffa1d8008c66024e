"""Migration scoring: five signals for a pair (A → B), each in [0, 1] with its evidence,
combined as a weighted mean into a score and a level (possible, likely, strong).

Pure: the cycle (:mod:`detect.cycle`) gathers a :class:`PairEvidence` from the store and calls
:func:`score_pair`. Weights and level thresholds come from ``settings.detect``.

Why each curve looks the way it does:

- *announcement*: a link from A to B is weak on its own (communities promote each other); with
  successor language ("gruppo di riserva", "we moved") it is the strongest signal we have. A directory
  channel that links to dozens of communities must not make all of them successors, so the weight is
  divided by how many distinct communities the post, and the posting community, link to.
- *name*: below 0.7 similarity of normalised names there is no evidence at all (generic words match
  by chance); above, it rises linearly to 1 for identical keys.
- *members*: the overlap coefficient says what share of the smaller community came along; it counts
  fully only with enough shared members and when the overlap is unlikely by chance (hypergeometric
  significance), and members first seen in B after A went dark add to it.
- *content*: each reposted image (PDQ match), near-duplicate text or forward from A adds evidence
  with diminishing returns.
- A clear announcement in A of B — successor wording, close to A's end, not diluted by a directory —
  is what an investigator acts on even before anyone has moved, so it alone reaches "likely".
- Corroboration: after A shut down or renamed, two independent kinds of strong evidence (an
  announcement, the members, the content; not name or timing, which coincidence produces) make
  the pair "strong" whatever the weights of the absent signals.
- *timing*: B created, or surging, within ``timing_window_days`` after A's shutdown or rename (a
  reserve group made shortly *before* the shutdown counts a little less, unless it also surged after
  the end: created before, grown after is the typical reserve group and scores 0.9).
- Single decisive kinds of evidence, after A shut down or renamed: content this strong with forwards
  from A (or several reposts), or members this strong, reach "likely" on their own (each floor is
  justified by a class of issue 15 next to its constant).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from config.settings import DetectSettings
from model.vocab import LEVELS

SIGNALS = ("announcement", "name", "members", "content", "timing")

NAME_FLOOR = 0.7
POST_FANOUT_FREE = 2  # a post may name a main and a backup group without being a directory
COMMUNITY_FANOUT_FREE = 8
MIN_SHARED_FOR_FULL = 8
CHANCE_SIGNIFICANCE = 2.0  # -log10 p below this: could be chance
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
class Announcement:
    post_url: str
    created_at: datetime | None
    phrases: tuple[str, ...]  # "lang:phrase"
    post_fanout: int  # distinct communities this post links to
    community_fanout: int  # distinct communities the posting community links to
    in_source: bool = True  # posted in A (else: a post in B pointing back at A)


@dataclass(frozen=True, slots=True)
class MemberEvidence:
    shared: int
    size_a: int
    size_b: int
    overlap_coefficient: float
    jaccard: float
    significance: float
    first_seen_after: int | None = None


@dataclass(frozen=True, slots=True)
class ContentEvidence:
    media_matches: int
    text_matches: int
    forwards: int
    examples: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class PairEvidence:
    source_id: int
    target_id: int
    announcements: tuple[Announcement, ...] = ()
    name: tuple[float, str, str] | None = None  # similarity, A's name, B's name
    members: MemberEvidence | None = None
    content: ContentEvidence | None = None
    source_event: str | None = None  # shutdown, rename
    source_event_at: datetime | None = None
    source_last_post_at: datetime | None = None
    target_started_at: datetime | None = None
    target_surges: tuple[datetime, ...] = ()
    #: the surge events of B (their evidence: from, to, factor, observed_at), for the surge signal
    target_surge_details: tuple[dict[str, Any], ...] = ()
    #: B is a private invite: what its public page shows (title, description, members), never joined
    target_invite: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    name: str
    score: float
    evidence: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "score": round(self.score, 4), "evidence": self.evidence}


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


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def announcement_signal(ev: PairEvidence, window_days: int) -> Signal:
    best = 0.0
    items: list[dict[str, Any]] = []
    reference = ev.source_event_at or ev.source_last_post_at
    for ann in ev.announcements:
        base = 1.0 if ann.phrases else 0.5
        if not ann.in_source:
            base *= 0.8
        closeness = 1.0
        if reference is not None and ann.created_at is not None:
            gap = abs((reference - ann.created_at).total_seconds()) / 86400
            closeness = 1.0 if gap <= window_days else max(0.5, window_days / gap)
        discount = (min(1.0, POST_FANOUT_FREE / max(ann.post_fanout, 1))
                    * min(1.0, COMMUNITY_FANOUT_FREE / max(ann.community_fanout, 1)))
        value = base * closeness * discount
        best = max(best, value)
        items.append({"post_url": ann.post_url, "created_at": _iso(ann.created_at), "phrases": list(ann.phrases),
                      "posted_in": "source" if ann.in_source else "target",
                      "post_links_to_communities": ann.post_fanout,
                      "community_links_to_communities": ann.community_fanout, "score": round(value, 4)})
    items.sort(key=lambda i: -i["score"])
    return Signal("announcement", best, items[:10])


def name_signal(ev: PairEvidence) -> Signal:
    if ev.name is None:
        return Signal("name", 0.0, [])
    similarity, a, b = ev.name
    value = 0.0 if similarity < NAME_FLOOR else (similarity - NAME_FLOOR) / (1 - NAME_FLOOR)
    return Signal("name", min(1.0, value), [{"source_name": a, "target_name": b, "similarity": round(similarity, 4)}])


def members_signal(ev: PairEvidence) -> Signal:
    mem = ev.members
    if mem is None or mem.shared <= 0:
        return Signal("members", 0.0, [])
    count_factor = min(1.0, mem.shared / MIN_SHARED_FOR_FULL)
    chance = 1.0 if mem.significance >= CHANCE_SIGNIFICANCE else max(0.3, mem.significance / CHANCE_SIGNIFICANCE)
    value = min(1.0, mem.overlap_coefficient * 1.5) * count_factor * chance
    if mem.first_seen_after:
        value = min(1.0, value + 0.2 * (mem.first_seen_after / mem.shared) * count_factor * chance)
    return Signal("members", value, [{
        "shared_members": mem.shared, "source_members": mem.size_a, "target_members": mem.size_b,
        "overlap_coefficient": round(mem.overlap_coefficient, 4), "jaccard": round(mem.jaccard, 4),
        "significance_neg_log10_p": round(mem.significance, 2),
        "first_seen_in_target_after_event": mem.first_seen_after,
    }])


def content_signal(ev: PairEvidence) -> Signal:
    c = ev.content
    if c is None:
        return Signal("content", 0.0, [])
    weight = c.media_matches + c.text_matches + 2 * c.forwards
    value = 1 - math.exp(-weight / 2) if weight else 0.0
    evidence: list[dict[str, Any]] = [{"media_matches": c.media_matches, "text_matches": c.text_matches,
                                       "forwards_from_source": c.forwards}]
    evidence.extend(c.examples[:10])
    return Signal("content", value, evidence)


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
            detail = {"source_event": ev.source_event, "source_event_at": _iso(ev.source_event_at), what: _iso(at),
                      "days_after": round(delta, 2), "window_days": window_days}
    started, end = ev.target_started_at, ev.source_event_at
    surged_after = [at for at in ev.target_surges if 0 <= (at - end).total_seconds() / 86400 <= window_days]
    if started is not None and surged_after and -window_days <= (started - end).total_seconds() / 86400 < 0:
        # a reserve group made before the end that grew after it: the typical case (issue 15, class 7)
        value = 0.9
        if value > best:
            best = value
            detail = {"source_event": ev.source_event, "source_event_at": _iso(end),
                      "target_started": _iso(started), "target_surge": _iso(surged_after[0]),
                      "days_after": round((surged_after[0] - end).total_seconds() / 86400, 2),
                      "started_days_before": round((end - started).total_seconds() / 86400, 2),
                      "window_days": window_days}
    return Signal("timing", best, [detail] if detail else [])


def surge_signal(ev: PairEvidence, window_days: int) -> Signal | None:
    """B's member count surging after A's end, with the counts (issue 15, class 9): news in itself for
    an investigator, attached to the migration. It carries no weight in the score (timing already counts
    the surge); None when B did not surge within ``window_days`` after A's end. A's end is its last post
    when that is earlier than the shutdown we observed (a crawl may read B's new count seconds before it
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


def _corroboration_floor(ev: PairEvidence, signals: tuple[Signal, ...], levels: dict[str, float]) -> float:
    """The weighted mean treats a missing signal as evidence against; these floors keep clear cases
    from being averaged away (see the module docstring)."""
    floor = 0.0
    by_name = {s.name: s.score for s in signals}
    if by_name["announcement"] >= DECISIVE_ANNOUNCEMENT:
        floor = max(floor, levels.get("likely", 0.0))
    if ev.source_event is not None:
        c = ev.content
        if (c is not None and by_name["content"] >= DECISIVE_CONTENT
                and (c.forwards > 0 or c.media_matches + c.text_matches >= DECISIVE_CONTENT_ITEMS)):
            floor = max(floor, levels.get("likely", 0.0))
        mem = ev.members
        if (mem is not None and by_name["members"] >= DECISIVE_MEMBERS and mem.size_a > 0
                and mem.shared / mem.size_a >= DECISIVE_SOURCE_SHARE):
            floor = max(floor, levels.get("likely", 0.0))
    independent = sum(1 for name in ("announcement", "members", "content") if by_name[name] >= CORROBORATING)
    if ev.source_event is not None and independent >= 2:
        floor = max(floor, levels.get("strong", 0.0))
    return floor


def score_pair(ev: PairEvidence, settings: DetectSettings) -> PairScore:
    window = settings.timing_window_days
    signals: tuple[Signal, ...] = (announcement_signal(ev, window), name_signal(ev), members_signal(ev),
                                   content_signal(ev), timing_signal(ev, window))
    weights = settings.weights
    total = sum(max(weights.get(s, 0.0), 0.0) for s in SIGNALS) or 1.0
    score = sum(max(weights.get(s.name, 0.0), 0.0) * s.score for s in signals) / total
    score = max(score, _corroboration_floor(ev, signals, settings.levels))
    surge = surge_signal(ev, window)
    if surge is not None:
        signals = (*signals, surge)
    if ev.target_invite is not None:
        # no weight: the announcement carries the pair; this names the invite for the person who decides
        signals = (*signals, Signal("private_invite", 1.0, [dict(ev.target_invite)]))
    return PairScore(ev.source_id, ev.target_id, score, level_for(score, settings.levels), signals)
