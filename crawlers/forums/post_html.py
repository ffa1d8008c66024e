"""A forum post's body split into what its author wrote, what it quotes, and the pictures it shows.

Pure functions over the post's body element (``lxml.html`` elements, as :mod:`parsel` selectors hold).

- **Quotes** (phpBB ``blockquote`` / ``div.quotecontent`` / phpBB 2 ``td.quote``, XenForo
  ``blockquote.bbCodeBlock--quote``) are someone else's words: they are cut out of the author's text
  and links. Their links are kept apart (``Post.extra["quoted_links"]``): a successor link quoted by
  many members is evidence too, but it is not the quoting member's own announcement.
- **Anchors** (``href="#"``, ``href="#p123"``, "Back to top") are not links: their ``href`` is dropped
  before link extraction so they never become a link to the thread itself.
- **Pictures**: every ``<img>`` of the body and of the attachment box, except smilies, emoji, avatars,
  icons and inline ``data:`` URIs. A thumbnail linked to its full-size file (phpBB
  ``download/file.php?id=N&t=1``, XenForo ``/attachments/name.N/``) is fetched at full size. The URLs
  only: downloading and fingerprinting is :func:`crawlers.media.download_fingerprints`' job.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import lxml.html
from lxml import etree

#: Quote containers, by forum software.
QUOTE_XPATH = (
    ".//blockquote | .//div[contains(concat(' ', normalize-space(@class), ' '), ' quotecontent ')]"
    " | .//td[contains(concat(' ', normalize-space(@class), ' '), ' quote ')]"
)
#: ``<img>`` classes and path fragments that are decoration, not posted pictures.
_NOT_PICTURE_CLASSES = frozenset({"smilies", "smilie", "emoji", "avatar", "icon", "site-icon", "onebox-avatar",
                                  "smilie--sprite", "reaction-sprite"})
_NOT_PICTURE_PATHS = re.compile(r"/(?:images/smil(?:i)?es|images/icons|styles/[^/]+/imageset|smilies|emoji)/", re.I)


@dataclass(frozen=True, slots=True)
class PostBody:
    text: str  # the author's own visible text (quotes removed)
    html: str  # the author's own HTML (quotes and anchor hrefs removed), for link extraction
    quoted_html: str  # the quotes' HTML, for their links
    quoted_text: str


def _classes(el: etree._Element) -> set[str]:
    return set(str(el.get("class") or "").split())


def _drop(el: etree._Element) -> None:
    """Remove an element, keeping its tail text in place."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail or ""
    previous = el.getprevious()
    if previous is not None:
        previous.tail = (previous.tail or "") + tail
    else:
        parent.text = (parent.text or "") + tail
    parent.remove(el)


def visible_text(el: etree._Element) -> str:
    """Text of an element without scripts and styles, whitespace collapsed per line, ``<br>`` as newline."""
    parts: list[str] = []

    def walk(node: etree._Element) -> None:
        tag = node.tag if isinstance(node.tag, str) else ""
        if tag in ("script", "style"):
            return
        if tag == "br" or tag in ("p", "div", "li", "tr", "blockquote"):
            parts.append("\n")
        if node.text and tag not in ("script", "style") and isinstance(node.tag, str):
            parts.append(node.text)
        for child in node:
            walk(child)
            if child.tail:
                parts.append(child.tail)

    walk(el)
    lines = [re.sub(r"[ \t\r\f\v\xa0]+", " ", line).strip() for line in "".join(parts).split("\n")]
    return "\n".join(line for line in lines if line)


def _html(el: etree._Element) -> str:
    return etree.tostring(el, encoding="unicode", method="html", with_tail=False)


def split_body(body: etree._Element) -> PostBody:
    """The author's own text and HTML, and the quoted HTML, of a post body (the element is not changed)."""
    own = copy.deepcopy(body)
    own.tail = None
    found = own.xpath(QUOTE_XPATH)
    ids = {id(q) for q in found}
    quotes = [q for q in found if not any(id(a) in ids for a in q.iterancestors())]  # outermost only
    quoted = [copy.deepcopy(q) for q in quotes]
    for q in quotes:
        _drop(q)
    for a in own.iter("a"):
        href = str(a.get("href") or "").strip()
        if not href or href.startswith("#"):
            a.attrib.pop("href", None)
    for q in quoted:
        q.tail = None
        for a in q.iter("a"):
            # The quote's attribution ("X said:", phpBB's <cite>) points at the quoted post, not elsewhere.
            attribution = "bbCodeBlock-sourceJump" in _classes(a) or any(c.tag == "cite" for c in a.iterancestors())
            if attribution or str(a.get("href") or "").strip().startswith("#"):
                a.attrib.pop("href", None)
    return PostBody(text=visible_text(own), html=_html(own),
                    quoted_html="".join(_html(q) for q in quoted),
                    quoted_text="\n".join(visible_text(q) for q in quoted))


def _full_size(url: str) -> str:
    """phpBB thumbnails (``file.php?id=N&t=1``) and view links (``&mode=view``) → the file itself."""
    parts = urlsplit(url)
    if parts.path.endswith("/download/file.php") or parts.path == "download/file.php":
        query = [(k, v) for k, v in parse_qsl(parts.query) if k not in ("t", "mode", "sid")]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
    return url


def picture_urls(elements: Iterable[etree._Element], page_url: str, *, skip_quotes: bool = True) -> list[str]:
    """Absolute URLs of the pictures shown in the given elements (a post's body, its attachment box),
    in order, without duplicates. Pictures inside quotes belong to the quoted post and are skipped."""
    urls: dict[str, None] = {}
    for root in elements:
        quotes = root.xpath(QUOTE_XPATH) if skip_quotes else []  # kept alive: ids of lxml proxies are reused
        quoted = {id(q) for q in quotes}
        for img in root.iter("img"):
            if skip_quotes and any(id(a) in quoted for a in img.iterancestors()):
                continue
            src = str(img.get("data-src") or img.get("src") or "").strip()
            if not src or src.startswith("data:") or _NOT_PICTURE_CLASSES & _classes(img):
                continue
            link = next((a for a in img.iterancestors("a")), None)
            href = str(link.get("href") or "").strip() if link is not None else ""
            # A thumbnail that links to its attachment: take the attachment.
            if href and ("/attachments/" in href or "download/file.php" in href):
                src = href
            absolute = _full_size(urljoin(page_url, src))
            if _NOT_PICTURE_PATHS.search(urlsplit(absolute).path):
                continue
            urls.setdefault(absolute, None)
    return list(urls)


def element(html: str) -> etree._Element | None:
    """Parse an HTML fragment (tests and callers holding text); None for nothing parseable."""
    if not html.strip():
        return None
    try:
        return lxml.html.fragment_fromstring(html, create_parent="div")
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None
