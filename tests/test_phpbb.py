"""phpBB (prosilver) crawler against a local HTML server: pagination, edits, deletions, status."""

from __future__ import annotations

import hashlib
import io
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from sqlalchemy import select

from config.settings import CrawlSettings, Settings
from crawlers.base import Target
from crawlers.errors import BadResponse, RateLimited
from crawlers.forums.dates import board_clock
from crawlers.forums.phpbb.source import PhpbbDialect, PhpbbSource, parse_display_time
from model.records import (
    STATUS_DEFINITIVE,
    STATUS_EVIDENCE,
    Checkpoint,
    CommunitySnapshot,
    CommunityStatus,
    Membership,
)
from service.app import App
from service.crawl import crawl_once
from store import models as m
from store.watchlist import add_watch, parse_target
from tests.contract import check_records, last_cursor, posts_of
from tests.support.httpserver import HttpServer, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "phpbb"


def page(name: str) -> str:
    return (FIXTURES / name).read_text()


def install_phpbb(server: HttpServer) -> None:
    server.route("/index.php", Reply.html(page("index.html")))
    server.route("/viewforum.php?f=2", Reply.html(page("forum_2.html")))
    server.route("/viewforum.php?f=2&start=25", Reply.html(page("forum_2_start25.html")))
    server.route("/viewforum.php?f=3", Reply.html(page("forum_3.html")))
    server.route("/viewtopic.php?t=10", Reply.html(page("topic_10.html")))
    server.route("/viewtopic.php?t=10&start=3", Reply.html(page("topic_10_start3.html")))
    server.route("/viewtopic.php?t=11", Reply.html(page("topic_11.html")))


def fast_settings() -> Settings:
    return Settings(crawl=CrawlSettings(allow_private_addresses=True, default_rate_limit=1000.0, max_retries=0))


def crawl(server: HttpServer, cursor: dict[str, Any] | None = None) -> list[Any]:
    source = PhpbbSource(fast_settings())
    try:
        return list(source.crawl(Target(1, "phpbb", None, server.base_url, server.base_url, cursor or {})))
    finally:
        source.close()


@pytest.fixture
def board(http_server: HttpServer) -> HttpServer:
    install_phpbb(http_server)
    return http_server


def test_crawl_walks_forums_threads_and_pages(board: HttpServer) -> None:
    records = crawl(board)
    check_records(records, platform="phpbb")
    snap = records[0]
    assert isinstance(snap, CommunitySnapshot)
    assert (snap.native_id, snap.title, snap.description) == (board.base_url, "Harbour Lights Board",
                                                              "Night photography, meetups and more")
    posts = posts_of(records)
    assert [p.native_post_id for p in posts] == ["101", "102", "104", "105", "106", "111"]  # 103 was deleted
    by_id = {p.native_post_id: p for p in posts}
    assert by_id["101"].thread_title == "Where did everyone go?" and by_id["101"].thread_id == "10"
    assert by_id["101"].url == f"{board.base_url}/viewtopic.php?p=101#p101"
    assert by_id["101"].author is not None and (by_id["101"].author.handle, by_id["101"].author.user_id) == (
        "moonwalker", "2")
    assert by_id["104"].author is None  # a guest
    # timestamps with and without the colon in the offset
    assert by_id["101"].created_at is not None and by_id["101"].created_at.isoformat() == "2026-03-01T10:00:00+00:00"
    assert by_id["102"].created_at is not None and by_id["102"].created_at.isoformat() == "2026-03-01T10:15:00+00:00"
    assert by_id["102"].edited_at is not None and by_id["102"].edited_at.hour == 11
    assert by_id["101"].edited_at is None
    urls = {link.url for p in posts for link in p.links}
    assert "https://t.me/harbour_lights_new" in urls
    assert any("discord.gg/harbourx" in u.lower() for u in urls)
    # 105 quotes 101: the quote is 101's words, not 105's (defect: quotes were mixed into the text)
    assert by_id["105"].text == "Joined, thanks"
    assert {mb.member.handle for mb in records if isinstance(mb, Membership)} == {"moonwalker", "lina_v", "quietfox"}
    # a checkpoint after each thread page; the second forum page and the second thread page were followed
    assert sum(isinstance(x, Checkpoint) for x in records) == 3
    assert board.requests_for("/viewforum.php?f=2&start=25") and board.requests_for("/viewtopic.php?t=10&start=3")
    assert len(board.requests_for("/viewtopic.php?t=10")) == 1  # listed in two forums, read once


