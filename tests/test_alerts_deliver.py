"""The outbox deliverer against real local servers: a webhook receiver (HTTP) and an SMTP server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.channels import IDEMPOTENCY_HEADER, mask_url, validate_audiences
from alerts.deliver import deliver_pending
from alerts.lifecycle import raise_alert
from config.settings import AudienceSettings, Settings
from model.errors import ConfigError
from model.vocab import AlertDraft
from store import models as m
from store.db import Store
from tests.support.alertdata import POST_TEXT, POST_URL, PSEUDONYM, communities, draft, settings_with
from tests.support.httpserver import HttpServer, Reply
from tests.support.smtpserver import SmtpServer

NOW = datetime(2026, 3, 2, 10, 5, tzinfo=UTC)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


def hook(server: HttpServer, path: str = "/hook") -> str:
    return f"json://{server.netloc}{path}"


def raise_n(store: Store, cfg: Settings, n: int = 1, at: datetime = NOW, level: str = "likely") -> list[int]:
    with store.session() as s:
        ids = communities(s, n + 1)
        out = []
        for target in ids[1:]:
            alert = raise_alert(s, draft(ids[0], target, level=level), cfg, now=at)
            assert alert is not None
            out.append(alert.id)
        return out


def rows(store: Store) -> list[m.Delivery]:
    with store.session() as s:
        return list(s.scalars(select(m.Delivery).order_by(m.Delivery.id)))


def posted(server: HttpServer, path: str = "/hook") -> list[dict[str, object]]:
    return [json.loads(r.body) for r in server.requests_for(path)]


def no_sleep(_seconds: float) -> None:
    pass


def test_webhook_gets_the_alert_json_with_the_idempotency_key(sqlite_store: Store, http_server: HttpServer) -> None:
    http_server.route("/hook", Reply.json({"ok": True}))
    cfg = settings_with(inv=AudienceSettings(urls=[hook(http_server)], detail="investigator"))
    (alert_id,) = raise_n(sqlite_store, cfg)

    report = deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep)

    assert (report.messages_sent, report.rows_sent) == (1, 1)
    (request,) = http_server.requests_for("/hook")
    key = f"{alert_id}:inv:likely"
    assert request.headers[IDEMPOTENCY_HEADER] == key
    body = json.loads(request.body)
    assert body["alert"]["id"] == alert_id and body["alert"]["idempotency_key"] == key
    assert json.loads(body["message"])["id"] == alert_id  # the message text is the same JSON
    assert body["alert"]["signals"][0]["evidence"][0]["excerpt"] == POST_TEXT  # investigators get excerpts
    (row,) = rows(sqlite_store)
    assert (row.state, row.attempts, row.sent_at) == ("sent", 1, NOW)
    with sqlite_store.session() as s:
        alert = s.get(m.Alert, alert_id)
        assert alert is not None and alert.state == "delivered"
        assert [a.ok for a in s.scalars(select(m.DeliveryAttempt))] == [True]
    # Nothing is due any more: a second run sends nothing.
    assert deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep).messages_sent == 0
    assert len(http_server.requests_for("/hook")) == 1


def test_ngo_messages_carry_no_post_text_pseudonym_or_post_url(sqlite_store: Store, http_server: HttpServer,
                                                              smtp: SmtpServer) -> None:
    http_server.route("/ngo", Reply.json({}))
    http_server.route("/inv", Reply.json({}))
    cfg = settings_with(
        ngo=AudienceSettings(urls=[smtp.url("ngo@example.org"), hook(http_server, "/ngo")], detail="ngo"),
        inv=AudienceSettings(urls=[smtp.url("inv@example.org"), hook(http_server, "/inv")], detail="investigator"),
    )
    (alert_id,) = raise_n(sqlite_store, cfg)

    report = deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep)

    assert report.messages_sent == 2
    mails = {msg.rcpt_tos[0]: msg for msg in smtp.wait_for(2)}
    ngo_mail, inv_mail = mails["ngo@example.org"], mails["inv@example.org"]
    ngo_hook, inv_hook = http_server.requests_for("/ngo")[0], http_server.requests_for("/inv")[0]
    for secret in (POST_TEXT, PSEUDONYM, POST_URL, "spostiamo"):
        for blob in (ngo_mail.raw.decode("utf-8", "replace"), ngo_mail.decoded_text(), ngo_hook.body.decode()):
            assert secret not in blob
    # What an NGO does see: community names, links, level, score, counts.
    text = ngo_mail.decoded_text()
    for visible in ("Il Cortile Segreto", "https://t.me/cortile_segreto_2", "LIKELY", "0.55", "shared=42"):
        assert visible in text
    assert ngo_mail.message[IDEMPOTENCY_HEADER] == f"{alert_id}:ngo:likely"
    assert f"Idempotency-Key: {alert_id}:ngo:likely" in text
    assert ngo_mail.message.get_content_type() == "multipart/alternative"  # HTML with a text alternative
    ngo_json = json.loads(ngo_hook.body)["alert"]
    assert ngo_json["signals"][1]["evidence"] == [{"shared": 42, "overlap_coefficient": 0.61, "jaccard": 0.2,
                                                   "examples_count": 1}]
    # The investigator audience gets the excerpt and the post URL.
    assert POST_TEXT in inv_mail.decoded_text() and POST_URL in inv_mail.decoded_text()
    assert POST_TEXT in inv_hook.body.decode()


def test_nested_evidence_never_reaches_ngo_email_or_webhook_bytes(sqlite_store: Store, http_server: HttpServer,
                                                                 smtp: SmtpServer) -> None:
    """A detector that nests post text and pseudonyms (under listed and unlisted keys, in lists and
    dictionaries) leaks none of it to the NGO email or webhook; the investigator still gets it."""
    http_server.route("/ngo", Reply.json({}))
    http_server.route("/inv", Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[smtp.url("ngo@example.org"), hook(http_server, "/ngo")],
                                             detail="ngo"),
                        inv=AudienceSettings(urls=[hook(http_server, "/inv")], detail="investigator"))
    nested = [{"author": {"name": "Giulia Rossi", "pseudonym": PSEUDONYM},
               "match": {"pdq_distance": 6, "post": {"text": POST_TEXT, "url": POST_URL},
                         "match": {"excerpt": POST_TEXT, "distance": 2}},
               "reposts": [{"created_at": "2026-03-01T12:00:00+00:00", "author_pseudonym": PSEUDONYM}],
               "created_at": POST_TEXT, "user": 738291045}]
    with sqlite_store.session() as s:
        source, target = communities(s, 2)
        alert = raise_alert(s, AlertDraft(kind="migration", level="likely", score=0.55, source_community_id=source,
                                          target_community_id=target,
                                          signals=[{"name": "content", "score": 0.6, "evidence": nested}]),
                            cfg, now=NOW)
        assert alert is not None

    assert deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep).messages_sent == 2

    (mail,) = smtp.wait_for(1)
    ngo_body = http_server.requests_for("/ngo")[0].body
    for secret in (POST_TEXT, PSEUDONYM, POST_URL, "Giulia Rossi", "738291045"):
        assert secret.encode() not in mail.raw and secret not in mail.decoded_text()
        assert secret.encode() not in ngo_body
    evidence = json.loads(ngo_body)["alert"]["signals"][0]["evidence"]
    assert evidence == [{"match": {"pdq_distance": 6, "match": {"distance": 2}}, "reposts_count": 1}]
    assert POST_TEXT in http_server.requests_for("/inv")[0].body.decode()


# ---------------------------------------------------------------- plain language (issue 17)


# A Discourse forum successor; its post links in the form Discourse gives them (/t/<slug>/<topic>/<post>, as in
# the recorded discourse_api topic.json), the slug carrying the thread's title.
FORUM_POST = "https://forum.example.org/t/foto-di-giulia-rossi/4711/3"
FORUM_THREAD = "https://forum.example.org/t/4711"


def forum_successor(session: Session) -> int:
    """A Discourse forum with the reposting post stored as the crawler stores it (thread number and title)."""
    forum = m.Community(platform="discourse", native_id="https://forum.example.org", title="Forum Giardini",
                        url="https://forum.example.org", kind="forum", first_seen=NOW - timedelta(days=1))
    session.add(forum)
    session.flush()
    session.add(m.Post(community_id=forum.id, native_post_id="90", url=FORUM_POST, fetched_at=NOW,
                       created_at=NOW - timedelta(hours=2), text=POST_TEXT, thread_id="4711",
                       thread_title="Foto di Giulia Rossi", payload_sha256="0" * 64))
    return int(forum.id)


def test_ngo_email_and_webhook_carry_summary_and_next_step_in_the_audiences_language(
        sqlite_store: Store, http_server: HttpServer, smtp: SmtpServer) -> None:
    """The issue's NGO: a summary in words and where to report the successor (its forum thread), in Italian
    for this audience, on the bytes the SMTP server and the webhook received; never a post text, a post link
    or a pseudonym. The investigators' audience gets English, the thread, the bundle and the workspace."""
    http_server.route("/ngo", Reply.json({}))
    http_server.route("/inv", Reply.json({}))
    cfg = settings_with(
        ngo=AudienceSettings(urls=[smtp.url("ngo@example.org"), hook(http_server, "/ngo")], detail="ngo",
                             language="it"),
        inv=AudienceSettings(urls=[hook(http_server, "/inv")], detail="investigator"))
    content = {"name": "content", "score": 0.86, "evidence": [
        {"media_matches": 5, "text_matches": 0, "forwards_from_source": 0},
        {"post_url": FORUM_POST, "matched_post_url": POST_URL, "kind": "media_pdq", "distance": 16,
         "at": "2026-03-02T08:00:00+00:00", "excerpt": POST_TEXT, "author_pseudonym": PSEUDONYM}]}
    with sqlite_store.session() as s:
        (source,) = communities(s, 1)
        channel = s.get(m.Community, source)
        assert channel is not None
        channel.first_seen, channel.status, channel.removed_at = NOW - timedelta(days=50), "deleted", NOW
        target = forum_successor(s)
        alert = raise_alert(s, AlertDraft(kind="migration", level="strong", score=0.8234, source_community_id=source,
                                          target_community_id=target,
                                          signals=[*draft(source, target).signals, content]), cfg, now=NOW)
        assert alert is not None
        alert_id = alert.id

    assert deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep).messages_sent == 2

    (mail,) = smtp.wait_for(1)
    text, page = mail.part("plain"), mail.part("html")
    ngo = json.loads(http_server.requests_for("/ngo")[0].body)["alert"]
    assert ngo["language"] == "it"
    assert ngo["summary"] == (
        "Il canale Telegram «Il Cortile Segreto» (@cortile_segreto), seguito dal giorno 11 gennaio 2026, è stato "
        "eliminato in data 2 marzo 2026. Il giorno prima ha annunciato il forum Discourse «Forum Giardini». "
        "«Forum Giardini» ha ripubblicato 5 delle sue immagini e ha in comune 42 dei suoi membri. Sul forum si trova "
        f"nel thread {FORUM_THREAD}. Resurface la valuta una migrazione forte (punteggio 0,82).")
    report = ngo["next_steps"][0]
    assert report["url"] == FORUM_THREAD and report["text"].startswith("Segnalate il thread ai moderatori di «Forum")
    for blob in (text, page):
        assert ngo["summary"].split(" Sul forum")[0] in blob and "Cosa fare ora:" in blob
    assert "Segnalate il thread ai moderatori" in text and f'href="{FORUM_THREAD}"' in page
    assert "Allerta migrazione FORTE" in mail.message["Subject"]
    for secret in (POST_TEXT, PSEUDONYM, POST_URL, FORUM_POST, "giulia", "Giulia Rossi"):
        for blob in (mail.raw.decode("utf-8", "replace"), mail.decoded_text(), http_server.requests_for("/ngo")[0]
                     .body.decode()):
            assert secret not in blob
    inv = json.loads(http_server.requests_for("/inv")[0].body)["alert"]
    assert inv["language"] == "en" and f"in the thread {FORUM_THREAD}." in inv["summary"]
    assert [step["text"].split(":")[0] for step in inv["next_steps"]] == ["Evidence bundle (alert, posts, snapshots, "
                                                                          "hash manifest)", "Workspace"]
    assert f"alerts export {alert_id} -o alert-{alert_id}.zip" in inv["next_steps"][0]["text"]
    assert inv["context"]["threads"]["target"] == [FORUM_THREAD]  # investigators see what the summary stands on


