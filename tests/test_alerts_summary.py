"""Alerts in plain language (issue 17): one paragraph per alert kind, in English and Italian, and what to
do next per audience; the catalogues stay complete; a language without a catalogue is a config error."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_file
from babel.messages.pofile import read_po
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts.channels import validate_audiences
from alerts.i18n import available_languages, catalogue_path
from alerts.render import render_alert, render_digest
from alerts.summary import next_steps, summarise, thread_url
from config.loader import load_settings
from model.errors import ConfigError
from tests.support.alertdata import POST_TEXT, POST_URL, PSEUDONYM
from tests.support.realworld import realworld_text
from tests.test_ngo_redaction_property import ITEMS, _secrets

REPO = Path(__file__).resolve().parents[1]

TELEGRAM_SOURCE = {"platform": "telegram", "handle": "cortile_segreto", "title": "Il Cortile Segreto",
                   "url": "https://t.me/cortile_segreto"}
TELEGRAM_TARGET = {"platform": "telegram", "handle": "cortile_riserva", "title": "Cortile Riserva",
                   "url": "https://t.me/cortile_riserva"}
# A Discourse forum, its post links in the form Discourse gives them (/t/<slug>/<topic id>/<post number>),
# as in the recorded discourse_api topic.json; the slug carries the thread's title.
FORUM = {"platform": "discourse", "handle": None, "title": "Forum Giardini", "url": "https://forum.example.org"}
FORUM_POST = "https://forum.example.org/t/foto-di-giulia-rossi/4711/3"
FORUM_THREAD = "https://forum.example.org/t/4711"


def alert(kind: str, signals: list[dict[str, Any]], *, source: dict[str, Any] | None = None,
          target: dict[str, Any] | None = None, level: str = "strong", score: float = 0.8234,
          context: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"id": 12, "kind": kind, "level": level, "score": score, "source": source or TELEGRAM_SOURCE,
                           "target": target, "signals": signals, "created_at": "2026-03-02T10:05:00+00:00",
                           "state": "new", "escalations": 0, "updated_at": "2026-03-02T10:05:00+00:00"}
    if context is not None:
        out["context"] = context
    return out


def migration(target: dict[str, Any] | None = None, context: bool = True) -> dict[str, Any]:
    """The issue's example: a watched channel deleted two days after announcing its reserve group,
    which reposted its pictures and has many of its members (values as detect.scoring writes them)."""
    signals = [
        {"name": "announcement", "score": 1.0,
         "evidence": [{"post_url": POST_URL, "created_at": "2026-02-28T12:42:00+00:00", "posted_in": "source",
                       "phrases": ["it:gruppo di riserva"], "post_links_to_communities": 1,
                       "community_links_to_communities": 2, "score": 1.0}]},
        {"name": "members", "score": 0.9,
         "evidence": [{"shared_members": 14, "source_members": 21, "target_members": 30, "overlap_coefficient": 0.6667,
                       "jaccard": 0.6087, "significance_neg_log10_p": 4.58, "first_seen_in_target_after_event": 3}]},
        {"name": "content", "score": 0.92,
         "evidence": [{"media_matches": 5, "text_matches": 0, "forwards_from_source": 0},
                      {"post_url": FORUM_POST if target is FORUM else "https://t.me/cortile_riserva/3",
                       "matched_post_url": "https://t.me/cortile_segreto/9", "kind": "media_pdq", "distance": 16,
                       "at": "2026-03-03T08:00:00+00:00"}]},
        {"name": "timing", "score": 0.6,
         "evidence": [{"source_event": "shutdown", "source_event_at": "2026-03-02T09:00:00+00:00",
                       "target_started": "2026-02-27T00:00:00+00:00", "days_after": -3.38, "window_days": 14}]},
    ]
    ctx = {"source": {"kind": "channel", "status": "deleted", "first_seen": "2026-01-10T08:00:00+00:00",
                      "removed_at": None, "former_titles": []},
           "target": {"kind": "forum" if target is FORUM else "group", "status": "active",
                      "first_seen": "2026-03-01T08:00:00+00:00", "removed_at": None, "former_titles": []},
           "threads": {"source": [], "target": [FORUM_THREAD] if target is FORUM else []}}
    return alert("migration", signals, target=target or TELEGRAM_TARGET, context=ctx if context else None)


# ---------------------------------------------------------------- migration


def test_migration_summary_in_english_tells_the_story_with_counts_and_dates() -> None:
    assert summarise(migration(), "en") == (
        "The Telegram channel “Il Cortile Segreto” (@cortile_segreto), watched since January 10, 2026, was deleted "
        "on March 2, 2026. Two days before, it announced the Telegram group “Cortile Riserva” (@cortile_riserva). "
        "“Cortile Riserva” has reposted 5 of its pictures and shares 14 of its 21 known members. "
        "Resurface rates this a strong migration (score 0.82).")


def test_migration_summary_in_italian() -> None:
    assert summarise(migration(), "it") == (
        "Il canale Telegram «Il Cortile Segreto» (@cortile_segreto), seguito dal giorno 10 gennaio 2026, è stato "
        "eliminato in data 2 marzo 2026. Due giorni prima ha annunciato il gruppo Telegram «Cortile Riserva» "
        "(@cortile_riserva). «Cortile Riserva» ha ripubblicato 5 delle sue immagini e ha in comune 14 dei suoi 21 "
        "membri noti. Resurface la valuta una migrazione forte (punteggio 0,82).")


def test_migration_without_the_stores_context_is_shorter_but_still_says_what_happened() -> None:
    text = summarise(migration(context=False), "en")
    assert text.startswith("The Telegram community “Il Cortile Segreto” (@cortile_segreto) shut down on "
                           "March 2, 2026. Two days before, it announced")
    assert "watched since" not in text and "5 of its pictures" in text


def test_migration_to_a_forum_names_the_thread_link_in_every_audience() -> None:
    forum_alert = migration(target=FORUM)
    for detail in ("ngo", "investigator"):
        for language in ("en", "it"):
            message = render_alert(forum_alert, detail, "12:x:strong", language=language)
            assert FORUM_THREAD in message.text and f'href="{FORUM_THREAD}"' in message.html
            assert FORUM_THREAD in message.data["summary"]
    ngo = render_alert(forum_alert, "ngo", "12:ngo:strong")
    assert "On the forum this is in the thread https://forum.example.org/t/4711." in ngo.data["summary"]
    step = ngo.data["next_steps"][0]
    assert step["url"] == FORUM_THREAD and "Report the thread to the moderators of “Forum Giardini”" in step["text"]
    # The thread link is built from the forum and the topic number: the slug (the thread's title) never travels
    # to an NGO, nor does the post link.
    everything = ngo.text + ngo.html + json.dumps(ngo.data)
    assert "giulia" not in everything and FORUM_POST not in everything


def test_forum_thread_link_without_the_stores_context_comes_from_the_evidence() -> None:
    text = summarise(migration(target=FORUM, context=False), "en")
    assert "in the thread https://forum.example.org/t/4711." in text


def test_thread_link_of_a_recorded_discourse_topic() -> None:
    """The recorded try.discourse.org topic: its posts' links lead to the thread by its number alone."""
    topic = json.loads(realworld_text("discourse", "discourse_api", "topic.json"))
    base = "https://try.discourse.org"
    posts = [f"{base}/t/{topic['slug']}/{topic['id']}/{p['post_number']}" for p in topic["post_stream"]["posts"]]
    ref = {"platform": "discourse", "title": "try", "url": base}
    found = summarise(alert("migration", [{"name": "content", "score": 0.5, "evidence": [
        {"media_matches": 1}, *({"post_url": url} for url in posts)]}], target=ref), "en")
    assert f"in the thread {base}/t/{topic['id']}." in found and topic["slug"] not in found


