"""telegram_api: the pure Telethon adapter and the source, with real ``telethon.tl.types`` objects
built offline and real Telethon error classes behind a fake thin client."""

from __future__ import annotations

import asyncio
import io
import os
import sqlite3
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from telethon import errors as tg_errors
from telethon.tl import types as tl
from telethon.tl.types import contacts as tlc
from telethon.tl.types import messages as tlm

from config.settings import CrawlSettings, Settings, TelegramSettings
from crawlers import errors
from crawlers.base import NotConfigured, Target
from crawlers.telegram.api import (
    TelegramApiSource,
    forward_from,
    invite_from,
    make_telethon_client,
    name_search,
    post_from,
    purge_saved_users,
    search_results_from,
    snapshot_from,
)
from model import records as r
from model.errors import MissingSecret
from tests.contract import check_records, last_cursor, posts_of

WHEN = datetime(2024, 4, 2, 10, 0, tzinfo=UTC)
CHANNEL_ID = 1739204581


def channel(**kw: Any) -> tl.Channel:
    base: dict[str, Any] = {"id": CHANNEL_ID, "title": "Night Owl Archive", "photo": tl.ChatPhotoEmpty(), "date": WHEN,
                            "broadcast": True, "access_hash": 42, "username": "NightOwl_Archive"}
    return tl.Channel(**{**base, **kw})


def full(about: str = "Backups & mirrors", participants: int | None = 12500) -> tlm.ChatFull:
    info = tl.ChannelFull(id=CHANNEL_ID, about=about, read_inbox_max_id=0, read_outbox_max_id=0, unread_count=0,
                          chat_photo=tl.PhotoEmpty(id=0), notify_settings=tl.PeerNotifySettings(), bot_info=[],
                          pts=1, participants_count=participants)
    return tlm.ChatFull(full_chat=info, chats=[], users=[])


def photo_message(msg_id: int, size: int = 20_000) -> tl.Message:
    photo = tl.Photo(id=msg_id, access_hash=1, file_reference=b"", date=WHEN, dc_id=2,
                     sizes=[tl.PhotoSize(type="x", w=800, h=600, size=size)])
    return tl.Message(id=msg_id, peer_id=tl.PeerChannel(CHANNEL_ID), date=WHEN, message="look",
                      media=tl.MessageMediaPhoto(photo=photo))


def text_message(msg_id: int, text: str = "hello", **kw: Any) -> tl.Message:
    return tl.Message(id=msg_id, peer_id=tl.PeerChannel(CHANNEL_ID), date=WHEN, message=text, **kw)


def png() -> bytes:
    out = io.BytesIO()
    Image.effect_mandelbrot((64, 64), (-2, -1.2, 0.8, 1.2), 40).convert("RGB").save(out, "PNG")
    return out.getvalue()


class FakeClient:
    """The thin-client protocol over canned Telethon objects; raises what it is told to."""

    def __init__(self, entity: Any, chat_full: Any, messages: list[Any], participants: list[Any] | None = None,
                 fail: dict[str, list[BaseException]] | None = None) -> None:
        self.entity, self.chat_full, self.messages = entity, chat_full, messages
        self.participants = participants or []
        self.fail = fail or {}
        self.calls: list[tuple[str, Any]] = []
        self.closed = False
        self.found: Any = tlc.Found(my_results=[], results=[], chats=[], users=[])

    def _maybe_fail(self, name: str) -> None:
        queue = self.fail.get(name)
        if queue:
            raise queue.pop(0)

    def resolve(self, ref: str) -> Any:
        self.calls.append(("resolve", ref))
        self._maybe_fail("resolve")
        return self.entity

    def full_channel(self, entity: Any) -> Any:
        self.calls.append(("full", entity.id))
        self._maybe_fail("full")
        return self.chat_full

    def iter_messages(self, entity: Any, min_id: int, limit: int) -> Iterable[Any]:
        self.calls.append(("messages", min_id))
        for message in sorted(self.messages, key=lambda m: m.id):
            if message.id > min_id:
                self._maybe_fail("message")
                yield message

    def iter_participants(self, entity: Any, limit: int) -> Iterable[Any]:
        self._maybe_fail("participants")
        return list(self.participants)

    def check_invite(self, invite_hash: str) -> Any:
        self.calls.append(("invite", invite_hash))
        return tl.ChatInvite(title="Owl Reserve", photo=tl.PhotoEmpty(id=0), participants_count=321, color=1,
                             channel=True, broadcast=True, about="reserve")

    def download_photo(self, message: Any) -> bytes | None:
        self.calls.append(("download", message.id))
        return png()

    def search(self, query: str, limit: int) -> Any:
        self.calls.append(("search", query))
        self._maybe_fail("search")
        return self.found

    def close(self) -> None:
        self.closed = True


