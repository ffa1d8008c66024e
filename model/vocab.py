"""Words every layer shares: alert levels, kinds and states, watch and candidate states, the alert
draft detectors hand over, the community summary detectors and the graph read, and community URLs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from model.records import Platform

#: Confidence levels of a candidate or an alert, weakest first.
LEVELS: tuple[str, ...] = ("possible", "likely", "strong")
ALERT_KINDS: tuple[str, ...] = ("migration", "rebrand", "shutdown", "hash_match", "surge")
ALERT_STATES: tuple[str, ...] = ("new", "delivered", "acknowledged", "confirmed", "dismissed")
#: Communities Resurface crawls and reports on: seeds the operator added, leads it follows, candidates.
WATCHED_STATES: tuple[str, ...] = ("seed", "lead", "candidate")
#: An analyst's verdicts on a migration candidate.
CANDIDATE_STATES: tuple[str, ...] = ("open", "confirmed", "dismissed")


def level_rank(level: str | None) -> int:
    """0 for the weakest level, upwards; -1 for no level. An unknown level is an error naming it."""
    if level is None:
        return -1
    try:
        return LEVELS.index(level)
    except ValueError:
        raise ValueError(f"unknown alert level {level!r}; expected one of {', '.join(LEVELS)}") from None


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """What a detector hands over. ``signals``: ``[{"name", "score", "evidence": [...]}]``."""

    kind: str
    level: str
    score: float
    source_community_id: int | None
    target_community_id: int | None
    signals: list[dict[str, Any]] = field(default_factory=list)
    dedup_key: str | None = None

    @property
    def key(self) -> str:
        return self.dedup_key or f"{self.kind}:{self.source_community_id}:{self.target_community_id}"


@dataclass(frozen=True, slots=True)
class CommunityInfo:
    """A stored community as detection and the graph read it (a plain value, no session)."""

    id: int
    platform: str
    handle: str | None
    title: str | None
    status: str
    kind: str
    watch_state: str
    member_count: int | None
    case_name: str | None
    labels: tuple[str, ...]
    url: str | None
    first_seen: datetime
    last_seen: datetime
    created_at_platform: datetime | None = None
    removed_at: datetime | None = None
    gone_at: datetime | None = None  # first observation of the current unreadable status
    first_post: datetime | None = None  # earliest post's own date (created_at), never a crawl time
    last_post: datetime | None = None
    depth: int = 0


def community_url(platform: str | None, handle: str | None, fallback: str) -> str:
    """The canonical URL of the community a link points into (a post link leads to its channel)."""
    if platform == Platform.TELEGRAM and handle:
        return f"https://t.me/{handle.lower()}"
    if platform == Platform.REDDIT and handle:
        return f"https://www.reddit.com/r/{handle.lower()}"
    return fallback
