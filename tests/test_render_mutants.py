"""alerts/render.py case by case (``make mutation MODULES=alerts/render.py``): what reaches an NGO from each
shape of alert and evidence, written out by hand from docs/privacy.md; then the rendered messages themselves,
line by line as a reader gets them (excerpt length, alignment, fallbacks, which links are clickable).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from alerts import i18n
from alerts.render import (
    community_label,
    for_audience,
    redact_evidence_item,
    redact_for_ngo,
    render_alert,
    render_digest,
    render_test,
    to_json,
)

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


# ---------------------------------------------------------------- what a reader of a rendered alert sees
#
# The exact lines an NGO or an investigator reads, written out by hand.


def _community(platform: str, handle: str, title: str, url: str) -> dict[str, Any]:
    return {"platform": platform, "handle": handle, "title": title, "url": url}


SOURCE = _community("telegram", "cortile", "Il Cortile", "https://t.me/cortile")
TARGET = _community("telegram", "cortile_2", "Cortile Due", "https://t.me/cortile_2")


def _rendered(**fields: Any) -> dict[str, Any]:
    return {"id": 12, "kind": "migration", "level": "likely", "score": 0.5, "state": "new", "escalations": 0,
            "created_at": "2026-03-02T10:05:00+00:00", "source": SOURCE, "target": TARGET, "signals": [], **fields}


def _between(text: str, first: str, last: str) -> list[str]:
    """The lines of ``text`` from the one starting with ``first`` to the one before ``last``."""
    lines = text.split("\n")
    start = next(i for i, line in enumerate(lines) if line.startswith(first))
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith(last))
    return lines[start:end]


@pytest.mark.parametrize(("raw", "shown"), [
    ("a" * 299, "a" * 299),
    ("a" * 300, "a" * 300),                           # exactly 300 characters: kept whole
    ("a" * 301, "a" * 299 + "…"),                     # one more: 300 characters, the last an ellipsis
    ("word " * 100, ("word " * 60)[:299] + "…"),      # whitespace is flattened before counting
])
def test_an_investigator_excerpt_is_cut_to_300_characters(raw: str, shown: str) -> None:
    evidence = [{"post_url": "https://t.me/cortile/42", "excerpt": raw}]
    msg = render_alert(_rendered(signals=[{"name": "announcement", "score": 0.9, "evidence": evidence}]),
                       "investigator", "k")
    assert len(shown) == min(len(" ".join(raw.split())), 300)
    assert _between(msg.text, "  - announcement", "State:") == [
        "  - announcement: 0.90 (1 evidence item)", "      * https://t.me/cortile/42", f'        "{shown}"']
    assert f"<blockquote>{shown}</blockquote>" in msg.html


def test_from_and_to_start_their_communities_in_the_same_column() -> None:
    text = render_alert(_rendered(), "ngo", "k").text
    assert _between(text, "From:", "Signals:") == ["From: Il Cortile (telegram @cortile) https://t.me/cortile",
                                                   "To:   Cortile Due (telegram @cortile_2) https://t.me/cortile_2"]
    italian = render_alert(_rendered(), "ngo", "k", language="it").text
    assert _between(italian, "Da:", "Segnali:") == ["Da: Il Cortile (telegram @cortile) https://t.me/cortile",
                                                    "A:  Cortile Due (telegram @cortile_2) https://t.me/cortile_2"]


def test_a_to_label_longer_than_from_still_leaves_one_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A translation may make "To:" the longer label (Spanish: "De:", "Para:"); its community is then one
    space after it, not glued to it nor pushed further."""
    folder = tmp_path / "es" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "resurface.po").write_text(
        'msgid ""\nmsgstr ""\n"Language: es\\n"\n"Content-Type: text/plain; charset=utf-8\\n"\n\n'
        'msgid "From:"\nmsgstr "De:"\n\nmsgid "To:"\nmsgstr "Para:"\n', encoding="utf-8")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._translations.cache_clear()
    try:
        text = render_alert(_rendered(), "ngo", "k", language="es").text
    finally:
        i18n._translations.cache_clear()
    assert _between(text, "De:", "Signals:") == ["De: Il Cortile (telegram @cortile) https://t.me/cortile",
                                                 "Para: Cortile Due (telegram @cortile_2) https://t.me/cortile_2"]


def test_an_alert_without_a_target_has_no_to_line() -> None:
    msg = render_alert(_rendered(kind="shutdown", target=None), "ngo", "k")
    assert _between(msg.text, "From:", "State:") == ["From: Il Cortile (telegram @cortile) https://t.me/cortile",
                                                     "Signals:"]
    assert '<p>From: <a href="https://t.me/cortile">Il Cortile (telegram @cortile)</a><br></p>' in msg.html


