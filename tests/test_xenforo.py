"""XenForo 2 crawler against a local HTML server: pagination, edits, deletions, status, bad pages."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from config.settings import CrawlSettings, Settings
from crawlers.base import Target
from crawlers.errors import BadResponse, CrawlError
from crawlers.forums.xenforo.source import XenforoSource
from model.records import (
    STATUS_DEFINITIVE,
    STATUS_EVIDENCE,
    Checkpoint,
    CommunitySnapshot,
    CommunityStatus,
    Membership,
)
from tests.contract import check_records, last_cursor, posts_of
from tests.support.httpserver import HttpServer, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "xenforo"


def page(name: str) -> str:
    return (FIXTURES / name).read_text()


def install_xenforo(server: HttpServer) -> None:
    server.route("/", Reply.html(page("index.html")))
    server.route("/forums/harbour-talk.2/", Reply.html(page("forum_2.html")))
    server.route("/forums/harbour-talk.2/page-2", Reply.html(page("forum_2_page2.html")))
    server.route("/forums/announcements.3/", Reply.html(page("forum_3.html")))
    server.route("/threads/ferry-lost.20/", Reply.html(page("thread_20.html")))
    server.route("/threads/ferry-lost.20/page-2", Reply.html(page("thread_20_page2.html")))
    server.route("/threads/long-exposure-tips.21/", Reply.html(page("thread_21.html")))


def fast_settings(**crawl: Any) -> Settings:
    return Settings(crawl=CrawlSettings(allow_private_addresses=True, default_rate_limit=1000.0, max_retries=0,
                                        **crawl))


def crawl(server: HttpServer, cursor: dict[str, Any] | None = None, **crawl_settings: Any) -> list[Any]:
    source = XenforoSource(fast_settings(**crawl_settings))
    try:
        return list(source.crawl(Target(1, "xenforo", None, server.base_url, server.base_url, cursor or {})))
    finally:
        source.close()


@pytest.fixture
def forum(http_server: HttpServer) -> HttpServer:
    install_xenforo(http_server)
    return http_server


def test_crawl_reads_threads_posts_authors_and_times(forum: HttpServer) -> None:
    records = crawl(forum)
    check_records(records, platform="xenforo")
    snap = records[0]
    assert isinstance(snap, CommunitySnapshot)
    assert (snap.title, snap.description) == ("Night Ferry", "A community for late-night ferry photographers")
    posts = posts_of(records)
    assert [p.native_post_id for p in posts] == ["201", "202", "204", "205", "211"]  # 203 deleted
    by_id = {p.native_post_id: p for p in posts}
    assert by_id["201"].url == f"{forum.base_url}/threads/ferry-lost.20/post-201"
    assert by_id["201"].thread_title == "The ferry channel is lost" and by_id["201"].thread_id == "20"
    assert by_id["201"].author is not None and (by_id["201"].author.handle, by_id["201"].author.user_id) == (
        "deckhand", "11")
    assert by_id["204"].author is None  # guest
    assert by_id["201"].created_at is not None and by_id["201"].created_at.isoformat() == "2026-03-01T10:00:00+00:00"
    assert by_id["202"].created_at is not None and by_id["202"].created_at.isoformat() == "2026-03-01T09:30:00+00:00"
    assert by_id["202"].edited_at is not None and by_id["202"].edited_at.hour == 13
    assert "only Telegram" in (by_id["205"].text or "")
    urls = {link.url for p in posts for link in p.links}
    assert "https://t.me/night_ferry_2" in urls and any("discord.gg/ferryz" in u.lower() for u in urls)
    assert {mb.member.handle for mb in records if isinstance(mb, Membership)} == {"deckhand", "Marisol"}
    assert forum.requests_for("/forums/harbour-talk.2/page-2") and forum.requests_for("/threads/ferry-lost.20/page-2")
    assert sum(isinstance(x, Checkpoint) for x in records) == 3


def test_incremental_crawl_reads_only_changed_threads_from_their_last_page(forum: HttpServer) -> None:
    cursor = last_cursor(crawl(forum))
    again = crawl(forum, cursor)
    check_records(again, platform="xenforo")
    assert posts_of(again) == []
    assert len(forum.requests_for("/threads/ferry-lost.20/")) == 1

    forum.route("/forums/harbour-talk.2/", Reply.html(page("forum_2_updated.html")))
    forum.route("/threads/ferry-lost.20/page-2", Reply.html(page("thread_20_page2_more.html")))
    third = crawl(forum, cursor)
    assert [p.native_post_id for p in posts_of(third)] == ["206"]
    assert len(forum.requests_for("/threads/ferry-lost.20/")) == 1  # resumed at page 2, not page 1


def test_page_limit_stops_a_thread_and_the_next_crawl_continues(forum: HttpServer) -> None:
    first = crawl(forum, max_pages=1)
    assert "205" not in {p.native_post_id for p in posts_of(first)}
    second = crawl(forum, last_cursor(first), max_pages=1)
    assert "204" in {p.native_post_id for p in posts_of(second)}


@pytest.mark.parametrize(("reply", "status"), [
    (Reply.html(page("login.html"), status=403), CommunityStatus.PRIVATE),
    (Reply.html(page("login.html")), CommunityStatus.PRIVATE),
    (Reply.html("<html><body>gone</body></html>", status=410), CommunityStatus.DELETED),
])
def test_gone_or_login_only_forum_gets_a_status(http_server: HttpServer, reply: Reply, status: str) -> None:
    http_server.route("/", reply)
    records = crawl(http_server)
    check_records(records, platform="xenforo")
    assert len(records) == 1 and isinstance(records[0], CommunitySnapshot) and records[0].status == status


@pytest.mark.parametrize(("path", "reply", "message"), [
    ("/", Reply.html("<html><body><h1>Oops! We ran into some problems.</h1></body></html>"),
     "is not a XenForo board index"),
    ("/", Reply.json({"forums": []}), "expected HTML"),
    ("/forums/harbour-talk.2/", Reply.html("<html><body>maintenance</body></html>"), "no threads or forums"),
    ("/threads/ferry-lost.20/", Reply.redirect("/threads/ferry-lost.20/"), "redirect loop"),
    ("/threads/ferry-lost.20/", Reply.huge(50 * 1024 * 1024, content_type="text/html"), "exceeded the cap"),
])
def test_bad_pages_end_the_crawl_naming_the_url(forum: HttpServer, path: str, reply: Reply, message: str) -> None:
    forum.route(path, reply)
    with pytest.raises(CrawlError, match=message) as info:
        crawl(forum, max_response_bytes=1024 * 1024)
    assert forum.base_url in str(info.value)
    if "HTML" in message:
        assert isinstance(info.value, BadResponse)


def test_mentions_of_members_and_out_of_range_times_in_a_post(forum: HttpServer) -> None:
    """XenForo renders ``@name`` as a link to ``/members/name.id/``: no link to a person is stored.
    A timestamp whose UTC form overflows leaves the time unknown instead of failing the thread."""
    thread = page("thread_21.html").replace(
        '<div class="bbWrapper">Use a tripod.</div>',
        '<div class="bbWrapper"><a href="/members/marisol.12/" class="username" data-user-id="12">@Marisol</a> '
        'use a tripod, see <a href="https://forum.example.org/u/lina_v">lina</a> and '
        '<a href="https://t.me/ferry_tripods">t.me/ferry_tripods</a></div>',
    ).replace('datetime="2026-02-20T18:00:00+0000"', 'datetime="0001-01-01T00:00:00+0100"')
    forum.route("/threads/long-exposure-tips.21/", Reply.html(thread))
    records = crawl(forum)
    check_records(records, platform="xenforo")
    post = next(p for p in posts_of(records) if p.native_post_id == "211")
    assert [link.url for link in post.links] == ["https://t.me/ferry_tripods"]
    assert post.created_at is None
    threads = last_cursor(records)["threads"]
    assert isinstance(threads, dict) and "21" in threads  # the thread completed


def picture(seed: int) -> bytes:
    """A small generated picture, served from memory (never a file)."""
    out = io.BytesIO()
    Image.effect_mandelbrot((80, 80), (-2 + seed / 10, -1.2, 0.8, 1.2), 30 + seed).convert("RGB").save(out, "PNG")
    return out.getvalue()


# Markup modelled on the real XenForo 2 thread recording (trafilatura_villagersandheroes_thread_en.html):
# a quote is blockquote.bbCodeBlock--quote with a "said:" title; pictures are img.bbImage in the body and
# an attachment list below it (thumbnail linking to /attachments/name.N/). Fictional people and groups.
POST_WITH_PICTURES = (
    '<div class="bbWrapper"><blockquote class="bbCodeBlock bbCodeBlock--expandable bbCodeBlock--quote">'
    '<div class="bbCodeBlock-title"><a href="/goto/post?id=201" class="bbCodeBlock-sourceJump">deckhand said:</a>'
    '</div><div class="bbCodeBlock-content"><div class="bbCodeBlock-expandContent">Old channel: '
    '<a href="https://t.me/night_ferry_old">t.me/night_ferry_old</a></div>'
    '<div class="bbCodeBlock-expandLink"><a>Click to expand...</a></div></div></blockquote>'
    'Use a tripod <img src="data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7" '
    'class="smilie smilie--sprite smilie--sprite1" alt=":)" /> '
    '<img src="/proxy.php?image=pier.png" class="bbImage" alt="" loading="lazy" /> '
    '<a href="#">top</a></div></div>'
    '<section class="message-attachments"><h4 class="block-textHeader">Attachments</h4>'
    '<ul class="attachmentList"><li class="file file--linked">'
    '<a class="file-preview js-lbImage" href="/attachments/harbour-png.31/" target="_blank">'
    '<img src="/data/attachments/0/31-thumb.png" alt="harbour.png" loading="lazy" /></a></li></ul></section>'
)


def test_bbimages_and_attachments_are_fingerprinted_and_quotes_kept_apart(forum: HttpServer) -> None:
    """Defect: XenForo bbImage pictures and attachments were never fingerprinted, quotes were read as
    the author's words and ``href="#"`` became a link to the thread itself."""
    inline, attached = picture(2), picture(9)
    thread = page("thread_21.html").replace('<div class="bbWrapper">Use a tripod.</div></div>', POST_WITH_PICTURES)
    forum.route("/threads/long-exposure-tips.21/", Reply.html(thread))
    forum.route("/proxy.php?image=pier.png", Reply(200, {"Content-Type": "image/png"}, inline))
    forum.route("/attachments/harbour-png.31/", Reply(200, {"Content-Type": "image/png"}, attached))
    records = crawl(forum)
    check_records(records, platform="xenforo")
    post = next(p for p in posts_of(records) if p.native_post_id == "211")
    assert {fp.sha256 for fp in post.media} == {hashlib.sha256(inline).hexdigest(),
                                                hashlib.sha256(attached).hexdigest()}
    assert all(fp.pdq is not None for fp in post.media)
    assert not forum.requests_for("/data/attachments/0/31-thumb.png")  # the full-size attachment instead
    assert post.text == "Use a tripod top"  # the quote ("Old channel: …") is not the author's text
    assert post.links == ()
    assert post.extra["quoted_links"] == ["https://t.me/night_ferry_old"]


