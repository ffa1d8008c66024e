"""``telegram_api``: channels and groups through the Telegram API (Telethon), with the operator's
own account (session made by ``resurface telegram login``).

Three parts, so that everything but the network is testable offline (no fake MTProto server is
possible):

- :class:`TelegramClientProtocol`: the calls we need (resolve, full info, messages since an id,
  participants, invite check, name search) plus an in-memory photo download. :class:`TelethonClient` implements
  it on Telethon; tests implement it with real ``telethon.tl.types`` objects.
- pure adapter functions (``snapshot_from``, ``post_from``, ``membership_from``, ``invite_from``)
  mapping Telethon objects to our records. They read ``msg.message`` and ``msg.fwd_from`` (the raw
  TL fields), never ``msg.text``/``msg.forward``, which need a connected client.
- :class:`TelegramApiSource`, which sequences the calls, checkpoints, and maps errors: a short
  ``FloodWaitError`` is slept through with jitter, a long one reschedules the source;
  ``ChannelPrivateError`` means *private*; ``ChatAdminRequiredError`` on participants means "not
  visible to us", not a failure.

Pseudonymity: user ids and handles leave here only as :class:`~model.records.RawMember`, which
ingest pseudonymises. Nothing else naming a person is kept: a post forwarded from a user or a hidden
sender has a ForwardRef with ``hidden=True`` and no id, name or handle (those columns are not
pseudonymised); channel forwards keep the channel id and post but not the author signature; admin
signatures of channel posts are dropped; a handle that resolves to a *user* is refused
(:class:`~crawlers.errors.InvalidTarget`) before anything is read; and Telethon's session file is
kept from caching the users it sees (:func:`make_telethon_client`).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

from telethon import errors as tg_errors
from telethon.tl import types as tl

from config import secrets
from config.settings import Settings
from crawlers import errors
from crawlers.base import NotConfigured, Source, Target
from crawlers.links import classify_url, extract_links
from crawlers.media import fingerprint_image
from model import records as r

log = logging.getLogger(__name__)

SOURCE = "telegram_api"
API_ID_ENV = "TELEGRAM_API_ID"
API_HASH_ENV = "TELEGRAM_API_HASH"
#: Messages per checkpoint (one "page" of the API crawl).
PAGE = 100
MAX_PARTICIPANTS = 10_000

T = TypeVar("T")


class TelegramClientProtocol(Protocol):
    def resolve(self, ref: str) -> Any:
        """The Channel/Chat for a handle, ``t.me`` link or numeric id."""

    def full_channel(self, entity: Any) -> Any:
        """``messages.ChatFull`` of a channel or supergroup."""

    def iter_messages(self, entity: Any, min_id: int, limit: int) -> Iterable[Any]:
        """Messages with id > ``min_id``, oldest first, at most ``limit``."""

    def iter_participants(self, entity: Any, limit: int) -> Iterable[Any]:
        """Users of a group (Telethon's ``User`` objects carrying ``participant``)."""

    def check_invite(self, invite_hash: str) -> Any:
        """``messages.CheckChatInvite``: ChatInvite / ChatInviteAlready / ChatInvitePeek. Never joins."""

    def download_photo(self, message: Any) -> bytes | None:
        """The message's photo as bytes in memory (never a file)."""

    def search(self, query: str, limit: int) -> Any:
        """``contacts.Search``: a ``contacts.Found`` whose ``.chats`` and ``.users`` are named like ``query``."""

    def close(self) -> None: ...


# --- pure adapter ----------------------------------------------------------------------------------


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def username_of(entity: Any) -> str | None:
    name = getattr(entity, "username", None)
    if name:
        return str(name).lower()
    for item in getattr(entity, "usernames", None) or []:
        if getattr(item, "active", True) and getattr(item, "username", None):
            return str(item.username).lower()
    return None


def community_url(entity: Any) -> str:
    handle = username_of(entity)
    return f"https://t.me/{handle}" if handle else f"https://t.me/c/{entity.id}"


def kind_of(entity: Any) -> str:
    if isinstance(entity, tl.Channel):
        return r.CommunityKind.CHANNEL if entity.broadcast else r.CommunityKind.GROUP
    if isinstance(entity, tl.Chat):
        return r.CommunityKind.GROUP
    return r.CommunityKind.UNKNOWN


def ref_of(entity: Any) -> r.CommunityRef:
    return r.CommunityRef(r.Platform.TELEGRAM, str(entity.id), username_of(entity), community_url(entity),
                          getattr(entity, "title", None))


def snapshot_from(entity: Any, full: Any, fetched_at: datetime, requested: str | None = None) -> r.CommunitySnapshot:
    """Snapshot from a resolved entity and its ``messages.ChatFull`` (``full`` may be None)."""
    info = getattr(full, "full_chat", None)
    handle = username_of(entity)
    members = getattr(info, "participants_count", None)
    if members is None:
        members = getattr(entity, "participants_count", None)
    extra: dict[str, Any] = {"source": SOURCE}
    if info is not None and getattr(info, "linked_chat_id", None):
        extra["linked_chat_id"] = str(info.linked_chat_id)
    asked = requested.lower().lstrip("@") if requested else None
    return r.CommunitySnapshot(
        platform=r.Platform.TELEGRAM, native_id=str(entity.id), handle=handle, url=community_url(entity),
        fetched_at=fetched_at, title=getattr(entity, "title", None),
        description=(getattr(info, "about", None) or None), kind=kind_of(entity), status=r.CommunityStatus.ACTIVE,
        member_count=members, online_count=getattr(info, "online_count", None),
        created_at=_utc(getattr(entity, "date", None)), source_url=community_url(entity),
        requested_handle=asked if asked and not asked.isdigit() and asked != handle else None, extra=extra,
    )


def forward_from(header: Any) -> r.ForwardRef | None:
    """``msg.fwd_from`` → ForwardRef: a channel or chat by id (and post); a user or a hidden sender
    by nothing identifying: ``hidden=True`` and no id, ``from_name`` or handle, because the posts
    table stores a forward origin as is. ``post_author`` (the signing admin's display name) is a
    person's name too and is dropped."""
    if header is None:
        return None
    peer = header.from_id
    if isinstance(peer, tl.PeerChannel):
        return r.ForwardRef(r.Platform.TELEGRAM, native_id=str(peer.channel_id),
                            post_id=str(header.channel_post) if header.channel_post else None)
    if isinstance(peer, tl.PeerChat):
        return r.ForwardRef(r.Platform.TELEGRAM, native_id=str(peer.chat_id))
    return r.ForwardRef(r.Platform.TELEGRAM, hidden=True)


_ACTIONS: dict[type, str] = {
    tl.MessageActionChatEditTitle: "title_changed",
    tl.MessageActionChatEditPhoto: "photo_changed",
    tl.MessageActionChatDeletePhoto: "photo_removed",
    tl.MessageActionChannelCreate: "created",
    tl.MessageActionChatCreate: "created",
    tl.MessageActionChatMigrateTo: "migrated_to",
    tl.MessageActionChannelMigrateFrom: "migrated_from",
    tl.MessageActionPinMessage: "pinned",
}


def service_of(action: Any) -> tuple[str, str | None]:
    name = _ACTIONS.get(type(action), "other")
    if isinstance(action, tl.MessageActionChatEditTitle | tl.MessageActionChannelCreate | tl.MessageActionChatCreate):
        return name, action.title
    if isinstance(action, tl.MessageActionChatMigrateTo):
        return name, str(action.channel_id)
    if isinstance(action, tl.MessageActionChannelMigrateFrom):
        return name, str(action.chat_id)
    return name, (type(action).__name__ if name == "other" else None)


def links_of(message: Any) -> tuple[r.ExtractedLink, ...]:
    found: dict[str, r.ExtractedLink] = {}
    for entity in getattr(message, "entities", None) or []:
        if isinstance(entity, tl.MessageEntityTextUrl):
            link = classify_url(entity.url)
            if link is not None:
                found.setdefault(link.url, link)
    for link in extract_links(getattr(message, "message", None) or ""):
        found.setdefault(link.url, link)
    media = getattr(message, "media", None)
    if isinstance(media, tl.MessageMediaWebPage) and isinstance(media.webpage, tl.WebPage):
        link = classify_url(media.webpage.url)
        if link is not None:
            found.setdefault(link.url, link)
    return tuple(found.values())


def post_from(message: Any, entity: Any, fetched_at: datetime,
              media: tuple[r.MediaFingerprint, ...] = ()) -> r.Post:
    ref = ref_of(entity)
    handle = username_of(entity)
    url = f"https://t.me/{handle}/{message.id}" if handle else f"https://t.me/c/{entity.id}/{message.id}"
    author = None
    sender = getattr(message, "from_id", None)
    if kind_of(entity) == r.CommunityKind.GROUP and isinstance(sender, tl.PeerUser):
        author = r.RawMember(r.Platform.TELEGRAM, user_id=str(sender.user_id))
    extra: dict[str, Any] = {}  # message.post_author (an admin's display name) is deliberately not kept
    if getattr(message, "grouped_id", None):
        extra["grouped_id"] = str(message.grouped_id)
    reply = getattr(message, "reply_to", None)
    reply_to = getattr(reply, "reply_to_msg_id", None)
    if isinstance(message, tl.MessageService):
        action, value = service_of(message.action)
        return r.Post(community=ref, native_post_id=str(message.id), url=url, fetched_at=fetched_at,
                      created_at=_utc(message.date), author=author, text=None, kind="service",
                      service_action=action, service_value=value, media=media, source_url=url, extra=extra)
    return r.Post(
        community=ref, native_post_id=str(message.id), url=url, fetched_at=fetched_at,
        created_at=_utc(message.date), edited_at=_utc(getattr(message, "edit_date", None)), author=author,
        text=message.message or None, links=links_of(message), forwarded_from=forward_from(message.fwd_from),
        media=media, views=getattr(message, "views", None), reply_to=str(reply_to) if reply_to else None,
        source_url=url, extra=extra,
    )


def membership_from(user: Any, entity: Any, seen_at: datetime) -> r.Membership | None:
    if getattr(user, "bot", False) or getattr(user, "deleted", False):
        return None
    participant = getattr(user, "participant", None)
    how = "admin" if isinstance(participant, tl.ChannelParticipantAdmin | tl.ChannelParticipantCreator) else (
        "participant")
    return r.Membership(ref_of(entity), r.RawMember(r.Platform.TELEGRAM, user_id=str(user.id),
                                                    handle=username_of(user)), seen_at, how)


@dataclass(frozen=True, slots=True)
class InviteInfo:
    """What ``messages.CheckChatInvite`` tells about a private invite link, without joining."""

    invite_hash: str
    title: str | None
    member_count: int | None
    already_joined: bool
    kind: str
    about: str | None = None
    native_id: str | None = None
    request_needed: bool = False


def invite_from(invite_hash: str, result: Any) -> InviteInfo:
    if isinstance(result, tl.ChatInviteAlready | tl.ChatInvitePeek):
        chat = result.chat
        return InviteInfo(invite_hash, getattr(chat, "title", None), getattr(chat, "participants_count", None),
                          already_joined=isinstance(result, tl.ChatInviteAlready), kind=kind_of(chat),
                          native_id=str(chat.id))
    kind = r.CommunityKind.CHANNEL if result.broadcast else r.CommunityKind.GROUP
    return InviteInfo(invite_hash, result.title, result.participants_count, already_joined=False, kind=kind,
                      about=result.about, request_needed=bool(result.request_needed))


def search_results_from(found: Any) -> list[tuple[str, str | None, str]]:
    """``contacts.Found`` → ``[(handle, title, url)]`` for :class:`detect.leads.NameSearch`.

    Only public channels and supergroups (a ``Channel`` with a username) are kept: a username-less
    channel cannot be watched without joining, a basic ``Chat`` is never public, and users are people,
    not communities, so ``found.users`` is never read."""
    results: list[tuple[str, str | None, str]] = []
    seen: set[str] = set()
    for chat in getattr(found, "chats", None) or []:
        if not isinstance(chat, tl.Channel):
            continue
        handle = username_of(chat)
        if not handle or handle in seen:
            continue
        seen.add(handle)
        results.append((handle, getattr(chat, "title", None), f"https://t.me/{handle}"))
    return results


def largest_photo_bytes(message: Any) -> int | None:
    """Declared size of the largest version of a message's photo (None if unknown or no photo)."""
    media = getattr(message, "media", None)
    photo = getattr(media, "photo", None) if isinstance(media, tl.MessageMediaPhoto) else None
    if not isinstance(photo, tl.Photo):
        return None
    sizes: list[int] = []
    for size in photo.sizes:
        if isinstance(size, tl.PhotoSize):
            sizes.append(size.size)
        elif isinstance(size, tl.PhotoSizeProgressive) and size.sizes:
            sizes.append(max(size.sizes))
    return max(sizes) if sizes else None


def has_photo(message: Any) -> bool:
    media = getattr(message, "media", None)
    return isinstance(media, tl.MessageMediaPhoto) and isinstance(media.photo, tl.Photo)


# --- the source ------------------------------------------------------------------------------------


Sleep = Callable[[float], None]


class FloodControl:
    """Run client calls, sleeping through short FloodWaits (with jitter) and rescheduling on long ones."""

    def __init__(self, max_sleep: float, sleep: Sleep = time.sleep,
                 jitter: Callable[[float], float] | None = None, attempts: int = 3) -> None:
        self.max_sleep = max_sleep
        self.sleep = sleep
        self.jitter = jitter or (lambda seconds: random.uniform(0.0, min(5.0, 1.0 + seconds * 0.1)))
        self.attempts = attempts

    def wait_or_raise(self, exc: tg_errors.FloodWaitError, what: str) -> None:
        seconds = float(exc.seconds)
        if seconds > self.max_sleep:
            raise errors.RescheduleSource(f"Telegram asks to wait {seconds:g}s before {what}", seconds) from exc
        delay = seconds + self.jitter(seconds)
        log.info("FloodWait %gs on %s: sleeping %.1fs", seconds, what, delay)
        self.sleep(delay)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        for _ in range(self.attempts):
            try:
                return fn()
            except tg_errors.FloodWaitError as exc:
                self.wait_or_raise(exc, what)
        return fn()


class TelegramApiSource(Source):
    name = SOURCE
    platform = r.Platform.TELEGRAM

    def __init__(self, settings: Settings, client: TelegramClientProtocol, *, sleep: Sleep = time.sleep,
                 jitter: Callable[[float], float] | None = None) -> None:
        self.settings = settings
        self.client = client
        self.flood = FloodControl(settings.telegram.flood_wait_max_sleep, sleep, jitter)

    @classmethod
    def from_settings(cls, settings: Settings) -> Source:
        return cls(settings, TelethonClient(*api_config(settings)))

    def handles(self, target: Target) -> bool:
        return target.platform == self.platform and bool(target.handle or target.native_id)

    def close(self) -> None:
        self.client.close()

    def _resolve(self, target: Target) -> Any:
        ref = target.handle or target.native_id or ""
        try:
            return self.flood.call(f"resolving {ref}", lambda: self.client.resolve(ref))
        except (tg_errors.ChannelPrivateError, tg_errors.ChannelInvalidError) as exc:
            raise errors.CommunityUnavailable(f"t.me/{ref} is private: {exc}", r.CommunityStatus.PRIVATE) from exc
        except (tg_errors.UsernameNotOccupiedError, tg_errors.UsernameInvalidError) as exc:
            raise errors.CommunityUnavailable(f"t.me/{ref} does not exist: {exc}", r.CommunityStatus.DELETED) from exc
        except ValueError as exc:  # Telethon: "No user has X as username"
            raise errors.CommunityUnavailable(f"t.me/{ref} does not resolve: {exc}", r.CommunityStatus.DELETED) from exc
        except (TimeoutError, ConnectionError, OSError) as exc:
            raise errors.TransientError(f"Telegram unreachable resolving {ref}: {exc}") from exc

    def crawl(self, target: Target) -> Iterator[r.Record]:
        entity = self._resolve(target)
        if isinstance(entity, tl.User):
            # A "contact t.me/<someone>" link made a person a lead: reading their profile (or our
            # private chat with them) would store a person as a community. Refuse before any read.
            raise errors.InvalidTarget(f"t.me/{target.handle or target.native_id} is a person's account, "
                                       "not a community; not stored")
        fetched = datetime.now(UTC)
        try:
            full = self.flood.call("reading full info", lambda: self.client.full_channel(entity))
        except tg_errors.ChannelPrivateError as exc:
            raise errors.CommunityUnavailable(f"t.me/{target.handle} is private: {exc}",
                                              r.CommunityStatus.PRIVATE) from exc
        snapshot = snapshot_from(entity, full, fetched, requested=target.handle)
        if target.native_id and snapshot.native_id != target.native_id and target.handle:
            snapshot = _with_requested(snapshot, target.handle)
        yield snapshot
        ref = ref_of(entity)
        min_id = 0
        if target.native_id in (None, snapshot.native_id):
            try:
                min_id = int(target.cursor.get("last_post_id") or 0)
            except (TypeError, ValueError):
                log.warning("unreadable telegram_api cursor %r for %s; starting afresh", dict(target.cursor), ref.url)
        yield from self._messages(entity, ref, min_id)
        if kind_of(entity) == r.CommunityKind.GROUP:
            yield from self._participants(entity)

    def _messages(self, entity: Any, ref: r.CommunityRef, min_id: int) -> Iterator[r.Record]:
        """Posts since ``min_id``, oldest first, a checkpoint every :data:`PAGE`. A FloodWait in the
        middle is slept through (or reschedules) and reading resumes after the last post yielded."""
        limit = self.settings.crawl.max_pages * PAGE
        last, count, waits = min_id, 0, 0
        while True:
            try:
                for message in self.client.iter_messages(entity, last, limit - count):
                    yield post_from(message, entity, datetime.now(UTC), self._fingerprints(message))
                    last = max(last, int(message.id))
                    count += 1
                    if count % PAGE == 0:
                        yield r.Checkpoint(ref, SOURCE, {"last_post_id": last})
                break
            except tg_errors.FloodWaitError as exc:
                waits += 1
                if waits > self.flood.attempts:
                    raise errors.RescheduleSource(f"repeated FloodWaits reading {ref.url}", float(exc.seconds)) from exc
                self.flood.wait_or_raise(exc, f"reading {ref.url}")
            except tg_errors.ChannelPrivateError as exc:
                raise errors.CommunityUnavailable(f"{ref.url} became private: {exc}",
                                                  r.CommunityStatus.PRIVATE) from exc
        yield r.Checkpoint(ref, SOURCE, {"last_post_id": last})

    def _participants(self, entity: Any) -> Iterator[r.Record]:
        seen = datetime.now(UTC)
        try:
            users = list(self.flood.call("listing participants",
                                         lambda: list(self.client.iter_participants(entity, MAX_PARTICIPANTS))))
        except (tg_errors.ChatAdminRequiredError, tg_errors.ChannelPrivateError) as exc:
            log.info("participants of %s not visible to this account (%s)", community_url(entity), type(exc).__name__)
            return
        for user in users:
            membership = membership_from(user, entity, seen)
            if membership is not None:
                yield membership

    def _fingerprints(self, message: Any) -> tuple[r.MediaFingerprint, ...]:
        crawl = self.settings.crawl
        if not crawl.fetch_media or not has_photo(message):
            return ()
        size = largest_photo_bytes(message)
        if size is not None and size > crawl.max_image_bytes:
            log.warning("media skipped (%d bytes > limit %d): message %s", size, crawl.max_image_bytes, message.id)
            return ()
        data = self.flood.call("downloading a photo", lambda: self.client.download_photo(message))
        if not data:
            return ()
        try:
            fp = fingerprint_image(data, max_pixels=crawl.max_image_pixels, max_bytes=crawl.max_image_bytes,
                                   source_url=None)
        finally:
            del data
        return (fp,) if fp is not None else ()

    def check_invite(self, invite_hash: str) -> InviteInfo:
        """Metadata of a private invite link, without joining (for a human to review a lead)."""
        result = self.flood.call("checking an invite", lambda: self.client.check_invite(invite_hash))
        return invite_from(invite_hash, result)


def api_config(settings: Settings) -> tuple[Path, int, str]:
    """(session file, api id, api hash) for the API client; :class:`NotConfigured` naming what is missing."""
    if not settings.telegram.use_api:
        raise NotConfigured("telegram.use_api is false")
    env = secrets.optional(API_ID_ENV), secrets.optional(API_HASH_ENV)
    missing = [name for name, value in zip((API_ID_ENV, API_HASH_ENV), env, strict=True) if not value]
    if missing:
        raise NotConfigured(f"telegram.use_api needs {' and '.join(missing)} in the environment")
    session = session_path(settings)
    if not session.exists():
        raise NotConfigured(f"no Telegram session at {session}: run `resurface telegram login` first")
    return session, int(env[0] or 0), env[1] or ""


# --- name search (successor discovery) ---------------------------------------------------------------

#: Results asked of ``contacts.Search`` per query.
SEARCH_LIMIT = 20


class TelegramNameSearch:
    """A :class:`detect.leads.NameSearch` on Telegram's global search (``contacts.Search``).

    The client is made on the first Telegram query, not when detection starts, so a cycle with no
    shutdown never connects. Detection must not fail because of Telegram: a long FloodWait, repeated
    FloodWaits, an RPC or network error, or a session that cannot connect give ``[]`` and a log line."""

    def __init__(self, settings: Settings, client: Callable[[], TelegramClientProtocol], *,
                 sleep: Sleep = time.sleep, jitter: Callable[[float], float] | None = None,
                 limit: int = SEARCH_LIMIT) -> None:
        self._make_client = client
        self._client: TelegramClientProtocol | None = None
        self._failed = False
        self.flood = FloodControl(settings.telegram.flood_wait_max_sleep, sleep, jitter)
        self.limit = limit

    def _connected(self) -> TelegramClientProtocol | None:
        if self._client is None and not self._failed:
            try:
                client = self._make_client()
            except (NotConfigured, tg_errors.RPCError, OSError) as exc:
                self._failed = True
                log.info("Telegram name search unavailable: %s", exc)
                return None
            self._client = client
            weakref.finalize(self, client.close)
        return self._client

    def __call__(self, platform: str, query: str) -> list[tuple[str, str | None, str]]:
        if platform != r.Platform.TELEGRAM or not query.strip():
            return []
        client = self._connected()
        if client is None:
            return []
        try:
            found = self.flood.call(f"searching for {query!r}", lambda: client.search(query, self.limit))
        except (errors.RescheduleSource, tg_errors.FloodWaitError) as exc:
            log.info("Telegram name search for %r skipped: %s", query, exc)
            return []
        except (tg_errors.RPCError, OSError) as exc:
            log.info("Telegram name search for %r failed: %s", query, exc)
            return []
        return search_results_from(found)


def name_search(settings: Settings, *, client: TelegramClientProtocol | None = None, sleep: Sleep = time.sleep,
                jitter: Callable[[float], float] | None = None) -> TelegramNameSearch:
    """A :class:`detect.leads.NameSearch` on Telegram (``[]`` for other platforms). Raises
    :class:`NotConfigured` exactly when :meth:`TelegramApiSource.from_settings` would; an injected
    ``client`` (tests) skips that check."""
    if client is not None:
        given = client
        return TelegramNameSearch(settings, lambda: given, sleep=sleep, jitter=jitter)
    config = api_config(settings)
    return TelegramNameSearch(settings, lambda: TelethonClient(*config), sleep=sleep, jitter=jitter)


def _with_requested(snapshot: r.CommunitySnapshot, handle: str) -> r.CommunitySnapshot:
    import dataclasses

    return dataclasses.replace(snapshot, requested_handle=handle.lower())


def session_path(settings: Settings) -> Path:
    path = Path(settings.telegram.session_file).expanduser()
    return path if path.is_absolute() else settings.data_path / path


# --- the thin Telethon client -----------------------------------------------------------------------


def make_telethon_client(session: Path, api_id: int, api_hash: str, loop: asyncio.AbstractEventLoop) -> Any:
    """A TelegramClient on ``session`` whose session does not cache entities.

    Telethon's SQLite session keeps an ``entities`` table of every user and chat in every response
    (id, access hash, username, phone, display name) in the ``.session`` file: a raw list of the
    members we crawl, outside the pseudonymised store. ``save_entities = False`` stops that (a
    MemorySession has no such switch and writes nothing to disk). The cost: resolving a community by
    numeric id alone needs it to have been resolved by handle in the same process."""
    from telethon import TelegramClient

    # Telethon appends ".session" itself.
    name = str(session)[: -len(".session")] if str(session).endswith(".session") else str(session)
    client = TelegramClient(name, api_id, api_hash, loop=loop)
    if hasattr(client.session, "save_entities"):
        client.session.save_entities = False
    return client


def purge_saved_users(session: Path) -> int:
    """Delete the user rows an older session file cached (made by ``login`` or before entity caching
    was turned off); returns how many. Channel and chat rows are kept (they hold access hashes).
    Telethon stores users under their positive id, chats negative, channels as -100<id>."""
    import sqlite3

    path = session if str(session).endswith(".session") else Path(str(session) + ".session")
    if not path.exists():
        return 0
    conn = sqlite3.connect(path)
    try:
        with conn:
            if conn.execute("select 1 from sqlite_master where type='table' and name='entities'").fetchone() is None:
                return 0
            return conn.execute("delete from entities where id > 0").rowcount
    finally:
        conn.close()


class TelethonClient:
    """:class:`TelegramClientProtocol` on Telethon. Owns a private event loop and runs each call to
    completion on it, because sources are synchronous. Not used by the offline tests."""

    def __init__(self, session: Path, api_id: int, api_hash: str) -> None:
        self._loop = asyncio.new_event_loop()
        purge_saved_users(session)
        self._client = make_telethon_client(session, api_id, api_hash, self._loop)
        self._run(self._client.connect())
        if not self._run(self._client.is_user_authorized()):
            self.close()
            raise NotConfigured(f"the Telegram session {session} is not logged in: run `resurface telegram login`")

    def _run(self, coro: Any) -> Any:
        return self._loop.run_until_complete(coro)

    def _iterate(self, agen: Any) -> Iterator[Any]:
        while True:
            try:
                yield self._run(agen.__anext__())
            except StopAsyncIteration:
                return

    def resolve(self, ref: str) -> Any:
        return self._run(self._client.get_entity(int(ref) if ref.lstrip("-").isdigit() else ref))

    def full_channel(self, entity: Any) -> Any:
        from telethon.tl.functions.channels import GetFullChannelRequest
        from telethon.tl.functions.messages import GetFullChatRequest

        if isinstance(entity, tl.Chat):
            return self._run(self._client(GetFullChatRequest(entity.id)))
        return self._run(self._client(GetFullChannelRequest(entity)))

    def iter_messages(self, entity: Any, min_id: int, limit: int) -> Iterable[Any]:
        return self._iterate(self._client.iter_messages(entity, min_id=min_id, reverse=True, limit=limit).__aiter__())

    def iter_participants(self, entity: Any, limit: int) -> Iterable[Any]:
        return self._iterate(self._client.iter_participants(entity, limit=limit).__aiter__())

    def check_invite(self, invite_hash: str) -> Any:
        from telethon.tl.functions.messages import CheckChatInviteRequest

        return self._run(self._client(CheckChatInviteRequest(invite_hash)))

    def search(self, query: str, limit: int) -> Any:
        from telethon.tl.functions.contacts import SearchRequest

        return self._run(self._client(SearchRequest(q=query, limit=limit)))

    def download_photo(self, message: Any) -> bytes | None:
        data = self._run(self._client.download_media(message, file=bytes))
        return data if isinstance(data, bytes) else None

    def close(self) -> None:
        if not self._loop.is_closed():
            try:
                self._run(self._client.disconnect())
            finally:
                self._loop.close()
