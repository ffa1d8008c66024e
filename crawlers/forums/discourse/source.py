"""Discourse forums through their public JSON API (via :class:`crawlers.http.SafeHttpClient`).

- ``/about.json``: title, description, counts. A redirect to ``/login`` (a ``login_required`` site) or
  Discourse's own ``not_logged_in``/``invalid_access`` error → private, definitive; 410 → deleted,
  definitive; a bare 404 → deleted and a bare 401/403 → private, neither definitive (a proxy, a WAF or a
  moved path answer the same): see :func:`crawlers.forums.common.status_from_answer`.
- ``/latest.json``: topics by last activity, paged through ``more_topics_url``.
- ``/t/{id}.json``: the first 20 posts and ``post_stream.stream`` (every post id); the rest come from
  ``/t/{id}/posts.json?post_ids[]=...`` in chunks of 20.

Incremental: the cursor remembers each topic's highest post number seen. A topic is fetched again
only when ``/latest.json`` shows a higher one, and only its newer posts are yielded. Paging stops at
``crawl.max_pages`` or at the first page where nothing changed (topics come newest activity first).
A checkpoint follows each topic.

Every topic and post is validated (pydantic, only the fields read here) before use: an item with a
wrong type (``post_number: "abc"``) or without an ``id`` is skipped with a log line naming the URL and
the field, and the rest of the page is kept, so one broken item never fails every later crawl. A
topic that answers 403/404/410 (deleted or hidden since it was listed) is skipped with a log line.

Images in a post's ``cooked`` HTML (``<img src>``, not emoji or avatars) are downloaded under
``crawl.max_image_bytes``, fingerprinted in memory and dropped, like every crawler's media.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urljoin, urlsplit

import lxml.html
from lxml import etree
from pydantic import BaseModel, ConfigDict, ValidationError

from config.settings import Settings
from crawlers.base import Source, Target
from crawlers.errors import BadResponse, InvalidTarget
from crawlers.forums.common import forum_base, parse_time, status_from_answer
from crawlers.http import HttpStatusError, Response, SafeHttpClient
from crawlers.links import extract_links_html
from crawlers.media import download_fingerprints
from model.records import (
    Checkpoint,
    CommunityKind,
    CommunityRef,
    CommunitySnapshot,
    MediaFingerprint,
    Membership,
    Platform,
    Post,
    RawMember,
    Record,
    payload_hash,
)

log = logging.getLogger(__name__)

POSTS_PER_CHUNK = 20
#: Topics remembered in the cursor (the newest by activity); older ones are fetched whole if they revive.
CURSOR_TOPICS = 1000


def _parse_cooked(html: str) -> lxml.html.HtmlElement | None:
    """A post's cooked HTML as an element tree; None when there is nothing to parse.

    ``lxml.html.fromstring`` raises on what forums do send: a comment-only body (``<!-- x -->``,
    left behind by moderation) is an "empty document", and a ``str`` with an XML encoding
    declaration is refused outright. Raising here would abort the crawl before the topic's
    checkpoint, so every later crawl would fail at the same post; the post keeps no text instead.
    """
    if not html.strip():
        return None
    try:
        return lxml.html.fromstring(html)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        log.debug("unparseable cooked HTML (%s); treated as empty", exc)
        return None


def _html_text(html: str) -> str:
    root = _parse_cooked(html)
    return "" if root is None else str(root.text_content()).strip()


def _dict(value: Any, url: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadResponse(f"{url}: expected a JSON object for {what}, got {type(value).__name__}")
    return value


def _list(obj: Mapping[str, Any], key: str, url: str) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise BadResponse(f"{url}: missing list {key!r}")
    return value


#: ``<img>`` classes that are decoration, not posted pictures.
_NOT_PICTURES = frozenset({"emoji", "avatar", "site-icon", "onebox-avatar"})


def image_urls(cooked: str, base: str) -> list[str]:
    """Absolute URLs of the pictures in a post's cooked HTML, in order, without duplicates."""
    root = _parse_cooked(cooked) if "<img" in cooked else None
    if root is None:
        return []
    urls: dict[str, None] = {}
    for img in root.iter("img"):
        src = (img.get("src") or "").strip()
        if not src or src.startswith("data:") or _NOT_PICTURES & set((img.get("class") or "").split()):
            continue
        urls.setdefault(urljoin(base + "/", src), None)
    return list(urls)


