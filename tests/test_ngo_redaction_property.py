"""Property: whatever shape a detector's evidence takes, no post text or pseudonym reaches an NGO.

Hypothesis builds nested evidence (dictionaries in lists in dictionaries ...) whose keys mix the
investigator-only fields detectors really produce, NGO-listed number/time/group fields and arbitrary
names, and whose values are post texts, post URLs, pseudonym-like hex strings and raw user ids. The
NGO rendering -- the email text, the email HTML and the webhook JSON -- must contain none of them.

The only strings an NGO may see are under the NAME-shaped keys of ``alerts.privacy`` (community and
signal names), so the generator never puts a secret there: that is the documented contract of those
keys, pinned separately in tests/test_alerts_render.py.

A third property draws evidence the way the registered detection signals write it (detect/signals:
each declares the privacy class of every evidence field): NGO fields arrive unchanged, the rest never.
"""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.privacy import NGO_FIELDS, Privacy, Shape
from alerts.render import render_alert, render_digest
from detect.signals import signals

NAME_KEYS = {k for k, c in NGO_FIELDS.items() if c.shape is Shape.NAME}
NON_NAME_NGO_KEYS = sorted(k for k in NGO_FIELDS if k not in NAME_KEYS)
INVESTIGATOR_KEYS = ["text", "excerpt", "post_url", "url", "source_url", "matched_post_url", "author",
                     "author_pseudonym", "pseudonym", "members", "examples", "quote", "snippet", "post", "user",
                     "user_id", "handle", "old", "new", "label", "community", "body", "message", "thread_title"]
KEYS = st.one_of(st.sampled_from(INVESTIGATOR_KEYS), st.sampled_from(NON_NAME_NGO_KEYS),
                 st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=12)
                 .filter(lambda k: k.lower() not in NAME_KEYS))

# Secrets: each carries a marker no legitimate output contains, so finding it anywhere is a leak.
TEXTS = st.text(alphabet="abcdefghij klmnoèà", min_size=0, max_size=30).map(lambda t: f"SECRETTEXT {t}")
PSEUDONYMS = st.text(alphabet="0123456789abcdef", min_size=16, max_size=64).map(lambda h: f"m_{h}deadbeef")
URLS = st.integers(1, 10**6).map(lambda n: f"https://t.me/segreto_{n}/SECRETPOST")
RAW_IDS = st.integers(10**9, 10**10).map(lambda n: n * 10 + 7)  # numbers: must not pass under unlisted keys
SECRET_STRINGS = st.one_of(TEXTS, PSEUDONYMS, URLS)
SCALARS = st.one_of(SECRET_STRINGS, RAW_IDS, st.booleans(), st.none(), st.floats(0, 1))

EVIDENCE: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=6)),
    max_leaves=30,
)
ITEMS = st.lists(st.one_of(st.dictionaries(KEYS, EVIDENCE, max_size=8), EVIDENCE), max_size=5)


def _alert(evidence: list[Any]) -> dict[str, Any]:
    return {"id": 7, "kind": "migration", "level": "strong", "score": 0.71, "state": "new", "escalations": 0,
            "created_at": "2026-03-02T10:05:00+00:00", "updated_at": "2026-03-02T10:05:00+00:00",
            "source": {"platform": "telegram", "handle": "cortile_segreto", "title": "Il Cortile Segreto",
                       "url": "https://t.me/cortile_segreto"},
            "target": None,
            "signals": [{"name": "content", "score": 0.5, "evidence": evidence}]}