def test_rebrand_names_the_old_title_the_store_knows_when_the_event_does_not(sqlite_store: Store,
                                                                           http_server: HttpServer) -> None:
    """The issue's "old=None": a Telegram service post names only the new title; the store's snapshots
    know the old one, and the NGO's message names both."""
    http_server.route("/ngo", Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server, "/ngo")], min_level="strong"))
    with sqlite_store.session() as s:
        (cid,) = communities(s, 1)
        community = s.get(m.Community, cid)
        assert community is not None
        community.title = "Giardino Fiorito"
        for at, title in ((NOW - timedelta(days=3), "Il Cortile Segreto"), (NOW, "Giardino Fiorito")):
            s.add(m.Snapshot(community_id=cid, observed_at=at, last_observed_at=at, native_id="1001",
                             handle="cortile_segreto", title=title, status="active", content_sha256="0" * 64,
                             payload_sha256="0" * 64))
        evidence = {"field": "title", "old": None, "new": "Giardino Fiorito", "via": "service_post", "post_id": 3,
                    "post_url": POST_URL, "observed_at": NOW.isoformat(), "kind": "rename",
                    "occurred_at": NOW.isoformat()}
        assert raise_alert(s, AlertDraft(kind="rebrand", level="strong", score=1.0, source_community_id=cid,
                                         target_community_id=None,
                                         signals=[{"name": "rename", "score": 1.0, "evidence": [evidence]}]),
                           cfg, now=NOW) is not None

    assert deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep).messages_sent == 1

    body = json.loads(http_server.requests_for("/ngo")[0].body)["alert"]
    assert body["summary"] == ("The Telegram channel “Il Cortile Segreto” renamed itself “Giardino Fiorito” on "
                               "March 2, 2026. Alert level: strong (score 1.00).")
    assert body["next_steps"][0]["url"] == "https://t.me/cortile_segreto"
    assert "None" not in http_server.requests_for("/ngo")[0].body.decode()


