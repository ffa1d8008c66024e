"""Local servers that play the demo's platforms: t.me previews, a Discourse forum, the Reddit API, and a
webhook receiver for the alerts. All listen on 127.0.0.1 on ephemeral ports and serve from memory.

Each platform is a pure ``route(method, path, query, body) -> Reply`` over the current
:class:`~demoworld.scenario.Phase`; :class:`World` holds the phase, which the demo switches while the
servers run. Pictures are generated on first request and kept in memory only (never on disk).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from demoworld import images
from demoworld.scenario import FORUM_TITLE, SUBREDDIT, Phase, Scenario
from demoworld.tme_pages import channel_page, contact_page

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json", headers or {})

    @classmethod
    def redirect(cls, location: str) -> Reply:
        return cls(302, b"", "text/plain", {"Location": location})


NOT_FOUND = Reply(404, b"not found", "text/plain")
Route = Callable[[str, str, dict[str, list[str]], bytes], Reply]


class World:
    """The scenario and the phase the servers currently show (switched by the demo)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.phase_number = 1
        self.tme_url = ""
        self.forum_url = ""
        self.reddit_url = ""

    @property
    def phase(self) -> Phase:
        return self.scenario.phases[self.phase_number - 1]


@lru_cache(maxsize=64)
def picture_bytes(name: str) -> bytes | None:
    """``orig-3.jpg`` → :func:`images.original` (3); ``repost-3.jpg`` → :func:`images.repost` (3)."""
    stem, _, ext = name.rpartition(".")
    kind, _, seed = stem.partition("-")
    if ext != "jpg" or not seed.isdigit():
        return None
    if kind == "orig":
        return images.original(int(seed))
    if kind == "repost":
        return images.repost(int(seed))
    return None


def _picture(name: str) -> Reply:
    data = picture_bytes(name)
    return NOT_FOUND if data is None else Reply(200, data, "image/jpeg")


# --- t.me ------------------------------------------------------------------------------------------