@pytest.mark.parametrize(("ref", "label"), [
    (None, "(none)"),
    ({}, "(none)"),
    ({"platform": "telegram", "handle": "cortile"}, "cortile (telegram)"),         # the handle names it once
    ({"platform": "reddit", "url": "https://www.reddit.com/r/x"}, "https://www.reddit.com/r/x (reddit)"),
    ({"platform": "web"}, "? (web)"),
    ({"title": "Il Cortile"}, "Il Cortile (?)"),
    ({"platform": "telegram", "title": "Il Cortile"}, "Il Cortile (telegram)"),
    ({"platform": "telegram", "title": "zeta", "handle": "alpha"}, "zeta (telegram @alpha)"),
    ({"platform": "telegram", "title": "alpha", "handle": "zeta"}, "alpha (telegram @zeta)"),
    # a title equal to the handle (two separate strings, as read from JSON) is not repeated
    ({"platform": "telegram", "title": "cortile", "handle": "".join(["cor", "tile"])}, "cortile (telegram)"),
])
def test_a_community_label_falls_back_from_title_to_handle_to_link(ref: dict[str, Any] | None, label: str) -> None:
    assert community_label(ref) == label


EVIDENCE_SIGNAL = {"name": "members", "score": 0.7, "evidence": [
    "a bare note",
    {"examples": ["m_1"], "post_url": "https://t.me/cortile/42", "excerpt": "Ci vediamo", "shared": 42,
     "match": {"pdq_distance": 3}, "jaccard": 0.2},
    {"match": {"pdq_distance": 3}},
    {"post_url": 17, "url": "https://t.me/cortile/43", "similarity": 0.83},
    {"post_url": "", "source_url": "https://t.me/cortile/44", "days_after": 2},
]}


def test_an_investigator_sees_every_evidence_item_with_its_link_scalars_and_excerpt() -> None:
    msg = render_alert(_rendered(signals=[EVIDENCE_SIGNAL]), "investigator", "k")
    assert _between(msg.text, "  - members", "State:") == [
        "  - members: 0.70 (5 evidence items)",
        "      * a bare note",
        "      * https://t.me/cortile/42 shared=42, jaccard=0.20",
        '        "Ci vediamo"',
        "      *",
        "      * https://t.me/cortile/43 similarity=0.83",
        "      * https://t.me/cortile/44 days_after=2",
    ]
    assert ("<li>members: 0.70 (5 evidence items)<ul><li>a bare note</li>"
            '<li><a href="https://t.me/cortile/42">https://t.me/cortile/42</a> shared=42, jaccard=0.20'
            "<blockquote>Ci vediamo</blockquote></li><li></li>"
            '<li><a href="https://t.me/cortile/43">https://t.me/cortile/43</a> similarity=0.83</li>'
            '<li><a href="https://t.me/cortile/44">https://t.me/cortile/44</a> days_after=2</li></ul></li>') in msg.html


def test_an_ngo_sees_the_scalars_of_every_evidence_item_and_nothing_for_an_empty_one() -> None:
    msg = render_alert(_rendered(signals=[EVIDENCE_SIGNAL]), "ngo", "k")
    assert _between(msg.text, "  - members", "State:") == [
        "  - members: 0.70 (5 evidence items)",
        "      * examples_count=1, shared=42, jaccard=0.20",
        "      * similarity=0.83",
        "      * days_after=2",
    ]
    assert ("<li>members: 0.70 (5 evidence items)<ul><li>examples_count=1, shared=42, jaccard=0.20</li>"
            "<li>similarity=0.83</li><li>days_after=2</li></ul></li>") in msg.html


def test_a_quote_in_a_link_cannot_end_its_href() -> None:
    hostile = 'https://t.me/x"onmouseover="alert(1)'
    escaped = "https://t.me/x&quot;onmouseover=&quot;alert(1)"
    alert = _rendered(target=_community("telegram", "x", "X", hostile),
                      signals=[{"name": "announcement", "score": 0.9, "evidence": [{"post_url": hostile}]}])
    ngo = render_alert(alert, "ngo", "k").html
    assert f'To: <a href="{escaped}">X (telegram @x)</a><br>' in ngo                    # the community
    assert f'its link. <a href="{escaped}">{escaped}</a></li>' in ngo                  # the next step's link
    investigator = render_alert(alert, "investigator", "k").html
    assert f'<li><a href="{escaped}">{escaped}</a> </li>' in investigator              # the evidence's post


def _forum_alert(forum: str, thread: str) -> dict[str, Any]:
    return _rendered(level="possible", score=0.4,
                     source=_community("telegram", "x_y_z", "https://phish.example/login", "https://t.me/x_y_z"),
                     target={"platform": "discourse", "title": "Forum", "url": forum},
                     context={"threads": {"target": [thread]}})


