"""Discourse crawler against a local JSON server with a 45-post topic, plus bad input through the runner."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from sqlalchemy import select

from config.settings import CrawlSettings, Settings
from crawlers.base import Target
from crawlers.errors import BadResponse, CrawlError, ResponseTooLarge
from crawlers.forums.discourse.source import DiscourseSource
from model.records import STATUS_DEFINITIVE, STATUS_EVIDENCE, CommunitySnapshot, CommunityStatus, Membership
from service.app import App
from service.crawl import crawl_once
from store import models as m
from store.watchlist import add_watch, parse_target
from tests.contract import check_records, last_cursor, posts_of
from tests.support.httpserver import HttpServer, RecordedRequest, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "discourse"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def install_discourse(server: HttpServer, latest: dict[str, Any] | None = None,
                      topic101: dict[str, Any] | None = None) -> None:
    all_posts = {p["id"]: p for p in fixture("t_101_all_posts.json")["all_posts"]}
    if topic101 is not None:
        all_posts.update({p["id"]: p for p in topic101["post_stream"]["posts"]})

    def posts_json(request: RecordedRequest) -> Reply:
        ids = [int(i) for i in parse_qs(request.query).get("post_ids[]", [])]
        return Reply.json({"post_stream": {"posts": [all_posts[i] for i in ids]}, "id": 101})

    server.route("/about.json", Reply.json(fixture("about.json")))
    server.route("/latest.json", Reply.json(latest or fixture("latest.json")))
    server.route("/latest.json?page=1", Reply.json(fixture("latest_page1.json")))
    server.route("/t/101.json", Reply.json(topic101 or fixture("t_101.json")))
    server.route("/t/101/posts.json", posts_json)
    server.route("/t/102.json", Reply.json(fixture("t_102.json")))


def fast_settings(**crawl: Any) -> Settings:
    return Settings(crawl=CrawlSettings(allow_private_addresses=True, default_rate_limit=1000.0, max_retries=0,
                                        **crawl))


def target(server: HttpServer, cursor: dict[str, Any] | None = None) -> Target:
    return Target(1, "discourse", None, server.base_url, native_id=server.base_url, cursor=cursor or {})


@pytest.fixture
def forum(http_server: HttpServer) -> HttpServer:
    install_discourse(http_server)
    return http_server


def crawl(server: HttpServer, cursor: dict[str, Any] | None = None, **crawl_settings: Any) -> list[Any]:
    source = DiscourseSource(fast_settings(**crawl_settings))
    try:
        return list(source.crawl(target(server, cursor)))
    finally:
        source.close()


def test_full_crawl_reads_every_post_of_a_45_post_topic(forum: HttpServer) -> None:
    records = crawl(forum)
    check_records(records, platform="discourse")
    snap = records[0]
    assert isinstance(snap, CommunitySnapshot)
    assert (snap.native_id, snap.title, snap.member_count) == (forum.base_url, "Coastline Forum", 311)
    posts = posts_of(records)
    t101 = [p for p in posts if p.thread_id == "101"]
    assert len(t101) == 44  # 45 minus the deleted one
    assert "20" not in {str(p.extra["post_number"]) for p in t101}
    assert next(p for p in posts if p.thread_id == "102").thread_title == "New rules"
    # 20 posts came with the topic, 25 through posts.json in chunks of 20
    chunks = [parse_qs(r.query)["post_ids[]"] for r in forum.requests_for("/t/101/posts.json")]
    assert [len(c) for c in chunks] == [20, 5]
    first = t101[0]
    assert first.url == f"{forum.base_url}/t/where-did-everyone-go/101/1"
    assert {link.url for link in first.links} == {"https://t.me/coast_backup"}
    assert first.author is not None and (first.author.handle, first.author.user_id) == ("lina_v", "3")
    assert next(p for p in t101 if p.extra["post_number"] == 12).edited_at is not None
    assert first.created_at is not None and first.created_at.tzinfo is not None
    assert {mb.member.handle for mb in records if isinstance(mb, Membership)} >= {"moonwalker", "lina_v"}
    assert forum.requests_for("/latest.json?page=1")  # paged through more_topics_url


def test_second_crawl_fetches_only_topics_with_new_posts(forum: HttpServer) -> None:
    first = crawl(forum)
    cursor = last_cursor(first)
    assert cursor["topics"] == {"101": 45, "102": 2}
    topic_requests = len(forum.requests_for("/t/101.json"))
    again = crawl(forum, cursor)
    check_records(again, platform="discourse")
    assert posts_of(again) == []
    assert len(forum.requests_for("/t/101.json")) == topic_requests

    latest = copy.deepcopy(fixture("latest.json"))
    latest["topic_list"]["topics"][0]["highest_post_number"] = 46
    topic = copy.deepcopy(fixture("t_101.json"))
    new_post = dict(topic["post_stream"]["posts"][1], id=5046, post_number=46, cooked="<p>Moved to r/coast2</p>")
    topic["post_stream"]["stream"].append(5046)
    all_posts = fixture("t_101_all_posts.json")["all_posts"]
    topic["post_stream"]["posts"] = all_posts[:20]
    install_discourse(forum, latest=latest, topic101={**topic, "post_stream": {**topic["post_stream"],
                                                                              "posts": [*all_posts[:20], new_post]}})
    third = crawl(forum, cursor)
    assert [p.native_post_id for p in posts_of(third)] == ["5046"]
    assert last_cursor(third)["topics"] == {"101": 46, "102": 2}


@pytest.mark.parametrize(("reply", "status"), [
    (Reply.json({"errors": ["not found"]}, status=404), CommunityStatus.DELETED),
    (Reply.json({"error_type": "not_logged_in"}, status=403), CommunityStatus.PRIVATE),
    (Reply.redirect("/login"), CommunityStatus.PRIVATE),
])
def test_gone_or_login_only_forum_gets_a_status(http_server: HttpServer, reply: Reply, status: str) -> None:
    http_server.route("/about.json", reply)
    http_server.route("/login", Reply.html("<html><body><form id='login-form'></form></body></html>"))
    records = crawl(http_server)
    check_records(records, platform="discourse")
    assert len(records) == 1 and isinstance(records[0], CommunitySnapshot) and records[0].status == status


ODD_POSTS: dict[str, dict[str, Any]] = {
    "comment-only cooked HTML": {"cooked": "<!-- moderated -->"},
    "comment-only cooked HTML hiding an image": {"cooked": "<!-- <img src='/uploads/a.png'> -->"},
    "NUL in cooked HTML": {"cooked": "<p>hello\x00 world</p>"},
    "cooked HTML with an encoding declaration": {"cooked": "<?xml version='1.0' encoding='latin-1'?><p>hi</p>"},
    "created_at far beyond year 9999": {"created_at": 10**20},
    "created_at a huge float": {"created_at": 1e300},
    "created_at an over-long digit string": {"created_at": "9" * 400},
    "updated_at overflowing on conversion to UTC": {"updated_at": "9999-12-31T23:59:59-01:00", "version": 2},
    "created_at underflowing on conversion to UTC": {"created_at": "0001-01-01T00:00:00+01:00"},
}


@pytest.mark.parametrize("case", list(ODD_POSTS))
def test_odd_post_does_not_stop_the_crawl_at_its_topic(forum: HttpServer, case: str) -> None:
    """A post that cannot be parsed fully keeps what can be read; the topic and its checkpoint
    complete, so later crawls do not fail at the same topic for ever."""
    topic = copy.deepcopy(fixture("t_102.json"))
    topic["post_stream"]["posts"][0].update(ODD_POSTS[case])
    forum.route("/t/102.json", Reply.json(topic))
    records = crawl(forum)
    check_records(records, platform="discourse")
    assert last_cursor(records)["topics"] == {"101": 45, "102": 2}
    odd = next(p for p in posts_of(records) if p.native_post_id == "6001")
    if "cooked" in ODD_POSTS[case]:
        assert "moderated" not in (odd.text or "") and odd.media == ()
        assert odd.created_at is not None
    else:  # an out-of-range time is unknown, not a crash
        assert odd.created_at is None if "created_at" in ODD_POSTS[case] else odd.created_at is not None
        assert odd.edited_at is None
        assert odd.text == "Please read the rules."
    assert next(p for p in posts_of(records) if p.native_post_id == "6002").text == "ok"


BAD_TOPIC_REPLIES: dict[str, Callable[[HttpServer], Reply]] = {
    "invalid JSON": lambda s: Reply(200, {"Content-Type": "application/json"}, b'{"post_stream": {"posts": [}'),
    "wrong content type": lambda s: Reply.html("<html><body>hello</body></html>"),
    "HTML error page with 200": lambda s: Reply.html("<html><title>Oops</title><body>Went wrong</body></html>"),
    "JSON missing fields": lambda s: Reply.json({"unexpected": True}),
    "redirect loop": lambda s: Reply.redirect("/t/101.json"),
    "50 MB response": lambda s: Reply.huge(50 * 1024 * 1024, content_type="application/json"),
}


@pytest.mark.parametrize("case", list(BAD_TOPIC_REPLIES))
def test_bad_topic_answers_end_the_crawl_with_an_error_naming_the_url(http_server: HttpServer, case: str) -> None:
    install_discourse(http_server)
    http_server.route("/t/101.json", BAD_TOPIC_REPLIES[case](http_server))
    with pytest.raises(CrawlError) as info:
        crawl(http_server, max_response_bytes=1024 * 1024)
    assert isinstance(info.value, BadResponse | ResponseTooLarge)
    assert "/t/101" in str(info.value)


def test_bad_forum_fails_alone_and_keeps_what_was_stored(app: App, http_server_factory: Callable[..., HttpServer],
                                                         caplog: pytest.LogCaptureFixture) -> None:
    good, bad = http_server_factory(), http_server_factory()
    install_discourse(good)
    install_discourse(bad)
    bad.route("/t/102.json", Reply(200, {"Content-Type": "application/json"}, b"not json at all"))
    app.settings.crawl.default_rate_limit = 1000.0
    app.settings.crawl.max_retries = 0
    with app.store.session() as session:
        ids = [add_watch(session, parse_target(s.base_url, "discourse"))[0].id for s in (bad, good)]
    with caplog.at_level(logging.WARNING, logger="resurface.crawl"):
        results = crawl_once(app)
    outcome = {r.community_id: r for r in results}
    assert outcome[ids[0]].outcome == "failed" and "/t/102.json" in (outcome[ids[0]].error or "")
    assert outcome[ids[1]].outcome == "ok"
    assert any("/t/102.json" in rec.getMessage() for rec in caplog.records)
    with app.store.session() as session:
        counts = {cid: len(list(session.scalars(select(m.Post.id).where(m.Post.community_id == cid))))
                  for cid in ids}
        bad_row = session.get(m.Community, ids[0])
        assert bad_row is not None and bad_row.title == "Coastline Forum"
    assert counts == {ids[0]: 44, ids[1]: 46}  # the bad forum keeps topic 101, stored before 102 failed


BAD_ITEMS: dict[str, tuple[str, Callable[[dict[str, Any]], None], str]] = {
    "post_number not a number": ("post", lambda p: p.update(post_number="abc"), "post_number"),
    "post without id": ("post", lambda p: p.pop("id"), "'id'"),
    "post that is not an object": ("post", lambda p: (p.clear(), p.update(id=[1, 2])), "'id'"),
    "topic id not a number": ("topic", lambda t: t.update(id="x"), "'id'"),
}


@pytest.mark.parametrize("case", list(BAD_ITEMS))
def test_an_item_with_wrong_types_is_skipped_with_its_url_and_field(
        forum: HttpServer, case: str, caplog: pytest.LogCaptureFixture) -> None:
    """Defect: ``post_number: "abc"`` or a post without ``id`` raised outside the crawl's errors, so every
    later crawl of the forum failed at the same topic. Now the item is skipped, the log names the URL
    and the field, and the rest of the page is kept."""
    what, spoil, field = BAD_ITEMS[case]
    if what == "post":
        topic = copy.deepcopy(fixture("t_102.json"))
        spoil(topic["post_stream"]["posts"][0])
        forum.route("/t/102.json", Reply.json(topic))
        url = "/t/102.json"
    else:
        latest = copy.deepcopy(fixture("latest_page1.json"))
        spoil(latest["topic_list"]["topics"][0])  # topic 102
        forum.route("/latest.json?page=1", Reply.json(latest))
        url = "/latest.json?page=1"
    with caplog.at_level(logging.WARNING, logger="crawlers.forums.discourse.source"):
        records = crawl(forum)
    check_records(records, platform="discourse")
    posts = posts_of(records)
    if what == "post":
        assert [p.native_post_id for p in posts if p.thread_id == "102"] == ["6002"]
        assert last_cursor(records)["topics"] == {"101": 45, "102": 2}
    else:
        assert {p.thread_id for p in posts} == {"101"}
    assert len([p for p in posts if p.thread_id == "101"]) == 44  # the rest of the forum is kept
    message = next(r.getMessage() for r in caplog.records if "skipped" in r.getMessage())
    assert url in message and field in message


@pytest.mark.parametrize(("reply", "status", "definitive"), [
    (Reply.json({"errors": ["not found"]}, status=404), CommunityStatus.DELETED, False),
    (Reply.html("<html><body>403 Forbidden</body></html>", status=403), CommunityStatus.PRIVATE, False),
    (Reply.json({"error_type": "not_logged_in"}, status=403), CommunityStatus.PRIVATE, True),
    (Reply.redirect("/login"), CommunityStatus.PRIVATE, True),
    (Reply.html("<html><body>gone</body></html>", status=410), CommunityStatus.DELETED, True),
])
def test_statuses_say_how_sure_they_are(http_server: HttpServer, reply: Reply, status: str, definitive: bool) -> None:
    """Defect: a single bare 403/404 on about.json was reported like a definitive shutdown."""
    http_server.route("/about.json", reply)
    http_server.route("/login", Reply.html("<html><body><form id='login-form'></form></body></html>"))
    records = crawl(http_server)
    snap = records[0]
    assert len(records) == 1 and isinstance(snap, CommunitySnapshot)
    assert (snap.status, snap.extra[STATUS_DEFINITIVE]) == (status, definitive)
    assert snap.extra[STATUS_EVIDENCE]


def test_a_topic_gone_since_it_was_listed_is_skipped(forum: HttpServer) -> None:
    forum.route("/t/102.json", Reply.json({"errors": ["The requested URL or resource could not be found."],
                                           "error_type": "not_found"}, status=404))
    records = crawl(forum)
    assert {p.thread_id for p in posts_of(records)} == {"101"}
