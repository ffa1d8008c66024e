"""XenForo 2.x forums, parsed from HTML.

Markup (DESIGN §9): posts ``article.message--post[data-author]`` with ``data-content="post-{id}"``,
time ``time.u-dt[datetime]`` (offset without a colon, e.g. ``+0000``), body ``.bbWrapper``, next page
``a.pageNav-jump--next``; forums ``.node-title a``; threads ``.structItem--thread`` with the title in
``.structItem-title a`` and the last post time in ``.structItem-latestDate[data-time]``. Deleted posts
render as ``article.message--deleted`` placeholders and are skipped.
"""

from __future__ import annotations

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


class XenforoDialect:
    def is_board(self, sel: Selector) -> bool:
        return bool(sel.css(".node-title a, .structItem--thread, article.message"))

    def is_login_page(self, sel: Selector) -> bool:
        template = sel.css("html::attr(data-template)").get() or ""
        login_form = bool(sel.css("form[action$='login/login'], form[action*='/login/']"))
        return (template in ("login", "error") and login_form) or (login_form and not self.is_board(sel))

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
        title = " ".join(t.strip() for t in sel.css("h1.p-title-value::text").getall() if t.strip()) or None
        posts = []
        for article in sel.css("article.message--post"):
            pid = id_after(article.attrib.get("data-content"), r"post-(\d+)") or id_after(
                article.attrib.get("id"), r"post-(\d+)")
            body = article.css(".message-body .bbWrapper, .bbWrapper")
            if not pid or not body:
                continue
            user = article.css(".message-name [data-user-id], .message-userDetails [data-user-id]")
            user_id = user.attrib.get("data-user-id") if user else None
            author = article.attrib.get("data-author") if user_id not in (None, "0") else None
            created = parse_time(article.css(".message-attribution-main time.u-dt::attr(datetime)").get()
                                 or article.css("time.u-dt::attr(datetime)").get())
            edit = article.css(".message-lastEdit")
            edited_at = parse_time(edit.css("time::attr(datetime)").get()) if edit else None
            link = article.css(".message-attribution-main a[href*='post-']::attr(href), "
                               ".message-attribution-opposite a[href*='/posts/']::attr(href)").get()
            post_url = absolute(url, link) or absolute(url, f"/posts/{pid}/") or url
            posts.append(HtmlPost(pid, post_url, author if user_id not in (None, "0") else None,
                                  user_id if user_id not in (None, "0") else None, created, edited_at,
                                  text_of(body[0]), body[0].get(), bool(edit)))
        return ThreadPage(title, posts, absolute(url, sel.css("a.pageNav-jump--next::attr(href)").get()))


@register
class XenforoSource(HtmlForumSource):
    name = "xenforo"
    platform = Platform.XENFORO
    software = "XenForo"
    dialect = XenforoDialect()
    index_path = "/"