@pytest.mark.parametrize(("platform", "base", "tid", "expected"), [
    ("discourse", "https://f.example/", "57", "https://f.example/t/57"),
    ("phpbb", "https://f.example/board", "12", "https://f.example/board/viewtopic.php?t=12"),
    ("xenforo", "https://f.example/community", "9", "https://f.example/community/threads/9/"),
    ("discourse", "javascript:alert(1)", "57", None),
    ("phpbb", "https://f.example", "12&x=<b>", None),
    ("telegram", "https://t.me/x", "1", None),
])
def test_thread_url(platform: str, base: str, tid: str, expected: str | None) -> None:
    assert thread_url(platform, base, tid) == expected


# ---------------------------------------------------------------- rebrand


def rename(old: str | None, new: str, field: str = "title") -> dict[str, Any]:
    return {"name": "rename", "score": 1.0, "evidence": [
        {"field": field, "old": old, "new": new, "via": "service_post", "post_id": 5, "post_url": POST_URL,
         "observed_at": "2026-03-04T18:00:00+00:00", "kind": "rename", "occurred_at": "2026-03-04T18:00:00+00:00"}]}


@pytest.mark.parametrize(("language", "expected"), [
    ("en", "The Telegram channel “Il Cortile Segreto” renamed itself “Giardino Fiorito” on March 4, 2026. "
           "Alert level: strong (score 1.00)."),
    ("it", "Il canale Telegram «Il Cortile Segreto» ha preso il nome «Giardino Fiorito» in data 4 marzo 2026. "
           "Livello dell'allerta: forte (punteggio 1,00)."),
])
def test_rebrand_names_old_and_new(language: str, expected: str) -> None:
    found = alert("rebrand", [rename("Il Cortile Segreto", "Giardino Fiorito")], score=1.0,
                  source={**TELEGRAM_SOURCE, "title": "Giardino Fiorito"}, context={"source": {"kind": "channel"}})
    assert summarise(found, language) == expected


