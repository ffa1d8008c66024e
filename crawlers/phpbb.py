"""phpBB 3.x boards with the prosilver style (the default), parsed from HTML.

Markup (DESIGN §9): posts ``div.post#p{id}``, author ``p.author`` / ``dl.postprofile``, body
``div.content``, next page ``a[rel=next]``; forums ``a.forumtitle``, topics ``a.topictitle``, the last
post of a topic in ``dd.lastpost`` (``#p{id}``). Times come from ``<time datetime>`` (phpBB 3.2+); the
"Last edited … on <date>" notice is in the board's display format, parsed when it is the default one.
"""

from __future__ import annotations

from datetime import UTC, datetime

from parsel import Selector

from crawlers.base import register
from crawlers.forum_common import parse_time
from crawlers.forum_html import (
    BoardInfo,
    HtmlForumSource,
    HtmlPost,
    ListingPage,
    ThreadPage,
    ThreadRef,
    absolute,
    id_after,
    text_of,
)
from crawlers.records import Platform

#: phpBB's default date format ("D M d, Y g:i a"), e.g. "Sun Mar 01, 2026 11:00 am".
_DISPLAY_FORMATS = ("%a %b %d, %Y %I:%M %p", "%a %b %d, %Y %H:%M")


def parse_display_time(text: str | None) -> datetime | None:
    if not text:
        return None
    cleaned = " ".join(text.split())
    for fmt in _DISPLAY_FORMATS:
        try:
            return datetime.strptime(cleaned, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


class PhpbbDialect:
    def is_board(self, sel: Selector) -> bool:
        return bool(sel.css("ul.topiclist.forums, a.forumtitle, ul.topiclist.topics"))

    def is_login_page(self, sel: Selector) -> bool:
        has_login = bool(sel.css("form#login, form[action*='mode=login']"))
        return has_login and not self.is_board(sel) and not sel.css("div.post")

    def board_info(self, sel: Selector) -> BoardInfo:
        title = sel.css("div.site-description h1::text").get() or sel.css("title::text").get()
        description = sel.css("div.site-description p::text").get()
        return BoardInfo(title.strip() if title else None, description.strip() if description else None)

    def listing(self, sel: Selector, url: str) -> ListingPage:
        forums = [u for u in (absolute(url, h) for h in sel.css("a.forumtitle::attr(href)").getall()) if u]
        threads = []
        for row in sel.css("ul.topiclist.topics li.row"):
            link = row.css("a.topictitle")
            href = absolute(url, link.attrib.get("href"))
            tid = id_after(href, r"[?&]t=(\d+)")
            if not href or not tid:
                continue
            last = row.css("dd.lastpost a::attr(href)").getall()
            marker = next((p for p in (id_after(h, r"#p(\d+)") or id_after(h, r"[?&]p=(\d+)") for h in last) if p),
                          None)
            threads.append(ThreadRef(tid, href, (link.css("::text").get() or "").strip() or None, marker))
        return ListingPage(forums, threads, absolute(url, sel.css("a[rel=next]::attr(href)").get()))

    def thread(self, sel: Selector, url: str) -> ThreadPage:
        title = sel.css("h2.topic-title a::text").get() or sel.css("h2.topic-title::text").get()
        posts = []
        for post in sel.css("div.post"):
            pid = id_after(post.attrib.get("id"), r"^p(\d+)$")
            classes = post.attrib.get("class", "").split()
            content = post.css("div.content")
            if not pid or "deleted" in classes or not content:
                continue  # soft-deleted placeholder (or not a post)
            author_link = post.css("p.author a.username, p.author a.username-coloured, "
                                   "dl.postprofile a.username, dl.postprofile a.username-coloured")
            # Guests have a typed name and no profile: no member (all guests would pool into one).
            author = author_link.css("::text").get() if author_link else None
            author_id = id_after(author_link.attrib.get("href") if author_link else None, r"[?&]u=(\d+)")
            created = parse_time(post.css("p.author time::attr(datetime)").get())
            notice = post.css("div.notice")
            edited = bool(notice) and "edited" in text_of(notice[0]).lower()
            edited_at = parse_display_time(notice.css("strong::text").get()) if edited else None
            html = content[0].get()
            posts.append(HtmlPost(pid, absolute(url, f"./viewtopic.php?p={pid}#p{pid}") or url,
                                  author.strip() if author else None, author_id, created, edited_at,
                                  text_of(content[0]), html, edited))
        next_url = absolute(url, sel.css("a[rel=next]::attr(href)").get())
        return ThreadPage(title.strip() if title else None, posts, next_url)


@register
class PhpbbSource(HtmlForumSource):
    name = "phpbb"
    platform = Platform.PHPBB
    software = "phpBB"
    dialect = PhpbbDialect()
    index_path = "/index.php"