def test_second_crawl_skips_unchanged_threads_and_resumes_at_the_last_page(board: HttpServer) -> None:
    cursor = last_cursor(crawl(board))
    assert cursor["threads"] == {"11": {"page": f"{board.base_url}/viewtopic.php?t=11", "last": "111", "marker": "111"},
                                 "10": {"page": f"{board.base_url}/viewtopic.php?t=10&start=3", "last": "106",
                                        "marker": "106"}}
    again = crawl(board, cursor)
    check_records(again, platform="phpbb")
    assert posts_of(again) == []
    assert len(board.requests_for("/viewtopic.php?t=10&start=3")) == 1

    forum = page("forum_2.html").replace("p=106#p106", "p=107#p107")
    board.route("/viewforum.php?f=2", Reply.html(forum))
    board.route("/viewforum.php?f=3", Reply.html(forum))
    board.route("/viewtopic.php?t=10&start=3", Reply.html(page("topic_10_start3_more.html")))
    third = crawl(board, cursor)
    assert [p.native_post_id for p in posts_of(third)] == ["107"]
    assert not board.requests_for("/viewtopic.php?t=11")[1:]  # thread 11 unchanged: fetched only the first time


@pytest.mark.parametrize(("reply", "status"), [
    (Reply.html(page("login.html")), CommunityStatus.PRIVATE),
    (Reply.html("<html><body>Forbidden</body></html>", status=403), CommunityStatus.PRIVATE),
    (Reply.html("<html><body>Not Found</body></html>", status=404), CommunityStatus.DELETED),
])
def test_gone_or_login_only_board_gets_a_status(http_server: HttpServer, reply: Reply, status: str) -> None:
    http_server.route("/index.php", reply)
    records = crawl(http_server)
    check_records(records, platform="phpbb")
    assert len(records) == 1 and isinstance(records[0], CommunitySnapshot) and records[0].status == status


def test_error_page_served_with_200_is_a_bad_response(http_server: HttpServer) -> None:
    http_server.route("/index.php", Reply.html("<html><title>Database error</title><body>SQL ERROR</body></html>"))
    with pytest.raises(BadResponse, match=r"index\.php is not a phpBB board index"):
        crawl(http_server)


def test_thread_page_without_posts_is_a_bad_response_after_earlier_pages(board: HttpServer) -> None:
    board.route("/viewtopic.php?t=10&start=3", Reply.html("<html><body><h2 class='topic-title'>x</h2></body></html>"))
    source = PhpbbSource(fast_settings())
    seen: list[Any] = []
    with pytest.raises(BadResponse, match=r"t=10&start=3: no posts found"):
        for record in source.crawl(Target(1, "phpbb", None, board.base_url, board.base_url)):
            seen.append(record)
    source.close()
    assert [p.native_post_id for p in posts_of(seen)] == ["101", "102"]  # the first page came through
    assert isinstance(seen[-1], Checkpoint)


def test_parse_display_time_and_dialect_on_missing_elements() -> None:
    from parsel import Selector

    assert parse_display_time("Sun Mar 01, 2026 11:00 am") is not None
    assert parse_display_time("yesterday") is None
    empty = PhpbbDialect().thread(Selector(text="<html></html>"), "http://x/viewtopic.php?t=1")
    assert empty.posts == [] and empty.next_url is None


def test_profile_links_and_out_of_range_times_in_a_post(board: HttpServer) -> None:
    """A post quoting a member's profile link stores no link to that person, and a timestamp
    beyond year 9999 in UTC does not fail the thread for ever: the date the page prints is read instead."""
    topic = page("topic_11.html").replace(
        '<div class="content">Photos from the meetup are in the gallery.</div>',
        '<div class="content">Ask <a href="./memberlist.php?mode=viewprofile&amp;u=7">lina_v</a> or '
        '<a href="https://www.reddit.com/user/quietfox">u/quietfox</a>; new board: '
        '<a href="https://t.me/harbour_meetups">t.me/harbour_meetups</a></div>',
    ).replace('datetime="2026-02-20T18:00:00+00:00"', 'datetime="9999-12-31T23:59:59-01:00"')
    board.route("/viewtopic.php?t=11", Reply.html(topic))
    records = crawl(board)
    check_records(records, platform="phpbb")
    post = next(p for p in posts_of(records) if p.native_post_id == "111")
    assert [link.url for link in post.links] == ["https://t.me/harbour_meetups"]
    assert post.created_at == datetime(2026, 3, 1, tzinfo=UTC)  # printed "Sun Mar 01, 2026"
    threads = last_cursor(records)["threads"]
    assert isinstance(threads, dict) and threads["11"]["last"] == "111"  # the thread completed