def settings(tmp_path: Path, **telegram: Any) -> Settings:
    s = Settings(data_dir=str(tmp_path / "data"), crawl=CrawlSettings(max_pages=2),
                 telegram=TelegramSettings(**telegram))
    s.base_dir = tmp_path
    return s


def source(tmp_path: Path, client: FakeClient, sleeps: list[float] | None = None, **telegram: Any) -> TelegramApiSource:
    slept = sleeps if sleeps is not None else []
    return TelegramApiSource(settings(tmp_path, **telegram), client, sleep=slept.append, jitter=lambda s: 0.5)


def target(**kw: Any) -> Target:
    return Target(**{"community_id": 1, "platform": "telegram", "handle": "nightowl_archive",
                     "url": "https://t.me/nightowl_archive", **kw})


# --- the pure adapter ---------------------------------------------------------------------------


def test_snapshot_keys_the_channel_by_its_stable_id() -> None:
    snap = snapshot_from(channel(), full(), WHEN, requested="nightowl_archive")
    assert (snap.native_id, snap.handle, snap.title, snap.description, snap.member_count, snap.kind) == (
        str(CHANNEL_ID), "nightowl_archive", "Night Owl Archive", "Backups & mirrors", 12500, "channel")
    assert snap.requested_handle is None
    assert snap.created_at == WHEN


def test_a_username_change_shows_as_the_requested_handle() -> None:
    snap = snapshot_from(channel(username="owl_vault"), full(), WHEN, requested="nightowl_archive")
    assert (snap.handle, snap.requested_handle) == ("owl_vault", "nightowl_archive")


def test_forwards_read_from_fwd_from() -> None:
    from_channel = forward_from(tl.MessageFwdHeader(date=WHEN, from_id=tl.PeerChannel(777), channel_post=88))
    assert from_channel == r.ForwardRef("telegram", native_id="777", post_id="88")
    from_chat = forward_from(tl.MessageFwdHeader(date=WHEN, from_id=tl.PeerChat(555)))
    assert from_chat == r.ForwardRef("telegram", native_id="555")
    assert forward_from(None) is None


def test_forwards_from_people_name_nobody() -> None:
    """A hidden sender's name, a user's id and a signing admin's name are people's: none is kept."""
    hidden = forward_from(tl.MessageFwdHeader(date=WHEN, from_name="Ray Quill"))
    from_user = forward_from(tl.MessageFwdHeader(date=WHEN, from_id=tl.PeerUser(123456), from_name="Ray Quill"))
    assert hidden == from_user == r.ForwardRef("telegram", hidden=True)
    signed = forward_from(tl.MessageFwdHeader(date=WHEN, from_id=tl.PeerChannel(777), channel_post=88,
                                              post_author="Admin Ray Quill"))
    assert signed == r.ForwardRef("telegram", native_id="777", post_id="88")


def test_signatures_of_channel_posts_are_not_kept() -> None:
    post = post_from(text_message(6, "signed", post_author="Admin Ray Quill"), channel(), WHEN)
    assert "Ray Quill" not in repr(post)
    assert "signature" not in post.extra


