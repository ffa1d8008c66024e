"""Loopback servers that answer for a generated :class:`~evaluation.worlds.World` as the real services do.

Markup and JSON follow the recordings in the real-world corpus (``RESURFACE_REALWORLD_DIR``, see its
SOURCES.md); each renderer names the recording it is modelled on. Nothing is copied from them.

- **t.me** (one server): ``/s/<handle>`` previews (``telegram/s_feedjam.html``, ``s_topwar_official.html``:
  header counters, ``data-post``, ``data-view`` with the channel id, views like "1.2K", forwards, link
  previews, the ``<!-- page generated in … -->`` comment after ``</html>``); a handle that does not exist
  redirects to ``/<handle>``, which is Telegram's "contact @handle" page
  (``telegram/pages/nonexistent_handle.html``); ``/<handle>`` of a live channel or group is its landing
  page (``pages/channel_profile_durov.html``, ``pages/group_profile_tdlibchat.html``); ``/+CODE`` is an
  invite page modelled on the group landing page (title, description, "N members"), or that page
  without a title once the invite is gone. Pictures at ``/file/<name>``.
- **Reddit API** (one server for oauth and www): the token answer (``reddit/praw/token.json``), ``about``
  (``about_announcements.json``), ``new`` listings (``askreddit_new.json``), a banned subreddit's 404
  with ``reason: banned`` (not recorded anywhere: modelled on ``more/prawcore_404_wiki_page_not_created``
  as SOURCES.md says), and a bare ``{"message": "Forbidden", "error": 403}`` (``prawcore_403_plain``)
  for a flaky moment.
- **Discourse** (one server per forum): ``/about.json``, ``/latest.json``, ``/t/<id>.json`` shaped as
  ``discourse/discourse_api/topic.json`` and ``latest.json``.

A *flaky* community answers its first request of a phase with a bare status (Telegram: an empty 403/404
as a proxy sends; Reddit: the plain JSON 403) and normally afterwards. Every server is
``ThreadingHTTPServer`` on 127.0.0.1 with an ephemeral port.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from evaluation.worlds import Forum, Phase, TgChat, TgPost, World, picture_bytes

log = logging.getLogger(__name__)

__all__ = ["Reply", "RunningWorld", "serve_world"]


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        return cls(status, json.dumps(obj, ensure_ascii=False).encode("utf-8"), "application/json; charset=utf-8",
                   headers or {})

    @classmethod
    def page(cls, text: str, status: int = 200) -> Reply:
        return cls(status, text.encode("utf-8"))


Route = Callable[[str, str, dict[str, list[str]]], Reply]


class RunningWorld:
    """The world, the phase the servers show (switched by the runner) and the servers' base URLs."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.phase_index = 0
        self.tme_url = ""
        self.reddit_url = ""
        self.forum_urls: dict[str, str] = {}
        self._lock = threading.Lock()
        self._flaky_served: set[tuple[int, str]] = set()
        self.requests: list[tuple[str, str, int]] = []  # (server, path, status)

    @property
    def phase(self) -> Phase:
        return self.world.phases[self.phase_index]

    def flaky_status(self, key: str) -> int | str | None:
        """What ``key``'s first request in this phase gets instead of the answer, once; None otherwise."""
        status = self.phase.flaky.get(key)
        if status is None:
            return None
        with self._lock:
            mark = (self.phase_index, key)
            if mark in self._flaky_served:
                return None
            self._flaky_served.add(mark)
        return status

    def fill(self, text: str) -> str:
        """Replace ``{forum:KEY}`` placeholders with the forum's base URL."""
        return re.sub(r"\{forum:([a-z0-9]+)\}", lambda m: self.forum_urls.get(m.group(1), m.group(0)), text)

    def record(self, server: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((server, path, status))


# --------------------------------------------------------------------------------------------- t.me


def _count(n: int) -> str:
    """Telegram's printed counts: "1 284" on landing pages and headers."""
    return f"{n:,}".replace(",", " ")


def _views(n: int) -> str:
    """Views as previews print them: 937, 1.2K, 37.2K (s_topwar_official.html)."""
    return str(n) if n < 1000 else f"{n / 1000:.1f}K".replace(".0K", "K")


def _view_token(channel_id: int, post: TgPost) -> str:
    data = {"c": -channel_id, "p": post.id, "t": int(post.date.timestamp()),
            "h": f"{(channel_id * 7919 + post.id):018x}"}
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")


_URL = re.compile(r"https?://[^\s<]+")


def _linkify(text: str) -> str:
    out, last = [], 0
    for match in _URL.finditer(text):
        out.append(html.escape(text[last:match.start()]))
        url = match.group(0)
        out.append(f'<a href="{html.escape(url)}" target="_blank" rel="noopener">{html.escape(url)}</a>')
        last = match.end()
    out.append(html.escape(text[last:]))
    return "".join(out).replace("\n", "<br/>")


def _message(chat: TgChat, post: TgPost, files: str, fill: Callable[[str], str]) -> str:
    owner = post.author or chat.handle
    owner_name = post.author or chat.title
    classes = "tgme_widget_message text_not_supported_wrap js-widget_message" + (" service_message" if post.service
                                                                                  else "")
    parts = [
        '<div class="tgme_widget_message_wrap js-widget_message_wrap">'
        f'<div class="{classes}" data-post="{chat.handle}/{post.id}" data-view="{_view_token(chat.channel_id, post)}"'
        + (f' data-peer="c{chat.channel_id}_{chat.channel_id * 31 % 10**18}" data-peer-col="{post.id % 8}"'
           if chat.group else "") + ">",
        f'  <div class="tgme_widget_message_user"><a href="https://t.me/{owner}"><i class="tgme_widget_message_user_'
        f'photo bgcolor{post.id % 8}" data-content="{html.escape(owner_name[:1])}"></i></a></div>',
        '  <div class="tgme_widget_message_bubble">',
        '    <i class="tgme_widget_message_bubble_tail"><svg class="bubble_icon" width="9px" height="20px" '
        'viewBox="0 0 9 20"><g fill="none"><path class="background" fill="#ffffff" d="M8,1 L9,1 L9,20 Z"></path></g>'
        '</svg></i>',
        '    <div class="tgme_widget_message_author accent_color"><a class="tgme_widget_message_owner_name" '
        f'href="https://t.me/{owner}"><span dir="auto">{html.escape(owner_name)}</span></a></div>',
    ]
    if post.forward is not None:
        handle, title, original = post.forward
        parts.append('    <div class="tgme_widget_message_forwarded_from accent_color">Forwarded from <a class="tgme_'
                     f'widget_message_forwarded_from_name" href="https://t.me/{handle}/{original}"><span dir="auto">'
                     f'{html.escape(title)}</span></a></div>')
    for picture in post.photos:
        parts.append(f'    <a class="tgme_widget_message_photo_wrap blured js-message_photo" style="width:800px;'
                     f"background-image:url('{files}/file/{picture.name}')\" "
                     f'href="https://t.me/{chat.handle}/{post.id}"><div class="tgme_widget_message_photo" '
                     'style="padding-top:75%"></div></a>')
    if post.text:
        parts.append(f'    <div class="tgme_widget_message_text js-message_text" dir="auto">{_linkify(fill(post.text))}'
                     "</div>")
    if post.preview is not None:
        p = post.preview
        parts.append(f'    <a class="tgme_widget_message_link_preview" href="{html.escape(p.url)}">'
                     f'<div class="link_preview_site_name accent_color" dir="auto">{html.escape(p.site)}</div>'
                     f'<div class="link_preview_title" dir="auto">{html.escape(p.title)}</div>'
                     f'<div class="link_preview_description" dir="auto">{html.escape(p.description)}</div></a>')
    parts.append('    <div class="tgme_widget_message_footer compact js-message_footer">'
                 '<div class="tgme_widget_message_info short js-message_info">')
    if post.views is not None and not post.service:
        parts.append(f'<span class="tgme_widget_message_views">{_views(post.views)}</span><span class="copyonly"> '
                     'views</span>')
    parts.append(f'<span class="tgme_widget_message_meta"><a class="tgme_widget_message_date" href="https://t.me/'
                 f'{chat.handle}/{post.id}"><time datetime="{post.date.isoformat()}" class="time">'
                 f'{post.date:%H:%M}</time></a></span></div></div>')
    parts.append("  </div>\n</div></div>")
    return "\n".join(parts)


def channel_page(chat: TgChat, files: str, fill: Callable[[str], str] = str) -> str:
    """``t.me/s/<handle>``, modelled on ``telegram/s_feedjam.html``: every post on one page, no cursor."""
    label = "members" if chat.group else "subscribers"
    t = html.escape(chat.title)
    photos = sum(len(p.photos) for p in chat.posts)
    counters = (f'<div class="tgme_channel_info_counter"><span class="counter_value">{_count(chat.members)}</span> '
                f'<span class="counter_type">{label}</span></div>')
    if photos:
        counters += (f'<div class="tgme_channel_info_counter"><span class="counter_value">{photos}</span> '
                     f'<span class="counter_type">photos</span></div>')
    messages = "\n".join(_message(chat, p, files, fill) for p in sorted(chat.posts, key=lambda p: p.id))
    return f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <title>{t} – Telegram</title>
    <meta name="viewport" content="width=device-width, initial-scale=1.0, minimum-scale=1.0, maximum-scale=1.0">
<meta property="og:title" content="{t}">
<meta property="og:image" content="">
<meta property="og:site_name" content="Telegram">
<meta property="og:description" content="{html.escape(chat.description)}">
<meta property="al:android:url" content="tg://resolve?domain={chat.handle}">
    <link rel="canonical" href="/s/{chat.handle}">
    <link href="//telegram.org/css/widget-frame.css?66" rel="stylesheet" media="screen">
    <link href="//telegram.org/css/telegram-web.css?37" rel="stylesheet" media="screen">
    <script>TBaseUrl='/';</script>
  </head>
  <body class="widget_frame_base tgme_webpreview emoji_image thin_box_shadow tme_mode no_transitions">
    <header class="tgme_header search_collapsed">
  <div class="tgme_container">
    <div class="tgme_header_search">
      <form class="tgme_header_search_form" action="/s/{chat.handle}">
        <input class="tgme_header_search_form_input js-header_search" placeholder="Search" name="q" value="" />
      </form>
    </div>
    <div class="tgme_header_right_column">
      <section class="tgme_right_column">
        <div class="tgme_channel_info">
          <div class="tgme_channel_info_header">
            <i class="tgme_page_photo_image bgcolor4" data-content="{html.escape(chat.title[:1])}"></i>
            <div class="tgme_channel_info_header_title_wrap">
              <div class="tgme_channel_info_header_title"><span dir="auto">{t}</span></div>
              <div class="tgme_channel_info_header_labels"></div>
            </div>
            <div class="tgme_channel_info_header_username"><a href="https://t.me/{chat.handle}">@{chat.handle}</a></div>
          </div>
          <div class="tgme_channel_info_counters">{counters}</div>
          <div class="tgme_channel_info_description">{html.escape(chat.description)}</div>
        </div>
      </section>
    </div>
    <div class="tgme_header_info">
      <a class="tgme_header_link" href="https://t.me/{chat.handle}">
        <div class="tgme_header_title_wrap"><div class="tgme_header_title"><span dir="auto">{t}</span></div></div>
        <div class="tgme_header_counter">{_count(chat.members)} {label}</div>
      </a>
    </div>
  </div>
</header>
<main class="tgme_main" data-url="/{chat.handle}">
  <div class="tgme_container">
    <section class="tgme_channel_history js-message_history">
{messages}
    </section>
  </div>
</main>
    <script src="//telegram.org/js/widget-frame.js?64"></script>
  </body>
</html>
<!-- page generated in 21.87ms -->
"""


def _landing(title: str | None, extra: str | None, description: str | None, action: str, body: str) -> str:
    """The ``t.me/<handle>`` page frame of ``pages/channel_profile_durov.html`` / ``group_profile_tdlibchat.html``;
    without a title it is the "contact @handle" page of ``pages/nonexistent_handle.html``."""
    head = html.escape(title) if title else "Telegram"
    parts = []
    if title:
        parts.append(f'<div class="tgme_page_title" dir="auto">\n  <span dir="auto">{html.escape(title)}</span>\n'
                     "</div>")
    if extra:
        parts.append(f'<div class="tgme_page_extra">{html.escape(extra)}</div>')
    if description:
        parts.append(f'<div class="tgme_page_description" dir="auto">{html.escape(description)}</div>')
    parts.append(f'<div class="tgme_page_action">\n  {action}\n</div>')
    parts.append(body)
    inner = "\n".join(parts)
    return f"""<!DOCTYPE html>
<html class="">
  <head>
    <meta charset="utf-8">
    <title>Telegram: {"View" if title else "Contact"} {head}</title>
    <meta name="viewport" content="width=device-width, initial-scale=1.0, minimum-scale=1.0, maximum-scale=1.0">
    <meta property="og:title" content="{head}">
    <meta property="og:site_name" content="Telegram">
    <link href="//telegram.org/css/telegram.css?241" rel="stylesheet" media="screen">
  </head>
  <body class="no_transition">
    <div class="tgme_page_wrap">
      <div class="tgme_head_wrap"><div class="tgme_head"><a href="//telegram.org/" class="tgme_head_brand"></a>
      </div></div>
      <div class="tgme_body_wrap">
        <div class="tgme_page">
{inner}
        </div>
      </div>
    </div>
  </body>
</html>
<!-- page generated in 4.02ms -->
"""


def landing_page(chat: TgChat) -> str:
    if chat.group:
        extra = f"{_count(chat.members)} members, {max(1, chat.members // 40)} online"
    else:
        extra = f"{_count(chat.members)} subscribers"
    action = f'<a class="tgme_action_button_new shine" href="tg://resolve?domain={chat.handle}">View in Telegram</a>'
    body = (f'<div class="tgme_page_context_link_wrap"><a class="tgme_page_context_link" href="/s/{chat.handle}">'
            "Preview channel</a></div>")
    return _landing(chat.title, extra, chat.description, action, body)


def nonexistent_page(handle: str) -> str:
    h = html.escape(handle)
    action = f'<a class="tgme_action_button_new shine" href="tg://resolve?domain={h}">Send Message</a>'
    body = (f'<div class="tgme_page_additional">If you have <strong>Telegram</strong>, you can contact '
            f'<a class="tgme_username_link" href="tg://resolve?domain={h}">@{h}</a> right away.</div>')
    return _landing(None, None, None, action, body)


def invite_page(code: str, title: str | None, description: str | None, members: int | None) -> str:
    join = (f'<a class="tgme_action_button_new shine" href="tg://join?invite={html.escape(code.lstrip("+"))}">'
            "Join Group</a>")
    extra = f"{_count(members)} members" if members is not None else None
    body = ('<div class="tgme_page_additional">If you have <strong>Telegram</strong>, you can view and join <br>'
            f"<strong>{html.escape(title)}</strong> right away.</div>") if title else ""
    return _landing(title, extra, description, join, body)


def tme_route(running: RunningWorld) -> Route:
    def route(method: str, path: str, query: dict[str, list[str]]) -> Reply:
        parts = [p for p in path.split("/") if p]
        phase = running.phase
        if parts[:1] == ["file"] and len(parts) == 2:
            data = picture_bytes(parts[1])
            return Reply(404, b"", "text/plain") if data is None else Reply(200, data, "image/jpeg")
        if parts[:1] == ["s"] and len(parts) == 2:
            handle = parts[1].lower()
            status = running.flaky_status(f"telegram:{handle}")
            if isinstance(status, int):
                return Reply(status, b"", "text/html")
            chat = phase.telegram.get(handle)
            if chat is None:
                return Reply(302, b"", "text/html", {"Location": f"/{parts[1]}"})
            return Reply.page(channel_page(chat, running.tme_url, running.fill))
        if len(parts) == 1 and parts[0].startswith("+"):
            invite = phase.invites.get(parts[0])
            if invite is None:
                return Reply.page(invite_page(parts[0], None, None, None))
            return Reply.page(invite_page(invite.code, invite.title, invite.description, invite.members))
        if len(parts) == 1:
            chat = phase.telegram.get(parts[0].lower())
            return Reply.page(landing_page(chat) if chat is not None else nonexistent_page(parts[0]))
        return Reply(404, b"", "text/plain")

    return route


# ------------------------------------------------------------------------------------------- Reddit

_RATE = {"x-ratelimit-remaining": "599.0", "x-ratelimit-used": "1", "x-ratelimit-reset": "420"}


def reddit_route(running: RunningWorld) -> Route:
    def route(method: str, path: str, query: dict[str, list[str]]) -> Reply:
        if path == "/api/v1/access_token" and method == "POST":
            # reddit/praw/token.json: the shape of the token answer
            return Reply.json({"access_token": "eval-token", "token_type": "bearer", "expires_in": 3600, "scope": "*"})
        parts = [p for p in path.lower().split("/") if p]
        if parts[:1] == ["subreddits"]:
            return Reply.json({"kind": "Listing", "data": {"after": None, "before": None, "dist": 0, "children": []}},
                              headers=_RATE)
        if len(parts) >= 3 and parts[0] == "r" and parts[2] in ("about", "new", "about.json", "new.json"):
            sub = next((s for n, s in running.phase.subreddits.items() if n.lower() == parts[1]), None)
            if sub is None:
                return Reply.json({"message": "Not Found", "error": 404}, 404, headers=_RATE)
            status = running.flaky_status(f"reddit:{sub.name.lower()}")
            if status == "private":  # not recorded: shaped as the quarantined 403 of more/asyncpraw_quarantined_403
                return Reply.json({"reason": "private", "message": "Forbidden", "error": 403}, 403, headers=_RATE)
            if isinstance(status, int):  # more/prawcore_403_plain: a bare 403 without reason
                return Reply.json({"message": "Forbidden", "error": status}, status, headers=_RATE)
            if sub.banned:
                return Reply.json({"reason": "banned", "message": "Not Found", "error": 404}, 404, headers=_RATE)
            if parts[2].startswith("about"):
                # reddit/praw/about_announcements.json: the fields a t5 carries
                return Reply.json({"kind": "t5", "data": {
                    "id": f"{abs(hash(sub.name)) % 36**5:05x}", "name": "t5_" + sub.name.lower()[:6],
                    "display_name": sub.name, "display_name_prefixed": f"r/{sub.name}", "title": sub.title,
                    "public_description": running.fill(sub.title), "description": "",
                    "subscribers": sub.subscribers, "active_user_count": 3, "created_utc": 1609459200.0,
                    "over18": True, "subreddit_type": "public", "url": f"/r/{sub.name}/", "quarantine": False,
                    "lang": running.world.language}}, headers=_RATE)
            children = [{"kind": "t3", "data": {
                "id": p.id, "name": f"t3_{p.id}", "subreddit": sub.name, "subreddit_id": "t5_" + sub.name.lower()[:6],
                "title": p.title, "selftext": running.fill(p.selftext), "author": p.author,
                "author_fullname": f"t2_{p.author[-6:]}", "created_utc": p.date.timestamp(), "edited": False,
                "is_self": True, "score": 4, "permalink": f"/r/{sub.name}/comments/{p.id}/post/", "over_18": True,
                "num_comments": 0, "url": f"https://www.reddit.com/r/{sub.name}/comments/{p.id}/post/",
                "domain": f"self.{sub.name}", "stickied": False}}
                for p in sorted(sub.posts, key=lambda p: p.date, reverse=True)]
            return Reply.json({"kind": "Listing", "data": {"after": None, "before": None, "dist": len(children),
                                                           "children": children}}, headers=_RATE)
        return Reply.json({"message": "Not Found", "error": 404}, 404, headers=_RATE)

    return route


# ---------------------------------------------------------------------------------------- Discourse


def forum_route(running: RunningWorld, key: str) -> Route:
    def forum() -> Forum | None:
        return running.phase.forums.get(key)

    def route(method: str, path: str, query: dict[str, list[str]]) -> Reply:
        current = forum()
        if current is None:
            return Reply.page("<html><body><h1>Not found</h1></body></html>", 404)
        if path == "/about.json":
            status = running.flaky_status(f"discourse:{key}")
            if isinstance(status, int):  # a bare answer from a proxy in front of the forum
                return Reply(status, b"", "text/html")
            return Reply.json({"about": {"title": current.title, "description": current.description,
                                         "version": "3.1.0", "stats": {"topic_count": len(current.topics),
                                                                       "user_count": current.users}}})
        if path in ("/", ""):
            # The home page, for a forum reached by a plain link (crawled as ``web`` until its software is
            # recognised). The corpus holds no Discourse HTML page; this keeps only what every Discourse
            # home page carries and crawlers/forums/detect.py reads: the generator meta with its version.
            return Reply.page(f"""<!DOCTYPE html>
<html lang="en" class="desktop-view not-mobile-device">
<head><meta charset="utf-8"><title>{html.escape(current.title)}</title>
<meta name="description" content="{html.escape(current.description)}">
<meta name="generator" content="Discourse 3.1.0 - https://github.com/discourse/discourse version 0e8d8e0">
</head><body><noscript><div id="main-outlet"><h1>{html.escape(current.title)}</h1></div></noscript></body></html>""")
        if path in ("/latest.json", "/latest"):
            topics = [{"id": t.id, "title": t.title, "fancy_title": html.escape(t.title), "slug": f"topic-{t.id}",
                       "posts_count": len(t.posts), "highest_post_number": len(t.posts),
                       "created_at": t.posts[0].date.isoformat(), "last_posted_at": t.posts[-1].date.isoformat(),
                       "bumped": True, "archetype": "regular"} for t in current.topics]
            topics.sort(key=lambda t: str(t["last_posted_at"]), reverse=True)
            return Reply.json({"users": [], "topic_list": {"can_create_topic": False, "per_page": 30,
                                                           "topics": topics}})
        match = re.fullmatch(r"/t/(\d+)(?:/posts)?\.json", path)
        if match:
            topic = next((t for t in current.topics if t.id == int(match.group(1))), None)
            if topic is None:
                return Reply.json({"errors": ["The requested URL or resource could not be found."],
                                   "error_type": "not_found"}, 404)
            posts = [{"id": p.id, "name": p.author, "username": p.author, "user_id": p.user_id,
                      "created_at": p.date.isoformat(), "updated_at": p.date.isoformat(),
                      "cooked": running.fill(p.html),
                      "post_number": n, "post_type": 1, "reply_to_post_number": None, "version": 1,
                      "topic_id": topic.id, "topic_slug": f"topic-{topic.id}"}
                     for n, p in enumerate(topic.posts, start=1)]
            return Reply.json({"id": topic.id, "title": topic.title, "fancy_title": html.escape(topic.title),
                               "slug": f"topic-{topic.id}", "posts_count": len(posts), "archetype": "regular",
                               "created_at": topic.posts[0].date.isoformat(),
                               "post_stream": {"posts": posts, "stream": [p["id"] for p in posts]}})
        return Reply.json({"errors": ["The requested URL or resource could not be found."],
                           "error_type": "not_found"}, 404)

    return route


# ---------------------------------------------------------------------------------------- plumbing


def _handler(route: Route, running: RunningWorld, name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            try:
                reply = route(method, parts.path, parse_qs(parts.query))
            except Exception:  # a bug in the world must not hang a crawl: answer 500 and log it
                log.exception("evaluation server %s failed on %s %s", name, method, self.path)
                reply = Reply(500, b"server error", "text/plain")
            running.record(name, self.path, reply.status)
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
            log.debug("evaluation server: " + format, *args)

    return Handler


@contextmanager
def _serve(route: Route, running: RunningWorld, name: str) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(route, running, name))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"eval-{name}",
                              daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def serve_world(world: World) -> Iterator[RunningWorld]:
    """Start t.me, Reddit and one server per forum for ``world``; stop them all on exit."""
    running = RunningWorld(world)
    forum_keys = sorted({k for phase in world.phases for k in phase.forums})
    with ExitStack() as stack:
        running.tme_url = stack.enter_context(_serve(tme_route(running), running, "tme"))
        running.reddit_url = stack.enter_context(_serve(reddit_route(running), running, "reddit"))
        for key in forum_keys:
            running.forum_urls[key] = stack.enter_context(_serve(forum_route(running, key), running, key))
        yield running
