"""The crawl of an HTML forum (phpBB, XenForo): board index → forums → threads → posts, paginated.

A forum software is a :class:`Dialect`: pure parsing functions over a ``parsel.Selector`` (Scrapy's
selector library). :class:`HtmlForumSource` does the walking with :class:`crawlers.http.SafeHttpClient`.

Why not a Scrapy spider here: Scrapy's reactor cannot restart in one process, so each crawl would be a
subprocess (as the Telegram preview crawler does, :mod:`crawlers.telegram.web_spider`); that spider is
Telegram-specific (its planner and parser are built in), and a forum crawl decides every next request
from the stored checkpoint and the page just parsed (skip unchanged threads, resume a thread at its
last page, a checkpoint after each page) — the same sequential loop either way. SafeHttpClient gives
the same guarantees as the Scrapy safety settings (address guard on every hop, byte cap, per-host rate
limit, retries honouring Retry-After) without a process per forum. The parsing is plain selector code,
so moving the fetching onto a Scrapy subprocess later changes only :meth:`HtmlForumSource._fetch`.

Incremental: the cursor keeps, per thread, the URL of the last page read, the last post id seen and
the "last post" marker the forum's listing shows. A thread whose marker is unchanged is not fetched;
a changed one is read from its last known page. Deleted-post placeholders are skipped (the earlier
version of the post stays stored).

Each post keeps its author's own text and links (quotes cut out, see :mod:`crawlers.forums.post_html`;
quoted links go to ``extra["quoted_links"]``), and the pictures it shows are downloaded under
``crawl.max_image_bytes``, fingerprinted in memory and dropped (:func:`crawlers.media.download_fingerprints`).

Statuses come from :func:`crawlers.forums.common.status_from_answer`: a login page is definitive, a bare
403/404 is not. A thread that answers 403/404/410, or the board's own "topic does not exist" page, is
skipped with a log line; a page of another kind where a thread was expected (an article add-on page)
is skipped too, never read as posts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol
from urllib.parse import urljoin, urlsplit

from parsel import Selector

from config.settings import Settings
from crawlers.base import Source, Target
from crawlers.errors import BadResponse, InvalidTarget
from crawlers.forums.common import StatusVerdict, forum_base, status_from_answer
from crawlers.http import Response, SafeHttpClient
from crawlers.links import extract_links_html
from crawlers.media import download_fingerprints
from model.records import (
    Checkpoint,
    CommunityKind,
    CommunityRef,
    CommunitySnapshot,
    CommunityStatus,
    MediaFingerprint,
    Membership,
    Post,
    RawMember,
    Record,
    payload_hash,
)

log = logging.getLogger(__name__)

#: Forum listings visited per crawl (sub-forums included), a guard against link mazes.
MAX_FORUMS = 200


@dataclass(frozen=True, slots=True)
class HtmlPost:
    post_id: str
    url: str
    author: str | None
    author_id: str | None
    created_at: datetime | None
    edited_at: datetime | None
    text: str  # the author's own text (quotes cut out)
    html: str  # the author's own HTML (quotes and anchor hrefs cut out), for links
    edited: bool = False
    quoted_html: str = ""  # what the post quotes, for its links
    image_urls: tuple[str, ...] = ()  # pictures the post shows (body and attachments)


@dataclass(frozen=True, slots=True)
class ThreadRef:
    thread_id: str
    url: str
    title: str | None
    last_marker: str | None = None  # what the listing shows of the last post (id or time)


@dataclass(frozen=True, slots=True)
class ListingPage:
    forums: list[str] = field(default_factory=list)
    threads: list[ThreadRef] = field(default_factory=list)
    next_url: str | None = None
    page_count: int | None = None  # "Page 1 of 2486", when the listing says


@dataclass(frozen=True, slots=True)
class ThreadPage:
    title: str | None
    posts: list[HtmlPost]
    next_url: str | None


@dataclass(frozen=True, slots=True)
class BoardInfo:
    title: str | None
    description: str | None


class Dialect(Protocol):
    """Pure parsing of one forum software's pages. ``url`` is the page's URL (for relative links)."""

    def is_board(self, sel: Selector) -> bool: ...
    def is_login_page(self, sel: Selector) -> bool: ...
    def notice(self, sel: Selector) -> str | None:
        """The forum's own message page ("topic does not exist", "board disabled"), if this is one."""
    def not_a_thread(self, sel: Selector) -> str | None:
        """Why a page fetched as a thread is recognisably something else (None: it may be a thread)."""
    def board_info(self, sel: Selector) -> BoardInfo: ...
    def listing(self, sel: Selector, url: str) -> ListingPage: ...
    def thread(self, sel: Selector, url: str) -> ThreadPage: ...


def text_of(sel: Selector) -> str:
    """Visible text of an element: scripts and styles dropped, whitespace collapsed per line."""
    parts = sel.xpath(".//text()[not(ancestor::script) and not(ancestor::style)]").getall()
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(parts).split("\n")]
    return "\n".join(line for line in lines if line)