def test_the_summary_and_steps_link_only_the_addresses_resurface_wrote() -> None:
    html = render_alert(_forum_alert("https://forum.example", "https://forum.example/t/12"), "ngo", "k").html
    assert ('<p class="summary">The Telegram community “https://phish.example/login” (@x_y_z) is still online. '
            "The candidate successor is the Discourse forum “Forum”. On the forum this is in the thread "
            '<a href="https://forum.example/t/12">https://forum.example/t/12</a>. '
            "Resurface rates this a possible migration (score 0.40).</p>") in html
    assert ('<ul class="next-steps"><li>Report the thread to the moderators of “Forum” with the Report or Flag '
            "button on its posts, and to the abuse contact of the site's hosting provider "
            '(<a href="https://lookup.icann.org">https://lookup.icann.org</a> finds it from the domain). '
            '<a href="https://forum.example/t/12">https://forum.example/t/12</a></li></ul>') in html
    assert 'href="https://phish.example' not in html  # a community named like a link is never made one


def test_a_thread_link_with_a_quote_in_it_stays_text_in_the_summary() -> None:
    html = render_alert(_forum_alert('https://forum.example/it"s', 'https://forum.example/it"s/t/12'),
                        "ngo", "k").html
    assert 'On the forum this is in the thread https://forum.example/it"s/t/12. Resurface' in html


@pytest.mark.parametrize(("fields", "title"), [
    ({}, "[Resurface] LIKELY migration alert #12 — score 0.50"),
    ({"escalations": 2}, "[Resurface] LIKELY migration alert #12 (escalated) — score 0.50"),
    ({"kind": "takeover", "level": "urgent", "score": "high"}, "[Resurface] URGENT takeover alert #12 — score 0.00"),
    ({"kind": None, "level": None, "score": None, "id": None}, "[Resurface] ? ? alert — score 0.00"),
])
def test_the_headline_names_level_kind_number_escalation_and_score(fields: dict[str, Any], title: str) -> None:
    msg = render_alert(_rendered(**fields), "ngo", "k")
    assert msg.title == title
    assert msg.text.split("\n")[0] == title.removeprefix("[Resurface] ")


def test_a_signal_without_a_numeric_score_shows_zero() -> None:
    msg = render_alert(_rendered(signals=[{"name": "members", "score": "high", "evidence": []}]), "investigator", "k")
    assert "  - members: 0.00 (0 evidence items)" in msg.text.split("\n")
    assert "<li>members: 0.00 (0 evidence items)</li>" in msg.html


def test_next_steps_are_listed_with_their_links() -> None:
    ngo = render_alert(_rendered(), "ngo", "k")
    assert _between(ngo.text, "What to do next:", "From:") == [
        "What to do next:",
        "  - Report “Cortile Due” to Telegram: in the app open it, tap its name, then Report; or e-mail "
        "abuse@telegram.org with its link. https://t.me/cortile_2",
        ""]
    assert '<p><b>What to do next:</b></p><ul class="next-steps"><li>Report “Cortile Due”' in ngo.html
    investigator = render_alert(_rendered(), "investigator", "k", config="/etc/resurface.toml")
    assert _between(investigator.text, "What to do next:", "From:") == [
        "What to do next:",
        "  - Evidence bundle (alert, posts, snapshots, hash manifest): "
        "resurface --config /etc/resurface.toml alerts export 12 -o alert-12.zip",
        "  - Workspace: resurface --config /etc/resurface.toml alerts show 12, then confirm or dismiss it with a "
        "note so detection learns.",
        ""]


def test_a_rendered_message_cannot_be_altered() -> None:
    msg = render_alert(_rendered(), "ngo", "k")
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.text = "something else"  # type: ignore[misc]


def test_alerts_and_digests_can_be_rendered_with_named_arguments() -> None:
    alert = _rendered()
    assert render_alert(alert=alert, detail="ngo", key="k") == render_alert(alert, "ngo", "k")
    assert (render_digest(alerts=[alert], detail="ngo", key="d", audience="ong")
            == render_digest([alert], "ngo", "d", "ong"))
    digest = render_digest([alert, {**alert, "id": 13}], "ngo", "d", "ong")
    assert digest.data["digest"] is True and digest.data["count"] == 2


def test_the_test_message_says_what_it_is_and_carries_its_key() -> None:
    msg = render_test("ong-milano", "ngo", "test:ong:1")
    assert msg.title == "[Resurface] TEST message for audience ong-milano — not an alert"
    assert msg.text == ("This is a test message from Resurface for the audience 'ong-milano' (detail: ngo).\n"
                        "It is not an alert; no action is needed.\n\n"
                        "Idempotency-Key: test:ong:1\nDetail: ngo. Sent by Resurface.\n")
    assert msg.html == ("<html><body><h3>[Resurface] TEST message for audience ong-milano — not an alert</h3>"
                        "<p>This is a test message from Resurface for the audience <b>ong-milano</b>. It is not an "
                        "alert; no action is needed.</p><p><small>Idempotency-Key: test:ong:1 · detail: ngo</small>"
                        "</p></body></html>")


def test_the_json_document_has_sorted_keys_and_keeps_accents() -> None:
    assert to_json(render_test("Città", "ngo", "k")) == '{"audience": "Città", "idempotency_key": "k", "test": true}'
