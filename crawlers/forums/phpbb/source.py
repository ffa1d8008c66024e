"""phpBB boards parsed from HTML: prosilver (3.0 to 3.3, the default style) and subSilver (2.x).

prosilver: posts ``div.post#p{id}``, author in ``p.author`` (3.1+: ``a.username`` /
``a.username-coloured``; 3.0: ``strong a`` to ``memberlist.php?mode=viewprofile&u=N``), body
``div.content``, attachments ``dl.attachbox`` (inline ``img.postimage`` from
``./download/file.php?id=N``), next page ``a[rel=next]`` (3.1+) or the link after the current page
number in ``.pagination`` (3.0); forums ``a.forumtitle``, topics ``a.topictitle``, the last post of a
topic in ``dd.lastpost`` (``#p{id}``). Times from ``<time datetime>`` (3.2+), else the text after "»"
in ``p.author``, in the board's language and zone (:mod:`crawlers.forums.dates`).

subSilver (phpBB 2): one table row per post, its id in ``span.name a[name]``, author ``span.name b``,
time in ``span.postdetails`` ("Posted: Sat Sep 01, 2007 6:59 am"), body ``span.postbody``, the profile
link (``u=N``) in the row below; forums ``a.forumlink``, topics ``a.topictitle``.

Session ids (``sid=``) are dropped from every URL kept: they change per visit.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from parsel import Selector

from crawlers.forums.common import parse_time
from crawlers.forums.dates import UTC_CLOCK, BoardClock, board_clock, parse_text_date
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


def parse_display_time(text: str | None, clock: BoardClock = UTC_CLOCK) -> datetime | None:
    """A date as phpBB prints it (any date format and language the board uses), as aware UTC."""
    return parse_text_date(text, clock)


def without_sid(url: str | None) -> str | None:
    """The URL without phpBB's per-visit ``sid`` parameter."""
    if not url or "sid=" not in url:
        return url
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "sid"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _abs(url: str, href: str | None) -> str | None:
    if not href or href.strip().startswith("#"):
        return None
    return without_sid(absolute(url, href))


def next_page(sel: Selector, url: str) -> str | None:
    """The next page of a topic or forum: ``rel=next`` (3.1+), else the page link right after the
    current (bold) page number in the pagination, whatever the board's language."""
    href = sel.css("a[rel=next]::attr(href)").get()
    if not href:
        for current in sel.css(".pagination strong, .pagination b, span.nav b, span.gensmall b"):
            number = (current.css("::text").get() or "").strip()
            if not number.isdigit():
                continue
            after = current.xpath("following-sibling::a[1]")
            if not after:
                after = current.xpath("following-sibling::span[1][contains(@class, 'page-sep')]"
                                      "/following-sibling::a[1]")
            text = (after.css("::text").get() or "").strip() if after else ""
            if after and text.isdigit() and int(text) == int(number) + 1:
                href = after.attrib.get("href")
                break
    return _abs(url, href)


def page_count(sel: Selector) -> int | None:
    """"Page 1 of 2486": the second bold number of the pagination (any language)."""
    for block in sel.css(".pagination, span.nav"):
        numbers = [n.strip() for n in block.css("strong::text, b::text").getall() if n.strip().isdigit()]
        if len(numbers) >= 2 and block.xpath(".//a[@onclick] | self::*[contains(., 'of') or contains(., '/')]"):
            return int(numbers[1])
        if len(numbers) >= 2:
            return int(numbers[1])
    return None