def test_rebrand_without_the_old_name_in_the_event_takes_it_from_the_store_then_from_the_alert() -> None:
    """The issue's "old=None": a Telegram service post says only the new title."""
    from_store = alert("rebrand", [rename(None, "Giardino Fiorito")], source={**TELEGRAM_SOURCE, "title": "Giardino"},
                       context={"source": {"kind": "channel", "former_titles": ["Il Cortile", "Il Cortile Segreto"]}})
    assert summarise(from_store, "en").startswith(
        "The Telegram channel “Il Cortile Segreto” renamed itself “Giardino Fiorito” on March 4, 2026.")
    from_alert = alert("rebrand", [rename(None, "Giardino Fiorito")])
    assert summarise(from_alert, "en").startswith(
        "The Telegram community “Il Cortile Segreto” renamed itself “Giardino Fiorito” on March 4, 2026.")
    unknown = alert("rebrand", [rename(None, "Giardino Fiorito")],
                    source={**TELEGRAM_SOURCE, "title": "Giardino Fiorito"})
    assert "its earlier name is not known" in summarise(unknown, "en")
    assert "None" not in summarise(unknown, "en")


def test_rebrand_of_an_address_and_a_reused_handle() -> None:
    handle = alert("rebrand", [rename("cortile_segreto", "giardino_fiorito", field="handle")])
    assert "changed its address from @cortile_segreto to @giardino_fiorito on March 4, 2026." in summarise(handle, "en")
    reuse = alert("rebrand", [{"name": "rename", "score": 1.0, "evidence": [
        {"now_points_to_native_id": "1002", "handle": "cortile_riserva", "kind": "handle_reuse",
         "occurred_at": "2026-03-04T18:00:00+00:00"}]}], target=TELEGRAM_TARGET)
    text = summarise(reuse, "it")
    assert text.startswith("Il gruppo Telegram «Il Cortile Segreto» (@cortile_segreto): l'indirizzo @cortile_segreto "
                           "ora porta a un altro gruppo, il gruppo Telegram «Cortile Riserva» (@cortile_riserva).")
    assert summarise(reuse, "en").startswith(
        "The address @cortile_segreto of the Telegram community “Il Cortile Segreto” (@cortile_segreto) now leads to "
        "the Telegram community “Cortile Riserva” (@cortile_riserva).")
    assert next_steps(reuse, "en")[0].url == TELEGRAM_TARGET["url"]


# ---------------------------------------------------------------- shutdown, hash match, surge


def test_shutdown_in_both_languages_with_the_date_and_no_report_to_make() -> None:
    gone = alert("shutdown", [{"name": "shutdown", "score": 1.0, "evidence": [
        {"status": "deleted", "definitive": True, "failed_observations": 1, "confirmations_needed": 3,
         "first_failed_at": "2026-03-02T09:00:00+00:00", "last_failed_at": "2026-03-02T09:00:00+00:00",
         "occurred_at": "2026-03-02T09:00:00+00:00"}]}], context={"source": {"kind": "group",
                                                                         "first_seen": "2026-01-10T08:00:00Z"}})
    assert summarise(gone, "en") == (
        "The Telegram group “Il Cortile Segreto” (@cortile_segreto), watched since January 10, 2026, was deleted on "
        "March 2, 2026. Resurface keeps looking for the groups that take its place. Alert level: strong (score 0.82).")
    assert summarise(gone, "it").startswith("Il gruppo Telegram «Il Cortile Segreto» (@cortile_segreto), seguito dal "
                                            "giorno 10 gennaio 2026, è stato eliminato in data 2 marzo 2026.")
    (step,) = next_steps(gone, "it")
    assert step.text.startswith("Niente da segnalare: Telegram non mostra più «Il Cortile Segreto».")