def test_an_article_page_listed_as_a_thread_is_skipped_not_read_as_posts(forum: HttpServer) -> None:
    """A page whose XenForo template is not a thread (an article add-on page) is skipped with a log line."""
    article = page("thread_21.html").replace('data-template="thread_view"', 'data-template="xa_ams_article_view"')
    assert article != page("thread_21.html")
    forum.route("/threads/long-exposure-tips.21/", Reply.html(article))
    records = crawl(forum)
    assert "211" not in {p.native_post_id for p in posts_of(records)}
    assert {p.native_post_id for p in posts_of(records)} == {"201", "202", "204", "205"}


@pytest.mark.parametrize(("reply", "status", "definitive"), [
    (Reply.html(page("login.html"), status=403), CommunityStatus.PRIVATE, True),
    (Reply.html("<html><body>Forbidden</body></html>", status=403), CommunityStatus.PRIVATE, False),
    (Reply.html("<html><body>Not Found</body></html>", status=404), CommunityStatus.DELETED, False),
    (Reply.html("<html><body>Unavailable</body></html>", status=451), CommunityStatus.REMOVED, True),
])
def test_statuses_say_how_sure_they_are(http_server: HttpServer, reply: Reply, status: str, definitive: bool) -> None:
    http_server.route("/", reply)
    records = crawl(http_server)
    snap = records[0]
    assert len(records) == 1 and isinstance(snap, CommunitySnapshot)
    assert (snap.status, snap.extra[STATUS_DEFINITIVE]) == (status, definitive)
    assert snap.extra[STATUS_EVIDENCE]