def test_channel_down_three_attempts_then_recovering_gets_exactly_one_delivery(
        sqlite_store: Store, http_server: HttpServer) -> None:
    http_server.route("/hook", Reply(503), Reply(503), Reply(503), Reply.json({"ok": True}))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server)]))
    (alert_id,) = raise_n(sqlite_store, cfg)
    waits: list[float] = []

    first = deliver_pending(sqlite_store, cfg, NOW, sleep=waits.append, tries_per_run=3)

    assert (first.messages_sent, first.rows_retrying) == (0, 1)
    assert len(waits) == 2 and waits[0] > 0 and all(w <= 30 for w in waits)  # backoff between tries, jittered
    (row,) = rows(sqlite_store)
    assert (row.state, row.attempts) == ("pending", 3)
    assert row.next_attempt_at > NOW
    assert row.last_error and f"json://{http_server.netloc}/hook" in row.last_error
    # Not due yet: an immediate re-run does not hammer the channel.
    assert deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep).messages_sent == 0
    assert len(http_server.requests_for("/hook")) == 3

    later = row.next_attempt_at + timedelta(seconds=1)
    second = deliver_pending(sqlite_store, cfg, later, sleep=no_sleep)

    assert second.messages_sent == 1
    statuses = [x.status for x in http_server.wait_for_exchanges(4)]
    assert statuses == [503, 503, 503, 200]
    assert {r.headers[IDEMPOTENCY_HEADER] for r in http_server.requests_for("/hook")} == {f"{alert_id}:ngo:likely"}
    (row,) = rows(sqlite_store)
    assert (row.state, row.attempts) == ("sent", 4)
    with sqlite_store.session() as s:
        assert [a.ok for a in s.scalars(select(m.DeliveryAttempt).order_by(m.DeliveryAttempt.id))] == \
            [False, False, False, True]