def picture(seed: int) -> bytes:
    """A small generated picture, served from memory (never a file)."""
    out = io.BytesIO()
    Image.effect_mandelbrot((96, 64), (-2 + seed / 10, -1.2, 0.8, 1.2), 30 + seed).convert("RGB").save(out, "PNG")
    return out.getvalue()


def test_attachment_pictures_are_fingerprinted_and_stored(app: App, board: HttpServer) -> None:
    """Defect: phpBB inline attachments and attachbox thumbnails were never fingerprinted. Through the
    runner into the store: each picture the board shows has a stored fingerprint (the full-size file
    for a thumbnail), smilies and pictures inside quotes are not fetched, no bytes are kept."""
    inline, attached = picture(1), picture(7)
    board.route("/viewtopic.php?t=11", Reply.html(page("topic_11_it_pictures.html")))
    board.route("/download/file.php?id=7", Reply(200, {"Content-Type": "image/png"}, inline))
    board.route("/download/file.php?id=8", Reply(200, {"Content-Type": "image/png"}, attached))
    app.settings.crawl.default_rate_limit = 1000.0
    app.settings.crawl.max_retries = 0
    with app.store.session() as session:
        community_id = add_watch(session, parse_target(board.base_url, "phpbb"))[0].id
    results = crawl_once(app)
    assert [r.outcome for r in results] == ["ok"]
    with app.store.session() as session:
        post = session.scalars(select(m.Post).where(m.Post.community_id == community_id,
                                                    m.Post.native_post_id == "111")).one()
        stored = set(session.scalars(select(m.MediaFingerprint.sha256).where(m.MediaFingerprint.post_id == post.id)))
        quoting = session.scalars(select(m.Post).where(m.Post.community_id == community_id,
                                                       m.Post.native_post_id == "112")).one()
        quoted_media = list(session.scalars(select(m.MediaFingerprint).where(m.MediaFingerprint.post_id == quoting.id)))
    assert stored == {hashlib.sha256(inline).hexdigest(), hashlib.sha256(attached).hexdigest()}
    assert quoted_media == []  # the picture in the quote is lina_v's, fingerprinted on her post
    assert not board.requests_for("/download/file.php?id=8&t=1")  # full size, not the thumbnail
    assert not [r for r in board.requests if "smilies" in r.path]


def test_text_dates_in_the_boards_language_and_zone(board: HttpServer) -> None:
    """Defect: a style printing dates as text ("lun 03 set 2018, 10:44", Italian, board in Europe/Rome)
    stored posts with no date. Summer time (+02:00) and winter time (+01:00) both convert to UTC."""
    board.route("/viewtopic.php?t=11", Reply.html(page("topic_11_it_pictures.html")))
    records = crawl(board)
    by_id = {p.native_post_id: p for p in posts_of(records)}
    assert by_id["111"].created_at == datetime(2018, 9, 3, 8, 44, tzinfo=UTC)
    assert by_id["111"].edited_at == datetime(2018, 9, 5, 8, 44, tzinfo=UTC)
    assert by_id["112"].created_at == datetime(2018, 12, 1, 22, 5, tzinfo=UTC)
    assert all(p.created_at is not None for p in posts_of(records))


@pytest.mark.parametrize(("page_html", "printed", "expected"), [
    ('<html lang="en-gb"><body><p>All times are UTC</p></body></html>', "05 Sep 2018 10:44",
     datetime(2018, 9, 5, 10, 44, tzinfo=UTC)),
    ('<html lang="en-gb"><body><p>All times are UTC</p></body></html>', "Mon May 21, 2007 4:03 pm",
     datetime(2007, 5, 21, 16, 3, tzinfo=UTC)),
    ("<html><body><span class='gensmall'>All times are GMT + 2 Hours</span></body></html>",
     "Posted: Sat Sep 01, 2007 6:59 am", datetime(2007, 9, 1, 4, 59, tzinfo=UTC)),
    ('<html lang="it"><body><li>Tutti gli orari sono <span title="Europe/Rome">UTC+01:00</span></li></body></html>',
     "05 set 2018, 10:44", datetime(2018, 9, 5, 8, 44, tzinfo=UTC)),
    ('<html lang="de"><body><li>Alle Zeiten sind <span title="Europe/Berlin">UTC+01:00</span></li></body></html>',
     "Mo 3. Sep 2018, 10:44", datetime(2018, 9, 3, 8, 44, tzinfo=UTC)),
    ('<html xml:lang="de"><body><p>Alle Zeiten sind UTC - 5 Stunden [ DST ]</p></body></html>',
     "Mo 3. Sep 2018, 10:44", datetime(2018, 9, 3, 14, 44, tzinfo=UTC)),
])
def test_printed_dates_in_any_language(page_html: str, printed: str, expected: datetime) -> None:
    from parsel import Selector

    assert parse_display_time(printed, board_clock(Selector(text=page_html))) == expected


