"""telegram_web against a real local HTTP server serving t.me pages (the spider runs in its own
process, as in production)."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import cast

import pytest
from PIL import Image
from sqlalchemy import func, select

from config.settings import CrawlSettings, Settings, TelegramSettings
from crawlers import errors
from crawlers.base import Target, registered
from crawlers.telegram.web import TelegramWebSource
from model import records as r
from service.app import App
from service.crawl import crawl_once
from store import models as m
from tests.contract import check_records, last_cursor, posts_of
from tests.fixtures.telegram.builder import NIGHTOWL, Channel, Msg, channel_page, read, showcase_messages
from tests.support.httpserver import HttpServer, RecordedRequest, Reply

HANDLE = NIGHTOWL.handle
IMAGES = ["p102.jpg", "p104a.jpg", "p104b.jpg", "p104c.jpg", "v112.jpg"]


def jpeg(seed: int) -> bytes:
    image = Image.effect_mandelbrot((96, 96), (-2.0 + seed * 0.15, -1.2, 0.8, 1.2), 60).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def make_settings(tmp_path: Path, base_url: str, **crawl: object) -> Settings:
    options: dict[str, object] = {"allow_private_addresses": True, "default_rate_limit": 200.0, "max_retries": 1,
                                  "timeout_seconds": 5.0, **crawl}
    s = Settings(data_dir=str(tmp_path / "data"), crawl=CrawlSettings(**options),  # type: ignore[arg-type]
                 telegram=TelegramSettings(web_base_url=base_url))
    s.base_dir = tmp_path
    return s


def serve_channel(server: HttpServer, channel: Channel = NIGHTOWL, newest: list[Msg] | None = None,
                  older: list[Msg] | None = None) -> None:
    """Two pages: the showcase (ids 101..120) and an older page (81..100)."""
    newest = showcase_messages() if newest is None else newest
    older = [Msg(i, f"older post {i}") for i in range(81, 101)] if older is None else older
    low = min(m.id for m in newest)
    server.route(f"/s/{channel.handle}", Reply.html(channel_page(channel, newest, before=low if older else None,
                                                                 img_base=server.base_url)))
    if older:
        server.route(f"/s/{channel.handle}?before={low}",
                     Reply.html(channel_page(channel, older, img_base=server.base_url)))
    for i, name in enumerate(IMAGES):
        server.route(f"/file/{name}", Reply(200, {"Content-Type": "image/jpeg"}, jpeg(i)))


def target(handle: str = HANDLE, native_id: str | None = None, cursor: dict[str, object] | None = None) -> Target:
    return Target(1, "telegram", handle, f"https://t.me/{handle}", native_id, cursor or {})


@pytest.fixture
def source_for(tmp_path: Path) -> Iterator[Callable[..., TelegramWebSource]]:
    made: list[TelegramWebSource] = []

    def make(server: HttpServer, **kwargs: object) -> TelegramWebSource:
        networks = kwargs.pop("allowed_networks", ())
        source = TelegramWebSource(make_settings(tmp_path, server.base_url, **kwargs),
                                   allowed_networks=networks)  # type: ignore[arg-type]
        made.append(source)
        return source

    yield make
    for source in made:
        source.close()


def test_both_telegram_sources_are_registered() -> None:
    sources = registered()
    assert sources["telegram_web"].platform == "telegram"
    assert sources["telegram_api"].platform == "telegram"


def test_a_crawl_reads_header_posts_links_forwards_albums_and_fingerprints(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    serve_channel(http_server)
    records = list(source_for(http_server).crawl(target()))
    check_records(records, platform="telegram")
    snap = records[0]
    assert isinstance(snap, r.CommunitySnapshot)
    assert (snap.native_id, snap.handle, snap.title, snap.member_count, snap.status) == (
        "1739204581", HANDLE, "Night Owl Archive 🦉", 12500, "active")
    posts = {p.native_post_id: p for p in posts_of(records)}
    assert sorted(map(int, posts)) == [*range(81, 105), *range(107, 121)]
    assert posts["101"].links[0].url == "https://t.me/nightowl_backup"
    fwd = posts["102"].forwarded_from
    assert fwd is not None and (fwd.handle, fwd.post_id, fwd.hidden) == ("mooncellar", "88", False)
    assert posts["103"].forwarded_from == r.ForwardRef("telegram", hidden=True)
    assert len(posts["104"].media) == 3 and posts["104"].extra["album_ids"] == [105, 106]
    assert all(fp.pdq and fp.pdq_quality is not None for fp in posts["104"].media)
    assert posts["112"].media[0].kind == "video_thumb"
    assert {link.url for link in posts["107"].links} >= {"https://example.org/news/ban-wave"}
    assert posts["107"].extra["link_preview"]["title"] == "Platforms ban wave"
    invites = [link for link in posts["111"].links if link.is_private]
    assert invites and invites[0].invite_code == "AbCdEfGhIjKlMnOp"
    assert (posts["108"].kind, posts["108"].service_action, posts["108"].service_value) == (
        "service", "title_changed", "Night Owl Vault 🦉")
    assert posts["109"].text and "مرحبا" in posts["109"].text and "🦉" in posts["109"].text
    assert all(p.author is None for p in posts.values())  # a channel has no authors
    checkpoints = [x for x in records if isinstance(x, r.Checkpoint)]
    assert len(checkpoints) == 2 and checkpoints[-1].cursor == {"last_post_id": 120}
    # Each checkpoint follows its own page's posts.
    first_cp = records.index(checkpoints[0])
    assert {p.native_post_id for p in posts_of(records[:first_cp])} == {str(i) for i in
                                                                          [*range(101, 105), *range(107, 121)]}


def test_the_next_crawl_reads_only_new_pages_and_posts(http_server: HttpServer,
                                                       source_for: Callable[..., TelegramWebSource]) -> None:
    serve_channel(http_server, newest=[*showcase_messages()[5:], Msg(121, "new one"), Msg(122, "and another")])
    records = list(source_for(http_server).crawl(target(native_id="1739204581", cursor={"last_post_id": 120})))
    check_records(records, platform="telegram")
    assert [p.native_post_id for p in posts_of(records)] == ["121", "122"]
    assert last_cursor(records) == {"last_post_id": 122}
    assert [q.path for q in http_server.requests if q.path.startswith("/s/")] == [f"/s/{HANDLE}"]


def test_a_killed_crawl_resumes_from_its_last_page(http_server: HttpServer,
                                                   source_for: Callable[..., TelegramWebSource]) -> None:
    serve_channel(http_server)
    source = source_for(http_server)
    first: list[r.Record] = []
    gen = cast(Generator[r.Record, None, None], source.crawl(target(cursor={"last_post_id": 50})))
    for record in gen:
        first.append(record)
        if isinstance(record, r.Checkpoint):
            gen.close()  # the process dies right after storing the first page
            break
    cursor = last_cursor(first)
    gap = cursor["gap"]
    assert cursor["last_post_id"] == 50 and isinstance(gap, dict) and gap["before"] == 101
    second = list(source.crawl(target(native_id="1739204581", cursor=cursor)))
    ids = [p.native_post_id for p in posts_of(first) + posts_of(second)]
    assert len(ids) == len(set(ids))
    assert sorted(map(int, ids)) == [*range(81, 105), *range(107, 121)]
    assert last_cursor(second) == {"last_post_id": 120}


def test_no_public_preview_is_active_without_preview(http_server: HttpServer,
                                                     source_for: Callable[..., TelegramWebSource]) -> None:
    http_server.route("/s/harbor_chat", Reply.redirect("/harbor_chat"))
    http_server.route("/harbor_chat", Reply.html(read("no_preview_group.html")))
    records = list(source_for(http_server).crawl(target("harbor_chat")))
    check_records(records, platform="telegram")
    (snap,) = records
    assert isinstance(snap, r.CommunitySnapshot)
    assert (snap.status, snap.kind, snap.title, snap.member_count, snap.online_count, snap.extra["preview"]) == (
        "active", "group", "Harbor Chat 💬", 1208, 57, False)


def test_forward_origins_and_signatures_that_name_people_are_not_kept(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    """Post 103 is forwarded from a hidden sender, 114 from a user (t.me/ray_handle, no post id),
    112 is signed by an admin: none of those people's names or handles may leave the crawler."""
    serve_channel(http_server, older=[])
    posts = {p.native_post_id: p for p in posts_of(list(source_for(http_server, fetch_media=False).crawl(target())))}
    assert posts["103"].forwarded_from == posts["114"].forwarded_from == r.ForwardRef("telegram", hidden=True)
    assert "signature" not in posts["112"].extra
    for name in ("Hidden Sender", "Ray", "ray_handle", "Mod Kestrel"):
        assert not [p.native_post_id for p in posts.values() if name in repr(p)], name
    channel = posts["102"].forwarded_from  # a channel origin keeps its handle, post and title
    assert channel == r.ForwardRef("telegram", handle="mooncellar", post_id="88", name="Moon Cellar")