def test_posts_use_message_and_entities_not_client_properties() -> None:
    msg = text_message(5, "backup: t.me/owl_backup and more", views=1500,
                       entities=[tl.MessageEntityTextUrl(offset=0, length=6, url="https://t.me/+SecretInvite1")],
                       fwd_from=tl.MessageFwdHeader(date=WHEN, from_id=tl.PeerChannel(777), channel_post=88))
    post = post_from(msg, channel(), WHEN)
    assert post.url == "https://t.me/nightowl_archive/5"
    assert (post.text, post.views, post.author) == ("backup: t.me/owl_backup and more", 1500, None)
    assert {link.url for link in post.links} == {"https://t.me/+SecretInvite1", "https://t.me/owl_backup"}
    assert post.forwarded_from is not None and post.forwarded_from.post_id == "88"


def test_service_messages_for_title_and_photo_changes() -> None:
    title = post_from(tl.MessageService(id=9, peer_id=tl.PeerChannel(CHANNEL_ID), date=WHEN,
                                        action=tl.MessageActionChatEditTitle(title="Owl Vault")), channel(), WHEN)
    assert (title.kind, title.service_action, title.service_value) == ("service", "title_changed", "Owl Vault")
    photo = post_from(tl.MessageService(id=10, peer_id=tl.PeerChannel(CHANNEL_ID), date=WHEN,
                                        action=tl.MessageActionChatEditPhoto(photo=tl.PhotoEmpty(id=1))),
                      channel(), WHEN)
    assert photo.service_action == "photo_changed"


def test_group_messages_carry_their_author_as_a_raw_member() -> None:
    group = channel(broadcast=False, megagroup=True)
    post = post_from(text_message(3, from_id=tl.PeerUser(4242)), group, WHEN)
    assert post.author == r.RawMember("telegram", user_id="4242")


def test_invite_metadata_without_joining() -> None:
    invite = invite_from("AbC", tl.ChatInvite(title="Owl Reserve", photo=tl.PhotoEmpty(id=0), participants_count=321,
                                              color=1, channel=True, broadcast=True))
    assert (invite.title, invite.member_count, invite.already_joined, invite.kind) == (
        "Owl Reserve", 321, False, "channel")
    joined = invite_from("AbC", tl.ChatInviteAlready(chat=channel()))
    assert joined.already_joined and joined.native_id == str(CHANNEL_ID)


# --- the source -----------------------------------------------------------------------------------


def test_a_crawl_passes_the_contract_and_checkpoints_the_last_id(tmp_path: Path) -> None:
    client = FakeClient(channel(), full(), [text_message(i) for i in range(1, 4)] + [photo_message(4)])
    records = list(source(tmp_path, client).crawl(target()))
    check_records(records, platform="telegram")
    assert [p.native_post_id for p in posts_of(records)] == ["1", "2", "3", "4"]
    assert len(posts_of(records)[-1].media) == 1 and posts_of(records)[-1].media[0].pdq
    assert last_cursor(records) == {"last_post_id": 4}


def test_the_next_crawl_asks_only_for_newer_messages(tmp_path: Path) -> None:
    client = FakeClient(channel(), full(), [text_message(i) for i in range(1, 6)])
    records = list(source(tmp_path, client).crawl(target(native_id=str(CHANNEL_ID), cursor={"last_post_id": 3})))
    assert ("messages", 3) in client.calls
    assert [p.native_post_id for p in posts_of(records)] == ["4", "5"]


def test_photos_over_the_byte_cap_are_not_downloaded(tmp_path: Path) -> None:
    client = FakeClient(channel(), full(), [photo_message(1, size=50_000_000)])
    records = list(source(tmp_path, client).crawl(target()))
    assert posts_of(records)[0].media == ()
    assert ("download", 1) not in client.calls