def _secrets(value: Any, key: str = "") -> list[str]:
    """Every secret string placed in the evidence, and every raw id placed under a key that is not an
    NGO-listed number (a number under ``shared`` or ``distance`` is a count or a score by contract)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in _secrets(v, k)]
    if isinstance(value, list):
        return [s for v in value for s in _secrets(v)]
    if isinstance(value, str):
        return [value]
    listed_number = key in NGO_FIELDS and NGO_FIELDS[key].shape is Shape.NUMBER
    if isinstance(value, int) and not isinstance(value, bool) and value >= 10**10 and not listed_number:
        return [str(value)]
    return []


def _listed_numbers(value: Any, key: str = "") -> set[str]:
    """Numbers placed under NGO-listed number keys: allowed in the output, so the same number drawn
    again as a raw id elsewhere cannot be told apart from it (hypothesis does draw such twins)."""
    if isinstance(value, dict):
        return {s for k, v in value.items() for s in _listed_numbers(v, k)}
    if isinstance(value, list):
        return {s for v in value for s in _listed_numbers(v, key)}
    if isinstance(value, int) and not isinstance(value, bool) and key in NGO_FIELDS \
            and NGO_FIELDS[key].shape is Shape.NUMBER:
        return {str(value)}
    return set()


@settings(max_examples=200, deadline=None)
@given(evidence=ITEMS)
def test_no_generated_secret_reaches_ngo_email_or_webhook_output(evidence: list[Any]) -> None:
    message = render_alert(_alert(evidence), "ngo", "7:ngo:strong")
    digest = render_digest([_alert(evidence)], "ngo", "d", "ngo")
    outputs = [message.title, message.text, message.html, json.dumps(message.data, ensure_ascii=False),
               digest.text, digest.html, json.dumps(digest.data, ensure_ascii=False)]
    blob = "\n".join(outputs)
    for marker in ("SECRETTEXT", "SECRETPOST", "deadbeef"):
        assert marker not in blob
    for secret in set(_secrets(evidence)) - _listed_numbers(evidence):
        assert secret not in blob


@settings(max_examples=50, deadline=None)
@given(evidence=ITEMS)
def test_investigators_still_get_the_evidence(evidence: list[Any]) -> None:
    """The same generated evidence is not redacted for investigators (the redaction is per audience)."""
    message = render_alert(_alert(evidence), "investigator", "7:inv:strong")
    assert message.data["signals"][0]["evidence"] == evidence


# --- evidence as the registered signals write it -------------------------------------------------------

SIGNAL_PLUGINS = signals()
HARMLESS = {Shape.NUMBER: st.one_of(st.integers(0, 500), st.floats(0, 1), st.booleans(), st.none()),
            Shape.NAME: st.sampled_from(["Il Cortile", "Riserva privata", "telegram", "media_pdq", None]),
            Shape.TIME: st.one_of(st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat()), st.none())}
#: What an investigator-only field may hold: a secret of any kind, in the declared shape or not.
INVESTIGATOR_VALUES = st.one_of(SECRET_STRINGS, RAW_IDS, st.lists(SECRET_STRINGS, max_size=3))


def _declared_item(plugin: Any) -> st.SearchStrategy[dict[str, Any]]:
    """An evidence item of ``plugin``: a subset of its declared fields, NGO ones holding values of their
    declared shape, investigator-only ones holding secrets."""
    values = {key: HARMLESS[cls.shape] if cls.privacy is Privacy.NGO else INVESTIGATOR_VALUES
              for key, cls in plugin.evidence_fields.items()}
    return st.fixed_dictionaries({}, optional=values)


DECLARED_SIGNALS = st.lists(st.sampled_from(SIGNAL_PLUGINS).flatmap(
    lambda p: st.tuples(st.just(p.name), st.lists(_declared_item(p), max_size=4))), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(drawn=DECLARED_SIGNALS)
def test_registered_signals_evidence_keeps_ngo_fields_and_drops_the_rest(drawn: list[tuple[str, list[Any]]]) -> None:
    """What each registered signal declares decides what an NGO sees: its NGO fields arrive unchanged,
    its investigator-only fields (post URLs, phrases, invite details ...) never."""
    alert = _alert([])
    alert["signals"] = [{"name": name, "score": 0.5, "evidence": items} for name, items in drawn]
    message = render_alert(alert, "ngo", "7:ngo:strong")
    blob = "\n".join([message.title, message.text, message.html, json.dumps(message.data, ensure_ascii=False)])
    for marker in ("SECRETTEXT", "SECRETPOST", "deadbeef"):
        assert marker not in blob
    fields = {p.name: p.evidence_fields for p in SIGNAL_PLUGINS}
    hidden = [v for name, items in drawn for item in items for k, v in item.items()
              if fields[name][k].privacy is Privacy.INVESTIGATOR]
    for secret in _secrets(hidden):
        assert secret not in blob
    for (name, items), shown in zip(drawn, message.data["signals"], strict=True):
        expected = [_ngo_view(item, fields[name]) for item in items]
        assert (shown["name"], shown["evidence"]) == (name, [e for e in expected if e])


def _ngo_view(item: dict[str, Any], fields: Any) -> dict[str, Any]:
    """What an NGO should see of an item: its NGO fields as they are, a list as its length only."""
    out: dict[str, Any] = {}
    for key, value in item.items():
        if isinstance(value, list):
            out[f"{key}_count"] = len(value)
        elif fields[key].privacy is Privacy.NGO:
            out[key] = value
    return out
