"""The workspace's routes as each kind of user meets them: sign-in, sessions that expire, CSRF on every
form, the sign-in rate limit, access by role (an NGO user gets exactly the NGO deliveries' fields), the
alert verdicts with their notes and history, leads, search, and the audit entries all of this writes."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from alerts.lifecycle import alert_json
from alerts.render import render_alert
from service.app import App
from store import audit
from store import models as m
from tests.support.alertdata import POST_TEXT, PSEUDONYM
from tests.support.webdata import INVITE_URL, PASSWORDS, Clock, WebWorld, populate
from tests.support.webserver import serve
from web.app import create_app
from web.security import SESSION_COOKIE

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def world(app: App) -> WebWorld:
    return populate(app, POST_TEXT)


@pytest.fixture
def client(app: App, world: WebWorld, clock: Clock) -> Iterator[httpx.Client]:
    with serve(create_app(app, clock=clock)) as base, httpx.Client(base_url=base, follow_redirects=False) as c:
        yield c


def login(client: httpx.Client, name: str, password: str | None = None) -> str:
    """Sign in through the form; returns the CSRF token of the first page after it."""
    page = client.get("/login")
    token = CSRF.search(page.text)
    assert token, page.text
    answer = client.post("/login", data={"name": name, "password": password or PASSWORDS[name],
                                         "csrf": token.group(1), "next": "/alerts"})
    assert answer.status_code == 303, answer.text
    after = client.get("/alerts")
    assert after.status_code == 200
    found = CSRF.search(after.text)
    assert found
    return found.group(1)


def actions(app: App) -> list[tuple[str, str, str | None]]:
    with app.store.session() as s:
        assert audit.verify(s) is None
        return [(e.actor, e.action, e.target) for e in s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id))]


# ---------------------------------------------------------------- sign-in, sessions, CSRF, rate limit


@pytest.mark.parametrize("path", ["/alerts", "/alerts/1", "/leads", "/leads/1", "/search?q=x", "/watchlist",
                                  "/graph", "/communities/1", "/alerts/1/bundle.zip"])
def test_an_anonymous_user_is_sent_to_sign_in_and_comes_back_after(client: httpx.Client, path: str) -> None:
    answer = client.get(path)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/login?next=")


def test_a_wrong_password_is_refused_and_audited(client: httpx.Client, app: App) -> None:
    token = CSRF.search(client.get("/login").text)
    assert token
    answer = client.post("/login", data={"name": "ines", "password": "wrong-password", "csrf": token.group(1)})
    assert answer.status_code == 401
    assert "Wrong name or password" in answer.text
    assert SESSION_COOKIE not in answer.cookies
    assert ("web:anonymous", "web.login_failed", "user:ines") in actions(app)


def test_sign_in_without_the_forms_token_is_refused(client: httpx.Client) -> None:
    client.get("/login")
    answer = client.post("/login", data={"name": "ines", "password": PASSWORDS["ines"], "csrf": "forged"})
    assert answer.status_code == 403


def test_sign_in_is_rate_limited_per_name_until_a_minute_has_passed(client: httpx.Client, clock: Clock) -> None:
    token = CSRF.search(client.get("/login").text)
    assert token
    form = {"name": "ines", "password": "nope-nope-nope", "csrf": token.group(1)}
    for _ in range(5):
        assert client.post("/login", data=form).status_code == 401
    # the right password does not get through while the name is blocked
    blocked = client.post("/login", data={**form, "password": PASSWORDS["ines"]})
    assert blocked.status_code == 429
    clock.advance(seconds=61)
    assert client.post("/login", data={**form, "password": PASSWORDS["ines"]}).status_code == 303


def test_a_session_expires_after_web_session_minutes(client: httpx.Client, clock: Clock, app: App) -> None:
    login(client, "ines")
    clock.advance(minutes=app.settings.web.session_minutes - 1)
    assert client.get("/alerts").status_code == 200
    clock.advance(minutes=2)
    answer = client.get("/alerts")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    with app.store.session() as s:  # the expired session is gone from the store, not just ignored
        assert s.scalar(select(m.WebSession.id)) is None


def test_sign_out_ends_the_session_on_the_server(client: httpx.Client) -> None:
    csrf = login(client, "ines")
    cookie = client.cookies.get(SESSION_COOKIE)
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    client.cookies.set(SESSION_COOKIE, cookie or "")  # replaying the old cookie does not work
    assert client.get("/alerts").status_code == 303


@pytest.mark.parametrize("path", ["/alerts/{alert}/confirm", "/alerts/{alert}/ack", "/alerts/{alert}/dismiss",
                                  "/leads/{lead}/review", "/watchlist", "/search/saved", "/logout",
                                  "/watchlist/{source}/remove"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(client: httpx.Client, world: WebWorld, path: str,
                                                          app: App) -> None:
    login(client, "ines")
    url = path.format(alert=world.alert_id, lead=world.lead_id, source=world.source_id)
    data = {"note": "x", "target": "@somewhere_else", "q": "x"}
    assert client.post(url, data=data).status_code == 403
    assert client.post(url, data={**data, "csrf": "not-the-token"}).status_code == 403
    with app.store.session() as s:
        assert s.get(m.Alert, world.alert_id).state == "new"  # type: ignore[union-attr]
        assert s.get(m.Lead, world.lead_id).state == "needs_human"  # type: ignore[union-attr]


# ---------------------------------------------------------------- alerts


def test_the_queue_lists_the_alert_with_counts_per_state_and_is_audited(client: httpx.Client, world: WebWorld,
                                                                        app: App) -> None:
    login(client, "ines")
    page = client.get("/alerts")
    assert f'href="/alerts/{world.alert_id}"' in page.text
    assert "new (1)" in page.text
    assert client.get("/alerts?state=confirmed").text.count('href="/alerts/') == 0
    assert ("web:ines", "web.alerts", None) in actions(app)


def test_a_bad_filter_gets_a_clear_message(client: httpx.Client) -> None:
    login(client, "ines")
    answer = client.get("/alerts?case=nowhere")
    assert answer.status_code == 400
    assert "no such case" in answer.text


def test_an_investigator_sees_the_announcement_post_and_confirms_with_a_note(client: httpx.Client, world: WebWorld,
                                                                             app: App) -> None:
    csrf = login(client, "ines")
    page = client.get(f"/alerts/{world.alert_id}")
    assert POST_TEXT in page.text
    answer = client.post(f"/alerts/{world.alert_id}/confirm", data={"csrf": csrf, "note": "same admins, checked"})
    assert answer.status_code == 303
    page = client.get(f"/alerts/{world.alert_id}")
    assert '<strong id="state">confirmed</strong>' in page.text
    assert "same admins, checked" in page.text  # the note, and the history line with who and when
    assert re.search(r"<td>web:ines</td><td>confirm</td><td>same admins, checked</td>", page.text)
    assert ("web:ines", "alert.confirm", f"alert:{world.alert_id}") in actions(app)
    assert ("web:ines", "alert.show", f"alert:{world.alert_id}") in actions(app)


def test_an_impossible_verdict_is_a_clear_error_and_changes_nothing(client: httpx.Client, world: WebWorld,
                                                                   app: App) -> None:
    csrf = login(client, "ines")
    client.post(f"/alerts/{world.alert_id}/dismiss", data={"csrf": csrf, "note": "no"})
    answer = client.post(f"/alerts/{world.alert_id}/ack", data={"csrf": csrf})
    assert answer.status_code == 400
    with app.store.session() as s:
        assert s.get(m.Alert, world.alert_id).state == "dismissed"  # type: ignore[union-attr]


def test_the_ngo_alert_page_holds_exactly_what_an_ngo_delivery_holds(client: httpx.Client, world: WebWorld,
                                                                     app: App) -> None:
    login(client, "nadia")
    page = client.get(f"/alerts/{world.alert_id}")
    assert page.status_code == 200
    assert POST_TEXT not in page.text
    assert POST_TEXT[:30] not in page.text
    assert PSEUDONYM not in page.text
    assert "t.me/cortile_segreto/42" not in page.text  # post links are investigator-only
    with app.store.session() as s:
        delivered = render_alert(alert_json(s.get(m.Alert, world.alert_id)), "ngo", "x")  # type: ignore[arg-type]
    assert delivered.html.split("<body>")[1].split("</body>")[0].split("<p")[0] in page.text
    assert "Cortile Due" in page.text  # the names are there


def test_an_ngo_user_gets_403_on_investigator_pages(client: httpx.Client, world: WebWorld) -> None:
    login(client, "nadia")
    for path in ("/leads", f"/leads/{world.lead_id}", "/search?q=canale", f"/alerts/{world.alert_id}/bundle.zip",
                 "/search.csv?q=canale"):
        answer = client.get(path)
        assert answer.status_code == 403, path
        assert "for investigators and analysts" in answer.text and "<html" in answer.text, path
    page = client.get(f"/communities/{world.source_id}")
    assert page.status_code == 200 and POST_TEXT not in page.text


def test_an_ngo_user_can_acknowledge_an_alert(client: httpx.Client, world: WebWorld, app: App) -> None:
    csrf = login(client, "nadia")
    assert client.post(f"/alerts/{world.alert_id}/ack", data={"csrf": csrf, "note": "seen"}).status_code == 303
    assert ("web:nadia", "alert.ack", f"alert:{world.alert_id}") in actions(app)


def test_the_evidence_bundle_downloads_and_the_export_is_audited(client: httpx.Client, world: WebWorld,
                                                                  app: App) -> None:
    login(client, "ana")
    answer = client.get(f"/alerts/{world.alert_id}/bundle.zip")
    assert answer.status_code == 200
    with zipfile.ZipFile(io.BytesIO(answer.content)) as z:
        assert any(name.endswith(".json") for name in z.namelist())
    assert ("web:ana", "alert.export", f"alert:{world.alert_id}") in actions(app)


# ---------------------------------------------------------------- leads, search, community, watchlist


def test_a_private_invite_lead_shows_where_it_was_found_and_cannot_be_watched(client: httpx.Client, world: WebWorld,
                                                                              app: App) -> None:
    csrf = login(client, "ines")
    listing = client.get("/leads")
    assert INVITE_URL in listing.text and "private invite" in listing.text
    page = client.get(f"/leads/{world.lead_id}")
    assert "never joined automatically" in page.text and "Riserva" in page.text and POST_TEXT in page.text
    assert 'name="watch"' not in page.text
    assert client.post(f"/leads/{world.lead_id}/review", data={"csrf": csrf, "watch": "1"}).status_code == 400
    answer = client.post(f"/leads/{world.lead_id}/review", data={"csrf": csrf, "note": "asked the platform"})
    assert answer.status_code == 303
    assert "asked the platform" in client.get(f"/leads/{world.lead_id}").text
    assert ("web:ines", "lead.review", f"lead:{world.lead_id}") in actions(app)


def test_a_search_syntax_error_shows_the_clis_caret_message(client: httpx.Client, app: App) -> None:
    from search.query import QueryError, parse_query

    login(client, "ines")
    bad = 'text:"nuovo canale" AND ('
    with pytest.raises(QueryError) as cli_error:
        parse_query(bad)
    page = client.get("/search", params={"q": bad})
    assert page.status_code == 400
    import html

    assert str(cli_error.value) in html.unescape(page.text)
    assert ("web:ines", "search", bad) in actions(app)


def test_a_search_highlights_matches_and_exports_csv(client: httpx.Client, app: App) -> None:
    login(client, "ines")
    page = client.get("/search", params={"q": "canale"})
    assert page.status_code == 200
    assert "<mark>canale</mark>" in page.text
    assert re.search(r"telegram: 1", page.text)
    csv_answer = client.get("/search.csv", params={"q": "canale"})
    assert csv_answer.status_code == 200
    lines = csv_answer.text.strip().splitlines()
    assert lines[0].startswith("date,platform,community") and len(lines) == 2 and "canale" in lines[1]
    assert ("web:ines", "search.export", "canale") in actions(app)


def test_the_community_page_has_its_timeline_candidates_and_posts(client: httpx.Client, world: WebWorld,
                                                                   app: App) -> None:
    login(client, "ines")
    page = client.get(f"/communities/{world.source_id}")
    assert "snapshot" in page.text and "Cortile Due" in page.text and POST_TEXT in page.text
    assert f"/graph?around={world.source_id}" in page.text
    assert client.get("/communities/99999").status_code == 400
    assert ("web:ines", "community.show", f"community:{world.source_id}") in actions(app)


def test_the_watchlist_adds_and_removes_and_shows_status(client: httpx.Client, app: App) -> None:
    csrf = login(client, "ines")
    assert client.post("/watchlist", data={"csrf": csrf, "target": "@canale_nuovo_x", "label": "t1"}
                       ).status_code == 303
    page = client.get("/watchlist")
    assert "canale_nuovo_x" in page.text and "Error streak" in page.text
    with app.store.session() as s:
        cid = s.scalar(select(m.Community.id).where(m.Community.handle == "canale_nuovo_x"))
    assert client.post(f"/watchlist/{cid}/remove", data={"csrf": csrf}).status_code == 303
    assert ("web:ines", "watch.remove", f"community:{cid}") in actions(app)


def test_the_graph_page_embeds_the_existing_viewer(client: httpx.Client, world: WebWorld, app: App) -> None:
    login(client, "ines")
    assert '<iframe title="community graph"' in client.get("/graph").text
    viewer = client.get("/graph/view.html")
    assert viewer.status_code == 200 and "Cortile Due" in viewer.text
    assert ("web:ines", "graph.export", None) in actions(app)


def test_the_watchlist_shows_each_sources_last_outcome_and_error_streak_like_status(client: httpx.Client,
                                                                                    app: App, world: WebWorld) -> None:
    from datetime import UTC, datetime, timedelta

    from store.status import source_statuses

    t0 = datetime(2026, 11, 30, tzinfo=UTC)
    with app.store.session() as s:
        s.get(m.Community, world.source_id).watch_state = "seed"  # type: ignore[union-attr]
        for i, outcome in enumerate(("ok", "failed", "failed")):
            s.add(m.CrawlRun(community_id=world.source_id, source="telegram-web", started_at=t0 + timedelta(hours=i),
                             finished_at=t0 + timedelta(hours=i, minutes=1), outcome=outcome,
                             error="HTTP 502 from t.me" if outcome == "failed" else None))
    with app.store.session() as s:  # what `resurface status` says about it
        expected = next(st for st in source_statuses(s) if st.community_id == world.source_id)
    assert expected.error_streak == 2
    login(client, "ines")
    page = client.get("/watchlist").text
    row = re.search(rf"<tr><td>{world.source_id}</td>.*?</tr>", page, flags=re.S)
    assert row, page
    assert "<td>failed</td>" in row.group(0) and "<td>2</td>" in row.group(0)


def test_the_graph_viewer_shows_a_community_added_after_it_was_first_drawn(client: httpx.Client) -> None:
    csrf = login(client, "ines")
    assert "nuovo_rifugio_z" not in client.get("/graph/view.html").text
    client.post("/watchlist", data={"csrf": csrf, "target": "@nuovo_rifugio_z"})
    assert "nuovo_rifugio_z" in client.get("/graph/view.html").text  # the kept page was not served stale


def test_a_saved_search_keeps_its_whole_query(client: httpx.Client, app: App) -> None:
    csrf = login(client, "ines")
    query = 'text:"nuovo canale" AND platform:telegram & co'
    answer = client.post("/search/saved", data={"csrf": csrf, "q": query})
    assert answer.status_code == 303
    from urllib.parse import parse_qs, urlsplit

    assert parse_qs(urlsplit(answer.headers["location"]).query)["q"] == [query]
    assert client.get("/search").text.count("platform:telegram &amp; co") == 1
    assert ("web:ines", "search.save", query) in actions(app)


def test_a_lowercase_operator_gets_the_clis_hint(client: httpx.Client) -> None:
    import html

    from search.query import query_hints

    login(client, "ines")
    page = html.unescape(client.get("/search", params={"q": "nuovo and canale"}).text)
    (hint,) = query_hints("nuovo and canale")
    assert hint in page
    assert "is searched as a word" not in html.unescape(client.get("/search", params={"q": "canale"}).text)