def absolute(url: str, href: str | None) -> str | None:
    return urljoin(url, href.strip()) if href else None


def id_after(value: str | None, pattern: str) -> str | None:
    if not value:
        return None
    found = re.search(pattern, value)
    return found.group(1) if found else None


def _same_forum(url: str, base: str) -> bool:
    parts, home = urlsplit(url), urlsplit(base)
    return (parts.scheme, parts.netloc.lower()) == (home.scheme, home.netloc.lower()) and (
        parts.path.startswith(home.path.rstrip("/") + "/") or parts.path.rstrip("/") == home.path.rstrip("/"))


def _own_pages(page: ListingPage, base: str) -> ListingPage:
    forums = [f for f in page.forums if _same_forum(f, base)]
    threads = [t for t in page.threads if _same_forum(t.url, base)]
    elsewhere = [f for f in page.forums if f not in forums] + [t.url for t in page.threads if t not in threads]
    if elsewhere:
        log.info("links to pages outside the forum %s not followed: %s", base, ", ".join(elsewhere[:5]))
    next_url = page.next_url if page.next_url and _same_forum(page.next_url, base) else None
    return ListingPage(forums, threads, next_url, page.page_count)


def _newer(post_id: str, last: str | None) -> bool:
    if last is None:
        return True
    if post_id.isdigit() and last.isdigit():
        return int(post_id) > int(last)
    return post_id != last