def test_a_short_flood_wait_is_slept_through_with_jitter(tmp_path: Path) -> None:
    sleeps: list[float] = []
    client = FakeClient(channel(), full(), [text_message(1), text_message(2)],
                        fail={"resolve": [tg_errors.FloodWaitError(request=None, capture=7)],
                              "message": [tg_errors.FloodWaitError(request=None, capture=3)]})
    records = list(source(tmp_path, client, sleeps).crawl(target()))
    assert sleeps == [7.5, 3.5]
    assert [p.native_post_id for p in posts_of(records)] == ["1", "2"]  # no duplicate after the wait


def test_a_long_flood_wait_reschedules_the_source(tmp_path: Path) -> None:
    sleeps: list[float] = []
    client = FakeClient(channel(), full(), [], fail={"resolve": [tg_errors.FloodWaitError(request=None, capture=900)]})
    with pytest.raises(errors.RescheduleSource) as info:
        list(source(tmp_path, client, sleeps, flood_wait_max_sleep=60).crawl(target()))
    assert info.value.delay_seconds == 900 and sleeps == []


def test_a_private_channel_is_unavailable_with_status_private(tmp_path: Path) -> None:
    client = FakeClient(channel(), full(), [], fail={"resolve": [tg_errors.ChannelPrivateError(request=None)]})
    with pytest.raises(errors.CommunityUnavailable) as info:
        list(source(tmp_path, client).crawl(target()))
    assert info.value.status == "private"


def test_a_nonexistent_username_is_deleted(tmp_path: Path) -> None:
    client = FakeClient(channel(), full(), [], fail={"resolve": [tg_errors.UsernameNotOccupiedError(request=None)]})
    with pytest.raises(errors.CommunityUnavailable) as info:
        list(source(tmp_path, client).crawl(target()))
    assert info.value.status == "deleted"


def test_a_handle_of_a_person_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    person = tl.User(id=4242, access_hash=7, first_name="Ray", last_name="Quill", username="ray_handle")
    client = FakeClient(person, full(), [text_message(1)], participants=[person])
    with pytest.raises(errors.InvalidTarget, match=r"t\.me/ray_handle is a person's account, not a community; "
                                                   r"not stored"):
        list(source(tmp_path, client).crawl(target(handle="ray_handle", url="https://t.me/ray_handle")))
    assert client.calls == [("resolve", "ray_handle")]  # no profile, chat history or participants read


def user_row_count(session_file: Path) -> int:
    conn = sqlite3.connect(session_file)
    try:
        return int(conn.execute("select count(*) from entities where id > 0").fetchone()[0])
    finally:
        conn.close()


def test_the_session_file_does_not_cache_the_users_telethon_sees(tmp_path: Path) -> None:
    """Telethon's SQLite session would write every user of every response (id, username, phone,
    name) into the .session file; the crawler's client must not."""
    seen = tlm.ChatFull(full_chat=full().full_chat, chats=[channel()],
                        users=[tl.User(id=501, access_hash=9, username="alice_x", first_name="Alice", phone="3900")])
    loop = asyncio.new_event_loop()
    try:
        client = make_telethon_client(tmp_path / "crawler.session", 1, "0" * 32, loop)
        assert client.session.save_entities is False
        client.session.process_entities(seen)
        client.session.save()
        client.session.close()
    finally:
        loop.close()
    conn = sqlite3.connect(tmp_path / "crawler.session")
    try:
        assert conn.execute("select count(*) from entities").fetchone()[0] == 0
    finally:
        conn.close()


def test_users_cached_by_an_older_session_are_purged_and_channels_kept(tmp_path: Path) -> None:
    from telethon.sessions import SQLiteSession

    old = SQLiteSession(str(tmp_path / "old"))  # what `telegram login` or an older crawler left behind
    old.process_entities(tlm.ChatFull(full_chat=full().full_chat, chats=[channel()],
                                      users=[tl.User(id=501, access_hash=9, username="alice_x", first_name="Alice")]))
    old.save()
    old.close()
    assert user_row_count(tmp_path / "old.session") == 1
    assert purge_saved_users(tmp_path / "old.session") == 1
    assert user_row_count(tmp_path / "old.session") == 0
    reopened = SQLiteSession(str(tmp_path / "old"))
    try:  # the channel's access hash survives, so it still resolves without a network round trip
        assert reopened.get_input_entity(-100 * 10**10 - CHANNEL_ID).channel_id == CHANNEL_ID
    finally:
        reopened.close()
    assert purge_saved_users(tmp_path / "missing.session") == 0


