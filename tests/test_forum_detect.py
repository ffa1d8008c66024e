"""Recognising forum software, the ``web`` source, and the whole path through the CLI:
``watch add`` → ``crawl --once`` → again incrementally → banned/vanished statuses."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from config.settings import CrawlSettings, Settings
from crawlers.base import Target
from crawlers.errors import BadResponse
from crawlers.forums.detect import ForumDetectSource, detect_forum, recognise_html, recognised_watch_target
from crawlers.http import SafeHttpClient
from model.errors import UsageError
from model.records import Checkpoint, CommunitySnapshot, CommunityStatus
from store.db import Store
from store.watchlist import WatchTarget, add_watch, recognise_platform
from tests.contract import check_records, last_cursor, posts_of
from tests.support.httpserver import HttpServer, Reply
from tests.test_discourse import install_discourse
from tests.test_phpbb import install_phpbb
from tests.test_phpbb import page as phpbb_page
from tests.test_reddit import ENV, fixture, install_fake_reddit
from tests.test_xenforo import install_xenforo
from tests.test_xenforo import page as xenforo_page

FIXTURES = Path(__file__).parent / "fixtures"
DISCOURSE_HOME = (FIXTURES / "discourse" / "home.html").read_text()


def fast_settings() -> Settings:
    return Settings(crawl=CrawlSettings(allow_private_addresses=True, default_rate_limit=1000.0, max_retries=0))


@pytest.mark.parametrize(("html", "platform"), [
    (DISCOURSE_HOME, "discourse"),
    (phpbb_page("index.html"), "phpbb"),
    (phpbb_page("login.html"), "phpbb"),
    (xenforo_page("index.html"), "xenforo"),
    (xenforo_page("login.html"), "xenforo"),
    ('<html><head><meta name="generator" content="phpBB 3.0"></head><body></body></html>', "phpbb"),
    ("<html><body><footer>Forum software by XenForo&reg;</footer></body></html>", "xenforo"),
    ("<html><body><h1>My blog</h1><p>phpBB is mentioned in this text only</p></body></html>", None),
    ("", None),
])
def test_recognise_html(html: str, platform: str | None) -> None:
    found = recognise_html(html)
    assert (found[0] if found else None) == platform


def test_detect_falls_back_to_about_json(http_server: HttpServer) -> None:
    install_discourse(http_server)
    http_server.route("/", Reply.html("<html><body><noscript>enable JavaScript</noscript></body></html>"))
    with SafeHttpClient(fast_settings().crawl) as client:
        detection = detect_forum(client, http_server.url("/latest"))
    assert (detection.platform, detection.base_url, detection.reason) == ("discourse", http_server.base_url,
                                                                          "/about.json")


def test_unreachable_forum_stays_web_at_watch_add(http_server: HttpServer) -> None:
    url = http_server.base_url
    http_server.stop()
    parsed = WatchTarget("web", None, url, "forum")
    assert recognised_watch_target(fast_settings(), url, parsed) is parsed


def test_web_source_recognises_and_delegates_keeping_records_on_the_web_community(http_server: HttpServer) -> None:
    install_phpbb(http_server)
    http_server.route("/", Reply.html(phpbb_page("index.html")))
    source = ForumDetectSource(fast_settings())
    target = Target(7, "web", None, http_server.base_url)
    records = list(source.crawl(target))
    check_records(records, platform="web")
    snap = records[0]
    assert isinstance(snap, CommunitySnapshot)
    assert snap.extra["recognised_platform"] == "phpbb" and snap.native_id == http_server.base_url
    assert len(posts_of(records)) == 6
    cursor = last_cursor(records)
    inner = cursor["inner"]
    assert cursor["platform"] == "phpbb" and isinstance(inner, dict) and "threads" in inner
    assert all(c.source == "forum_detect" for c in records if isinstance(c, Checkpoint))
    again = list(source.crawl(Target(7, "web", None, http_server.base_url, cursor=cursor)))
    source.close()
    assert posts_of(again) == []


def test_web_source_reports_a_vanished_site_and_refuses_unknown_software(http_server: HttpServer) -> None:
    source = ForumDetectSource(fast_settings())
    gone = list(source.crawl(Target(7, "web", None, http_server.url("/nothing"))))
    assert isinstance(gone[0], CommunitySnapshot) and gone[0].status == CommunityStatus.DELETED
    http_server.route("/blog/", Reply.html("<html><body><h1>Just a blog</h1></body></html>"))
    with pytest.raises(BadResponse, match=r"/blog/ is not a forum Resurface can crawl"):
        list(source.crawl(Target(7, "web", None, http_server.url("/blog"))))
    source.close()


def test_recognise_platform_relabels_a_web_row(sqlite_store: Store) -> None:
    with sqlite_store.session() as session:
        row, _ = add_watch(session, WatchTarget("web", None, "https://forum.example/board", "forum"))
        relabelled = recognise_platform(session, row.id, "phpbb")
        assert (relabelled.id, relabelled.platform, relabelled.native_id) == (row.id, "phpbb",
                                                                               "https://forum.example/board")
        other, _ = add_watch(session, WatchTarget("web", None, "https://forum.example/board", "forum"))
        assert recognise_platform(session, other.id, "phpbb").id == row.id  # no duplicate key
        with pytest.raises(UsageError):
            recognise_platform(session, row.id, "telegram")


# --- end to end through the CLI -------------------------------------------------------------------


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    from cli import main

    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def sites(http_server_factory: Callable[..., HttpServer]) -> dict[str, HttpServer]:
    servers = {name: http_server_factory() for name in ("reddit", "discourse", "phpbb", "xenforo")}
    install_fake_reddit(servers["reddit"])
    install_discourse(servers["discourse"])
    servers["discourse"].route("/", Reply.html(DISCOURSE_HOME))
    install_phpbb(servers["phpbb"])
    servers["phpbb"].route("/", Reply.html(phpbb_page("index.html")))
    install_xenforo(servers["xenforo"])
    return servers


def write_config(tmp_path: Path, reddit: HttpServer) -> Path:
    config = tmp_path / "resurface.toml"
    config.write_text(f"""