def test_a_persons_account_is_refused_and_nothing_about_them_is_yielded(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    http_server.route("/s/ray_handle", Reply.redirect("/ray_handle"))
    http_server.route("/ray_handle", Reply.html(read("user_profile.html")))
    records: list[r.Record] = []
    with pytest.raises(errors.InvalidTarget, match=r"t\.me/ray_handle is a person's account, not a community; "
                                                   r"not stored"):
        records.extend(source_for(http_server).crawl(target("ray_handle")))
    assert records == []


def test_a_nonexistent_channel_is_deleted(http_server: HttpServer,
                                          source_for: Callable[..., TelegramWebSource]) -> None:
    http_server.route("/s/vanished_owls", Reply.redirect("/vanished_owls"))
    http_server.route("/vanished_owls", Reply.html(read("nonexistent.html")))
    snap, _ = list(source_for(http_server).crawl(target("vanished_owls")))
    assert isinstance(snap, r.CommunitySnapshot)
    assert (snap.status, snap.native_id, snap.handle) == ("deleted", None, "vanished_owls")


def test_a_handle_now_pointing_to_another_channel_is_reported_and_crawled_afresh(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    squatter = Channel(HANDLE, "Totally New Owls", 2000000001)
    serve_channel(http_server, channel=squatter, newest=[Msg(i, f"squat {i}") for i in range(1, 6)], older=[])
    records = list(source_for(http_server).crawl(target(native_id="1739204581",
                                                        cursor={"last_post_id": 120})))
    check_records(records, platform="telegram")
    snaps = [x for x in records if isinstance(x, r.CommunitySnapshot)]
    assert len(snaps) == 1
    assert (snaps[0].native_id, snaps[0].requested_handle, snaps[0].title) == ("2000000001", HANDLE,
                                                                                "Totally New Owls")
    # The old channel's cursor (120) did not hide the new channel's posts 1..5.
    assert [p.native_post_id for p in posts_of(records)] == ["1", "2", "3", "4", "5"]
    assert all(p.community.native_id == "2000000001" for p in posts_of(records))


def test_a_truncated_page_fails_after_keeping_the_pages_before_it(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    serve_channel(http_server)
    older = channel_page(NIGHTOWL, [Msg(i, f"older {i}") for i in range(81, 101)])
    http_server.route(f"/s/{HANDLE}?before=101", Reply.html(older[: len(older) * 2 // 3]))
    records: list[r.Record] = []
    with pytest.raises(errors.BadResponse, match=r"truncated page from http://127\.0\.0\.1:\d+/s/nightowl_archive"):
        for record in source_for(http_server).crawl(target()):
            records.append(record)
    assert isinstance(records[-1], r.Checkpoint)  # the first page is complete and checkpointed
    assert len(posts_of(records)) == 18


def test_a_429_is_retried_after_the_time_it_asks_for(http_server: HttpServer,
                                                     source_for: Callable[..., TelegramWebSource]) -> None:
    serve_channel(http_server, newest=[Msg(1, "hello")], older=[])
    page = channel_page(NIGHTOWL, [Msg(1, "hello")])
    times: list[float] = []

    def timed(reply: Reply) -> Callable[[RecordedRequest], Reply]:
        def handler(_: RecordedRequest) -> Reply:
            times.append(time.monotonic())
            return reply
        return handler

    http_server.route(f"/s/{HANDLE}", timed(Reply.text("slow down", 429, headers={"Retry-After": "1"})),
                      timed(Reply.html(page)))
    records = list(source_for(http_server, max_retries=2).crawl(target()))
    assert [p.native_post_id for p in posts_of(records)] == ["1"]
    assert len(times) == 2 and times[1] - times[0] >= 0.95


def test_a_long_retry_after_reschedules_the_source(http_server: HttpServer,
                                                   source_for: Callable[..., TelegramWebSource]) -> None:
    http_server.route(f"/s/{HANDLE}", Reply.text("slow down", 429, headers={"Retry-After": "3600"}))
    with pytest.raises(errors.RescheduleSource) as info:
        list(source_for(http_server).crawl(target()))
    assert info.value.delay_seconds == 3600


def test_a_redirect_into_a_private_address_is_refused(
        http_server: HttpServer, http_server_factory: Callable[..., HttpServer],
        source_for: Callable[..., TelegramWebSource]) -> None:
    inner = http_server_factory("127.0.0.2")
    inner.route(f"/s/{HANDLE}", Reply.html(channel_page(NIGHTOWL, [Msg(1, "internal")])))
    http_server.route(f"/s/{HANDLE}", Reply.redirect(inner.url(f"/s/{HANDLE}")))
    # Private addresses are refused; only the server's own loopback address plays "public t.me".
    source = source_for(http_server, allow_private_addresses=False, allowed_networks=["127.0.0.1/32"])
    with pytest.raises(errors.BlockedAddress, match=r"127\.0\.0\.2"):
        list(source.crawl(target()))
    assert inner.requests == []


def test_an_unreachable_host_is_a_transient_error(tmp_path: Path) -> None:
    server = HttpServer().start()
    base = server.base_url
    server.stop()  # nothing listens there any more
    source = TelegramWebSource(make_settings(tmp_path, base, max_retries=1))
    try:
        with pytest.raises(errors.TransientError, match="unreachable"):
            list(source.crawl(target()))
    finally:
        source.close()


def test_photos_over_the_byte_cap_are_skipped(http_server: HttpServer,
                                              source_for: Callable[..., TelegramWebSource]) -> None:
    serve_channel(http_server, newest=[Msg(7, "big", photos=("p102.jpg",))], older=[])
    http_server.route("/file/p102.jpg", Reply.huge(2_000_000, content_type="image/jpeg"))
    records = list(source_for(http_server, max_image_bytes=100_000).crawl(target()))
    (post,) = posts_of(records)
    assert post.media == ()


# --- through the runner and the store ----------------------------------------------------------------


def test_three_crawl_cycles_in_one_process(http_server: HttpServer, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Scrapy's reactor cannot restart; each cycle must still crawl (the scheduler's situation)."""
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", "test-pseudonym-key-0123456789abcdef")
    app = App(make_settings(tmp_path, http_server.base_url))
    try:
        from store.watchlist import add_watch, parse_target

        with app.store.session() as session:
            add_watch(session, parse_target(f"https://t.me/s/{HANDLE}"))
        pages = [[Msg(i, f"cycle one {i}") for i in range(1, 4)],
                 [Msg(i, f"cycle two {i}") for i in range(1, 6)],
                 [Msg(i, f"cycle three {i}") for i in range(1, 8)]]
        titles = ["Night Owl", "Night Owl", "Night Owl Vault"]
        new_posts = []
        for msgs, title in zip(pages, titles, strict=True):
            channel = Channel(HANDLE, title, NIGHTOWL.channel_id)
            http_server.route(f"/s/{HANDLE}", Reply.html(channel_page(channel, msgs)))
            (result,) = crawl_once(app)
            assert result.outcome == "ok", result.error
            new_posts.append(result.stats.posts_new)
        assert new_posts == [3, 2, 2]
        with app.store.session() as session:
            titles_seen = list(session.scalars(select(m.Snapshot.title).order_by(m.Snapshot.id)))
            assert titles_seen == ["Night Owl", "Night Owl Vault"]
    finally:
        app.close()


IMAGE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")


def contains_image(data: bytes) -> bool:
    if any(sig in data for sig in IMAGE_SIGNATURES):
        return True
    start = data.find(b"RIFF")
    while start != -1:
        if data[start + 8:start + 12] == b"WEBP":
            return True
        start = data.find(b"RIFF", start + 1)
    return False


def test_end_to_end_watch_add_then_crawl_via_the_cli(http_server: HttpServer, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", "test-pseudonym-key-0123456789abcdef")
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    config = tmp_path / "resurface.toml"
    config.write_text(f"""data_dir = "data"
[crawl]
allow_private_addresses = true
default_rate_limit = 200.0
max_retries = 1
[telegram]
web_base_url = "{http_server.base_url}"
""", encoding="utf-8")

    def cli(*args: str) -> str:
        with pytest.raises(SystemExit) as info:
            main(["--config", str(config), *args])
        out, err = capsys.readouterr()
        assert info.value.code in (0, None), err
        return out

    serve_channel(http_server)
    cli("watch", "add", f"https://t.me/s/{HANDLE}")
    cli("crawl", "--once")
    db = tmp_path / "data" / "resurface.db"
    from store.db import open_store

    def counts() -> tuple[int, int, int, int, int]:
        store = open_store(f"sqlite:///{db}")
        try:
            with store.session() as s:
                return (s.scalar(select(func.count()).select_from(m.Post)) or 0,
                        s.scalar(select(func.count()).select_from(m.Link)) or 0,
                        s.scalar(select(func.count()).select_from(m.MediaFingerprint)) or 0,
                        s.scalar(select(func.count()).select_from(m.Post).where(m.Post.fwd_handle.is_not(None))) or 0,
                        s.scalar(select(func.count()).select_from(m.Snapshot)) or 0)
        finally:
            store.close()

    posts, links, media, forwards, snapshots = counts()
    assert posts == 38 and links == 4 and media == 5 and forwards == 1 and snapshots == 1
    # A second crawl adds only the new post; a title change is a new snapshot.
    renamed = Channel(HANDLE, "Night Owl Vault 🦉", NIGHTOWL.channel_id, description=NIGHTOWL.description,
                      subscribers=NIGHTOWL.subscribers)
    http_server.route(f"/s/{HANDLE}", Reply.html(channel_page(renamed, [*showcase_messages(), Msg(121, "fresh")],
                                                              before=101, img_base=http_server.base_url)))
    cli("crawl", "--once")
    posts2, _, _, _, snapshots2 = counts()
    assert (posts2, snapshots2) == (39, 2)
    # No image bytes anywhere under the data directory.
    leaked = [p for p in (tmp_path / "data").rglob("*") if p.is_file() and contains_image(p.read_bytes())]
    assert leaked == []


def test_the_source_can_be_closed_while_a_crawl_is_running(http_server: HttpServer,
                                                           source_for: Callable[..., TelegramWebSource]) -> None:
    release = threading.Event()
    page = channel_page(NIGHTOWL, [Msg(1, "x")]).encode()
    http_server.route(f"/s/{HANDLE}", Reply(200, {"Content-Type": "text/html"}, page, delay=30))
    source = source_for(http_server)
    errors_seen: list[BaseException] = []

    def run() -> None:
        try:
            list(source.crawl(target()))
        except BaseException as exc:  # recorded for the assertion
            errors_seen.append(exc)
        release.set()

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    assert http_server.wait_until(lambda s: len(s.requests) >= 1, timeout=30)
    source.close()
    assert release.wait(timeout=15)
    assert errors_seen and isinstance(errors_seen[0], errors.CrawlError)


# --- page kinds, statuses and how sure we are of them ------------------------------------------------


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_page_over_the_byte_cap_is_a_bad_page_not_unreachable(
        declare_length: bool, http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    http_server.route(f"/s/{HANDLE}", Reply.huge(3_000_000, content_type="text/html; charset=utf-8",
                                                 declare_length=declare_length))
    with pytest.raises(errors.BadResponse, match=r"bad page at .*/s/nightowl_archive.*larger than the "
                                                 r"200000-byte cap"):
        list(source_for(http_server, max_response_bytes=200_000).crawl(target()))


def test_a_redirect_whose_location_is_no_url_is_a_bad_page(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    http_server.route(f"/s/{HANDLE}", Reply(302, {"Location": "http://[::1:80/x"}, b""))
    with pytest.raises(errors.BadResponse, match=r"bad page at .*/s/nightowl_archive: unusable answer"):
        list(source_for(http_server).crawl(target()))


def test_a_handle_that_does_not_exist_is_definitive_only_when_seen_twice_in_a_row(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    """Telegram serves its "contact @handle" page for a moment under load too: one sighting is
    reported as deleted but not definitive; the second crawl in a row that sees it is definitive."""
    http_server.route("/s/vanished_owls", Reply.redirect("/vanished_owls"))
    http_server.route("/vanished_owls", Reply.html(read("nonexistent.html")))
    source = source_for(http_server)
    first = list(source.crawl(target("vanished_owls", cursor={"last_post_id": 40})))
    snap, checkpoint = first
    assert isinstance(snap, r.CommunitySnapshot) and isinstance(checkpoint, r.Checkpoint)
    assert (snap.status, snap.extra[r.STATUS_DEFINITIVE]) == ("deleted", False)
    assert "does not exist" in snap.extra[r.STATUS_EVIDENCE] and "seen once" in snap.extra[r.STATUS_EVIDENCE]
    assert checkpoint.cursor == {"last_post_id": 40, "absent_seen": 1}  # the watermark is kept
    second = list(source.crawl(target("vanished_owls", cursor=dict(checkpoint.cursor))))
    again = second[0]
    assert isinstance(again, r.CommunitySnapshot)
    assert (again.status, again.extra[r.STATUS_DEFINITIVE]) == ("deleted", True)
    assert "twice in a row" in again.extra[r.STATUS_EVIDENCE]


def test_a_page_read_after_a_missing_sighting_resets_the_count(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    serve_channel(http_server, newest=[Msg(1, "back again")], older=[])
    records = list(source_for(http_server, fetch_media=False).crawl(
        target(cursor={"last_post_id": 1, "absent_seen": 1})))
    assert last_cursor(records) == {"last_post_id": 1}


def test_a_bare_404_is_deleted_but_never_definitive(http_server: HttpServer,
                                                    source_for: Callable[..., TelegramWebSource]) -> None:
    http_server.route(f"/s/{HANDLE}", Reply.text("Not Found", 404))
    (snap,) = list(source_for(http_server).crawl(target()))
    assert isinstance(snap, r.CommunitySnapshot)
    assert (snap.status, snap.extra[r.STATUS_DEFINITIVE]) == ("deleted", False)
    assert "bare HTTP 404" in snap.extra[r.STATUS_EVIDENCE]


def test_a_bot_profile_is_refused_like_a_person(http_server: HttpServer,
                                                source_for: Callable[..., TelegramWebSource]) -> None:
    from tests.support.realworld import realworld_text

    http_server.route("/s/aofieebot", Reply.redirect("/aofieebot"))
    http_server.route("/aofieebot", Reply.html(realworld_text("telegram", "pages", "bot_profile_aofieebot.html")))
    with pytest.raises(errors.InvalidTarget, match="person's account"):
        list(source_for(http_server).crawl(target("aofieebot")))


def test_a_group_without_preview_and_a_channel_without_preview_say_so_definitively(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    """Modelled on and served from the real recordings t.me/tdlibchat and t.me/durov."""
    from tests.support.realworld import realworld_text

    http_server.route("/s/tdlibchat", Reply.redirect("/tdlibchat"))
    http_server.route("/tdlibchat", Reply.html(realworld_text("telegram", "pages", "group_profile_tdlibchat.html")))
    http_server.route("/s/durov", Reply.redirect("/durov"))
    http_server.route("/durov", Reply.html(realworld_text("telegram", "pages", "channel_profile_durov.html")))
    source = source_for(http_server)
    (group,) = list(source.crawl(target("tdlibchat")))
    (channel,) = list(source.crawl(target("durov")))
    assert isinstance(group, r.CommunitySnapshot) and isinstance(channel, r.CommunitySnapshot)
    assert (group.status, group.kind, group.title, group.member_count, group.online_count) == (
        "active", "group", "TDLib chat", 16674, 362)
    assert (channel.status, channel.kind, channel.title, channel.member_count) == (
        "active", "channel", "Pavel Durov", 11110268)
    assert group.extra[r.STATUS_DEFINITIVE] is True and channel.extra[r.STATUS_DEFINITIVE] is True


def test_link_preview_images_and_round_videos_are_fingerprinted_and_polls_read(
        http_server: HttpServer, source_for: Callable[..., TelegramWebSource]) -> None:
    msgs = [Msg(107, "read this", preview={"url": "https://example.org/a", "site": "Example", "title": "A"}),
            Msg(108, "", round_video_thumb="r108.jpg"),
            Msg(109, "", poll=("Where next?", "Backup channel", "Forum"))]
    serve_channel(http_server, newest=msgs, older=[])
    http_server.route("/file/preview.jpg", Reply(200, {"Content-Type": "image/jpeg"}, jpeg(7)))
    http_server.route("/file/r108.jpg", Reply(200, {"Content-Type": "image/jpeg"}, jpeg(8)))
    posts = {p.native_post_id: p for p in posts_of(list(source_for(http_server).crawl(target())))}
    assert [fp.kind for fp in posts["107"].media] == ["link_preview_image"]
    assert posts["107"].extra["link_preview"] == {"url": "https://example.org/a", "site_name": "Example",
                                                  "title": "A", "description": None}
    assert [fp.kind for fp in posts["108"].media] == ["round_video_thumb"] and posts["108"].media[0].pdq
    assert posts["108"].extra["types"] == ["round_video"]
    assert posts["109"].text == "Where next?\nBackup channel\nForum"
    assert posts["109"].extra["poll"]["options"] == ["Backup channel", "Forum"]