def test_shutdown_confirmed_by_repetition_and_entered_by_hand() -> None:
    silent = alert("shutdown", [{"name": "shutdown", "score": 0.8, "evidence": [
        {"status": "unreachable", "definitive": False, "failed_observations": 3, "confirmations_needed": 3,
         "occurred_at": "2026-03-02T09:00:00+00:00"}]}], level="likely", score=0.8)
    assert ("has not answered since March 2, 2026. Resurface found it unreadable 3 times in a row and treats it as "
            "shut down.") in summarise(silent, "en")
    assert "Resurface l'ha trovato illeggibile 3 volte di seguito" in summarise(silent, "it")
    manual = alert("shutdown", [{"name": "shutdown", "score": 1.0, "evidence": [
        {"status": "removed", "via": "entered by hand", "removed_at": "2025-08-20T00:00:00+00:00",
         "occurred_at": "2025-08-20T00:00:00+00:00"}]}],
        source={"platform": "facebook", "handle": None, "title": "Mia Moglie", "url": None})
    assert summarise(manual, "en").startswith("The Facebook community “Mia Moglie” was removed on August 20, 2025. "
                                              "This was entered by hand.")


def test_a_recovered_shutdown_says_so_first_and_asks_nothing() -> None:
    back = alert("shutdown", [
        {"name": "shutdown", "score": 1.0, "evidence": [
            {"status": "private", "definitive": True, "occurred_at": "2026-03-02T09:00:00+00:00"}]},
        {"name": "recovered", "score": 0.0, "evidence": [
            {"recovered": True, "recovered_at": "2026-03-04T10:00:00+00:00", "status": "active"}]}])
    english = summarise(back, "en")
    assert "became private on March 2, 2026. It can be read again since March 4, 2026: this alert is marked " \
        "recovered." in english
    assert "keeps looking" not in english
    assert "È di nuovo leggibile dal giorno 4 marzo 2026" in summarise(back, "it")
    (step,) = next_steps(back, "en")
    assert step.text == "Nothing to do: Telegram shows “Il Cortile Segreto” again. Resurface goes on watching it."
    assert step.url is None
    # the same alert before it came back still says Resurface is looking for its successors
    gone = alert("shutdown", back["signals"][:1])
    assert "Resurface keeps looking for the groups that take its place." in summarise(gone, "en")
    assert next_steps(gone, "en")[0].text.startswith("Nothing to report:")


def hash_match() -> dict[str, Any]:
    return alert("hash_match", [{"name": "hash_list", "score": 1.0, "evidence": [
        {"list": "helpline-2026-03", "label": "case 0412", "distance": 12, "community": "cortile_segreto",
         "platform": "telegram", "post_url": POST_URL, "at": "2026-03-01T12:42:00+00:00"},
        {"list": "helpline-2026-02", "label": None, "distance": 20, "community": "cortile_segreto",
         "platform": "telegram", "post_url": POST_URL, "at": "2026-03-01T12:42:00+00:00"}]}], score=1.0)


def test_hash_match_in_both_languages_and_list_names_only_for_investigators() -> None:
    ngo = summarise(hash_match(), "en", "ngo")
    assert ngo == ("A picture posted on March 1, 2026 in the Telegram community “Il Cortile Segreto” "
                   "(@cortile_segreto) matches 2 entries of your hash lists (PDQ distance 12). "
                   "Alert level: strong (score 1.00).")
    assert "helpline" not in ngo and "0412" not in ngo
    assert "Liste: helpline-2026-02 e helpline-2026-03." in summarise(hash_match(), "it", "investigator")
    assert summarise(hash_match(), "it").startswith(
        "Il gruppo Telegram «Il Cortile Segreto» (@cortile_segreto): un'immagine pubblicata in data 1 marzo 2026 "
        "corrisponde a 2 voci delle vostre liste di hash (distanza PDQ 12).")
    steps = next_steps(hash_match(), "en")
    assert steps[0].url == TELEGRAM_SOURCE["url"] and "abuse@telegram.org" in steps[0].text
    assert steps[1].url == "https://stopncii.org/"


