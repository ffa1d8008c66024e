"""NGO redaction in alerts/render.py, case by case (``make mutation MODULES=alerts/render.py``): what
reaches an NGO from each shape of alert and evidence, written out by hand from docs/privacy.md.
"""

from __future__ import annotations

from typing import Any

import pytest

from alerts.render import for_audience, redact_evidence_item, redact_for_ngo

SECRET = "Mario Rossi"


@pytest.mark.parametrize(("item", "expected"), [
    ("not a dict", None),
    ({}, None),
    ({"author": {"name": SECRET}}, None),                                    # a dict under an unlisted key
    ({"score": {"name": SECRET}}, None),                                     # a dict under a listed scalar key
    ({"match": {"score": 0.9, "text": SECRET}}, {"match": {"score": 0.9}}),  # a group, redacted inside
    ({"match": {"text": SECRET}}, None),                                     # a group left empty goes
    ({"match": {"counts": {"joins": 3, "member": SECRET}}}, {"match": {"counts": {"joins": 3}}}),
    ({"posts": [SECRET, SECRET, SECRET]}, {"posts_count": 3}),               # lists become their length
    ({"urls": (SECRET,)}, {"urls_count": 1}),
    ({"score": 0.5, "text": SECRET, 7: SECRET}, {"score": 0.5}),
])
def test_an_evidence_item_keeps_only_listed_fields_at_every_depth(item: Any, expected: Any) -> None:
    assert redact_evidence_item(item) == expected


def _alert(**extra: Any) -> dict[str, Any]:
    return {"id": 7, "kind": "migration", "level": "likely", "score": 0.8, "state": "open",
            "payload": {"text": SECRET}, "note": SECRET,
            "source": {"platform": "telegram", "handle": "cortile", "title": "Il Cortile", "url": "https://t.me/cortile",
                       "native_id": "1001", "members": 5120, "owner": {"name": SECRET}},
            "target": "not a community",
            "signals": [
                {"name": "shared_members", "score": 0.7,
                 "evidence": [{"shared": 12, "member_pseudonyms": ["ab", "cd"]}, {"text": SECRET}]},
                "not a signal",
                {"name": {"x": SECRET}, "score": "high", "evidence": None},
            ], **extra}


def test_an_ngo_alert_keeps_listed_fields_communities_and_evidence_counts() -> None:
    assert redact_for_ngo(_alert()) == {
        "id": 7, "kind": "migration", "level": "likely", "score": 0.8, "state": "open",
        "source": {"platform": "telegram", "handle": "cortile", "title": "Il Cortile", "url": "https://t.me/cortile"},
        "target": None,
        "signals": [
            {"name": "shared_members", "score": 0.7, "evidence_count": 2,
             "evidence": [{"shared": 12, "member_pseudonyms_count": 2}]},
            {"name": None, "score": None, "evidence_count": 0, "evidence": []},
        ],
    }


def test_a_listed_alert_field_holding_a_structure_is_dropped() -> None:
    out = redact_for_ngo(_alert(created_at={"by": SECRET}, escalations=[SECRET], updated_at=None))
    assert "created_at" not in out and "escalations" not in out and out["updated_at"] is None
    assert SECRET not in repr(out)


def test_a_community_keeps_strings_and_nones_only() -> None:
    out = redact_for_ngo({"source": {"title": {"name": SECRET}, "handle": None, "url": 5}, "signals": None})
    assert out == {"source": {"handle": None}, "signals": []}


def test_each_audience_gets_its_own_view() -> None:
    alert = _alert()
    assert for_audience(alert, "investigator") is alert
    assert for_audience(alert, "ngo") == redact_for_ngo(alert)
    with pytest.raises(ValueError, match="unknown detail 'press'"):
        for_audience(alert, "press")