class _Item(BaseModel):
    model_config = ConfigDict(extra="allow")


class TopicItem(_Item):
    """The fields of a ``/latest.json`` topic that the crawler reads."""

    id: int
    slug: str | None = None
    title: str | None = None
    highest_post_number: int | None = None


class PostItem(_Item):
    """The fields of a post (``/t/{id}.json``, ``posts.json``) that the crawler reads. Times stay
    loose: :func:`crawlers.forums.common.parse_time` reads what it can and leaves the rest unknown."""

    id: int
    post_number: int
    username: str | None = None
    user_id: int | None = None
    cooked: str | None = None
    created_at: Any = None
    updated_at: Any = None
    version: int | None = None
    reply_to_post_number: int | None = None
    deleted_at: Any = None
    user_deleted: bool | None = None


def valid_items(items: Sequence[Any], model: type[_Item], url: str, what: str) -> list[dict[str, Any]]:
    """The items that validate, as plain dicts with coerced types; each bad one logged and skipped."""
    kept: list[dict[str, Any]] = []
    for position, item in enumerate(items):
        try:
            kept.append(model.model_validate(item).model_dump())
        except ValidationError as exc:
            problems = "; ".join(f"field {'.'.join(str(p) for p in err['loc']) or '(item)'!r}: {err['msg']}"
                                 for err in exc.errors()[:3])
            ident = item.get("id") if isinstance(item, dict) else None
            log.warning("%s: %s #%d (id %r) skipped: %s", url, what, position, ident, problems)
    return kept


def topic_needs_fetch(topic: Mapping[str, Any], seen: Mapping[str, int]) -> bool:
    return int(topic.get("highest_post_number") or 0) > int(seen.get(str(topic["id"]), 0))


def parse_post(raw: Mapping[str, Any], ref: CommunityRef, base: str, topic: Mapping[str, Any],
               fetched: datetime) -> Post | None:
    """One Discourse post as a record; None for a deleted one (its earlier version stays stored)."""
    if raw.get("deleted_at") or (raw.get("user_deleted") and not raw.get("cooked")):
        return None
    cooked = str(raw.get("cooked") or "")
    slug = topic.get("slug") or "topic"
    number = raw.get("post_number")
    url = f"{base}/t/{slug}/{topic['id']}/{number}"
    author = None
    if raw.get("username"):
        uid = raw.get("user_id")
        author = RawMember(Platform.DISCOURSE, user_id=str(uid) if uid is not None else None,
                           handle=str(raw["username"]))
    created = parse_time(raw.get("created_at"))
    edited = parse_time(raw.get("updated_at")) if int(raw.get("version") or 1) > 1 else None
    reply = raw.get("reply_to_post_number")
    return Post(
        community=ref, native_post_id=str(raw["id"]), url=url, fetched_at=fetched, created_at=created,
        edited_at=edited, author=author, text=_html_text(cooked), links=tuple(extract_links_html(cooked, base)),
        kind="post" if number == 1 else "comment", reply_to=str(reply) if reply else None,
        thread_id=str(topic["id"]), thread_title=topic.get("title"), source_url=f"{base}/t/{topic['id']}.json",
        extra={"post_number": number},
    )