data_dir = "data"
[crawl]
allow_private_addresses = true
default_rate_limit = 1000.0
max_retries = 0
[reddit]
oauth_url = "{reddit.base_url}"
reddit_url = "{reddit.base_url}"
""")
    return config


def test_watch_crawl_recrawl_and_statuses_through_the_cli(tmp_path: Path, sites: dict[str, HttpServer],
                                                          capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", "e2e-test-key-0123456789abcdefghijkl")
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    config = str(write_config(tmp_path, sites["reddit"]))
    for url in ("https://www.reddit.com/r/VelvetLounge", sites["discourse"].base_url, sites["phpbb"].base_url,
                sites["xenforo"].base_url + "/"):
        code, _, err = call(capsys, "--config", config, "watch", "add", url)
        assert code == 0, err
    code, out, _ = call(capsys, "--config", config, "watch", "list", "--format", "json")
    watched = {row["platform"]: row for row in json.loads(out)}
    assert set(watched) == {"reddit", "discourse", "phpbb", "xenforo"}  # recognised at watch-add time

    def crawl(expected_code: int = 0) -> dict[int, dict[str, Any]]:
        code, out, err = call(capsys, "--config", config, "crawl", "--once", "--format", "json")
        assert code == expected_code, err
        return {row["community_id"]: row for row in json.loads(out)}

    first = crawl()
    expected_new = {"reddit": 8, "discourse": 46, "phpbb": 6, "xenforo": 5}  # reddit: 5 posts, 2 comments, sidebar
    for platform, row in watched.items():
        assert first[row["id"]]["outcome"] == "ok", first[row["id"]]
        assert first[row["id"]]["new_posts"] == expected_new[platform]
    second = crawl()
    assert all(row["new_posts"] == 0 for row in second.values()), second

    for name in ("velvetlounge", "VelvetLounge"):
        sites["reddit"].route(f"/r/{name}/about/", Reply.json(fixture("error_banned.json"), status=404))
    sites["phpbb"].route("/index.php", Reply.html("<html><body>Not Found</body></html>", status=404))
    sites["xenforo"].stop()
    third = crawl(expected_code=1)  # a crawl in which a source failed exits 1 (and names it)
    assert third[watched["reddit"]["id"]]["outcome"] == "ok"
    assert third[watched["xenforo"]["id"]]["outcome"] == "failed"
    code, out, _ = call(capsys, "--config", config, "watch", "list", "--format", "json")
    status = {row["platform"]: row["status"] for row in json.loads(out)}
    assert status == {"reddit": "banned", "discourse": "active", "phpbb": "deleted", "xenforo": "unreachable"}


def test_reddit_search_command(sites: dict[str, HttpServer], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    config = str(write_config(tmp_path, sites["reddit"]))
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    code, _, err = call(capsys, "--config", config, "reddit", "search", "velvet")
    assert code == 2 and "REDDIT_CLIENT_ID" in err
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    code, out, err = call(capsys, "--config", config, "reddit", "search", "velvet", "--format", "json")
    assert code == 0, err
    assert [row["handle"] for row in json.loads(out)] == ["VelvetLounge2", "velvet_cakes"]


def audit_entries(config: str) -> list[tuple[str, str, str | None, dict[str, Any]]]:
    from sqlalchemy import select

    from config.loader import load_settings
    from store import audit
    from store import models as m
    from store.db import open_store

    store = open_store(load_settings(Path(config)).store_url)
    try:
        with store.session() as session:
            assert audit.verify(session) is None  # the chain is intact
            rows = session.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id))
            return [(e.actor, e.action, e.target, dict(e.details)) for e in rows]
    finally:
        store.close()


def test_reddit_search_is_audited(sites: dict[str, HttpServer], tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Who searched Reddit for which name is in the hash-chained audit log, like every search."""
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    monkeypatch.setenv("RESURFACE_ACTOR", "analyst@test")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    config = str(write_config(tmp_path, sites["reddit"]))
    code, _, err = call(capsys, "--config", config, "reddit", "search", "velvet lounge", "--limit", "5")
    assert code == 0, err
    code, _, err = call(capsys, "--config", config, "reddit", "search", "Mia Moglie", "--format", "json")
    assert code == 0, err
    sites["reddit"].route("/subreddits/search/", Reply(200, {"Content-Type": "application/json"}, b"{not json"))
    code, _, err = call(capsys, "--config", config, "reddit", "search", "failing")
    assert code != 0 and "Reddit search for 'failing' failed" in err  # asked, so on record although it failed
    monkeypatch.delenv("REDDIT_CLIENT_ID")
    code, _, err = call(capsys, "--config", config, "reddit", "search", "not asked")
    assert code == 2 and "REDDIT_CLIENT_ID" in err  # nothing was searched: nothing to record
    reddit_url = sites["reddit"].base_url
    assert audit_entries(config) == [
        ("analyst@test", "reddit.search", "velvet lounge", {"limit": 5, "reddit_url": reddit_url}),
        ("analyst@test", "reddit.search", "Mia Moglie", {"limit": 25, "reddit_url": reddit_url}),
        ("analyst@test", "reddit.search", "failing", {"limit": 25, "reddit_url": reddit_url}),
    ]


