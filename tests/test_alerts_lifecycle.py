"""Alert lifecycle: dedup, escalation, outbox rows, analyst state changes (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from alerts.lifecycle import (
    AlertDraft,
    AlertStateError,
    acknowledge,
    alert_json,
    confirm,
    dismiss,
    mark_delivered,
    raise_alert,
)
from config.settings import AudienceSettings, Settings
from store import models as m
from store.db import Store
from tests.support.alertdata import communities, draft, settings_with

NOW = datetime(2026, 3, 2, 10, 17, tzinfo=UTC)


@pytest.fixture
def cfg() -> Settings:
    return settings_with(
        ngo=AudienceSettings(urls=["json://127.0.0.1:9/ngo"], detail="ngo", min_level="likely"),
        inv=AudienceSettings(urls=["json://127.0.0.1:9/inv"], detail="investigator", min_level="possible",
                             digest="hourly"),
    )


def deliveries(store: Store) -> list[tuple[int | None, str, str, str, str | None]]:
    with store.session() as s:
        return [(d.alert_id, d.audience, d.level, d.idempotency_key, d.digest_key)
                for d in s.scalars(select(m.Delivery).order_by(m.Delivery.id))]


def test_new_alert_has_design_json_and_outbox_rows_for_audiences_it_meets(any_store: Store, cfg: Settings) -> None:
    with any_store.session() as s:
        a, b = communities(s)
        alert = raise_alert(s, draft(a, b, level="possible", score=0.3), cfg, now=NOW)
        assert alert is not None
        doc = alert_json(alert, s)
    assert set(doc) >= {"id", "kind", "level", "score", "source", "target", "signals", "created_at", "state"}
    assert doc["state"] == "new" and doc["kind"] == "migration" and doc["level"] == "possible"
    assert doc["source"] == {"platform": "telegram", "handle": "cortile_segreto", "title": "Il Cortile Segreto",
                             "url": "https://t.me/cortile_segreto"}
    assert doc["target"]["handle"] == "cortile_segreto_2"
    assert [sig["name"] for sig in doc["signals"]] == ["announcement", "members", "name"]
    assert doc["signals"][0]["evidence"][0]["post_url"] == "https://t.me/cortile_segreto/42"
    # "possible" reaches only the investigator audience (min_level possible), in the 10:00 hourly digest.
    assert deliveries(any_store) == [(doc["id"], "inv", "possible", f"{doc['id']}:inv:possible",
                                      "inv:hourly:2026-03-02T10:00Z")]
    with any_store.session() as s:
        row = s.scalar(select(m.Delivery))
        assert row is not None and row.next_attempt_at == datetime(2026, 3, 2, 11, 0, tzinfo=UTC)


def test_same_alert_again_is_nothing_new(any_store: Store, cfg: Settings) -> None:
    with any_store.session() as s:
        a, b = communities(s)
        assert raise_alert(s, draft(a, b, level="likely"), cfg, now=NOW) is not None
    with any_store.session() as s:
        assert raise_alert(s, draft(a, b, level="likely", score=0.6), cfg, now=NOW) is None
        assert raise_alert(s, draft(a, b, level="possible"), cfg, now=NOW) is None
        assert s.scalar(select(func.count()).select_from(m.Alert)) == 1
    assert len(deliveries(any_store)) == 2


def test_evidence_read_after_the_alert_joins_it_without_a_new_delivery(any_store: Store, cfg: Settings) -> None:
    """Issue 15, class 3: the migration to a private invite is raised from the announcement; the invite's
    public page is read a crawl later. The alert the investigator opens must then name what the page
    shows, although the level did not change (so nobody is notified twice)."""
    later = NOW.replace(hour=12)
    with any_store.session() as s:
        a, b = communities(s)
        first = raise_alert(s, draft(a, b, level="likely"), cfg, now=NOW)
        assert first is not None
        alert_id = first.id
    invite = {"name": "private_invite", "score": 1.0, "evidence": [
        {"title": "Cortile Riserva ♻️", "members": 412, "url": "https://t.me/+AbCdEfGhIjKlMnOp"}]}
    richer = draft(a, b, level="likely", score=0.6)
    richer.signals.append(invite)
    with any_store.session() as s:
        assert raise_alert(s, richer, cfg, now=later) is None
        row = s.get(m.Alert, alert_id)
        assert row is not None
        doc = alert_json(row, s)
    assert [sig["name"] for sig in doc["signals"]] == ["announcement", "members", "name", "private_invite"]
    assert doc["signals"][-1]["evidence"][0]["title"] == "Cortile Riserva ♻️"
    assert doc["created_at"] == NOW.isoformat() and doc["level"] == "likely"
    assert len(deliveries(any_store)) == 2  # the two first deliveries only
    # the same kinds of evidence again (a score that moved a little) leave the stored alert as it is
    with any_store.session() as s:
        assert raise_alert(s, draft(a, b, level="likely", score=0.58), cfg, now=later) is None
        row = s.get(m.Alert, alert_id)
        assert row is not None
        again = alert_json(row, s)
    assert [sig["name"] for sig in again["signals"]][-1] == "private_invite"


def test_an_invite_page_read_after_the_alert_fills_in_its_title(any_store: Store, cfg: Settings) -> None:
    """The invite signal is there from the start (the link is known), but its page is read a crawl later:
    the empty title and member count are then filled in (seen on report seed 2007)."""
    def invite(title: str | None, members: int | None) -> dict[str, object]:
        return {"name": "private_invite", "score": 1.0, "evidence": [
            {"invite_url": "https://t.me/+AbCdEfGhIjKlMnOp", "invite_title": title, "invite_members": members,
             "page_read": title is not None}]}
    with any_store.session() as s:
        a, b = communities(s)
        unread = draft(a, b, level="likely")
        unread.signals.append(invite(None, None))
        first = raise_alert(s, unread, cfg, now=NOW)
        assert first is not None
        alert_id = first.id
    read = draft(a, b, level="likely")
    read.signals.append(invite("Cortile Riserva ♻️", 483))
    with any_store.session() as s:
        assert raise_alert(s, read, cfg, now=NOW.replace(hour=12)) is None
        row = s.get(m.Alert, alert_id)
        assert row is not None
        (item,) = alert_json(row, s)["signals"][-1]["evidence"]
    assert (item["invite_title"], item["invite_members"], item["page_read"]) == ("Cortile Riserva ♻️", 483, True)
    assert len(deliveries(any_store)) == 2


def test_rising_level_escalates_the_same_alert_with_new_deliveries(any_store: Store, cfg: Settings) -> None:
    with any_store.session() as s:
        a, b = communities(s)
        first = raise_alert(s, draft(a, b, level="likely", score=0.5), cfg, now=NOW)
        assert first is not None
        mark_delivered(first)
        alert_id = first.id
    with any_store.session() as s:
        again = raise_alert(s, draft(a, b, level="strong", score=0.8), cfg, now=NOW)
        assert again is not None and again.id == alert_id
        assert (again.level, again.score, again.escalations) == ("strong", 0.8, 1)
        assert again.payload["level"] == "strong" and "escalated_at" in again.payload
        assert s.scalar(select(func.count()).select_from(m.Alert)) == 1
    keys = [d[3] for d in deliveries(any_store)]
    assert keys == [f"{alert_id}:ngo:likely", f"{alert_id}:inv:likely", f"{alert_id}:ngo:strong",
                    f"{alert_id}:inv:strong"]


def test_explicit_dedup_key_and_alert_without_target(any_store: Store, cfg: Settings) -> None:
    with any_store.session() as s:
        (a,) = communities(s, 1)
        shut = AlertDraft("shutdown", "strong", 1.0, a, None, [], dedup_key=f"shutdown:{a}:2026-03-02")
        alert = raise_alert(s, shut, cfg, now=NOW)
        assert alert is not None and alert.dedup_key == f"shutdown:{a}:2026-03-02"
        assert alert_json(alert)["target"] is None
        assert raise_alert(s, shut, cfg, now=NOW) is None


def test_bad_kind_or_level_is_refused(sqlite_store: Store, cfg: Settings) -> None:
    with sqlite_store.session() as s:
        (a,) = communities(s, 1)
        with pytest.raises(ValueError, match="unknown alert kind 'exodus'"):
            raise_alert(s, AlertDraft("exodus", "likely", 0.5, a, None, []), cfg)
        with pytest.raises(ValueError, match="unknown alert level 'huge'"):
            raise_alert(s, AlertDraft("migration", "huge", 0.5, a, None, []), cfg)


def test_no_audiences_means_alert_without_deliveries(sqlite_store: Store) -> None:
    with sqlite_store.session() as s:
        a, b = communities(s)
        assert raise_alert(s, draft(a, b), settings_with(), now=NOW) is not None
    assert deliveries(sqlite_store) == []


def test_state_transitions_and_candidate_feedback(any_store: Store, cfg: Settings) -> None:
    with any_store.session() as s:
        a, b, c = communities(s, 3)
        s.add_all([m.Candidate(source_id=a, target_id=b, score=0.55, level="likely"),
                   m.Candidate(source_id=a, target_id=c, score=0.7, level="strong")])
        one = raise_alert(s, draft(a, b), cfg, now=NOW)
        two = raise_alert(s, draft(a, c, level="strong", score=0.7), cfg, now=NOW)
        assert one is not None and two is not None
        ids = one.id, two.id
    with any_store.session() as s:
        assert acknowledge(s, ids[0], note="looking").state == "acknowledged"
        assert dismiss(s, ids[0], note="same admins, different group").state == "dismissed"
        assert confirm(s, ids[1]).state == "confirmed"
    with any_store.session() as s:
        cands = {c.target_id: c for c in s.scalars(select(m.Candidate))}
        assert (cands[b].state, cands[b].dismissed_score) == ("dismissed", 0.55)
        assert (cands[c].state, cands[c].dismissed_score) == ("confirmed", None)
        alert = s.get(m.Alert, ids[0])
        assert alert is not None and alert.note == "looking\nsame admins, different group"
    with any_store.session() as s, pytest.raises(AlertStateError, match=f"alert #{ids[0]} is dismissed"):
        acknowledge(s, ids[0])
    with any_store.session() as s, pytest.raises(AlertStateError, match="cannot dismiss"):
        dismiss(s, ids[1])


def test_unknown_alert_id_is_a_usage_error(sqlite_store: Store) -> None:
    from model.errors import UsageError

    with sqlite_store.session() as s, pytest.raises(UsageError, match="no alert #999"):
        acknowledge(s, 999)


def test_escalating_a_dismissed_alert_reopens_it(sqlite_store: Store, cfg: Settings) -> None:
    with sqlite_store.session() as s:
        a, b = communities(s)
        alert = raise_alert(s, draft(a, b, level="possible"), cfg, now=NOW)
        assert alert is not None
        dismiss(s, alert.id)
        again = raise_alert(s, draft(a, b, level="strong", score=0.9), cfg, now=NOW)
        assert again is not None and again.state == "new"
