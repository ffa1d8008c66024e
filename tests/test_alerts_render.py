"""Rendering per audience (pure): what an NGO may see, what an investigator gets."""

from __future__ import annotations

import json
from typing import Any

import pytest

from alerts.render import redact_evidence_item, redact_for_ngo, render_alert, render_digest, render_test
from tests.support.alertdata import POST_TEXT, POST_URL, PSEUDONYM, signals

ALERT: dict[str, Any] = {
    "id": 7, "kind": "migration", "level": "strong", "score": 0.71, "state": "new", "escalations": 0,
    "created_at": "2026-03-02T10:05:00+00:00", "updated_at": "2026-03-02T10:05:00+00:00",
    "source": {"platform": "telegram", "handle": "cortile_segreto", "title": "Il Cortile Segreto",
               "url": "https://t.me/cortile_segreto"},
    "target": {"platform": "telegram", "handle": "cortile_2", "title": "Cortile <2>", "url": "https://t.me/cortile_2"},
    "signals": signals(post_id=3),
}


@pytest.mark.parametrize(("item", "expected"), [
    ({"shared": 42, "jaccard": 0.2, "significant": True}, {"shared": 42, "jaccard": 0.2, "significant": True}),
    ({"excerpt": POST_TEXT, "post_url": POST_URL, "language": "it"}, {"language": "it"}),
    ({"author_pseudonym": PSEUDONYM, "members": [PSEUDONYM, "m_2"]}, {"members_count": 2}),
    ({"text": "hello", "thread_title": "private stuff", "created_at": "2026-03-01T00:00:00Z"},
     {"created_at": "2026-03-01T00:00:00Z"}),
    ({"match": {"pdq_distance": 12, "source_url": "https://cdn/x.jpg"}}, {"match": {"pdq_distance": 12}}),
    ({"examples": [{"text": POST_TEXT}], "post_id": 3}, {"examples_count": 1}),  # lists become counts
    ("a bare string could be anything", None),
    # Nested dictionaries: only under an allow-listed group key, and redacted again inside.
    ({"author": {"name": "Mario Rossi"}, "shared": 3}, {"shared": 3}),
    ({"post": {"created_at": "2026-03-01T00:00:00Z", "text": POST_TEXT}}, None),
    ({"match": {"match": {"pdq_distance": 4, "author": {"name": "Mario"}, "excerpt": POST_TEXT}}},
     {"match": {"match": {"pdq_distance": 4}}}),
    ({"match": {"excerpt": POST_TEXT}}, None),
    # Numbers and times only under listed keys; a "time" that is not a date is dropped.
    ({"user": 738291045, "member": 5550123987, "distance": 3}, {"distance": 3}),
    ({"created_at": PSEUDONYM, "observed_at": "2026-03-01"}, {"observed_at": "2026-03-01"}),
    ({"score": "0.9", "similarity": 0.8}, {"similarity": 0.8}),  # a string where a number is listed
])
def test_ngo_evidence_is_whitelisted(item: Any, expected: dict[str, Any] | None) -> None:
    assert redact_evidence_item(item) == expected


def test_ngo_render_has_names_links_level_counts_but_no_text_pseudonym_or_post_url() -> None:
    msg = render_alert(ALERT, "ngo", "7:ngo:strong")
    everything = msg.title + msg.text + msg.html + json.dumps(msg.data)
    for hidden in (POST_TEXT, PSEUDONYM, POST_URL):
        assert hidden not in everything
    assert "STRONG migration alert #7" in msg.title and "0.71" in msg.title
    assert "Il Cortile Segreto (telegram @cortile_segreto) https://t.me/cortile_segreto" in msg.text
    assert "members: 0.70 (1 evidence item)" in msg.text  # singular since the plural forms came in
    assert "Idempotency-Key: 7:ngo:strong" in msg.text and "7:ngo:strong" in msg.html
    assert msg.data["signals"][0] == {"name": "announcement", "score": 0.9, "evidence_count": 1,
                                      "evidence": [{"language": "it", "created_at": "2026-03-01T12:42:00+00:00"}]}


def test_investigator_render_adds_excerpts_and_post_urls() -> None:
    msg = render_alert(ALERT, "investigator", "7:inv:strong")
    assert POST_URL in msg.text and f'"{POST_TEXT}"' in msg.text
    assert f'<a href="{POST_URL}">' in msg.html and "<blockquote>" in msg.html
    assert msg.data["signals"] == ALERT["signals"]


def test_html_is_escaped_and_only_http_links_are_clickable() -> None:
    hostile = {**ALERT, "target": {"platform": "telegram", "handle": "x", "title": "<script>alert(1)</script>",
                                   "url": "javascript:alert(1)"}}
    msg = render_alert(hostile, "investigator", "k")
    assert "<script>" not in msg.html and "&lt;script&gt;" in msg.html
    assert "javascript:" not in msg.html.split("To:")[1].split("<br>")[0].replace("&lt;", "")


def test_ngo_alert_keeps_only_listed_alert_and_community_fields() -> None:
    hostile = {**ALERT, "note": POST_TEXT, "payload": {"author": PSEUDONYM},
               "source": {**ALERT["source"], "description": POST_TEXT, "owner": PSEUDONYM},
               "signals": [{"name": "members", "score": 0.7, "author_pseudonym": PSEUDONYM,
                            "evidence": [{"author": {"name": PSEUDONYM}, "shared": 5}]}]}
    view = redact_for_ngo(hostile)
    assert set(view) == {"id", "kind", "level", "score", "state", "escalations", "created_at", "updated_at",
                         "source", "target", "signals"}
    assert view["source"] == ALERT["source"]
    assert view["signals"] == [{"name": "members", "score": 0.7, "evidence_count": 1,
                                "evidence": [{"shared": 5}]}]
    msg = render_alert(hostile, "ngo", "k")
    for blob in (msg.title, msg.text, msg.html, json.dumps(msg.data)):
        assert PSEUDONYM not in blob and POST_TEXT not in blob


def test_redaction_does_not_modify_the_input() -> None:
    before = json.dumps(ALERT, sort_keys=True)
    redact_for_ngo(ALERT)
    assert json.dumps(ALERT, sort_keys=True) == before


def test_digest_lists_every_alert_and_test_message_is_marked() -> None:
    second = {**ALERT, "id": 8, "level": "likely"}
    digest = render_digest([ALERT, second], "ngo", "digest:ngo:hourly:x", "ngo")
    assert "digest: 2 alerts for ngo (likely, strong)" in digest.title
    assert "alert #7" in digest.text and "alert #8" in digest.text and POST_TEXT not in digest.text
    assert [a["id"] for a in digest.data["alerts"]] == [7, 8]
    test = render_test("ngo", "ngo", "test:ngo:1")
    assert "TEST message" in test.title and "not an alert" in test.text and test.data["test"] is True


def test_unknown_detail_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown detail 'press'"):
        render_alert(ALERT, "press", "k")