@pytest.mark.parametrize(("evidence", "language", "expected"), [
    ({"measure": "member_count", "from": 120, "to": 1480, "per_day": 680.0, "usual_per_day": 12.0, "factor": 56.67,
      "observed_at": "2026-03-03T08:00:00+00:00"}, "en",
     "The Telegram community “Il Cortile Segreto” (@cortile_segreto) grew from 120 to 1,480 members by March 3, 2026, "
     "56.7 times its usual rate."),
    ({"measure": "member_count", "from": 120, "to": 1480, "per_day": 680.0, "usual_per_day": 12.0, "factor": 56.67,
      "observed_at": "2026-03-03T08:00:00+00:00"}, "it",
     "Il gruppo Telegram «Il Cortile Segreto» (@cortile_segreto) è passato da 120 a 1.480 membri entro il giorno "
     "3 marzo 2026, 56,7 volte il suo ritmo abituale."),
    ({"measure": "new_members", "day": "2026-03-03", "joins": 45, "usual_per_day": 2.0, "factor": 22.5}, "en",
     "On March 3, 2026, 45 new members appeared in the Telegram community “Il Cortile Segreto” (@cortile_segreto), "
     "22.5 times its usual daily number."),
    ({"measure": "new_members", "day": "2026-03-03", "joins": 45, "usual_per_day": 2.0, "factor": 22.5}, "it",
     "Il gruppo Telegram «Il Cortile Segreto» (@cortile_segreto): in data 3 marzo 2026 sono comparsi 45 nuovi membri, "
     "22,5 volte il suo numero giornaliero abituale."),
])
def test_surge(evidence: dict[str, Any], language: str, expected: str) -> None:
    text = summarise(alert("surge", [{"name": "surge", "score": 0.7, "evidence": [evidence]}], level="likely",
                           score=0.7), language)
    assert text.startswith(expected)


# ---------------------------------------------------------------- next steps per audience


def test_ngo_next_steps_give_the_platforms_reporting_route_for_the_successor() -> None:
    steps = next_steps(migration(), "en", "ngo")
    assert steps[0].url == TELEGRAM_TARGET["url"]
    assert steps[0].text.startswith("Report “Cortile Riserva” to Telegram") and "abuse@telegram.org" in steps[0].text
    assert steps[1].url == "https://stopncii.org/"  # pictures were reposted
    reddit = {"platform": "reddit", "handle": "cortileriserva", "title": "Cortile", "url": "https://www.reddit.com/r/cortileriserva"}
    (reddit_step, _) = next_steps(migration(target=reddit), "it", "ngo")
    assert "r/cortileriserva" in reddit_step.text and "https://www.reddit.com/report" in reddit_step.text


def test_investigator_next_steps_are_the_bundle_and_the_workspace() -> None:
    bundle, workspace = next_steps(migration(), "en", "investigator", "/cases/resurface.toml")
    assert "resurface --config /cases/resurface.toml alerts export 12 -o alert-12.zip" in bundle.text
    assert "resurface --config /cases/resurface.toml alerts show 12" in workspace.text
    message = render_alert(migration(), "investigator", "12:inv:strong", language="it", config="/cases/resurface.toml")
    assert "Cosa fare ora:" in message.text and "Fascicolo delle prove" in message.text
    assert "Report " not in message.text  # investigators get the bundle and the workspace, not the NGO's route


def test_rendered_scores_have_two_decimals_everywhere() -> None:
    """The issue's "jaccard=0.609, significance_neg_log10_p=4.58": one format, two decimals."""
    message = render_alert(migration(), "ngo", "12:ngo:strong")
    assert "jaccard=0.61," in message.text and "overlap_coefficient=0.67," in message.text
    assert "score 0.82" in message.title and "members: 0.90 (1 evidence item)" in message.text
    for blob in (message.text, message.html):
        assert not re.search(r"\d\.\d{3}", blob), blob
    italian = render_alert(migration(), "ngo", "12:ngo:strong", language="it")
    assert "jaccard=0,61," in italian.text and "punteggio 0,82" in italian.title


def test_digest_carries_each_alerts_summary_in_the_audiences_language() -> None:
    digest = render_digest([migration(), hash_match()], "ngo", "d", "ngo", language="it")
    assert "riepilogo: 2 allerte per ngo (forte)" in digest.title
    assert [a["language"] for a in digest.data["alerts"]] == ["it", "it"]
    assert "Resurface la valuta una migrazione forte" in digest.text and "un'immagine pubblicata" in digest.html


def test_summary_never_breaks_on_odd_evidence() -> None:
    odd = alert("migration", [{"name": "content", "score": "x", "evidence": [{"media_matches": "5"}, "?", None]},
                              {"name": "timing",
                               "evidence": [{"source_event": "shutdown", "source_event_at": "soon"}]}],
                target={"platform": None}, score=None)  # type: ignore[arg-type]
    text = summarise(odd, "en")
    assert text.endswith("Resurface rates this a strong migration (score 0.00).") and "5" not in text