class PhpbbDialect:
    def is_board(self, sel: Selector) -> bool:
        return bool(sel.css("ul.topiclist.forums, a.forumtitle, ul.topiclist.topics, a.forumlink, a.topictitle"))

    def is_login_page(self, sel: Selector) -> bool:
        has_login = bool(sel.css("form#login, form[action*='mode=login'], form[action*='login.php']"))
        return has_login and not self.is_board(sel) and not sel.css("div.post, span.postbody")

    def notice(self, sel: Selector) -> str | None:
        """The board's own message page ("The requested topic does not exist.", "board disabled"):
        prosilver ``div#message``, subSilver's single-cell message table."""
        box = sel.css("#message p, #message .inner, div.panel#message")
        if not box and not sel.css("span.postbody, a.forumlink, a.topictitle"):
            box = sel.css("table.forumline td.row1 span.gen")
        text = " ".join(text_of(b) for b in box[:1]).strip()
        return text[:300] or None

    def not_a_thread(self, sel: Selector) -> str | None:
        return None  # phpBB pages do not say what they are; a page without posts is judged by its notice

    def board_info(self, sel: Selector) -> BoardInfo:
        title = (sel.css("div.site-description h1::text").get() or sel.css("span.maintitle::text").get()
                 or sel.css("title::text").get())
        description = sel.css("div.site-description p::text").get()
        if description is None:
            description = sel.xpath("//span[@class='maintitle']/following::span[@class='gen'][1]/text()").get()
        return BoardInfo(" ".join(title.split()) if title else None,
                         " ".join(description.split()) or None if description else None)

    def listing(self, sel: Selector, url: str) -> ListingPage:
        forums: list[str] = []
        for forum_href in sel.css("a.forumtitle::attr(href), a.forumlink::attr(href)").getall():
            forum = _abs(url, forum_href)
            if forum and forum not in forums:
                forums.append(forum)
        threads = []
        for link in sel.css("a.topictitle"):
            href = _abs(url, link.attrib.get("href"))
            tid = id_after(href, r"[?&]t=(\d+)")
            if not href or not tid:
                log.debug("phpBB listing %s: topic link without a topic id skipped (%s)", url, href)
                continue
            row = link.xpath("ancestor::li[contains(@class, 'row')][1] | ancestor::tr[1]")
            last = row.css("dd.lastpost a::attr(href), td a[href*='#']::attr(href)").getall() if row else []
            marker = next((p for p in (id_after(h, r"#p?(\d+)$") or id_after(h, r"[?&]p=(\d+)") for h in last) if p),
                          None)
            threads.append(ThreadRef(tid, href, " ".join(link.css("::text").getall()).strip() or None, marker))
        return ListingPage(forums, threads, next_page(sel, url), page_count(sel))

    def thread(self, sel: Selector, url: str) -> ThreadPage:
        clock = board_clock(sel, url)
        title = (sel.css("h2.topic-title a::text").get() or sel.css("h2.topic-title::text").get()
                 or sel.css("h2 a[href*='viewtopic.php']::text").get() or sel.css("a.maintitle::text").get())
        posts = self._prosilver_posts(sel, url, clock) or self._subsilver_posts(sel, url, clock)
        return ThreadPage(" ".join(title.split()) if title else None, posts, next_page(sel, url))

    def _prosilver_posts(self, sel: Selector, url: str, clock: BoardClock) -> list[HtmlPost]:
        posts = []
        for post in sel.css("div.post"):
            pid = id_after(post.attrib.get("id"), r"^p(\d+)$")
            classes = post.attrib.get("class", "").split()
            content = post.css("div.content")
            if not pid or "deleted" in classes or not content:
                if pid:
                    log.debug("phpBB %s: post %s skipped (deleted placeholder or no content)", url, pid)
                continue
            author_line = post.css("p.author")
            author_link = post.css("p.author a.username, p.author a.username-coloured, "
                                   "dl.postprofile a.username, dl.postprofile a.username-coloured")
            if not author_link:
                author_link = author_line.css("a[href*='mode=viewprofile']")
            # Guests have a typed name and no profile: no member (all guests would pool into one).
            author = " ".join(author_link[0].css("::text").getall()).strip() if author_link else None
            author_id = id_after(author_link[0].attrib.get("href") if author_link else None, r"[?&]u=(\d+)")
            created = parse_time(author_line.css("time::attr(datetime)").get())
            if created is None and author_line:
                printed = text_of(author_line[0]).split("»")[-1]
                created = parse_text_date(printed, clock)
                if created is None:
                    log.warning("phpBB %s: post %s: date %r not understood", url, pid, printed.strip())
            # prosilver's only notice on a live post is "Last edited by X on <date>" (in the board's language).
            notice = post.css("div.notice")
            edited_at = None
            if notice:
                edited_at = parse_time(notice.css("time::attr(datetime)").get()) or edit_date(notice[0], clock)
            edited = bool(notice) and (edited_at is not None or "edit" in text_of(notice[0]).lower())
            body = split_body(content[0].root)
            pictures = picture_urls([content[0].root, *[b.root for b in post.css("dl.attachbox")]], url)
            posts.append(HtmlPost(pid, absolute(url, f"./viewtopic.php?p={pid}#p{pid}") or url,
                                  author or None, author_id, created, edited_at, body.text, body.html, edited,
                                  quoted_html=body.quoted_html, image_urls=tuple(pictures)))
        return posts

    def _subsilver_posts(self, sel: Selector, url: str, clock: BoardClock) -> list[HtmlPost]:
        posts = []
        for name in sel.css("span.name"):
            pid = next((n for n in name.css("a::attr(name)").getall() if n.isdigit()), None)
            row = name.xpath("ancestor::tr[1]")
            body_el = row.css("span.postbody")
            if not pid or not body_el:
                continue
            author = " ".join(name.css("b::text").getall()).strip() or None
            profile = row.xpath("following-sibling::tr[1]//a[contains(@href, 'mode=viewprofile')]/@href").get()
            author_id = id_after(profile, r"[?&]u=(\d+)")
            # The message cell's details ("Posted: <date>  Post subject: …"), not the author cell's "Joined:".
            printed = (row.xpath(".//a[contains(@href, '#')]/following-sibling::span[contains(@class, 'postdetails')]"
                                 "[1]/text()").get()
                       or row.xpath(".//td[not(.//span[contains(@class, 'name')])]"
                                    "//span[contains(@class, 'postdetails')][1]/text()").get())
            created = parse_text_date(printed, clock)
            if created is None and printed:
                log.warning("phpBB %s: post %s: date %r not understood", url, pid, printed.strip())
            body = split_body(body_el[0].root)
            pictures = picture_urls([body_el[0].root], url)
            posts.append(HtmlPost(pid, absolute(url, f"viewtopic.php?p={pid}#{pid}") or url,
                                  author if author_id else None, author_id, created, None, body.text, body.html,
                                  quoted_html=body.quoted_html, image_urls=tuple(pictures)))
        return posts


def edit_date(notice: Selector, clock: BoardClock) -> datetime | None:
    """The date of a "Last edited by X on <date>, edited 1 time in total." notice, in any language:
    the text after the editor's name, without the last comma's clause, from its first word that
    starts a date."""
    full = text_of(notice)
    editor = " ".join(notice.css("a ::text, a::text").getall()[:1]).strip()
    rest = full.split(editor, 1)[1] if editor and editor in full else full
    if "," in rest:
        rest = rest.rsplit(",", 1)[0]
    words = rest.split()
    for skip in range(min(4, len(words))):
        found = parse_text_date(" ".join(words[skip:]), clock)
        if found is not None:
            return found
    return None


class PhpbbSource(HtmlForumSource):
    name = "phpbb"
    platform = Platform.PHPBB
    software = "phpBB"
    dialect = PhpbbDialect()
    index_path = "/index.php"
