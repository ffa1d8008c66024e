"""Pieces the demo world relies on: group authors on t.me previews, Discourse post images, the world's servers."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import httpx
import pytest

from config.settings import CrawlSettings, Settings
from crawlers.base import Target
from crawlers.forums.discourse.source import DiscourseSource, image_urls
from crawlers.media import fingerprint_image
from crawlers.telegram.web_parse import parse_channel_page
from demoworld import images
from demoworld import scenario as sc
from demoworld.servers import run_world
from demoworld.tme_pages import Channel, Msg, channel_page
from model.records import Post
from tests.support.httpserver import HttpServer, Reply

GROUP = Channel("prova_gruppo", "Gruppo di Prova", 1234567890, counter_label="members", subscribers="321", photo=None)


def test_group_preview_yields_author_usernames_not_display_names() -> None:
    page = channel_page(GROUP, [
        Msg(1, "ciao", author="gufo_grigio", author_name="Gufo G. 🦉"),
        Msg(2, "post by the group itself"),
        Msg(3, "anonymous admin", signature="Amministratore"),
    ])
    parsed = parse_channel_page(page, "https://t.me/s/prova_gruppo")
    by_id = {m.post_id: m for m in parsed.messages}
    assert by_id[1].author_handle == "gufo_grigio"
    assert by_id[2].author_handle is None  # the owner link points at the group: no member
    assert (by_id[3].author_handle, by_id[3].signature) == (None, "Amministratore")
    assert parsed.member_count == 321


def test_image_urls_keep_pictures_and_skip_emoji_avatars_and_duplicates() -> None:
    cooked = ('<p>look <img src="/images/emoji/twitter/fire.png" class="emoji" alt=":fire:"></p>'
              '<a class="lightbox" href="/uploads/original/a.jpeg"><img src="/uploads/optimized/a.jpeg"></a>'
              '<img src="https://cdn.example.org/b.png"><img src="/uploads/optimized/a.jpeg">'
              '<img class="avatar" src="/user_avatar/x.png"><img src="data:image/png;base64,AAAA">')
    assert image_urls(cooked, "https://forum.example.org") == [
        "https://forum.example.org/uploads/optimized/a.jpeg", "https://cdn.example.org/b.png"]
    assert image_urls("<p>no pictures</p>", "https://forum.example.org") == []


def _install_topic(server: HttpServer, cooked: str) -> None:
    server.route("/about.json", Reply.json({"about": {"title": "Forum", "stats": {"users_count": 3}}}))
    server.route("/latest.json", Reply.json({"topic_list": {"topics": [
        {"id": 7, "slug": "pics", "title": "Pics", "highest_post_number": 1}]}}))
    post = {"id": 70, "post_number": 1, "username": "someone", "user_id": 9, "created_at": "2026-01-02T10:00:00Z",
            "cooked": cooked}
    server.route("/t/7.json", Reply.json({"id": 7, "slug": "pics", "title": "Pics",
                                          "post_stream": {"posts": [post], "stream": [70]}}))


def _crawl_posts(server: HttpServer, **crawl: object) -> list[Post]:
    settings = Settings(crawl=CrawlSettings(allow_private_addresses=True, default_rate_limit=1000.0, max_retries=0,
                                            **crawl))  # type: ignore[arg-type]
    source = DiscourseSource(settings)
    try:
        records = list(source.crawl(Target(1, "discourse", None, server.base_url, native_id=server.base_url)))
    finally:
        source.close()
    return [r for r in records if isinstance(r, Post)]


def test_discourse_posts_carry_fingerprints_of_their_images(http_server: HttpServer) -> None:
    picture = images.original(3)
    http_server.route("/uploads/p.jpg", Reply(200, {"Content-Type": "image/jpeg"}, picture))
    _install_topic(http_server, '<p>foto</p><img src="/uploads/p.jpg"><img src="/uploads/missing.jpg">')
    (post,) = _crawl_posts(http_server)
    expected = fingerprint_image(picture, max_pixels=40_000_000)
    assert expected is not None
    assert [(f.sha256, f.pdq) for f in post.media] == [(expected.sha256, expected.pdq)]
    assert post.media[0].source_url == f"{http_server.base_url}/uploads/p.jpg"


def test_discourse_image_over_the_byte_limit_is_skipped_and_the_post_kept(
        http_server: HttpServer, caplog: pytest.LogCaptureFixture) -> None:
    http_server.route("/uploads/big.jpg", Reply(200, {"Content-Type": "image/jpeg"}, images.original(4)))
    _install_topic(http_server, '<p>big one</p><img src="/uploads/big.jpg">')
    with caplog.at_level(logging.WARNING):
        (post,) = _crawl_posts(http_server, max_image_bytes=1000)
    assert post.media == () and post.text == "big one"
    assert "big.jpg" in caplog.text


def test_discourse_media_off_fetches_no_images(http_server: HttpServer) -> None:
    http_server.route("/uploads/p.jpg", Reply(200, {"Content-Type": "image/jpeg"}, images.original(5)))
    _install_topic(http_server, '<img src="/uploads/p.jpg">')
    (post,) = _crawl_posts(http_server, fetch_media=False)
    assert post.media == ()
    assert not [r for r in http_server.requests if r.path.startswith("/uploads/")]


def test_world_servers_switch_phase_and_serve_pictures_from_memory() -> None:
    scenario = sc.build(datetime(2026, 3, 1, 12, 0, tzinfo=UTC))
    with run_world(scenario) as running, httpx.Client() as client:
        tme = running.world.tme_url
        first = client.get(f"{tme}/s/cortile_segreto")
        assert first.status_code == 200
        page = parse_channel_page(first.text, f"{tme}/s/cortile_segreto")
        assert {m.author_handle for m in page.messages} >= set(sc.GROUP_MEMBERS)
        assert "https://t.me/+R1serva7xQ" in page.messages[-1].hrefs
        picture = client.get(f"{tme}/file/orig-2.jpg")
        assert picture.content == images.original(2)
        assert client.get(f"{tme}/file/../../etc/passwd").status_code == 404
        running.world.phase_number = 2
        gone = client.get(f"{tme}/s/cortile_segreto")
        assert gone.status_code == 302 and gone.headers["location"] == "/cortile_segreto"
        reddit = client.get(f"{running.world.reddit_url}/r/cortilesegreto/about/")
        assert reddit.status_code == 404 and reddit.json()["reason"] == "banned"