# ---------------------------------------------------------------- privacy


SIGNAL_NAMES = ["announcement", "members", "content", "timing", "name", "rename", "shutdown", "hash_list", "surge"]


@settings(max_examples=150, deadline=None)
@given(kind=st.sampled_from(["migration", "rebrand", "shutdown", "hash_match", "surge"]),
       name=st.sampled_from(SIGNAL_NAMES), evidence=ITEMS)
def test_no_generated_secret_reaches_an_ngo_summary_or_next_step(kind: str, name: str, evidence: list[Any]) -> None:
    """The summary is written from the full alert: whatever a detector puts in its evidence (post texts,
    post links, pseudonyms, raw ids; the generators of the NGO redaction property), none reaches an NGO."""
    found = alert(kind, [{"name": name, "score": 0.5, "evidence": evidence}], target=TELEGRAM_TARGET)
    for language in ("en", "it"):
        message = render_alert(found, "ngo", "12:ngo:strong", language=language)
        blob = "\n".join([message.title, message.text, message.html, json.dumps(message.data, ensure_ascii=False)])
        for marker in ("SECRETTEXT", "SECRETPOST", "deadbeef"):
            assert marker not in blob
        for secret in _secrets(evidence):
            assert secret not in blob


def test_the_examples_secrets_never_reach_an_ngo_summary() -> None:
    for found in (migration(), migration(target=FORUM), hash_match()):
        found["signals"][0]["evidence"][0].update({"excerpt": POST_TEXT, "author_pseudonym": PSEUDONYM})
        for language in available_languages():
            data = render_alert(found, "ngo", "k", language=language).data
            blob = data["summary"] + json.dumps(data["next_steps"])
            assert POST_TEXT not in blob and PSEUDONYM not in blob and POST_URL not in blob


# ---------------------------------------------------------------- catalogues and configuration


def _code_messages() -> set[tuple[str | None, str]]:
    keywords = {"_": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
    found = set()
    for module in ("alerts/summary.py", "alerts/render.py"):
        for _line, message, _comments, context in extract_from_file("python", REPO / module, keywords=keywords):
            found.add((context, message[0] if isinstance(message, tuple) else message))
    return found


def _placeholders(text: str) -> set[str]:
    return set(re.findall(r"\{(\w+)\}", text))


@pytest.mark.parametrize("language", [lang for lang in available_languages() if lang != "en"])
def test_every_message_of_the_code_is_translated_with_the_same_placeholders(language: str) -> None:
    with catalogue_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    translated = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id): m for m in catalog if m.id}
    missing = sorted(str(key) for key in _code_messages() if key not in translated)
    assert not missing, f"untranslated in {language}: {missing} (pybabel extract, then update the .po)"
    for message in translated.values():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        assert all(strings) and not message.fuzzy, message.id
        wanted = set().union(*(_placeholders(i) for i in ids)) - {"n"}
        for string in strings:
            assert _placeholders(string) - {"n"} == wanted, (message.id, string)


def test_the_template_lists_every_message_of_the_code() -> None:
    with (REPO / "alerts" / "locale" / "resurface.pot").open("rb") as handle:
        template = {(m.context, m.id[0] if isinstance(m.id, tuple) else m.id) for m in read_po(handle) if m.id}
    assert template == _code_messages()


def test_a_bad_language_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "resurface.toml"
    path.write_text("[alerts.audiences.ngo]\nurls = ['json://127.0.0.1:9/hook']\nlanguage = 'klingon'\n")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert "key 'alerts.audiences.ngo.language'" in message and str(path) in message and "klingon" in message
    assert info.value.exit_code == 2
    # A well-formed language without a catalogue is refused before anything is delivered.
    path.write_text("[alerts.audiences.ngo]\nurls = ['json://127.0.0.1:9/hook']\nlanguage = 'fr'\n")
    with pytest.raises(ConfigError) as info:
        validate_audiences(load_settings(path, env={}), env={})
    assert str(info.value) == ("alerts.audiences.ngo.language: no alert catalogue for language 'fr'; "
                               "available: en, it")
    assert info.value.exit_code == 2
    path.write_text("[alerts.audiences.ngo]\nurls = ['json://127.0.0.1:9/hook']\nlanguage = 'it'\n")
    settings = load_settings(path, env={})
    validate_audiences(settings, env={})
    assert settings.alerts.audiences["ngo"].language == "it"