def test_a_page_naming_no_zone_reads_dates_as_utc_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    from parsel import Selector

    with caplog.at_level(logging.INFO, logger="crawlers.forums.dates"):
        clock = board_clock(Selector(text='<html lang="fr"><body></body></html>'), "http://b/viewtopic.php?t=1")
    assert (clock.language, clock.zone_known) == ("fr", False)
    assert parse_display_time("03 sept. 2018, 10:44", clock) == datetime(2018, 9, 3, 10, 44, tzinfo=UTC)
    assert any("names no time zone" in r.getMessage() and "t=1" in r.getMessage() for r in caplog.records)


def test_quotes_are_not_the_authors_words_and_anchors_are_not_links(board: HttpServer) -> None:
    """Defect: quoted blocks were mixed into the post's text and links, and ``href="#"`` became a link
    to the thread itself. Quoted links are kept apart, in ``extra["quoted_links"]``."""
    board.route("/viewtopic.php?t=11", Reply.html(page("topic_11_it_pictures.html")))
    by_id = {p.native_post_id: p for p in posts_of(crawl(board))}
    assert by_id["112"].text == "Entrato, grazie"
    assert by_id["112"].links == ()
    assert by_id["112"].extra["quoted_links"] == ["https://t.me/harbour_nuovo"]
    assert [link.url for link in by_id["111"].links] == ["https://t.me/harbour_nuovo"]  # "#" is no link
    assert "Il vecchio gruppo" in (by_id["111"].text or "")


@pytest.mark.parametrize(("reply", "status", "definitive"), [
    (Reply.html(page("login.html")), CommunityStatus.PRIVATE, True),
    (Reply.html(page("login.html"), status=403), CommunityStatus.PRIVATE, True),
    (Reply.html("<html><body>Forbidden</body></html>", status=403), CommunityStatus.PRIVATE, False),
    (Reply.html("<html><body>Not Found</body></html>", status=404), CommunityStatus.DELETED, False),
    (Reply.html("<html><body>Gone</body></html>", status=410), CommunityStatus.DELETED, True),
    # phpBB 3.0 prosilver's message page, answered with 200 while the board is disabled
    (Reply.html('<html><body id="phpbb"><div id="message" class="panel"><div class="inner"><h2>Information</h2>'
                "<p>The board is currently disabled.</p></div></div></body></html>"),
     CommunityStatus.UNREACHABLE, False),
])
def test_statuses_say_how_sure_they_are(http_server: HttpServer, reply: Reply, status: str, definitive: bool) -> None:
    """Defect: a single bare 403/404 was reported like a definitive shutdown."""
    http_server.route("/index.php", reply)
    records = crawl(http_server)
    check_records(records, platform="phpbb")
    snap = records[0]
    assert len(records) == 1 and isinstance(snap, CommunitySnapshot)
    assert (snap.status, snap.extra[STATUS_DEFINITIVE]) == (status, definitive)
    assert snap.extra[STATUS_EVIDENCE]


def test_rate_limiting_is_not_a_status(http_server: HttpServer) -> None:
    http_server.route("/index.php", Reply(429, {"Retry-After": "30"}, b"Too Many Requests"))
    with pytest.raises(RateLimited):
        crawl(http_server)


def test_a_topic_the_board_says_does_not_exist_is_skipped_not_fatal(board: HttpServer) -> None:
    """phpBB 3.0 answers a deleted topic with 200 and its message page: the crawl goes on."""
    board.route("/viewtopic.php?t=11", Reply.html(
        '<html lang="en-gb"><body id="phpbb"><div id="message" class="panel"><div class="inner">'
        "<h2>Information</h2><p>The requested topic does not exist.</p></div></div></body></html>"))
    records = crawl(board)
    assert [p.native_post_id for p in posts_of(records)] == ["101", "102", "104", "105", "106"]