def test_gives_up_after_max_attempts(sqlite_store: Store, http_server: HttpServer) -> None:
    http_server.route("/hook", Reply(500))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server)]))
    cfg.alerts.max_attempts = 4
    raise_n(sqlite_store, cfg)
    deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep, tries_per_run=3)
    (row,) = rows(sqlite_store)
    assert (row.state, row.attempts) == ("pending", 3)
    report = deliver_pending(sqlite_store, cfg, row.next_attempt_at, sleep=no_sleep, tries_per_run=3)
    (row,) = rows(sqlite_store)
    assert (row.state, row.attempts, report.rows_failed) == ("failed", 4, 1)
    assert len(http_server.requests_for("/hook")) == 4


def test_retry_only_resends_to_the_url_that_failed(sqlite_store: Store, http_server: HttpServer) -> None:
    http_server.route("/good", Reply.json({}))
    http_server.route("/flaky", Reply(502), Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server, "/good"), hook(http_server, "/flaky")]))
    raise_n(sqlite_store, cfg)
    report = deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep, tries_per_run=3)
    assert report.messages_sent == 1
    assert len(http_server.requests_for("/good")) == 1 and len(http_server.requests_for("/flaky")) == 2


def test_env_variables_in_urls_are_expanded(sqlite_store: Store, http_server: HttpServer) -> None:
    http_server.route("/secret-hook", Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[f"json://{http_server.netloc}/${{HOOK_PATH}}"]))
    raise_n(sqlite_store, cfg)
    assert deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep, env={"HOOK_PATH": "secret-hook"}).messages_sent == 1
    assert len(http_server.requests_for("/secret-hook")) == 1


