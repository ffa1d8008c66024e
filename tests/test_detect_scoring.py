"""Scoring: signals combine into a score and level; each keeps its evidence; directories are discounted."""

from __future__ import annotations

from datetime import timedelta

import pytest

from config.settings import DetectSettings
from detect.scoring import (
    Announcement,
    ContentEvidence,
    MemberEvidence,
    PairEvidence,
    level_for,
    score_pair,
)
from tests.factories import T0

SHUTDOWN = T0 + timedelta(days=10)


def announcement(phrases: tuple[str, ...] = ("it:gruppo di riserva",), post_fanout: int = 1,
                 community_fanout: int = 1, days_before: float = 1) -> Announcement:
    return Announcement("https://t.me/a/5", SHUTDOWN - timedelta(days=days_before), phrases, post_fanout,
                        community_fanout)


def evidence(**kw: object) -> PairEvidence:
    base: dict[str, object] = {"source_id": 1, "target_id": 2, "source_event": "shutdown",
                               "source_event_at": SHUTDOWN, "source_last_post_at": SHUTDOWN - timedelta(days=1)}
    base.update(kw)
    return PairEvidence(**base)  # type: ignore[arg-type]


STRONG_MEMBERS = MemberEvidence(shared=40, size_a=100, size_b=60, overlap_coefficient=40 / 60, jaccard=40 / 120,
                                significance=30.0, first_seen_after=35)
CONTENT = ContentEvidence(media_matches=5, text_matches=1, forwards=1,
                          examples=({"source_post": "https://t.me/a/1", "target_post": "https://t.me/b/3"},))


@pytest.mark.parametrize(("case", "kw", "level"), [
    ("announcement + name + members + timing", {
        "announcements": (announcement(),), "name": (1.0, "Mia Moglie", "Mia Moglie Riserva"),
        "members": STRONG_MEMBERS, "target_started_at": SHUTDOWN - timedelta(days=3)}, "strong"),
    ("clear announcement alone", {"announcements": (announcement(),)}, "likely"),
    ("plain link alone", {"announcements": (announcement(phrases=()),)}, None),
    ("plain link + name + timing", {"announcements": (announcement(phrases=()),), "name": (1.0, "X", "X 2"),
                                    "target_started_at": SHUTDOWN + timedelta(days=1)}, "possible"),
    ("silent: members + content after a shutdown", {
        "members": STRONG_MEMBERS, "content": CONTENT, "target_started_at": SHUTDOWN + timedelta(days=1)}, "strong"),
    ("sister channel: members + content, no shutdown", {
        "members": STRONG_MEMBERS, "content": CONTENT, "source_event": None, "source_event_at": None}, "possible"),
    ("members + few reposts after a shutdown", {
        "members": STRONG_MEMBERS, "content": ContentEvidence(2, 0, 0),
        "target_started_at": SHUTDOWN + timedelta(days=1)}, "possible"),
    ("generic name + timing only", {"name": (0.95, "Hot Girls", "Hot Girls 2"),
                                    "target_started_at": SHUTDOWN + timedelta(days=1)}, None),
    ("directory: one post linking to 40", {"announcements": (announcement(post_fanout=40),),
                                           "name": (0.2, "Directory", "Other")}, None),
    ("directory channel: many single-link posts", {"announcements": (announcement(community_fanout=40),)}, None),
    ("few shared members by chance", {"members": MemberEvidence(3, 5000, 4000, 3 / 4000, 0.0004, 0.5)}, None),
])
def test_levels(case: str, kw: dict[str, object], level: str | None) -> None:
    assert score_pair(evidence(**kw), DetectSettings()).level == level, case


def test_each_signal_keeps_its_evidence() -> None:
    score = score_pair(evidence(announcements=(announcement(),), name=(1.0, "A", "A 2"), members=STRONG_MEMBERS,
                                content=CONTENT, target_started_at=SHUTDOWN + timedelta(days=2)), DetectSettings())
    by_name = {s.name: s for s in score.signals}
    assert set(by_name) == {"announcement", "name", "members", "content", "timing"}
    assert by_name["announcement"].evidence[0]["post_url"] == "https://t.me/a/5"
    assert by_name["announcement"].evidence[0]["phrases"] == ["it:gruppo di riserva"]
    assert by_name["members"].evidence[0]["shared_members"] == 40
    assert by_name["members"].evidence[0]["first_seen_in_target_after_event"] == 35
    assert by_name["content"].evidence[0]["media_matches"] == 5
    assert by_name["content"].evidence[1]["target_post"] == "https://t.me/b/3"
    assert by_name["name"].evidence[0]["target_name"] == "A 2"
    assert by_name["timing"].evidence[0]["days_after"] == 2.0
    assert all(s.as_dict().keys() == {"name", "score", "evidence"} for s in score.signals)


def test_successor_language_and_closeness_raise_the_announcement() -> None:
    plain = score_pair(evidence(announcements=(announcement(phrases=()),)), DetectSettings())
    worded = score_pair(evidence(announcements=(announcement(),)), DetectSettings())
    stale = score_pair(evidence(announcements=(announcement(days_before=200),)), DetectSettings())
    assert plain.score < worded.score and stale.score < worded.score


def test_weights_and_levels_come_from_settings() -> None:
    ev = evidence(announcements=(announcement(),))
    assert score_pair(ev, DetectSettings(weights={"announcement": 1.0})).level == "strong"
    assert level_for(0.5, {"possible": 0.1, "likely": 0.6, "strong": 0.9}) == "possible"
    assert level_for(0.05, DetectSettings().levels) is None