class DiscourseSource(Source):
    name = "discourse"
    platform = Platform.DISCOURSE

    def __init__(self, settings: Settings, *, client: SafeHttpClient | None = None) -> None:
        self.settings = settings
        self.client = client or SafeHttpClient(settings.crawl)

    def close(self) -> None:
        self.client.close()

    def _get_json(self, url: str) -> tuple[Response, Any]:
        response = self.client.get(url, accept="application/json")
        if not response.ok or _is_login(response.url):
            return response, None
        return response, response.json()

    def crawl(self, target: Target) -> Iterator[Record]:
        base = forum_base(target.native_id or target.url)
        if not base:
            raise InvalidTarget(f"watched Discourse forum #{target.community_id} has no URL")
        fetched = datetime.now(UTC)
        about_url = f"{base}/about.json"
        response, about = self._get_json(about_url)
        verdict = status_from_answer(response.status, login_page=_discourse_login_error(response),
                                     redirected_to_login=_is_login(response.url))
        if verdict is None and not response.ok:
            raise BadResponse(f"HTTP {response.status} from {about_url}")
        if verdict is not None:
            log.info("%s: %s (%s)", about_url, verdict.status, verdict.evidence)
            yield CommunitySnapshot(platform=Platform.DISCOURSE, native_id=None, handle=None, url=base,
                                    fetched_at=fetched, kind=CommunityKind.FORUM, status=verdict.status,
                                    source_url=about_url, extra=verdict.extra(response.status))
            return
        info = _dict(_dict(about, about_url, "the body").get("about"), about_url, "'about'")
        raw_stats = info.get("stats")
        stats: dict[str, Any] = raw_stats if isinstance(raw_stats, dict) else {}
        ref = CommunityRef(Platform.DISCOURSE, native_id=base, url=base, title=info.get("title"))
        yield CommunitySnapshot(
            platform=Platform.DISCOURSE, native_id=base, handle=None, url=base, fetched_at=fetched,
            title=info.get("title"), description=info.get("description"), kind=CommunityKind.FORUM,
            member_count=stats.get("users_count", stats.get("user_count")), source_url=about_url,
            payload_sha256=payload_hash(about),
            extra={"version": info.get("version"), "topic_count": stats.get("topics_count", stats.get("topic_count"))},
        )
        seen: dict[str, int] = {str(k): int(v) for k, v in dict(target.cursor.get("topics", {})).items()}
        yield from self._crawl_topics(base, ref, seen)

    def _crawl_topics(self, base: str, ref: CommunityRef, seen: dict[str, int]) -> Iterator[Record]:
        url: str | None = f"{base}/latest.json"
        pages = 0
        done: set[str] = set()
        while url and pages < self.settings.crawl.max_pages:
            pages += 1
            body = _dict(self.client.get_json(url), url, "the body")
            topic_list = _dict(body.get("topic_list"), url, "'topic_list'")
            topics = valid_items(_list(topic_list, "topics", url), TopicItem, url, "topic")
            changed: list[dict[str, Any]] = []
            for topic in topics:
                if topic_needs_fetch(topic, seen) and all(t["id"] != topic["id"] for t in changed):
                    changed.append(topic)
            for topic in changed:
                if str(topic["id"]) in done:
                    continue  # listed again on a later page (activity moved it while paging)
                done.add(str(topic["id"]))
                yield from self._crawl_topic(base, ref, topic, seen)
                yield Checkpoint(ref, self.name, {"topics": _trim(seen)})
            if not changed and seen:
                break  # activity order: nothing newer beyond this page
            more = topic_list.get("more_topics_url")
            url = self._latest_page(base, more) if more else None

    @staticmethod
    def _latest_page(base: str, more: str) -> str:
        """``more_topics_url`` is ``/latest?page=1`` (no .json); ask for the JSON of it."""
        parts = urlsplit(urljoin(base + "/", more))
        path = parts.path if parts.path.endswith(".json") else parts.path + ".json"
        return f"{base}{path}" + (f"?{parts.query}" if parts.query else "")

    def _crawl_topic(self, base: str, ref: CommunityRef, listed: Mapping[str, Any],
                     seen: dict[str, int]) -> Iterator[Record]:
        tid = str(listed["id"])
        topic_url = f"{base}/t/{tid}.json"
        try:
            topic = _dict(self.client.get_json(topic_url), topic_url, "the body")
        except HttpStatusError as exc:
            if exc.response.status in (403, 404, 410):
                log.info("topic %s answered HTTP %s (deleted or hidden since it was listed); skipped",
                         topic_url, exc.response.status)
                return
            raise
        stream = _dict(topic.get("post_stream"), topic_url, "'post_stream'")
        raw_posts = _list(stream, "posts", topic_url)
        posts = valid_items(raw_posts, PostItem, topic_url, "post")
        loaded = {p["id"] for p in raw_posts if isinstance(p, dict) and isinstance(p.get("id"), int)}
        raw_stream = stream.get("stream")
        missing = [pid for pid in (raw_stream if isinstance(raw_stream, list) else [])
                   if isinstance(pid, int) and not isinstance(pid, bool) and pid not in loaded]
        for chunk in _chunks(missing, POSTS_PER_CHUNK):
            query = urlencode([("post_ids[]", str(pid)) for pid in chunk])
            more_url = f"{base}/t/{tid}/posts.json?{query}"
            try:
                more = _dict(self.client.get_json(more_url), more_url, "the body")
            except HttpStatusError as exc:
                if exc.response.status not in (403, 404, 410):
                    raise
                log.info("%s answered HTTP %s (posts deleted or hidden since the topic was read); skipped",
                         more_url, exc.response.status)
                continue
            more_posts = _list(_dict(more.get("post_stream"), more_url, "'post_stream'"), "posts", more_url)
            posts.extend(valid_items(more_posts, PostItem, more_url, "post"))
        fetched = datetime.now(UTC)
        last = seen.get(tid, 0)
        info = {"id": listed["id"], "slug": topic.get("slug") or listed.get("slug"),
                "title": topic.get("title") or listed.get("title")}
        highest = last
        for raw in sorted(posts, key=lambda p: int(p.get("post_number") or 0)):
            number = int(raw.get("post_number") or 0)
            highest = max(highest, number)
            if number <= last:
                continue
            post = parse_post(raw, ref, base, info, fetched)
            if post is None:
                continue
            if self.settings.crawl.fetch_media:
                media = self._fingerprints(image_urls(str(raw.get("cooked") or ""), base))
                if media:
                    post = dataclasses.replace(post, media=media)
            yield post
            if post.author is not None:
                yield Membership(ref, post.author, fetched, how="posted")
        seen.pop(tid, None)  # re-insert: the cursor keeps the most recently active topics last
        seen[tid] = highest if posts else int(listed.get("highest_post_number") or 0)


    def _fingerprints(self, urls: Sequence[str]) -> tuple[MediaFingerprint, ...]:
        return download_fingerprints(self.client, ((u, "photo") for u in urls), self.settings.crawl)


def _discourse_login_error(response: Response) -> bool:
    """Discourse's own answer to an anonymous visitor of a login-only site: 403 JSON with
    ``error_type`` ``not_logged_in`` or ``invalid_access``."""
    if response.status not in (401, 403) or response.content_type != "application/json":
        return False
    try:
        body = response.json()
    except BadResponse:
        return False
    return isinstance(body, dict) and body.get("error_type") in ("not_logged_in", "invalid_access")


def _is_login(url: str) -> bool:
    """A ``login_required`` Discourse redirects anonymous visitors to ``/login``."""
    return urlsplit(url).path.rstrip("/").endswith("/login")


def _trim(seen: dict[str, int]) -> dict[str, int]:
    if len(seen) <= CURSOR_TOPICS:
        return dict(seen)
    return dict(list(seen.items())[-CURSOR_TOPICS:])


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i:i + size]
