"""A minimal platform plugin (a made-up "example board"): one package-like module and one register call.

It owns the URLs of one host, ``board.example``: ``/b/<name>`` is a board, ``/b/<name>/<n>`` a post on it. The
same recogniser answers link extraction (``links``) and ``watch add`` (``recognise``), with no other file touched;
it declares its host, so a post naming ``board.example/b/<name>`` without a scheme links to the board too.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

from config.settings import Settings
from crawlers.base import Source, Target
from crawlers.links import InvalidURL, LinkMatch, LinkRecogniser, LinkVerdict, UrlParts, parse_url, web_link
from crawlers.registry import PlatformPlugin, register
from model import records as r
from model.targets import WatchTarget

PLATFORM = "example_board"
HOST = "board.example"
_BOARD = re.compile(r"[a-z0-9_]{3,30}")


class ExampleBoardSource(Source):
    name = "example_board"
    platform = PLATFORM

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def crawl(self, target: Target) -> Iterator[r.Record]:
        yield r.CommunitySnapshot(platform=PLATFORM, native_id=target.url, handle=target.handle,
                                  url=target.url or "", fetched_at=datetime.now(UTC))


def _link(url: UrlParts) -> LinkVerdict:
    if url.host not in (HOST, f"www.{HOST}"):
        return None
    segs = [s.lower() for s in url.segments]
    if len(segs) < 2 or segs[0] != "b" or not _BOARD.fullmatch(segs[1]):
        return web_link(url)  # its own host, but no board: a plain page
    board = segs[1]
    if len(segs) == 3 and segs[2].isdigit():
        return LinkMatch(f"https://{HOST}/b/{board}/{segs[2]}", r.LinkKind.FORUM, PLATFORM, handle=board,
                         post_id=segs[2])
    return LinkMatch(f"https://{HOST}/b/{board}", r.LinkKind.FORUM, PLATFORM, handle=board)


def _recognise(text: str) -> WatchTarget | None:
    try:
        found = _link(parse_url(text.strip()))
    except InvalidURL:
        return None
    if not isinstance(found, LinkMatch) or found.platform != PLATFORM or found.handle is None:
        return None
    return WatchTarget(PLATFORM, found.handle, f"https://{HOST}/b/{found.handle}", r.CommunityKind.BOARD)


PLUGIN = register(PlatformPlugin(
    platform=PLATFORM,
    sources=(ExampleBoardSource,),
    default_interval=lambda s: s.forums.interval_minutes,
    recognise=_recognise,
    links=LinkRecogniser(PLATFORM, _link, hosts=(HOST,)),
    statuses={"closed": r.CommunityStatus.DELETED},
))