def test_group_participants_become_memberships(tmp_path: Path) -> None:
    users = [tl.User(id=501, username="alice_x"), tl.User(id=502), tl.User(id=503, bot=True)]
    client = FakeClient(channel(broadcast=False, megagroup=True), full(), [text_message(1, from_id=tl.PeerUser(501))],
                        participants=users)
    records = list(source(tmp_path, client).crawl(target()))
    check_records(records, platform="telegram")
    members = [x.member for x in records if isinstance(x, r.Membership)]
    assert [(mb.user_id, mb.handle) for mb in members] == [("501", "alice_x"), ("502", None)]


def test_participants_hidden_from_us_are_not_a_failure(tmp_path: Path) -> None:
    client = FakeClient(channel(broadcast=False, megagroup=True), full(), [text_message(1)],
                        fail={"participants": [tg_errors.ChatAdminRequiredError(request=None)]})
    records = list(source(tmp_path, client).crawl(target()))
    assert not any(isinstance(x, r.Membership) for x in records)
    assert last_cursor(records) == {"last_post_id": 1}


def test_check_invite_reads_metadata(tmp_path: Path) -> None:
    client = FakeClient(channel(), full(), [])
    info = source(tmp_path, client).check_invite("AbCdEf")
    assert (info.title, info.member_count, info.already_joined) == ("Owl Reserve", 321, False)
    assert client.calls == [("invite", "AbCdEf")]


def test_not_configured_without_use_api_or_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotConfigured, match="use_api"):
        TelegramApiSource.from_settings(settings(tmp_path))
    monkeypatch.delenv("TELEGRAM_API_ID", raising=False)
    monkeypatch.setenv("TELEGRAM_API_HASH", "abc")
    with pytest.raises(NotConfigured, match="TELEGRAM_API_ID"):
        TelegramApiSource.from_settings(settings(tmp_path, use_api=True))
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    with pytest.raises(NotConfigured, match="telegram login"):
        TelegramApiSource.from_settings(settings(tmp_path, use_api=True))


def test_login_names_the_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.platforms.telegram import api_credentials

    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.delenv("TELEGRAM_API_HASH", raising=False)
    with pytest.raises(MissingSecret) as info:
        api_credentials()
    assert info.value.variable == "TELEGRAM_API_HASH"


def test_login_command_fails_cleanly_without_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    monkeypatch.delenv("TELEGRAM_API_ID", raising=False)
    monkeypatch.setenv("TELEGRAM_API_HASH", "abc")
    with pytest.raises(SystemExit) as info:
        main(["--defaults", "telegram", "login"])
    assert info.value.code == 2
    assert "TELEGRAM_API_ID" in capsys.readouterr().err


LIVE = all(os.environ.get(v) for v in ("TELEGRAM_API_ID", "TELEGRAM_API_HASH", "RESURFACE_TEST_TG_SESSION"))


# --- name search (successor discovery) ------------------------------------------------------------


def found_for_mia() -> tlc.Found:
    """What a search for "Mia Moglie" might answer: one public supergroup, plus things that are not
    watchable communities (a channel without a username, a basic group, a person)."""
    public = channel(id=901, title="Mia Moglie Backup", username="MiaMoglie_Backup", broadcast=False,
                     megagroup=True)
    hidden = channel(id=902, title="Mia Moglie VIP", username=None)
    basic = tl.Chat(id=903, title="Mia Moglie chat", photo=tl.ChatPhotoEmpty(), participants_count=40, date=WHEN,
                    version=1)
    person = tl.User(id=904, first_name="Mia", username="miamoglie")
    return tlc.Found(my_results=[], results=[tl.PeerChannel(901), tl.PeerUser(904)], chats=[public, hidden, basic],
                     users=[person])


