"""Target parsing: what a user types (a URL or ``@handle``) becomes a platform and a key.

:func:`parse_target` is pure: it turns the input into a :class:`WatchTarget`, or raises
:class:`~model.errors.UsageError` naming it. The Telegram handle and subreddit name rules here are the
only ones: link extraction (:mod:`crawlers.links`) and ``watch add`` both use them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from model.errors import UsageError
from model.records import CommunityKind, Platform

#: A public Telegram username: 5 to 32 characters, letters, digits and underscores, starting with a
#: letter (Telegram's own rule; compared case-insensitively).
TELEGRAM_HANDLE = re.compile(r"[a-z][a-z0-9_]{4,31}")
#: A subreddit name: 2 to 21 characters, letters, digits and underscores, not starting with "_".
SUBREDDIT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_]{1,20}")

TELEGRAM_HOSTS = frozenset({"t.me", "www.t.me", "telegram.me", "www.telegram.me", "telegram.dog", "www.telegram.dog"})
#: First path segments of t.me that are features, not usernames.
TELEGRAM_RESERVED = frozenset(
    {
        "share", "addstickers", "addemoji", "addtheme", "addlist", "proxy", "socks", "iv", "login",
        "setlanguage", "confirmphone", "contact", "invoice", "boost", "giftcode", "bg", "joinchat",
        "nft", "auth", "s", "c", "a", "k", "z",
    }
)  # fmt: skip


def is_telegram_handle(handle: str) -> bool:
    """Whether ``handle`` (without ``@``) is a valid public Telegram username."""
    return handle.isascii() and TELEGRAM_HANDLE.fullmatch(handle.lower()) is not None


def is_subreddit_name(name: str) -> bool:
    return name.isascii() and SUBREDDIT_NAME.fullmatch(name) is not None


_REDDIT_HOSTS = {"reddit.com", "www.reddit.com", "old.reddit.com", "np.reddit.com", "new.reddit.com", "m.reddit.com"}
FORUM_PLATFORMS = {Platform.DISCOURSE, Platform.PHPBB, Platform.XENFORO}


@dataclass(frozen=True, slots=True)
class WatchTarget:
    platform: str
    handle: str | None
    url: str | None
    kind: str = CommunityKind.UNKNOWN
    native_id: str | None = None


def parse_target(text: str, platform: str | None = None) -> WatchTarget:
    raw = text.strip()
    if not raw:
        raise UsageError("watch add needs a URL or @handle")
    if raw.startswith("@"):
        handle = raw[1:]
        if platform in (None, Platform.TELEGRAM) and is_telegram_handle(handle):
            handle = handle.lower()
            return WatchTarget(Platform.TELEGRAM, handle, f"https://t.me/{handle}", CommunityKind.CHANNEL)
        raise UsageError(f"{raw!r} is not a valid Telegram handle (5-32 letters, digits or _, starting with a letter)")
    if re.match(r"^/?r/", raw):
        raw = "https://www.reddit.com/" + raw.lstrip("/")
    if "://" not in raw:
        raw = "https://" + raw
    try:
        parts = urlsplit(raw)
        host = (parts.hostname or "").lower()
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError:
        raise UsageError(f"{text!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host or any(c.isspace() for c in raw):
        raise UsageError(f"{text!r} is not a valid http(s) URL")
    segments = [s for s in parts.path.split("/") if s]
    if host in TELEGRAM_HOSTS and platform in (None, Platform.TELEGRAM):
        if segments[:1] == ["s"]:
            segments = segments[1:]
        if not segments or not is_telegram_handle(segments[0]) or segments[0].lower() in TELEGRAM_RESERVED:
            raise UsageError(f"{text!r} is not a public Telegram channel URL (invite links cannot be watched, "
                             "they are leads for a human)")
        handle = segments[0].lower()
        return WatchTarget(Platform.TELEGRAM, handle, f"https://t.me/{handle}", CommunityKind.CHANNEL)
    if host in _REDDIT_HOSTS and platform in (None, Platform.REDDIT):
        if len(segments) < 2 or segments[0].lower() != "r" or not is_subreddit_name(segments[1]):
            raise UsageError(f"{text!r} is not a subreddit URL (https://www.reddit.com/r/NAME)")
        name = segments[1].lower()
        return WatchTarget(Platform.REDDIT, name, f"https://www.reddit.com/r/{name}", CommunityKind.SUBREDDIT)
    base = f"{parts.scheme}://{parts.netloc.lower()}{parts.path.rstrip('/')}"
    if platform is None:
        # A forum's software is recognised from its pages by the crawler; until then it is "web".
        return WatchTarget(Platform.WEB, None, base or raw, CommunityKind.FORUM)
    if platform in FORUM_PLATFORMS:
        return WatchTarget(platform, None, base, CommunityKind.FORUM, native_id=base)
    return WatchTarget(platform, None, base, CommunityKind.UNKNOWN)