def test_a_forum_recognised_at_crawl_time_is_then_crawled_by_its_own_crawler(
        http_server: HttpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy import func, select

    from service.app import App
    from service.crawl import crawl_once
    from store import models as m
    from tests.conftest import TEST_KEY

    install_phpbb(http_server)
    http_server.route("/", Reply.html(phpbb_page("index.html")))
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    settings = fast_settings()
    settings.data_dir = str(tmp_path / "data")
    app = App(settings)
    try:
        with app.store.session() as s:  # as `watch add` stores a forum it could not reach then
            row, _ = add_watch(s, WatchTarget("web", None, http_server.base_url))
            cid = row.id
        [first] = crawl_once(app)
        assert (first.source, first.outcome, first.stats.posts_new) == ("forum_detect", "ok", 6)
        with app.store.session() as s:
            stored = s.get(m.Community, cid)
            assert stored is not None and (stored.platform, stored.native_id) == ("phpbb", http_server.base_url)
        [second] = crawl_once(app)
        assert (second.source, second.outcome, second.stats.posts_new) == ("phpbb", "ok", 0)
        with app.store.session() as s:
            assert s.scalar(select(func.count()).select_from(m.Community)) == 1
            assert s.scalar(select(func.count()).select_from(m.Post)) == 6
    finally:
        app.close()