def test_search_results_keep_only_public_channels_and_never_people() -> None:
    assert search_results_from(found_for_mia()) == [
        ("miamoglie_backup", "Mia Moglie Backup", "https://t.me/miamoglie_backup")]


def search_client(**fail: list[BaseException]) -> FakeClient:
    client = FakeClient(channel(), full(), [], fail=dict(fail))
    client.found = found_for_mia()
    return client


def test_name_search_answers_only_for_telegram(tmp_path: Path) -> None:
    client = search_client()
    search = name_search(settings(tmp_path), client=client)
    assert search("reddit", "Mia Moglie") == []
    assert client.calls == []
    assert [hit[0] for hit in search("telegram", "Mia Moglie")] == ["miamoglie_backup"]
    assert client.calls == [("search", "Mia Moglie")]


def test_name_search_sleeps_through_a_short_flood_wait(tmp_path: Path) -> None:
    sleeps: list[float] = []
    client = search_client(search=[tg_errors.FloodWaitError(request=None, capture=4)])
    search = name_search(settings(tmp_path), client=client, sleep=sleeps.append, jitter=lambda s: 0.5)
    assert [hit[0] for hit in search("telegram", "Mia Moglie")] == ["miamoglie_backup"]
    assert sleeps == [4.5]


def test_a_long_flood_wait_gives_no_results_instead_of_failing(tmp_path: Path,
                                                                caplog: pytest.LogCaptureFixture) -> None:
    sleeps: list[float] = []
    client = search_client(search=[tg_errors.FloodWaitError(request=None, capture=900)])
    search = name_search(settings(tmp_path, flood_wait_max_sleep=60), client=client, sleep=sleeps.append)
    with caplog.at_level("INFO", logger="crawlers.telegram.api"):
        assert search("telegram", "Mia Moglie") == []
    assert sleeps == []
    assert "name search for 'Mia Moglie' skipped" in caplog.text and "900" in caplog.text


def test_repeated_flood_waits_give_no_results(tmp_path: Path) -> None:
    sleeps: list[float] = []
    client = search_client(search=[tg_errors.FloodWaitError(request=None, capture=2) for _ in range(5)])
    search = name_search(settings(tmp_path), client=client, sleep=sleeps.append, jitter=lambda s: 0.0)
    assert search("telegram", "Mia Moglie") == []
    assert sleeps == [2.0, 2.0, 2.0]


def test_name_search_not_configured_like_the_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(NotConfigured, match="use_api"):
        name_search(settings(tmp_path))
    monkeypatch.setenv("TELEGRAM_API_ID", "12345")
    monkeypatch.delenv("TELEGRAM_API_HASH", raising=False)
    with pytest.raises(NotConfigured, match="TELEGRAM_API_HASH"):
        name_search(settings(tmp_path, use_api=True))
    monkeypatch.setenv("TELEGRAM_API_HASH", "abc")
    with pytest.raises(NotConfigured, match="telegram login"):
        name_search(settings(tmp_path, use_api=True))


@pytest.mark.skipif(not LIVE, reason="live Telegram test needs TELEGRAM_API_ID, TELEGRAM_API_HASH and "
                                     "RESURFACE_TEST_TG_SESSION (a session file made by `resurface telegram login`)")
def test_live_crawl_of_the_telegram_channel(tmp_path: Path) -> None:  # pragma: no cover - needs the network
    from crawlers.telegram.api import TelethonClient

    client = TelethonClient(Path(os.environ["RESURFACE_TEST_TG_SESSION"]), int(os.environ["TELEGRAM_API_ID"]),
                            os.environ["TELEGRAM_API_HASH"])
    src = TelegramApiSource(settings(tmp_path), client)
    try:
        records = list(src.crawl(Target(1, "telegram", "telegram", "https://t.me/telegram",
                                        cursor={"last_post_id": 0})))
    finally:
        src.close()
    check_records(records, platform="telegram")
    assert records[0].native_id == "1005640892"  # type: ignore[union-attr]