def test_escalation_is_delivered_as_a_new_message(sqlite_store: Store, http_server: HttpServer) -> None:
    http_server.route("/hook", Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server)]))
    (alert_id,) = raise_n(sqlite_store, cfg)
    deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep)
    with sqlite_store.session() as s:
        a = s.get(m.Alert, alert_id)
        assert a is not None
        raise_alert(s, draft(a.source_community_id or 0, a.target_community_id, level="strong", score=0.9), cfg,
                    now=NOW)
    deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep)
    keys = [r.headers[IDEMPOTENCY_HEADER] for r in http_server.requests_for("/hook")]
    assert keys == [f"{alert_id}:ngo:likely", f"{alert_id}:ngo:strong"]
    assert json.loads(http_server.requests_for("/hook")[1].body)["alert"]["escalations"] == 1


# ---------------------------------------------------------------- crashes


CRASH_SCRIPT = textwrap.dedent("""
    import os, signal, sys
    sys.path.insert(0, {repo!r})
    from alerts.channels import send_apprise
    from alerts.deliver import deliver_pending
    from config.settings import Settings
    from store.db import open_store

    def send_then_die(url, message):
        send_apprise(url, message)
        os.kill(os.getpid(), signal.SIGKILL)  # killed after sending, before recording "sent"

    settings = Settings.model_validate_json({settings!r})
    deliver_pending(open_store({url!r}), settings, sender=send_then_die, sleep=lambda s: None)
""")


