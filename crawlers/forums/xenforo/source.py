"""XenForo 2.x forums, parsed from HTML.

Markup: posts ``article.message--post[data-author]`` with ``data-content="post-{id}"``,
time ``time.u-dt[datetime]`` (offset without a colon, e.g. ``+0000``), body ``.bbWrapper``, next page
``a.pageNav-jump--next``; forums ``.node-title a``; threads ``.structItem--thread`` with the title in
``.structItem-title a`` and the last post time in ``.structItem-latestDate[data-time]``. Deleted posts
render as ``article.message--deleted`` placeholders and are skipped.

Quotes are ``blockquote.bbCodeBlock--quote`` (cut out of the author's text); pictures are ``img.bbImage``
in the body and the attachment list (``section.message-attachments``, full size from
``/attachments/name.N/``). Every XenForo page names its template in ``<html data-template>``: a page
fetched as a thread whose template is not ``thread_view`` (an article, a media item, an error) is not
read as posts.
"""

from __future__ import annotations

import logging
import re

from parsel import Selector

from crawlers.forums.common import parse_time
from crawlers.forums.html import (
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
from crawlers.forums.post_html import picture_urls, split_body
from model.records import Platform

log = logging.getLogger(__name__)

#: Templates of pages that hold a thread's posts.
THREAD_TEMPLATES = frozenset({"thread_view", "thread_view_type_article", "thread_view_type_question",
                              "thread_view_type_poll", "thread_view_type_suggestion"})


class XenforoDialect:
    def is_board(self, sel: Selector) -> bool:
        return bool(sel.css(".node-title a, .structItem--thread, article.message"))

    def is_login_page(self, sel: Selector) -> bool:
        template = sel.css("html::attr(data-template)").get() or ""
        login_form = bool(sel.css("form[action$='login/login'], form[action*='/login/']"))
        return (template in ("login", "error") and login_form) or (login_form and not self.is_board(sel))

    def notice(self, sel: Selector) -> str | None:
        """XenForo's error/notice pages: template ``error`` or ``message_page`` with a ``blockMessage``."""
        template = sel.css("html::attr(data-template)").get() or ""
        if template not in ("error", "message_page", "login"):
            return None
        text = " ".join(text_of(b) for b in sel.css(".blockMessage")[:1]).strip()
        return text[:300] or template

    def not_a_thread(self, sel: Selector) -> str | None:
        template = sel.css("html::attr(data-template)").get()
        if template and template not in THREAD_TEMPLATES and template not in ("error", "message_page", "login"):
            return f"XenForo page template {template!r}, not a thread"
        return None

    def board_info(self, sel: Selector) -> BoardInfo:
        title = sel.css("meta[property='og:site_name']::attr(content)").get() or sel.css("title::text").get()
        description = sel.css("meta[name=description]::attr(content)").get()
        return BoardInfo(title.strip() if title else None, description.strip() if description else None)

    def listing(self, sel: Selector, url: str) -> ListingPage:
        forums = [u for u in (absolute(url, h) for h in sel.css(".node-title a::attr(href)").getall()) if u]
        threads = []
        for item in sel.css(".structItem--thread"):
            link = item.css(".structItem-title a[href*='/threads/']")
            if not link:
                continue
            href = absolute(url, link[-1].attrib.get("href"))
            tid = id_after(href, r"/threads/(?:[^/]*\.)?(\d+)/?")
            if not href or not tid:
                continue
            marker = (item.css(".structItem-latestDate::attr(data-time)").get()
                      or item.css(".structItem-latestDate::attr(datetime)").get())
            threads.append(ThreadRef(tid, href, (link[-1].css("::text").get() or "").strip() or None, marker))
        return ListingPage(forums, threads, absolute(url, sel.css("a.pageNav-jump--next::attr(href)").get()))

    def thread(self, sel: Selector, url: str) -> ThreadPage:
        title = " ".join(t.strip() for t in sel.css("h1.p-title-value::text, h1.p-title-value a::text").getall()
                         if t.strip()) or None
        posts: list[HtmlPost] = []
        if self.not_a_thread(sel):
            return ThreadPage(title, posts, None)
        for article in sel.css("article.message--post"):
            mine = _Scope(article)
            pid = id_after(article.attrib.get("data-content"), r"post-(\d+)") or id_after(
                article.attrib.get("id"), r"post-(\d+)")
            body = mine.css(".message-body .bbWrapper, .bbWrapper")
            if not pid or not body:
                log.debug("XenForo %s: message %s without a body skipped", url, pid)
                continue
            user = mine.css(".message-name [data-user-id], .message-userDetails [data-user-id]")
            user_id = user[0].attrib.get("data-user-id") if user else None
            author = article.attrib.get("data-author") if user_id not in (None, "0") else None
            created = parse_time(mine.first(".message-attribution-main time.u-dt", "datetime")
                                 or mine.first("time.u-dt", "datetime"))
            edit = mine.css(".message-lastEdit")
            edited_at = parse_time(edit[0].css("time::attr(datetime)").get()) if edit else None
            link = (mine.first("a.message-attribution-main[href*='post-'], .message-attribution-main a[href*='post-']",
                               "href")
                    or mine.first(".message-attribution-opposite a[href*='/post-']", "href"))
            post_url = (absolute(url, link) or absolute(re.sub(r"page-\d+/?$", "", url.split("#")[0]), f"post-{pid}")
                        or url)
            own = split_body(body[0].root)
            pictures = picture_urls([body[0].root, *[a.root for a in mine.css(".message-attachments")]], url)
            posts.append(HtmlPost(pid, post_url, author if user_id not in (None, "0") else None,
                                  user_id if user_id not in (None, "0") else None, created, edited_at,
                                  own.text, own.html, bool(edit), quoted_html=own.quoted_html,
                                  image_urls=tuple(pictures)))
        return ThreadPage(title, posts, absolute(url, sel.css("a.pageNav-jump--next::attr(href)").get()))


def _post_depth(el: Selector) -> int:
    return len(el.xpath("ancestor-or-self::article[contains(concat(' ', normalize-space(@class), ' '),"
                        " ' message--post ')]"))


class _Scope:
    """What belongs to one post and not to the posts nested in it. Real pages nest them: an unclosed
    tag in one post's markup makes lxml put every later post inside it (seen on a XenForo 2 thread,
    villagersandheroes.com), so ``article.css(".message-lastEdit")`` would find a later post's edit."""

    def __init__(self, article: Selector) -> None:
        self.article = article
        self.depth = _post_depth(article)

    def css(self, query: str) -> list[Selector]:
        return [el for el in self.article.css(query) if _post_depth(el) == self.depth]

    def first(self, query: str, attribute: str) -> str | None:
        for el in self.css(query):
            value = el.attrib.get(attribute)
            if value:
                return str(value)
        return None


class XenforoSource(HtmlForumSource):
    name = "xenforo"
    platform = Platform.XENFORO
    software = "XenForo"
    dialect = XenforoDialect()
    index_path = "/"
