"""The workspace's JSON API: per-user tokens, the CLI's JSON shapes, NGO users limited to the NGO
allow-list, every read audited, and schemathesis against the API's own OpenAPI description (no 500)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from alerts.lifecycle import alert_json
from alerts.render import redact_for_ngo
from service.app import App
from store import accounts
from store import models as m
from store.leads import lead_doc
from tests.support.alertdata import POST_TEXT, PSEUDONYM
from tests.support.webdata import Clock, WebWorld, populate
from tests.support.webserver import serve
from web.app import create_app


@pytest.fixture
def world(app: App) -> WebWorld:
    return populate(app, POST_TEXT)


@pytest.fixture
def tokens(app: App, world: WebWorld) -> dict[str, str]:
    with app.store.session() as s:
        return {name: accounts.create_token(s, accounts.get_user(s, name)) for name in ("ines", "nadia")}


@pytest.fixture
def base(app: App, world: WebWorld) -> Iterator[str]:
    with serve(create_app(app, clock=Clock())) as url:
        yield url


def get(base: str, path: str, token: str | None, **params: str) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(base + path, headers=headers, params=params)


def test_no_token_or_a_wrong_one_is_401(base: str, tokens: dict[str, str]) -> None:
    assert get(base, "/api/alerts", None).status_code == 401
    assert get(base, "/api/alerts", "rs_not-a-token").status_code == 401


def test_alerts_have_the_cli_shape_for_investigators(base: str, tokens: dict[str, str], app: App,
                                                     world: WebWorld) -> None:
    rows = get(base, "/api/alerts", tokens["ines"], state="open").json()
    with app.store.session() as s:
        alert = s.get(m.Alert, world.alert_id)
        assert alert is not None
        expected = {**alert_json(alert, s), "note": None}
    assert rows == [httpx.Response(200, json=expected).json()]  # the same JSON `alerts list -f json` prints
    assert get(base, "/api/alerts", tokens["ines"], state="confirmed").json() == []


def test_an_ngo_token_gets_the_ngo_allow_list_and_403_beyond_it(base: str, tokens: dict[str, str], app: App,
                                                                 world: WebWorld) -> None:
    answer = get(base, f"/api/alerts/{world.alert_id}", tokens["nadia"])
    assert answer.status_code == 200
    assert POST_TEXT not in answer.text and PSEUDONYM not in answer.text
    with app.store.session() as s:
        alert = s.get(m.Alert, world.alert_id)
        assert alert is not None
        assert answer.json() == httpx.Response(200, json=redact_for_ngo(alert_json(alert, s))).json()
    for path in ("/api/leads", f"/api/leads/{world.lead_id}", "/api/search"):
        assert get(base, path, tokens["nadia"], q="canale").status_code == 403, path


def test_leads_have_the_cli_shape_and_reads_are_audited(base: str, tokens: dict[str, str], app: App,
                                                        world: WebWorld) -> None:
    one = get(base, f"/api/leads/{world.lead_id}", tokens["ines"]).json()
    with app.store.session() as s:
        lead = s.get(m.Lead, world.lead_id)
        assert lead is not None
        assert one == lead_doc(s, lead, with_excerpt=True)
        entries = [(e.actor, e.action, e.target) for e in s.scalars(select(m.AuditEntry))]
    assert ("web:ines", "lead.show", f"lead:{world.lead_id}") in entries


def test_search_answers_like_the_cli_and_a_bad_query_is_400_with_the_caret(base: str, tokens: dict[str, str]
                                                                           ) -> None:
    doc = get(base, "/api/search", tokens["ines"], q="canale").json()
    assert set(doc) == {"total", "total_is_lower_bound", "page", "limit", "hits"} and doc["total"] == 1
    bad = get(base, "/api/search", tokens["ines"], q="text:(")
    assert bad.status_code == 400 and "^" in bad.json()["error"]


def test_the_api_never_answers_500_to_what_its_openapi_allows(base: str, tokens: dict[str, str]) -> None:
    schemathesis = pytest.importorskip("schemathesis")
    from hypothesis import HealthCheck, given, settings

    schema = schemathesis.openapi.from_url(base + "/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} >= {"/api/alerts", "/api/alerts/{alert_id}", "/api/leads", "/api/search"}
    for op in operations:
        @settings(max_examples=15, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def check(case: object) -> None:
            response = case.call(base_url=base, headers={"Authorization": f"Bearer {tokens['ines']}"})  # type: ignore[attr-defined]
            assert response.status_code < 500, (case, response.text)

        check()


def test_users_add_reads_the_password_from_stdin_and_refuses_a_bad_role(tmp_path: Path) -> None:
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    env = {"RESURFACE_PSEUDONYM_KEY": "users-cli-test-key-0123456789abcdef", "PATH": "/usr/bin:/bin"}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cli", "--config", str(config), *args], input=stdin,
                              capture_output=True, text=True, env=env, cwd=tmp_path, check=False)

    added = run("users", "add", "ines", "--role", "investigator", stdin="a-long-password\n")
    assert added.returncode == 0, added.stderr
    assert "added investigator ines" in added.stdout
    assert run("users", "add", "ines2", "--role", "boss", stdin="a-long-password\n").returncode == 2
    again = run("users", "add", "ines", "--role", "ngo", stdin="a-long-password\n")
    assert again.returncode == 2 and "exists already" in again.stderr
    short = run("users", "add", "ana", stdin="short\n")
    assert short.returncode == 2 and "at least 10" in short.stderr


def test_demo_serve_prints_logins_that_sign_in_and_serves_the_demo_store(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import re

    import cli.web
    from config.loader import load_settings

    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", "demo-serve-test-key-0123456789abcdef")
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    served: list[App] = []
    monkeypatch.setattr(cli.web, "serve", lambda app_, host=None, port=None: served.append(app_))
    said: list[str] = []
    cli.web.serve_demo(config, said.append)
    assert len(served) == 1 and served[0].settings.data_path == load_settings(config).data_path
    logins = dict(re.findall(r"Demo login \(\w+\): (\S+) / (\S+)", "\n".join(said)))
    assert set(logins) == {"demo", "demo-ngo"}
    app = App(load_settings(config))
    try:
        with app.store.session() as s:
            user = accounts.authenticate(s, "demo-ngo", logins["demo-ngo"])
            assert user is not None and user.role == "ngo"
    finally:
        app.close()


def test_the_leads_list_reads_sources_and_posts_in_two_queries_not_two_per_lead(app: App, world: WebWorld) -> None:
    from sqlalchemy import event

    from store.leads import list_leads
    from tests.support.alertdata import communities

    with app.store.session() as s:
        post_id = s.scalar(select(m.Post.id))
        for i, cid in enumerate(communities(s, 30)):
            s.add(m.Lead(url=f"https://t.me/+more{i}", kind="telegram_invite", is_private=True, state="needs_human",
                         source_post_id=post_id, source_community_id=cid))
    statements: list[str] = []

    def seen(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        statements.append(statement)

    event.listen(app.store.engine, "before_cursor_execute", seen)
    try:
        with app.store.session() as s:
            docs = [lead_doc(s, lead, with_excerpt=False) for lead in list_leads(s, "needs_human")]
    finally:
        event.remove(app.store.engine, "before_cursor_execute", seen)
    assert len(docs) == 31 and len({d["found_in"]["handle"] for d in docs}) == 31
    assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) <= 3


def test_search_pages_are_the_backends_own_pages(base: str, tokens: dict[str, str], app: App) -> None:
    from datetime import UTC, datetime, timedelta

    from search.base import SearchRequest
    from search.indexer import drain, open_backend
    from search.query import parse_query
    from store.ingest import ingest
    from tests import factories as f

    recent = datetime.now(UTC) - timedelta(days=1)  # older texts are not kept (privacy.retention_days)
    with app.store.session() as s:
        ingest(s, [f.snapshot(at=recent), *(f.post(100 + n, text=f"il canale numero {n}", at=recent)
                                            for n in range(25))], app.ingest_context())
    first = get(base, "/api/search", tokens["ines"], q="canale", limit="10", page="1").json()
    third = get(base, "/api/search", tokens["ines"], q="canale", limit="10", page="3").json()
    backend = open_backend(app.settings)
    try:
        drain(app.store, backend, 500)
        backend.refresh()
        direct = backend.search(SearchRequest(parse_query("canale"), limit=10, offset=20, sort="newest"))
    finally:
        backend.close()
    assert first["total"] == third["total"] == direct.total == 26
    assert [h["id"] for h in third["hits"]] == [h.doc_id for h in direct.hits] and len(third["hits"]) == 6
    assert not {h["id"] for h in first["hits"]} & {h["id"] for h in third["hits"]}