def test_process_killed_after_sending_repeats_with_the_same_key_and_loses_nothing(
        tmp_path: Path, http_server: HttpServer) -> None:
    from store.db import open_store

    http_server.route("/hook", Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server)]))
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    store = open_store(url)
    try:
        (alert_id,) = raise_n(store, cfg, at=m.utcnow())
        script = tmp_path / "deliver_and_die.py"
        script.write_text(CRASH_SCRIPT.format(repo=str(REPO), settings=cfg.model_dump_json(), url=url))
        proc = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, timeout=60,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
        assert proc.returncode == -9, proc.stderr.decode()
        (row,) = rows(store)
        assert row.state == "sending"  # the crash left it here, not lost and not marked sent
        assert len(http_server.requests_for("/hook")) == 1

        report = deliver_pending(store, cfg, sleep=no_sleep)

        assert (report.messages_sent, report.repeats) == (1, 1)
        keys = [r.headers[IDEMPOTENCY_HEADER] for r in http_server.requests_for("/hook")]
        assert keys == [f"{alert_id}:ngo:likely"] * 2  # a repeat, recognisable by its key
        (row,) = rows(store)
        assert row.state == "sent"
    finally:
        store.close()


class Crash(BaseException):
    """Stands for the process dying (not an error the deliverer could catch)."""


def test_crash_before_sending_sends_once_after_restart(sqlite_store: Store, http_server: HttpServer) -> None:
    http_server.route("/hook", Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server)]))
    raise_n(sqlite_store, cfg, 2)

    def die(_url: str, _message: object) -> None:
        raise Crash

    with pytest.raises(Crash):
        deliver_pending(sqlite_store, cfg, NOW, sender=die, sleep=no_sleep)
    assert [r.state for r in rows(sqlite_store)] == ["sending", "pending"]
    report = deliver_pending(sqlite_store, cfg, NOW, sleep=no_sleep)
    assert report.rows_sent == 2 and [r.state for r in rows(sqlite_store)] == ["sent", "sent"]
    assert len(http_server.requests_for("/hook")) == 2


# ---------------------------------------------------------------- flood control


def test_storm_beyond_the_rate_limit_becomes_one_digest(any_store: Store, http_server: HttpServer) -> None:
    http_server.route("/hook", Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server)], max_per_hour=3))
    ids = raise_n(any_store, cfg, 10)

    report = deliver_pending(any_store, cfg, NOW, sleep=no_sleep)

    assert (report.messages_sent, report.digests_sent, report.rows_sent) == (1, 1, 10)
    (request,) = http_server.requests_for("/hook")
    body = json.loads(request.body)["alert"]
    assert body["digest"] is True and body["count"] == 10
    assert sorted(a["id"] for a in body["alerts"]) == sorted(ids)
    assert request.headers[IDEMPOTENCY_HEADER].startswith("digest:ngo:storm:")
    assert all(POST_TEXT not in json.dumps(a) for a in body["alerts"])
    assert len({r.digest_key for r in rows(any_store)}) == 1


def test_within_the_rate_limit_each_alert_is_its_own_message_then_the_rest_waits(
        any_store: Store, http_server: HttpServer) -> None:
    http_server.route("/hook", Reply.json({}))
    cfg = settings_with(ngo=AudienceSettings(urls=[hook(http_server)], max_per_hour=2))
    raise_n(any_store, cfg, 2)
    assert deliver_pending(any_store, cfg, NOW, sleep=no_sleep).messages_sent == 2
    raise_n(any_store, cfg, 1)

    waiting = deliver_pending(any_store, cfg, NOW + timedelta(minutes=10), sleep=no_sleep)

    assert (waiting.messages_sent, waiting.rows_postponed) == (0, 1)
    last = rows(any_store)[-1]
    assert (last.state, last.next_attempt_at) == ("pending", NOW + timedelta(hours=1))
    assert deliver_pending(any_store, cfg, NOW + timedelta(hours=1, seconds=1), sleep=no_sleep).messages_sent == 1
    assert len(http_server.requests_for("/hook")) == 3


