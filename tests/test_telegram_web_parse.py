"""Pure parsing of t.me preview pages and the pagination planner (no network)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from crawlers.telegram.web_paging import NEWEST, BadCursor, Cursor, Planner
from crawlers.telegram.web_parse import (
    Forward,
    NotAChannelPage,
    TruncatedPage,
    parse_channel_page,
    parse_count,
    parse_no_preview_page,
)
from tests.fixtures.telegram.builder import NIGHTOWL, Channel, Msg, channel_page, read, showcase_messages

URL = "https://t.me/s/nightowl_archive"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.2K", 1200), ("12 345", 12345), ("12\u00a0345", 12345), ("1,234", 1234), ("3.4M", 3_400_000),
     ("987", 987), ("12.5K", 12500), ("1,5K", 1500), ("", None), (None, None), ("lots", None), ("1.2X", None)],
)
def test_counts_as_telegram_abbreviates_them(text: str | None, expected: int | None) -> None:
    assert parse_count(text) == expected


@pytest.fixture(scope="module")
def showcase():  # type: ignore[no-untyped-def]
    return parse_channel_page(channel_page(NIGHTOWL, showcase_messages(), before=101), URL)


def by_id(page, post_id):  # type: ignore[no-untyped-def]
    return next(m for m in page.messages if m.post_id == post_id)


def test_channel_header(showcase) -> None:  # type: ignore[no-untyped-def]
    assert showcase.handle == "nightowl_archive"
    assert showcase.title == "Night Owl Archive 🦉"
    assert showcase.description == "Backups & mirrors. Join before the next ban wave."
    assert showcase.member_count == 12500
    assert showcase.counters["photos"] == 1100
    assert showcase.channel_id == "1739204581"
    assert showcase.before == 101
    assert showcase.photo_url == "https://cdn4.telesco.pe/file/chanphoto.jpg"


def test_messages_in_id_order_with_dates_views_and_urls(showcase) -> None:  # type: ignore[no-untyped-def]
    assert showcase.post_ids == [101, 102, 103, 104, 107, 108, 109, 110, 111, 112, 113, 114, *range(115, 121)]
    first = by_id(showcase, 101)
    assert first.url == "https://t.me/nightowl_archive/101"
    assert first.date is not None and first.date.tzinfo is not None
    assert first.views == 1200
    assert by_id(showcase, 113).views == 15342
    assert by_id(showcase, 113).reply_to == 101
    assert first.hrefs == ("https://t.me/nightowl_backup",)


def test_forwards_with_and_without_source(showcase) -> None:  # type: ignore[no-untyped-def]
    channel = by_id(showcase, 102).forward
    assert (channel.handle, channel.post_id, channel.name, channel.hidden) == ("mooncellar", "88", "Moon Cellar", False)
    # A bare span (hidden sender) and a link to t.me/<handle> without a post (a user's profile) may
    # be people: hidden, with no name, handle or id.
    assert by_id(showcase, 103).forward == Forward(hidden=True)
    assert by_id(showcase, 114).forward == Forward(hidden=True)


@pytest.mark.parametrize(
    ("href", "expected"),
    [("https://t.me/mooncellar/88", Forward(handle="mooncellar", post_id="88", name="Origin",
                                            url="https://t.me/mooncellar/88")),
     ("https://t.me/s/mooncellar", Forward(handle="mooncellar", name="Origin", url="https://t.me/s/mooncellar")),
     ("https://t.me/c/1739204581/12", Forward(native_id="1739204581", post_id="12", name="Origin",
                                              url="https://t.me/c/1739204581/12")),
     ("https://t.me/ray_handle", Forward(hidden=True)),
     ("https://t.me/ray_handle/", Forward(hidden=True)),
     ("https://t.me/+AbCdEfGhIjKlMnOp", Forward(hidden=True)),
     ("tg://resolve?domain=ray_handle", Forward(hidden=True))],
)
def test_only_evident_channels_are_named_as_forward_origins(href: str, expected: Forward) -> None:
    page = parse_channel_page(channel_page(NIGHTOWL, [Msg(5, "x", forward_name="Origin", forward_href=href)]), URL)
    assert page.messages[0].forward == expected


def test_album_photos_and_member_ids(showcase) -> None:  # type: ignore[no-untyped-def]
    album = by_id(showcase, 104)
    assert album.photos == tuple(f"https://cdn4.telesco.pe/file/p104{x}.jpg" for x in "abc")
    assert album.album_ids == (105, 106)


def test_link_preview_and_video_thumbnail(showcase) -> None:  # type: ignore[no-untyped-def]
    preview = by_id(showcase, 107).link_preview
    assert preview is not None
    assert (preview.url, preview.site_name, preview.title) == (
        "https://example.org/news/ban-wave", "Example News", "Platforms ban wave")
    clip = by_id(showcase, 112)
    assert clip.video_thumbs == ("https://cdn4.telesco.pe/file/v112.jpg",)
    assert clip.signature == "Mod Kestrel"
    assert clip.author_handle is None  # a signature is a display name, not an account


def test_service_messages_are_rename_evidence(showcase) -> None:  # type: ignore[no-untyped-def]
    title = by_id(showcase, 108)
    assert (title.service, title.service_action, title.service_value) == (True, "title_changed", "Night Owl Vault 🦉")
    photo = by_id(showcase, 110)
    assert (photo.service, photo.service_action) == (True, "photo_changed")
    assert not by_id(showcase, 109).service


def test_emoji_and_right_to_left_text_survive(showcase) -> None:  # type: ignore[no-untyped-def]
    text = by_id(showcase, 109).text
    assert text == "Good night 🦉🦉 · مرحبا بكم في القناة الجديدة\nשלום לכולם"


def test_edited_flag(showcase) -> None:  # type: ignore[no-untyped-def]
    assert by_id(showcase, 111).edited
    assert not by_id(showcase, 101).edited


def test_the_channel_id_comes_from_data_view_on_older_markup() -> None:
    html = channel_page(NIGHTOWL, [Msg(5, "x")])
    view = base64.urlsafe_b64encode(json.dumps({"c": -1001739204581, "p": 5}).encode()).decode().rstrip("=")
    html = html.replace('data-peer="', 'data-old-peer="')
    html = html.replace('data-view="', f'data-view="{view}" data-x="', 1)
    assert parse_channel_page(html, URL).channel_id == "1739204581"


@pytest.mark.parametrize("view", [{"c": 1e999}, {"c": -1e999}, {"c": float("nan")}, {"c": "-100x"}, {"c": None}, [1]])
def test_a_hostile_data_view_gives_no_channel_id_not_a_crash(view: object) -> None:
    """``{"c": 1e999}`` is JSON infinity: ``int()`` of it overflows, and must not end the crawl."""
    raw = json.dumps(view).replace("Infinity", "1e999")
    encoded = base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")
    html = channel_page(NIGHTOWL, [Msg(5, "x")]).replace('data-peer="', 'data-old-peer="')
    html = html.replace('data-view="', f'data-view="{encoded}" data-x="', 1)
    page = parse_channel_page(html, URL)
    assert page.channel_id is None and page.post_ids == [5]


def test_blocks_without_a_usable_post_id_are_counted_not_fatal() -> None:
    html = channel_page(NIGHTOWL, [Msg(5, "ok"), Msg(6, "broken")]).replace("nightowl_archive/6", "nightowl_archive/x")
    page = parse_channel_page(html, URL)
    assert page.post_ids == [5]
    assert page.skipped == 1


def test_a_truncated_page_is_refused_naming_the_url() -> None:
    html = channel_page(NIGHTOWL, showcase_messages())
    with pytest.raises(TruncatedPage, match=r"truncated page from https://t\.me/s/nightowl_archive"):
        parse_channel_page(html[: len(html) // 2], URL)


def test_a_page_ending_with_a_comment_after_html_is_read() -> None:
    """Every real t.me page ends ``</html>\n<!-- page generated in 25.61ms -->`` (s_feedjam.html)."""
    html = channel_page(NIGHTOWL, showcase_messages()) + "\n<!-- page generated in 25.61ms -->\n"
    page = parse_channel_page(html, URL)
    assert page.post_ids[:3] == [101, 102, 103] and page.title == "Night Owl Archive 🦉"


def test_other_content_after_html_is_logged_and_ignored(caplog: pytest.LogCaptureFixture) -> None:
    html = channel_page(NIGHTOWL, [Msg(5, "kept")]) + "<script>injected()</script>"
    with caplog.at_level("WARNING", logger="crawlers.telegram.web_parse"):
        page = parse_channel_page(html, URL)
    assert [m.text for m in page.messages] == ["kept"]
    assert "bytes after </html> ignored" in caplog.text and "nightowl_archive" in caplog.text


@pytest.mark.parametrize("html", ["", "<html><body><h1>502 Bad Gateway</h1></body></html>",
                                  "<html><body><div class='g-recaptcha'></div></body></html>"])
def test_pages_that_are_not_previews_are_refused(html: str) -> None:
    with pytest.raises(NotAChannelPage, match="nightowl_archive"):
        parse_channel_page(html, URL)


def test_no_preview_pages() -> None:
    channel = parse_no_preview_page(read("no_preview_channel.html"), "https://t.me/quietharbor")
    assert (channel.exists, channel.kind, channel.title, channel.member_count) == (
        True, "channel", "Quiet Harbor", 3402)
    group = parse_no_preview_page(read("no_preview_group.html"), "https://t.me/harbor_chat")
    assert (group.kind, group.member_count, group.online_count, group.title) == ("group", 1208, 57, "Harbor Chat 💬")
    gone = parse_no_preview_page(read("nonexistent.html"), "https://t.me/vanished_owls")
    assert not gone.exists and gone.title is None
    person = parse_no_preview_page(read("user_profile.html"), "https://t.me/ray_handle")
    assert (person.exists, person.kind) == (True, "user")


def test_an_empty_channel_has_no_id_and_no_more_link() -> None:
    page = parse_channel_page(channel_page(Channel("quiet_one", "Quiet", 55), []), URL)
    assert (page.channel_id, page.before, page.messages) == (None, None, ())
    assert page.title == "Quiet"


def test_dates_are_timezone_aware() -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    page = parse_channel_page(channel_page(NIGHTOWL, [Msg(9, "x", date=when)]), URL)
    assert page.messages[0].date == when


# --- the planner ---------------------------------------------------------------------------------


def pages_of(history: list[int], per_page: int = 3) -> dict[int | None, tuple[list[int], int | None]]:
    """Simulate t.me: page for each ``before`` value; newest page under None."""
    ids = sorted(history)

    def page(before: int | None) -> tuple[list[int], int | None]:
        older = [i for i in ids if before is None or i < before][-per_page:]
        more = older[0] if older and older[0] != ids[0] else None
        return older, more

    return {None: page(None), **{i: page(i) for i in ids}}


def walk(cursor: Cursor, history: list[int], max_pages: int, stop_after: int | None = None) -> tuple[list[int], Cursor]:
    pages = pages_of(history)
    planner = Planner(cursor, max_pages)
    before = planner.first()
    seen: list[int] = []
    fetched = 0
    while True:
        ids, more = pages[before]
        new = [i for i in ids if not planner.cursor.covers(i)]
        go, before = planner.after_page(ids, more)
        seen += new
        fetched += 1
        if not go or (stop_after is not None and fetched >= stop_after):
            return sorted(seen), planner.cursor


def test_first_crawl_goes_back_max_pages() -> None:
    seen, cursor = walk(Cursor(), list(range(1, 21)), max_pages=3)
    assert seen == list(range(12, 21))
    assert cursor == Cursor(20)


def test_next_crawl_stops_at_the_checkpoint() -> None:
    seen, cursor = walk(Cursor(20), list(range(1, 26)), max_pages=10)
    assert seen == [21, 22, 23, 24, 25]
    assert cursor == Cursor(25)


def test_nothing_new_keeps_the_cursor() -> None:
    seen, cursor = walk(Cursor(20), list(range(1, 21)), max_pages=10)
    assert (seen, cursor) == ([], Cursor(20))


def test_a_killed_crawl_resumes_without_loss_or_duplicates() -> None:
    history = list(range(1, 41))
    first, cursor = walk(Cursor(20), history, max_pages=10, stop_after=2)  # killed after two pages
    assert cursor.has_gap and cursor.last_post_id == 20
    second, cursor = walk(cursor, history, max_pages=10)
    assert sorted(first + second) == list(range(21, 41))
    assert not set(first) & set(second)
    assert cursor == Cursor(40)


def test_a_killed_crawl_resumes_even_with_newer_posts_since() -> None:
    first, cursor = walk(Cursor(20), list(range(1, 41)), max_pages=10, stop_after=2)
    second, cursor = walk(cursor, list(range(1, 46)), max_pages=10)
    assert sorted(first + second) == list(range(21, 46))
    assert cursor == Cursor(45)


def test_out_of_pages_keeps_the_gap_for_the_next_crawl() -> None:
    first, cursor = walk(Cursor(10), list(range(1, 41)), max_pages=2)
    assert cursor.has_gap and cursor.depth_left is None
    second, cursor = walk(cursor, list(range(1, 41)), max_pages=20)
    assert sorted(first + second) == list(range(11, 41))


def test_the_first_page_is_the_gap_or_the_newest() -> None:
    assert Planner(Cursor(5), 3).first() is NEWEST
    assert Planner(Cursor(5, 30, 20, None), 3).first() == 20


@pytest.mark.parametrize("raw", [{"last_post_id": "x"}, {"last_post_id": 1, "gap": {"top": 1}},
                                 {"last_post_id": 1, "gap": {"top": 5, "before": 9}}, {"last_post_id": -3}])
def test_bad_cursors_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(BadCursor, match="telegram_web cursor"):
        Cursor.from_json(raw)


def test_cursor_round_trips() -> None:
    for cursor in (Cursor(), Cursor(7), Cursor(7, 30, 12, 4), Cursor(7, 30, 12, None)):
        assert Cursor.from_json(cursor.to_json()) == cursor


# --- pages that parse but differ: take what they offer, log what is skipped ---------------------------


def test_an_unknown_message_type_is_kept_with_its_kind_and_text(caplog: pytest.LogCaptureFixture) -> None:
    html = channel_page(NIGHTOWL, [Msg(5, "")]).replace(
        '<div class="tgme_widget_message_footer',
        '<div class="tgme_widget_message_giveaway">Giveaway: 3 prizes, ends May 1</div>'
        '<div class="tgme_widget_message_footer', 1)
    with caplog.at_level("INFO", logger="crawlers.telegram.web_parse"):
        (message,) = parse_channel_page(html, URL).messages
    assert message.kinds == ("other:giveaway",)
    assert message.text == "Giveaway: 3 prizes, ends May 1"
    assert "unknown kind 'tgme_widget_message_giveaway'" in caplog.text


def test_a_text_moved_into_a_new_wrapper_is_still_read() -> None:
    html = channel_page(NIGHTOWL, [Msg(5, "still here")]).replace(
        '<div class="tgme_widget_message_text js-message_text" dir="auto">still here</div>',
        '<div class="tgme_widget_message_content_v2"><div class="tgme_widget_message_text js-message_text">'
        'still here</div></div>')
    (message,) = parse_channel_page(html, URL).messages
    assert message.text == "still here"


def test_missing_optional_blocks_leave_fields_empty_not_errors() -> None:
    html = channel_page(NIGHTOWL, [Msg(5, "no footer")])
    start = html.index('<div class="tgme_widget_message_footer')
    end = html.index("</span>\n</div></div>", start) + len("</span>\n</div></div>")
    html = html[:start] + html[end:]
    html = html.replace('<div class="tgme_channel_info_description">', '<div class="renamed_description">')
    page = parse_channel_page(html, URL)
    (message,) = page.messages
    assert (message.text, message.date, message.views, page.description) == ("no footer", None, None, None)
    assert page.title == "Night Owl Archive 🦉"


def invite_page(title: str | None, extra: str | None) -> str:
    """``t.me/+CODE``. No invite page is recorded in the corpus: modelled on the real
    ``pages/group_profile_tdlibchat.html`` (same ``.tgme_page`` layout), with the join button an invite
    page carries (``tg://join?invite=``) and a trailing comment like every real page."""
    head = f'<div class="tgme_page_title" dir="auto"><span dir="auto">{title}</span></div>' if title else ""
    extra_html = f'<div class="tgme_page_extra">{extra}</div>' if extra else ""
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><title>Join group chat on Telegram</title></head>
<body class="no_transition"><div class="tgme_page_wrap"><div class="tgme_body_wrap"><div class="tgme_page">
<div class="tgme_page_photo"></div>{head}{extra_html}
<div class="tgme_page_description" dir="auto">Backup of the backup.</div>
<div class="tgme_page_action"><a class="tgme_action_button_new shine" href="tg://join?invite=R1serva7xQ">Join Group</a>
</div></div></div></div></body></html>
<!-- page generated in 7.02ms -->
"""


def test_an_invite_page_shows_public_info_without_joining() -> None:
    from crawlers.telegram.web_parse import no_preview_status

    page = parse_no_preview_page(invite_page("Cortile Riserva", "1 204 members, 31 online"), "https://t.me/+R1serva7xQ")
    assert (page.kind, page.exists, page.title, page.member_count, page.online_count, page.invite_of) == (
        "invite", True, "Cortile Riserva", 1204, 31, "group")
    assert page.description == "Backup of the backup." and page.handle is None
    verdict = no_preview_status(page, "https://t.me/+R1serva7xQ")
    assert verdict is not None and (verdict.status, verdict.definitive) == ("active", True)
    assert "never joined" in verdict.evidence
    expired = parse_no_preview_page(invite_page(None, None), "https://t.me/joinchat/R1serva7xQ")
    assert (expired.kind, expired.exists) == ("invite", False)
    gone = no_preview_status(expired, "https://t.me/joinchat/R1serva7xQ")
    assert gone is not None and (gone.status, gone.definitive) == ("deleted", False)