def tme_route(world: World) -> Route:
    def route(method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["file"] and len(parts) == 2:
            return _picture(parts[1])
        channels = world.phase.channels
        if parts[:1] == ["s"] and len(parts) == 2:
            handle = parts[1].lower()
            if handle not in channels:
                return Reply.redirect(f"/{parts[1]}")  # what t.me does for a handle without preview
            channel, messages = channels[handle]
            return Reply(200, channel_page(channel, messages, img_base=world.tme_url).encode("utf-8"))
        if len(parts) == 1:
            return Reply(200, contact_page(parts[0]).encode("utf-8"))
        return NOT_FOUND

    return route


# --- Discourse -------------------------------------------------------------------------------------


def forum_route(world: World) -> Route:
    def route(method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        topics = world.phase.forum_topics
        parts = [p for p in path.split("/") if p]
        if parts[:2] == ["uploads", "default"] and parts:
            return _picture(parts[-1])
        if path == "/about.json":
            return Reply.json({"about": {"title": FORUM_TITLE, "description": "Fotografia amatoriale, consigli e "
                                         "discussioni. Amateur photography.", "version": "3.2.1",
                                         "stats": {"topics_count": len(topics), "users_count": 212}}})
        if path == "/latest.json":
            return Reply.json({"topic_list": {"topics": [
                {"id": t.id, "slug": t.slug, "title": t.title, "highest_post_number": len(t.posts),
                 "posts_count": len(t.posts), "last_posted_at": t.posts[-1].created_at.isoformat()}
                for t in topics]}})
        if len(parts) == 2 and parts[0] == "t" and parts[1].endswith(".json"):
            topic = next((t for t in topics if f"{t.id}.json" == parts[1]), None)
            if topic is None:
                return Reply.json({"errors": ["not found"]}, 404)
            posts = [{"id": p.id, "post_number": p.number, "username": p.username, "user_id": p.user_id,
                      "created_at": p.created_at.isoformat(), "updated_at": p.created_at.isoformat(), "version": 1,
                      "cooked": p.cooked, "reply_to_post_number": None} for p in topic.posts]
            return Reply.json({"id": topic.id, "slug": topic.slug, "title": topic.title,
                               "post_stream": {"posts": posts, "stream": [p.id for p in topic.posts]}})
        return NOT_FOUND

    return route


# --- Reddit ----------------------------------------------------------------------------------------

_RATE = {"x-ratelimit-remaining": "599", "x-ratelimit-used": "1", "x-ratelimit-reset": "60"}


def reddit_route(world: World) -> Route:
    name = SUBREDDIT.lower()

    def route(method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        if path == "/api/v1/access_token" and method == "POST":
            return Reply.json({"access_token": "demo-token", "token_type": "bearer", "expires_in": 86400,
                               "scope": "*"})
        lowered = path.lower().rstrip("/")
        phase = world.phase
        if lowered in (f"/r/{name}/about", f"/r/{name}/new"):
            if phase.subreddit_banned:
                return Reply.json({"reason": "banned", "message": "Not Found", "error": 404}, 404)
            if lowered.endswith("/about"):
                return Reply.json({"kind": "t5", "data": {
                    "id": "9cs7q", "name": "t5_9cs7q", "display_name": SUBREDDIT, "title": "Il Cortile Segreto",
                    "public_description": "Community italiana. Italian community.", "description": "",
                    "subscribers": 3210, "active_user_count": 14, "created_utc": 1672531200.0, "over18": True,
                    "subreddit_type": "public", "url": f"/r/{SUBREDDIT}/", "quarantine": False, "lang": "it"}},
                    headers=_RATE)
            children = [{"kind": "t3", "data": {
                "id": p.id, "name": f"t3_{p.id}", "subreddit": SUBREDDIT, "subreddit_id": "t5_9cs7q",
                "title": p.title, "selftext": p.selftext, "author": p.author, "author_fullname": f"t2_{p.author[:5]}",
                "created_utc": p.created_at.timestamp(), "edited": False, "is_self": True, "score": 3,
                "permalink": f"/r/{SUBREDDIT}/comments/{p.id}/post/", "over_18": True, "num_comments": 0,
                "url": f"https://www.reddit.com/r/{SUBREDDIT}/comments/{p.id}/post/", "domain": f"self.{SUBREDDIT}",
                "stickied": False}} for p in sorted(phase.reddit_posts, key=lambda p: p.created_at, reverse=True)]
            return Reply.json({"kind": "Listing", "data": {"after": None, "before": None, "dist": len(children),
                                                           "children": children}}, headers=_RATE)
        return Reply.json({"message": "Not Found", "error": 404}, 404, headers=_RATE)

    return route


# --- webhook receiver ------------------------------------------------------------------------------


class WebhookInbox:
    """What the alert webhooks received: ``(path, JSON body)`` in arrival order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[tuple[str, Any]] = []

    def route(self, method: str, path: str, query: dict[str, list[str]], body: bytes) -> Reply:
        if method != "POST":
            return NOT_FOUND
        try:
            payload: Any = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return Reply(400, b"expected JSON", "text/plain")
        with self._lock:
            self._items.append((path, payload))
        return Reply.json({"ok": True})

    @property
    def items(self) -> list[tuple[str, Any]]:
        with self._lock:
            return list(self._items)


# --- plumbing --------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    route: Route
    protocol_version = "HTTP/1.1"

    def _serve(self, method: str) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            reply = type(self).route(method, parts.path, parse_qs(parts.query), body)
        except Exception:  # a bug in the fake world must not hang the crawler: answer 500
            log.exception("demo server failed on %s %s", method, self.path)
            reply = Reply(500, b"demo server error", "text/plain")
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(reply.body)

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("demo server: " + format, *args)


@contextmanager
def serve(route: Route) -> Iterator[str]:
    """Run ``route`` on 127.0.0.1 (ephemeral port) in a thread; yields the base URL."""
    handler = type("DemoHandler", (_Handler,), {"route": staticmethod(route)})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="demo-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@dataclass
class Running:
    world: World
    inbox: WebhookInbox
    webhook_url: str


@contextmanager
def run_world(scenario: Scenario) -> Iterator[Running]:
    """Start every server of the demo world; stop them all on exit."""
    world = World(scenario)
    inbox = WebhookInbox()
    with ExitStack() as stack:
        world.tme_url = stack.enter_context(serve(tme_route(world)))
        world.forum_url = stack.enter_context(serve(forum_route(world)))
        world.reddit_url = stack.enter_context(serve(reddit_route(world)))
        webhook_url = stack.enter_context(serve(inbox.route))
        yield Running(world, inbox, webhook_url)