@pytest.mark.parametrize(("digest", "first_window_end", "second_window_end"), [
    ("hourly", datetime(2026, 3, 2, 11, 0, tzinfo=UTC), datetime(2026, 3, 2, 12, 0, tzinfo=UTC)),
    ("daily", datetime(2026, 3, 3, 0, 0, tzinfo=UTC), datetime(2026, 3, 4, 0, 0, tzinfo=UTC)),
])
def test_digests_group_what_accumulates_in_a_window(sqlite_store: Store, smtp: SmtpServer, digest: str,
                                                    first_window_end: datetime, second_window_end: datetime) -> None:
    cfg = settings_with(inv=AudienceSettings(urls=[smtp.url("inv@example.org")], detail="investigator",
                                             digest=digest))  # type: ignore[arg-type]
    raise_n(sqlite_store, cfg, 1, at=NOW)
    raise_n(sqlite_store, cfg, 1, at=NOW + timedelta(minutes=30))
    raise_n(sqlite_store, cfg, 1, at=first_window_end + timedelta(minutes=5))  # the next window

    early = deliver_pending(sqlite_store, cfg, first_window_end - timedelta(seconds=1), sleep=no_sleep)
    assert early.messages_sent == 0
    report = deliver_pending(sqlite_store, cfg, first_window_end, sleep=no_sleep)
    assert (report.messages_sent, report.rows_sent, report.digests_sent) == (1, 2, 1)
    (mail,) = smtp.wait_for(1)
    assert "digest: 2 alerts for inv" in mail.message["Subject"]
    assert mail.part("plain").count("LIKELY migration alert") == 2
    assert mail.part("html").count("LIKELY migration alert") == 2
    assert deliver_pending(sqlite_store, cfg, second_window_end, sleep=no_sleep).rows_sent == 1
    assert len(smtp.wait_for(2)) == 2


# ---------------------------------------------------------------- configuration


def test_invalid_apprise_url_is_a_config_error_naming_audience_and_masked_url() -> None:
    cfg = settings_with(ok=AudienceSettings(urls=["json://127.0.0.1:9/hook"]),
                        bad=AudienceSettings(urls=["nosuchservice://admin:hunter2@example.org/x"]))
    with pytest.raises(ConfigError) as info:
        validate_audiences(cfg)
    message = str(info.value)
    assert "alerts.audiences.bad" in message and "nosuchservice://***" in message and "admin" not in message
    assert "hunter2" not in message
    assert info.value.exit_code == 2


def test_missing_secret_in_url_is_a_config_error_naming_the_variable() -> None:
    cfg = settings_with(ngo=AudienceSettings(urls=["mailto://alerts:${SMTP_PASSWORD}@example.org"]))
    with pytest.raises(ConfigError, match="SMTP_PASSWORD"):
        validate_audiences(cfg, env={})
    validate_audiences(cfg, env={"SMTP_PASSWORD": "x"})


def test_audience_without_urls_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"alerts\.audiences\.ngo: no urls"):
        validate_audiences(settings_with(ngo=AudienceSettings()))


@pytest.mark.parametrize(("url", "masked"), [
    ("mailto://user:pw@host?to=a@b", "mailto://user:***@host?to=a@b"),
    ("json://host/hook?token=abc&x=1", "json://host/hook?token=***&x=1"),
    ("jsons://hooks.example/services/T000AAAA/B000BBBBCCCCDDDDEEEE", "jsons://hooks.example/services/T000AAAA/***"),
    ("tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/-100123", "tgram://***"),
    ("slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#general", "slack://***"),
    ("tgram://${BOT_TOKEN}/-100123", "tgram://${BOT_TOKEN}/-100123"),
    ("tgram://${BOT_TOKEN}/123", "tgram://${BOT_TOKEN}/123"),
])
def test_mask_url(url: str, masked: str) -> None:
    assert mask_url(url) == masked


def test_deliveries_to_an_audience_removed_from_config_fail_clearly(sqlite_store: Store,
                                                                     http_server: HttpServer) -> None:
    cfg = settings_with(gone=AudienceSettings(urls=[hook(http_server)]))
    raise_n(sqlite_store, cfg)
    report = deliver_pending(sqlite_store, settings_with(), NOW, sleep=no_sleep)
    (row,) = rows(sqlite_store)
    assert (row.state, report.rows_failed) == ("failed", 1)
    assert row.last_error == "audience 'gone' is no longer configured"
