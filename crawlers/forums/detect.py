"""Recognise a forum's software from its pages, for forums watched by URL alone (platform ``web``).

:func:`recognise_html` is pure: Discourse (``meta[name=generator]`` "Discourse …", its
``data-discourse-setup`` / ``discourse_*`` meta), phpBB (``body#phpbb`` prosilver markup, a "phpBB"
credit or generator), XenForo (``html[data-app][data-xf]`` or ``#XF``, the "XenForo" credit).
:func:`detect_forum` fetches the page and, when the HTML says nothing, asks ``/about.json`` (only
Discourse answers it with an ``about`` object).

Two ways a ``web`` community gets its real platform:

1. ``resurface watch add URL`` calls :func:`recognised_watch_target` and stores the community with the
   recognised platform from the start (when the forum is reachable then).
2. Otherwise :class:`ForumDetectSource` (name ``forum_detect``, platform ``web``) recognises it at
   crawl time and delegates to that platform's crawler. A source cannot touch the store, and ingest
   keys communities by (platform, native id), so the records stay labelled ``web`` (same community
   row, no duplicate) and the snapshot carries ``extra["recognised_platform"]``;
   after a successful crawl the runner relabels the row (:func:`store.watchlist.recognise_platform`)
   and hands the checkpoint over, so later crawls use that platform's crawler directly.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from parsel import Selector

from config.settings import Settings
from crawlers.base import Source, Target
from crawlers.errors import BadResponse, CrawlError, InvalidTarget
from crawlers.forums.common import forum_base, status_from_answer
from crawlers.http import SafeHttpClient
from model.records import (
    Checkpoint,
    CommunityKind,
    CommunitySnapshot,
    Membership,
    Platform,
    Post,
    Record,
)
from model.targets import WatchTarget, parse_target

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Detection:
    platform: str | None  # discourse, phpbb, xenforo, or None (not a forum we know)
    base_url: str
    status: int
    reason: str  # what gave it away, for the log and the snapshot


def recognise_html(html: str) -> tuple[str, str] | None:
    """(platform, evidence) from a page's markup, or None."""
    sel = Selector(text=html or "<html></html>")
    generator = " ".join(sel.css("meta[name=generator]::attr(content)").getall())
    if "discourse" in generator.lower():
        return Platform.DISCOURSE, f"generator {generator!r}"
    if sel.css("#data-discourse-setup, meta[name^='discourse_'], [data-discourse-setup]"):
        return Platform.DISCOURSE, "discourse setup markup"
    if sel.css("html[data-app][data-xf], html#XF[data-template]"):
        return Platform.XENFORO, "html data-app/data-xf attributes"
    if sel.css("body#phpbb"):
        return Platform.PHPBB, "prosilver body#phpbb"
    if "phpbb" in generator.lower():
        return Platform.PHPBB, f"generator {generator!r}"
    footer = " ".join(sel.css("footer, #page-footer, .copyright, .p-footer-copyright").xpath(".//text()").getall())
    if "xenforo" in footer.lower():
        return Platform.XENFORO, "XenForo credit"
    if "phpbb" in footer.lower() or sel.css("a[href*='phpbb.com']"):
        return Platform.PHPBB, "phpBB credit"
    return None


def detect_forum(client: SafeHttpClient, url: str) -> Detection:
    """Fetch the forum's page (and ``/about.json`` if needed) and recognise the software."""
    base = forum_base(url)
    response = client.get(base + "/", accept="text/html,application/xhtml+xml")
    found = recognise_html(response.text) if response.content_type in ("text/html", "application/xhtml+xml") else None
    if found:
        return Detection(found[0], base, response.status, found[1])
    if response.ok or response.status in (401, 403):
        about = client.get(base + "/about.json", accept="application/json")
        if about.ok and about.content_type == "application/json":
            try:
                body = about.json()
            except BadResponse:
                body = None
            if isinstance(body, dict) and isinstance(body.get("about"), dict):
                return Detection(Platform.DISCOURSE, base, response.status, "/about.json")
    return Detection(None, base, response.status, "no known forum markup")


def recognised_watch_target(settings: Settings, text: str, parsed: WatchTarget) -> WatchTarget:
    """For ``watch add``: the target with its recognised platform, or ``parsed`` unchanged (``web``)
    when the forum cannot be reached or recognised now (the crawler tries again later)."""
    with SafeHttpClient(settings.crawl) as client:
        try:
            detection = detect_forum(client, parsed.url or text)
        except CrawlError as exc:
            log.warning("could not recognise the forum software of %s now (%s); watching it as web", text, exc)
            return parsed
    if detection.platform is None:
        log.info("%s: %s; watching it as web", text, detection.reason)
        return parsed
    log.info("%s is %s (%s)", text, detection.platform, detection.reason)
    return parse_target(text, detection.platform)


def _delegate_for(platform: str, settings: Settings, client: SafeHttpClient) -> Source:
    from crawlers.forums.discourse.source import DiscourseSource
    from crawlers.forums.phpbb.source import PhpbbSource
    from crawlers.forums.xenforo.source import XenforoSource

    classes: dict[str, type[DiscourseSource] | type[PhpbbSource] | type[XenforoSource]] = {
        Platform.DISCOURSE: DiscourseSource, Platform.PHPBB: PhpbbSource, Platform.XENFORO: XenforoSource,
    }
    return classes[platform](settings, client=client)


class ForumDetectSource(Source):
    name = "forum_detect"
    platform = Platform.WEB

    def __init__(self, settings: Settings, *, client: SafeHttpClient | None = None) -> None:
        self.settings = settings
        self.client = client or SafeHttpClient(settings.crawl)

    def close(self) -> None:
        self.client.close()

    def crawl(self, target: Target) -> Iterator[Record]:
        if not target.url:
            raise InvalidTarget(f"watched web community #{target.community_id} has no URL")
        fetched = datetime.now(UTC)
        detection = detect_forum(self.client, target.url)
        base = detection.base_url
        verdict = status_from_answer(detection.status)
        if detection.platform is None:
            if verdict is not None:  # nothing recognisable answered: never definitive
                yield CommunitySnapshot(platform=Platform.WEB, native_id=None, handle=None, url=base,
                                        fetched_at=fetched, kind=CommunityKind.FORUM, status=verdict.status,
                                        source_url=base + "/", extra=verdict.extra(detection.status))
                return
            raise BadResponse(f"{base}/ is not a forum Resurface can crawl ({detection.reason}; "
                              "known: Discourse, phpBB, XenForo)")
        cursor = target.cursor if target.cursor.get("platform") == detection.platform else {}
        inner = dataclasses.replace(target, platform=detection.platform, native_id=base, url=base,
                                    cursor=dict(cursor.get("inner", {})))
        delegate = _delegate_for(detection.platform, self.settings, self.client)
        for record in delegate.crawl(inner):
            yield self._relabel(record, detection)

    def _relabel(self, record: Record, detection: Detection) -> Record:
        """Keep the records on the watched ``web`` community (see the module docstring)."""
        if isinstance(record, CommunitySnapshot):
            return dataclasses.replace(record, platform=Platform.WEB, extra={
                **record.extra, "recognised_platform": detection.platform, "recognised_by": detection.reason})
        if isinstance(record, Post | Membership):
            return dataclasses.replace(record, community=dataclasses.replace(record.community,
                                                                             platform=Platform.WEB))
        return Checkpoint(dataclasses.replace(record.community, platform=Platform.WEB), self.name,
                          {"platform": detection.platform, "inner": dict(record.cursor)})