class HtmlForumSource(Source):
    """Base of the HTML forum sources; subclasses set ``name``, ``platform``, ``dialect``, ``index_path``."""

    dialect: ClassVar[Dialect]
    index_path: ClassVar[str] = "/"
    software: ClassVar[str]

    def __init__(self, settings: Settings, *, client: SafeHttpClient | None = None) -> None:
        self.settings = settings
        self.client = client or SafeHttpClient(settings.crawl)

    def close(self) -> None:
        self.client.close()

    def _fetch(self, url: str) -> tuple[Response, Selector]:
        response = self.client.get(url, accept="text/html,application/xhtml+xml")
        if response.ok and response.content_type not in ("text/html", "application/xhtml+xml"):
            raise BadResponse(f"expected HTML from {response.url}, got content type "
                              f"{response.content_type or 'none'!r}")
        return response, Selector(text=response.text or "<html></html>")

    def crawl(self, target: Target) -> Iterator[Record]:
        base = forum_base(target.native_id or target.url)
        if not base:
            raise InvalidTarget(f"watched {self.software} forum #{target.community_id} has no URL")
        index_url = base + self.index_path
        fetched = datetime.now(UTC)
        response, sel = self._fetch(index_url)
        verdict = self._verdict(response, sel)
        if verdict is None and not response.ok:
            raise BadResponse(f"HTTP {response.status} from {index_url}")
        if verdict is None and not self.dialect.is_board(sel):
            said = self.dialect.notice(sel)
            if said:  # the board's own message instead of its index: "board disabled" and the like
                verdict = StatusVerdict(CommunityStatus.UNREACHABLE, False,
                                        f"HTTP {response.status} with the board's message {said!r}")
        if verdict is not None:
            log.info("%s: %s (%s)", index_url, verdict.status, verdict.evidence)
            yield CommunitySnapshot(platform=self.platform, native_id=None, handle=None, url=base, fetched_at=fetched,
                                    kind=CommunityKind.FORUM, status=verdict.status, source_url=index_url,
                                    extra=verdict.extra(response.status))
            return
        if not self.dialect.is_board(sel):
            raise BadResponse(f"{response.url} is not a {self.software} board index (expected forum list missing)")
        info = self.dialect.board_info(sel)
        ref = CommunityRef(self.platform, native_id=base, url=base, title=info.title)
        yield CommunitySnapshot(platform=self.platform, native_id=base, handle=None, url=base, fetched_at=fetched,
                                title=info.title, description=info.description, kind=CommunityKind.FORUM,
                                source_url=response.url, payload_sha256=payload_hash(response.text))
        threads_state: dict[str, dict[str, Any]] = {
            str(k): dict(v) for k, v in dict(target.cursor.get("threads", {})).items() if isinstance(v, Mapping)
        }
        for thread in self._threads(self.dialect.listing(sel, response.url), base):
            state = threads_state.get(thread.thread_id, {})
            if state and thread.last_marker is not None and state.get("marker") == thread.last_marker:
                continue
            for records, new_state in self._crawl_thread(ref, thread, state):
                yield from records
                threads_state.pop(thread.thread_id, None)
                threads_state[thread.thread_id] = new_state
                yield Checkpoint(ref, self.name, {"threads": dict(threads_state)})

    def _verdict(self, response: Response, sel: Selector) -> StatusVerdict | None:
        login = response.status in (200, 401, 403) and self.dialect.is_login_page(sel)
        said = self.dialect.notice(sel) if not response.ok else None
        return status_from_answer(response.status, login_page=login, forum_says=said and f"board says {said!r}")

    def _threads(self, index: ListingPage, base: str) -> Iterator[ThreadRef]:
        """Threads of every forum reachable from the index, each once, newest activity first per forum.
        Only this forum's own pages are followed: a "link forum" (phpBB's ``a.forumtitle`` to another
        site, seen on phpbb.com) or a thread link elsewhere is logged and left alone."""
        index = _own_pages(index, base)
        queue = list(index.forums)
        visited: set[str] = set()
        seen_threads: set[str] = set()
        yield from self._new_threads(index.threads, seen_threads)
        while queue and len(visited) < MAX_FORUMS:
            url: str | None = queue.pop(0)
            pages = 0
            while url and url not in visited and pages < self.settings.crawl.max_pages:
                visited.add(url)
                pages += 1
                response, sel = self._fetch(url)
                if response.status in (403, 404, 410):
                    log.info("forum listing %s answered HTTP %s; skipped", url, response.status)
                    break
                if not response.ok:
                    raise BadResponse(f"HTTP {response.status} from {url}")
                page = _own_pages(self.dialect.listing(sel, response.url), base)
                if page.page_count and pages == 1:
                    log.info("forum %s has %d pages; reading up to %d per crawl", url, page.page_count,
                             self.settings.crawl.max_pages)
                if not page.threads and not page.forums:
                    raise BadResponse(f"{response.url}: no threads or forums found in a {self.software} forum page")
                queue.extend(f for f in page.forums if f not in visited)
                yield from self._new_threads(page.threads, seen_threads)
                url = page.next_url

    @staticmethod
    def _new_threads(threads: list[ThreadRef], seen: set[str]) -> Iterator[ThreadRef]:
        for thread in threads:
            if thread.thread_id not in seen:
                seen.add(thread.thread_id)
                yield thread

    def _crawl_thread(self, ref: CommunityRef, thread: ThreadRef,
                      state: Mapping[str, Any]) -> Iterator[tuple[list[Record], dict[str, Any]]]:
        """Per page read: its records and the thread's new cursor state."""
        url: str | None = state.get("page") or thread.url
        last: str | None = state.get("last")
        pages = 0
        while url and pages < self.settings.crawl.max_pages:
            pages += 1
            response, sel = self._fetch(url)
            if response.status in (403, 404, 410):
                log.info("thread %s answered HTTP %s; skipped", url, response.status)
                return
            if not response.ok:
                raise BadResponse(f"HTTP {response.status} from {url}")
            page = self.dialect.thread(sel, response.url)
            if not page.posts:
                other = self.dialect.not_a_thread(sel)
                if other:
                    log.warning("thread %s skipped: %s", url, other)
                    return
                said = self.dialect.notice(sel)
                if said:
                    log.info("thread %s skipped: the board says %r", url, said)
                    return
                raise BadResponse(f"{response.url}: no posts found in a {self.software} thread page")
            fetched = datetime.now(UTC)
            title = page.title or thread.title
            records: list[Record] = []
            for item in page.posts:
                if not _newer(item.post_id, last):
                    continue
                post = self._post(ref, thread, title, item, fetched, response.url)
                records.append(post)
                if post.author is not None:
                    records.append(Membership(ref, post.author, fetched, how="posted"))
                last = item.post_id
            # Resume at the next unread page; on the last page, at that page (new posts land there).
            # The listing's marker is kept only once the thread has been read to its end.
            new_state = {"page": page.next_url or response.url, "last": last,
                         "marker": state.get("marker") if page.next_url else thread.last_marker}
            yield records, new_state
            url = page.next_url

    def _post(self, ref: CommunityRef, thread: ThreadRef, title: str | None, item: HtmlPost, fetched: datetime,
              page_url: str) -> Post:
        author = (RawMember(self.platform, user_id=item.author_id, handle=item.author)
                  if item.author or item.author_id else None)
        links = tuple(extract_links_html(item.html, page_url))
        extra: dict[str, Any] = {"edited": True} if item.edited else {}
        if item.quoted_html:
            own = {link.url for link in links}
            quoted = [link.url for link in extract_links_html(item.quoted_html, page_url) if link.url not in own]
            if quoted:
                extra["quoted_links"] = quoted
        if item.created_at is None:
            log.info("%s: post %s has no date the crawler could read", page_url, item.post_id)
        media = self._fingerprints(item.image_urls) if item.image_urls and self.settings.crawl.fetch_media else ()
        return Post(community=ref, native_post_id=item.post_id, url=item.url, fetched_at=fetched,
                    created_at=item.created_at, edited_at=item.edited_at, author=author, text=item.text,
                    links=links, media=media, kind="post", thread_id=thread.thread_id,
                    thread_title=title, source_url=page_url, extra=extra)

    def _fingerprints(self, urls: tuple[str, ...]) -> tuple[MediaFingerprint, ...]:
        return download_fingerprints(self.client, ((u, "photo") for u in urls), self.settings.crawl)
