"""Pure parsing of Telegram's public web previews (``https://t.me/s/<handle>``) and of the plain
``https://t.me/<handle>`` page a channel without preview redirects to. No I/O: HTML in, dataclasses out.

Markup facts (see docs/crawling.md, the Telegram section) and the choices made on them:

- **Stable id.** Each message block carries the channel's numeric id: ``data-peer="c<id>_<hash>"``
  on current pages, and inside ``data-view`` (base64 JSON ``{"c": -<id>, "p": <post>, ...}``) on
  older ones. That id is what Telethon calls ``Channel.id``, so both crawlers key a channel by the
  same ``native_id``. A page without messages has no id (``channel_id`` is ``None``).
- **Service messages** are message blocks whose class list holds the ``service_message`` token
  (matched as a token: ``service_message_wrap`` is not one). Title changes read
  ``Channel name was changed to «New»``; photo changes ``Channel photo updated``.
- **Forwards**: ``.tgme_widget_message_forwarded_from_name`` is a link (``t.me/<handle>/<post>`` or
  ``t.me/<handle>``) when the origin is public, a bare span when the origin hides itself. A forward
  may come from a *person*, whose name and handle must never be stored (members are pseudonymous
  from ingest on, and a forward origin is not pseudonymised). The page does not say whether the
  origin is a channel or a user, so the rule is: the origin is a channel only when the link is
  evidently one, i.e. it points at a post (``t.me/<handle>/<post>``, ``t.me/c/<id>/<post>``: only
  channels and public groups have linkable posts) or at a channel preview (``t.me/s/<handle>``).
  Anything else, ``t.me/<handle>`` without a post (the form a user's profile link takes) or a bare
  span (a hidden sender), is a :class:`Forward` with ``hidden=True`` and no name, handle or id.
- **Albums** are one block whose photos link to ``t.me/<handle>/<id>?single``; the block's own id
  is one of them, the others are recorded as ``album_ids``.
- **Pages are oldest-first**; ``a.tme_messages_more[data-before]`` leads to older messages.
- **What a post holds.** Text, photos (single or album), video and round-video thumbnails, the link
  preview (url, site, title, description, image), the poll (question and options, read as the post's
  text), stickers, voice, files. Each kind found is listed in :attr:`Message.kinds`; a block of a kind
  we do not know is kept with its CSS class as its kind (``other:<class>``) and its visible text.
- **Where a page ends.** Real pages end with ``</html>`` followed by a comment
  (``<!-- page generated in 25.61ms -->``). A page without ``</html>`` was cut off in transit:
  :class:`TruncatedPage`, because a partial page would claim ids it never showed. Anything else after
  ``</html>`` is logged and ignored.
- **Degrade, don't break.** A block that cannot be read is counted in ``skipped`` and logged; only a
  page with no structure we recognise raises :class:`NotAChannelPage`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin, urlsplit

from lxml import etree

from model.records import CommunityStatus

__all__ = [
    "ChannelPage",
    "EmbedPage",
    "Forward",
    "LinkPreview",
    "Message",
    "NoPreviewPage",
    "NotAChannelPage",
    "Poll",
    "StatusVerdict",
    "TruncatedPage",
    "channel_id_from_block",
    "identify_page",
    "no_preview_status",
    "parse_channel_page",
    "parse_count",
    "parse_fragment",
    "parse_no_preview_page",
]

log = logging.getLogger(__name__)


class NotAChannelPage(ValueError):
    """The HTML is not a t.me channel preview (an error page, a captcha, another site)."""


class TruncatedPage(NotAChannelPage):
    """The page ends before ``</html>``: it was cut off and cannot be trusted as a whole."""


@dataclass(frozen=True, slots=True)
class Forward:
    """Origin of a forwarded message: a channel (handle or id, post, title), or ``hidden`` with
    nothing identifying when the origin may be a person (see the module docstring for the rule)."""

    handle: str | None = None
    post_id: str | None = None
    name: str | None = None
    url: str | None = None
    hidden: bool = False
    native_id: str | None = None  # from t.me/c/<id>/<post> links (channels without a handle)


@dataclass(frozen=True, slots=True)
class LinkPreview:
    url: str
    site_name: str | None = None
    title: str | None = None
    description: str | None = None
    image_url: str | None = None  # the preview's picture or video thumbnail (fingerprinted, never kept)


@dataclass(frozen=True, slots=True)
class Poll:
    question: str
    options: tuple[str, ...] = ()
    poll_type: str | None = None  # "Anonymous Poll", "Quiz", ...

    @property
    def text(self) -> str:
        return "\n".join([self.question, *self.options])


@dataclass(frozen=True, slots=True)
class Message:
    handle: str
    post_id: int
    url: str
    channel_id: str | None
    date: datetime | None
    text: str | None
    hrefs: tuple[str, ...] = ()  # link targets inside the text, absolute
    views: int | None = None
    edited: bool = False
    forward: Forward | None = None
    photos: tuple[str, ...] = ()  # image URLs (photos, then video thumbnails)
    video_thumbs: tuple[str, ...] = ()
    album_ids: tuple[int, ...] = ()
    link_preview: LinkPreview | None = None
    service: bool = False
    service_action: str | None = None
    service_value: str | None = None
    signature: str | None = None  # "from author" display name of signed channel posts
    author_handle: str | None = None  # a user's handle, when the block links to one
    reply_to: int | None = None
    payload_sha256: str = ""
    kinds: tuple[str, ...] = ()  # what the post holds: text, photo, video, round_video, poll, ...
    round_video_thumbs: tuple[str, ...] = ()
    poll: Poll | None = None
    files: tuple[str, ...] = ()  # document titles ("report.pdf")


@dataclass(frozen=True, slots=True)
class ChannelPage:
    url: str
    handle: str | None
    title: str | None
    description: str | None
    counters: dict[str, int] = field(default_factory=dict)
    photo_url: str | None = None
    channel_id: str | None = None
    messages: tuple[Message, ...] = ()
    before: int | None = None  # id for the next older page (?before=), None when there is none
    skipped: int = 0  # message blocks that could not be read (no usable data-post)
    no_posts_found: bool = False  # a search page that says "No posts found"

    @property
    def member_count(self) -> int | None:
        for key in ("subscribers", "subscriber", "members", "member"):
            if key in self.counters:
                return self.counters[key]
        return None

    @property
    def post_ids(self) -> list[int]:
        return [m.post_id for m in self.messages]


@dataclass(frozen=True, slots=True)
class NoPreviewPage:
    """``t.me/<handle>`` (or an invite ``t.me/+CODE``): the page of a public channel or group (with or
    without web preview), a person's or bot's profile, a private group's invite, or Telegram's
    "contact @handle" page when the handle resolves to nothing (``exists`` False)."""

    title: str | None
    description: str | None
    extra: str | None
    exists: bool
    kind: str  # channel, group, invite, user, nonexistent, unknown
    member_count: int | None = None
    online_count: int | None = None
    handle: str | None = None  # from the page's tg://resolve link (absent on invite pages)
    has_preview: bool = False  # links to t.me/s/<handle> ("Preview channel")
    verified: bool = False
    invite_of: str | None = None  # invite pages: "channel" (subscribers) or "group" (members)


@dataclass(frozen=True, slots=True)
class EmbedPage:
    """``t.me/<handle>/<post>?embed=1``: one post as a widget, or Telegram's "Post not found"."""

    found: bool
    messages: tuple[Message, ...] = ()
    error: str | None = None

    @property
    def channel_id(self) -> str | None:
        return next((m.channel_id for m in self.messages if m.channel_id), None)


@dataclass(frozen=True, slots=True)
class StatusVerdict:
    """What a page says about the community that was asked for, and how sure that is."""

    status: str  # a CommunityStatus value
    definitive: bool
    evidence: str


# --- small helpers ---------------------------------------------------------------------------------

_SPACES = re.compile(r"[\s\u00a0\u2009\u202f\u2007']+")
_COUNT = re.compile(r"^(\d+(?:[.,]\d+)?)([KMB]?)$", re.IGNORECASE)
_MULTIPLIER = {"": 1, "K": 1_000, "M": 1_000_000, "B": 1_000_000_000}


def parse_count(text: str | None) -> int | None:
    """``"1.2K"`` → 1200, ``"12 345"`` → 12345, ``"1,234"`` → 1234, ``"3.4M"``; None for junk.

    Telegram abbreviates large counts (one decimal, K/M) and groups digits of smaller ones with a
    space (thin or no-break in some locales)."""
    if not text:
        return None
    compact = _SPACES.sub("", text.strip())
    match = _COUNT.match(compact)
    if not match:
        return None
    number, suffix = match.groups()
    multiplier = _MULTIPLIER[suffix.upper()]
    if multiplier == 1:
        digits = number.replace(",", "").replace(".", "")
        return int(digits)
    return round(float(number.replace(",", ".")) * multiplier)


class _Index:
    """Elements of a subtree by class token, in document order. One pass over the tree replaces an
    XPath query per field, which matters: a page has ~20 messages and a dozen fields each."""

    __slots__ = ("by_class",)

    def __init__(self, by_class: dict[str, list[etree._Element]]) -> None:
        self.by_class = by_class

    @classmethod
    def scan(cls, root: etree._Element) -> tuple[_Index, list[tuple[etree._Element, _Index]]]:
        """Index a page in one walk: the page outside message blocks, and each message block
        (``div.tgme_widget_message[data-post]``) on its own."""
        page: dict[str, list[etree._Element]] = {}
        blocks: list[tuple[etree._Element, _Index]] = []
        current: dict[str, list[etree._Element]] | None = None
        current_el: etree._Element | None = None
        for event, el in etree.iterwalk(root, events=("start", "end")):
            if event == "end":
                if el is current_el:
                    current, current_el = None, None
                continue
            classes = el.get("class") if isinstance(el.tag, str) else None
            if not classes:
                continue
            tokens = classes.split()
            if current is None and "tgme_widget_message" in tokens and el.tag == "div" and el.get("data-post"):
                current, current_el = {}, el
                blocks.append((el, cls(current)))
            target = page if current is None else current
            for token in tokens:
                target.setdefault(token, []).append(el)
        return cls(page), blocks

    def all(self, token: str, tag: str | None = None, attr: str | None = None) -> list[etree._Element]:
        found = self.by_class.get(token, [])
        if tag is None and attr is None:
            return found
        return [el for el in found if (tag is None or el.tag == tag) and (attr is None or el.get(attr) is not None)]

    def first(self, token: str, tag: str | None = None, attr: str | None = None) -> etree._Element | None:
        for el in self.by_class.get(token, ()):
            if (tag is None or el.tag == tag) and (attr is None or el.get(attr) is not None):
                return el
        return None


_BG_URL = re.compile(r"background-image\s*:\s*url\(\s*(?:&quot;|['\"])?([^'\")&]+)(?:&quot;|['\"])?\s*\)",
                     re.IGNORECASE)
_PEER = re.compile(r"^c(\d+)_")
_TITLE_CHANGED = re.compile(r"(?:name was changed to|changed (?:the )?(?:group|channel) name to)\s*«(.*)»\s*$",
                            re.IGNORECASE | re.DOTALL)
_PHOTO_CHANGED = re.compile(r"photo (?:updated|changed)|(?:updated|changed) (?:the )?(?:group|channel) photo",
                            re.IGNORECASE)
_PHOTO_REMOVED = re.compile(r"photo removed|removed (?:the )?(?:group|channel) photo", re.IGNORECASE)
_SINGLE = re.compile(r"/(\d+)\?single\b")
_HTML_END = re.compile(rb"</html\s*>", re.IGNORECASE)
_HARMLESS_TRAILER = re.compile(rb"^(?:\s|<!--.*?-->)*$", re.DOTALL)


def _has_class(el: etree._Element, token: str) -> bool:
    return token in (el.get("class") or "").split()


def _text(el: etree._Element | None) -> str | None:
    """Visible text with ``<br>`` as newlines; ``None`` when empty."""
    if el is None:
        return None
    for br in el.iter("br"):
        br.tail = "\n" + (br.tail or "")
    value = "".join(el.itertext()).strip()
    return value or None


def _bg_url(el: etree._Element, base: str) -> str | None:
    match = _BG_URL.search(el.get("style") or "")
    if not match:
        return None
    raw = match.group(1).strip()
    return urljoin(base, raw)


def _datetime(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return when.astimezone(UTC) if when.tzinfo is not None else when.replace(tzinfo=UTC)


def channel_id_from_block(el: etree._Element) -> str | None:
    """The channel's numeric id from ``data-peer`` or, on older pages, ``data-view``."""
    match = _PEER.match(el.get("data-peer") or "")
    if match:
        return str(int(match.group(1)))
    view = el.get("data-view")
    if not view:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(view + "=" * (-len(view) % 4)))
        raw = abs(int(decoded["c"]))
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError):
        # OverflowError: {"c": 1e999} is JSON infinity, and int(inf) overflows.
        return None
    text = str(raw)
    # A "marked" id (-100 + id) is 13+ digits; plain channel ids are shorter.
    if len(text) >= 13 and text.startswith("100"):
        text = text[3:]
    return text if raw else None


def _handle_and_post(url: str) -> tuple[str | None, str | None]:
    """``https://t.me/name/12`` → (name, "12"); ``https://t.me/name`` → (name, None)."""
    parts = [p for p in urlsplit(url).path.split("/") if p]
    if parts[:1] == ["s"]:
        parts = parts[1:]
    if not parts or parts[0].startswith("+") or parts[0] in ("joinchat", "c"):
        return None, None
    post = parts[1] if len(parts) > 1 and parts[1].isdigit() else None
    return parts[0], post


_PRIVATE_POST = re.compile(r"^/c/(\d+)/(\d+)/?$")


def _forward(el: etree._Element, base: str) -> Forward:
    """A channel origin keeps handle, post and title; anything that may be a person is hidden with
    nothing identifying (rule in the module docstring)."""
    href = el.get("href") if el.tag == "a" else None
    if not href:
        return Forward(hidden=True)
    url = urljoin(base, href)
    path = urlsplit(url).path
    private = _PRIVATE_POST.match(path)
    if private:
        return Forward(native_id=str(int(private.group(1))), post_id=private.group(2), name=_text(el), url=url)
    handle, post = _handle_and_post(url)
    preview = path.startswith("/s/")
    if handle is None or (post is None and not preview):
        return Forward(hidden=True)
    return Forward(handle=handle.lower(), post_id=post, name=_text(el), url=url)


def _service(text: str | None) -> tuple[str, str | None]:
    if text:
        match = _TITLE_CHANGED.search(text)
        if match:
            return "title_changed", match.group(1).strip()
        if _PHOTO_REMOVED.search(text):
            return "photo_removed", None
        if _PHOTO_CHANGED.search(text):
            return "photo_changed", None
    return "other", text


def _inner(el: etree._Element | None, token: str) -> etree._Element | None:
    """First descendant of ``el`` with class ``token``."""
    if el is None:
        return None
    for sub in el.iter(etree.Element):
        if sub is not el and _has_class(sub, token):
            return sub
    return None


def _inside(el: etree._Element, stop: etree._Element, tokens: frozenset[str]) -> bool:
    """Whether an ancestor of ``el`` below ``stop`` carries one of ``tokens``."""
    parent = el.getparent()
    while parent is not None and parent is not stop:
        if tokens.intersection((parent.get("class") or "").split()):
            return True
        parent = parent.getparent()
    return False


#: Direct children of a message bubble: their class → the kind of content they hold (None: layout).
_BUBBLE_PARTS: dict[str, str | None] = {
    "tgme_widget_message_bubble_tail": None, "tgme_widget_message_author": None,
    "tgme_widget_message_forwarded_from": None, "tgme_widget_message_reply": None,
    "tgme_widget_message_footer": None, "tgme_widget_message_bubble_logo": None,
    "tgme_widget_message_via_bot": None, "tgme_widget_message_text": "text",
    "tgme_widget_message_photo_wrap": "photo", "tgme_widget_message_video_player": "video",
    "tgme_widget_message_grouped_wrap": "album", "tgme_widget_message_link_preview": "link_preview",
    "tgme_widget_message_poll": "poll", "tgme_widget_message_roundvideo_player": "round_video",
    "tgme_widget_message_sticker_wrap": "sticker", "tgme_widget_message_voice_player": "voice",
    "tgme_widget_message_audio_player": "audio", "tgme_widget_message_document_wrap": "document",
    "tgme_widget_message_location_wrap": "location", "tgme_widget_message_service_photo": "photo",
    "message_media_not_supported_wrap": "unsupported",
    # A shared contact card holds a person's name and number: its kind is kept, its text is not.
    "tgme_widget_message_contact_wrap": "contact",
}
_NOT_MESSAGE_TEXT = frozenset({"tgme_widget_message_text", "tgme_widget_message_link_preview",
                               "tgme_widget_message_reply", "tgme_widget_message_poll"})


def _bubble_parts(el: etree._Element, idx: _Index, url: str) -> tuple[list[str], list[str]]:
    """The kinds of content the block holds, and the text of parts of an unknown kind. A part of an
    unknown class that wraps known parts is a new layout wrapper: its children are read instead."""
    bubble = idx.first("tgme_widget_message_bubble")
    kinds: list[str] = []
    other_text: list[str] = []

    def visit(holder: etree._Element) -> None:
        for child in holder.iterchildren(etree.Element):
            tokens = (child.get("class") or "").split()
            known = [t for t in tokens if t in _BUBBLE_PARTS]
            if known:
                kind = _BUBBLE_PARTS[known[0]]
                if kind is not None and kind not in kinds:
                    kinds.append(kind)
                continue
            if not tokens:
                continue
            if any(_BUBBLE_PARTS.keys() & set((sub.get("class") or "").split()) for sub in child.iter(etree.Element)):
                visit(child)
                continue
            name = next((t for t in tokens if t.startswith("tgme_widget_message_")), tokens[0])
            kinds.append("other:" + name.removeprefix("tgme_widget_message_"))
            log.info("%s: post %s holds a part of unknown kind %r; kept as text", url, el.get("data-post"), name)
            value = _text(child)
            if value:
                other_text.append(value)

    visit(bubble if bubble is not None else el)
    if "unsupported" in kinds and len(kinds) > 1:
        kinds.remove("unsupported")  # the "not supported in your browser" twin of a sticker, a video...
    return kinds, other_text


def _poll(idx: _Index) -> Poll | None:
    question = _text(idx.first("tgme_widget_message_poll_question"))
    if question is None:
        return None
    options = tuple(t for t in (_text(o) for o in idx.all("tgme_widget_message_poll_option_text")) if t)
    return Poll(question, options, _text(idx.first("tgme_widget_message_poll_type")))


def _link_preview(el: etree._Element, base: str) -> LinkPreview:
    image = None
    for token in ("link_preview_image", "link_preview_right_image", "link_preview_video_thumb"):
        holder = _inner(el, token)
        if holder is not None:
            image = _bg_url(holder, base)
            if image:
                break
    return LinkPreview(
        url=urljoin(base, el.get("href") or ""),
        site_name=_text(_inner(el, "link_preview_site_name")),
        title=_text(_inner(el, "link_preview_title")),
        description=_text(_inner(el, "link_preview_description")),
        image_url=image,
    )


def _media(idx: _Index, base: str) -> tuple[list[str], list[str], list[str], list[int]]:
    """Photo URLs, video and round-video thumbnail URLs, and album item ids of a block (or fragment)."""
    photos: list[str] = []
    album: list[int] = []
    for wrap in idx.all("tgme_widget_message_photo_wrap", tag="a"):
        photo = _bg_url(wrap, base)
        if photo:
            photos.append(photo)
        single = _SINGLE.search(wrap.get("href") or "")
        if single:
            album.append(int(single.group(1)))
    thumbs: list[str] = []
    for thumb in idx.all("tgme_widget_message_video_thumb"):
        thumb_url = _bg_url(thumb, base)
        if thumb_url:
            thumbs.append(thumb_url)
        link = thumb.getparent()
        single = _SINGLE.search(link.get("href") or "") if link is not None else None
        if single:
            album.append(int(single.group(1)))
    rounds = [u for u in (_bg_url(t, base) for t in idx.all("tgme_widget_message_roundvideo_thumb")) if u]
    return photos, thumbs, rounds, album


def _message_text(el: etree._Element, idx: _Index) -> etree._Element | None:
    """The post's own text: the outermost ``.tgme_widget_message_text`` that is not part of a reply
    quote, a link preview or a poll (wherever a redesign nests it)."""
    for candidate in idx.all("tgme_widget_message_text"):
        if not _inside(candidate, el, _NOT_MESSAGE_TEXT):
            return candidate
    return None


def _message(el: etree._Element, idx: _Index, base: str) -> Message | None:
    handle, sep, post = (el.get("data-post") or "").partition("/")
    if not sep or not handle or not post.isdigit():
        return None
    post_id = int(post)
    payload = hashlib.sha256(etree.tostring(el, encoding="utf-8")).hexdigest()
    date_link = idx.first("tgme_widget_message_date", tag="a")
    url = (date_link.get("href") if date_link is not None else None) or f"https://t.me/{handle}/{post_id}"
    time_el = next((t for t in date_link.iter("time") if t.get("datetime")), None) if date_link is not None else None
    text_el = _message_text(el, idx)
    hrefs = tuple(urljoin(base, a.get("href") or "") for a in text_el.iter("a") if a.get("href")) if (
        text_el is not None) else ()
    text = _text(text_el)
    kinds, other_text = _bubble_parts(el, idx, base)
    poll = _poll(idx)
    if poll is not None:
        text = "\n".join(t for t in (text, poll.text) if t)
        if "poll" not in kinds:
            kinds.append("poll")
    if other_text:
        text = "\n".join(t for t in (text, *other_text) if t)
    views_el = idx.first("tgme_widget_message_views")
    meta_el = idx.first("tgme_widget_message_meta")
    fwd_el = idx.first("tgme_widget_message_forwarded_from_name")
    photos, thumbs, rounds, album = _media(idx, base)
    preview = None
    preview_el = idx.first("tgme_widget_message_link_preview", tag="a", attr="href")
    if preview_el is not None:
        preview = _link_preview(preview_el, base)
    service = _has_class(el, "service_message")
    action = value = None
    if service:
        action, value = _service(text)
        kinds.insert(0, "service")
        for holder in idx.all("tgme_widget_message_service_photo"):
            for img in holder.iter("img"):
                src = img.get("src")
                if src:
                    photos.append(urljoin(base, src))
    author_handle = None
    owner = idx.first("tgme_widget_message_owner_name", attr="href")
    if owner is not None:
        owner_handle, _ = _handle_and_post(owner.get("href") or "")
        if owner_handle and owner_handle.lower() != handle.lower():
            author_handle = owner_handle.lower()
    reply = idx.first("tgme_widget_message_reply", tag="a", attr="href")
    reply_to = None
    if reply is not None:
        _, reply_post = _handle_and_post(reply.get("href") or "")
        reply_to = int(reply_post) if reply_post else None
    files = tuple(" ".join(t.split()) for t in (_text(d) for d in idx.all("tgme_widget_message_document_title")) if t)
    return Message(
        handle=handle,
        post_id=post_id,
        url=url,
        channel_id=channel_id_from_block(el),
        date=_datetime(time_el.get("datetime") if time_el is not None else None),
        text=text,
        hrefs=hrefs,
        views=parse_count("".join(views_el.itertext())) if views_el is not None else None,
        edited=meta_el is not None and "edited" in "".join(meta_el.itertext()),
        forward=_forward(fwd_el, base) if fwd_el is not None else None,
        photos=tuple(photos),
        video_thumbs=tuple(thumbs),
        album_ids=tuple(sorted(set(album) - {post_id})),
        link_preview=preview,
        service=service,
        service_action=action,
        service_value=value,
        signature=_text(idx.first("tgme_widget_message_from_author")),
        author_handle=author_handle,
        reply_to=reply_to,
        payload_sha256=payload,
        kinds=tuple(kinds),
        round_video_thumbs=tuple(rounds),
        poll=poll,
        files=files,
    )


def _messages(blocks: list[tuple[etree._Element, _Index]], url: str) -> tuple[list[Message], int]:
    """Every readable message block (once per id); blocks that cannot be read are counted and logged."""
    messages: list[Message] = []
    seen: set[int] = set()
    skipped = 0
    for block, block_idx in blocks:
        try:
            message = _message(block, block_idx, url)
        except (ValueError, TypeError, KeyError, AttributeError, IndexError) as exc:
            log.warning("%s: message block %r skipped: %s: %s", url, block.get("data-post"), type(exc).__name__, exc)
            message = None
        if message is None:
            skipped += 1
            continue
        if message.post_id in seen:
            continue
        seen.add(message.post_id)
        messages.append(message)
    return messages, skipped


def _bytes(html: str | bytes) -> bytes:
    return html.encode("utf-8") if isinstance(html, str) else html


def _document(html: str | bytes, url: str, *, whole_page: bool = True) -> etree._Element:
    data = _bytes(html)
    if not data.strip():
        raise NotAChannelPage(f"empty page from {url}")
    if whole_page:
        end = None
        for found in _HTML_END.finditer(data, max(0, len(data) - 65536)):
            end = found  # the last one
        if end is None:
            raise TruncatedPage(f"truncated page from {url}: it ends before </html>")
        trailer = data[end.end():]
        if not _HARMLESS_TRAILER.match(trailer):
            log.warning("%s: %d bytes after </html> ignored: %r", url, len(trailer), trailer[:80])
    # Plain lxml.etree elements: lxml.html's element classes cost a lookup per node visited.
    parser = etree.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True)
    try:
        root = etree.fromstring(data, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise NotAChannelPage(f"unparseable page from {url}: {exc}") from exc
    if root is None:
        raise NotAChannelPage(f"unparseable page from {url}")
    return root


def _channel_page(idx: _Index, blocks: list[tuple[etree._Element, _Index]], url: str) -> ChannelPage:
    messages, skipped = _messages(blocks, url)
    counters: dict[str, int] = {}
    for counter in idx.all("tgme_channel_info_counter"):
        value = parse_count(_text(_inner(counter, "counter_value")))
        kind = _text(_inner(counter, "counter_type"))
        if value is not None and kind:
            counters[kind.lower()] = value
        else:
            log.info("%s: channel counter %r not understood", url, _text(counter))
    username_box = idx.first("tgme_channel_info_header_username")
    username = next(username_box.iter("a"), None) if username_box is not None else None
    handle = None
    if username is not None:
        handle = (_text(username) or "").lstrip("@") or None
    if handle is None and messages:
        handle = messages[0].handle
    more = idx.first("tme_messages_more", tag="a", attr="data-before")
    before_raw = more.get("data-before") if more is not None else None
    header = idx.first("tgme_channel_info_header")
    photo = None
    if header is not None:
        photo = next((img for img in header.iter("img") if img.get("src") and img.getparent() is not None
                      and _has_class(img.getparent(), "tgme_page_photo_image")), None)
    title = _text(idx.first("tgme_channel_info_header_title"))
    if title is None:
        log.info("%s: no channel header title on the page", url)
    return ChannelPage(
        url=url,
        handle=handle,
        title=title,
        description=_text(idx.first("tgme_channel_info_description")),
        counters=counters,
        photo_url=urljoin(url, photo.get("src") or "") if photo is not None else None,
        channel_id=next((m.channel_id for m in messages if m.channel_id), None),
        messages=tuple(sorted(messages, key=lambda m: m.post_id)),
        before=int(before_raw) if before_raw and before_raw.isdigit() else None,
        skipped=skipped,
        no_posts_found=idx.first("tme_no_messages_found") is not None,
    )


def parse_channel_page(html: str | bytes, url: str) -> ChannelPage:
    """Parse one ``t.me/s/<handle>`` page. Raises :class:`NotAChannelPage` (naming ``url``) when the
    page has neither the channel header nor the message history."""
    root = _document(html, url)
    idx, blocks = _Index.scan(root)
    if idx.first("tgme_channel_info") is None and idx.first("tgme_channel_history") is None:
        raise NotAChannelPage(f"{url} is not a Telegram channel preview (no .tgme_channel_info or "
                              ".tgme_channel_history)")
    return _channel_page(idx, blocks, url)


def parse_fragment(html: str | bytes, base_url: str) -> tuple[list[Message], Message | None]:
    """Message blocks cut out of a page (no ``<html>`` around them), e.g. as other tools save them.

    Returns the complete blocks, and the content of the fragment read as one anonymous post
    (``post_id`` 0) when it holds a part of a post without its block (a lone poll, photo, link
    preview, round video), else ``None``."""
    root = _document(html, base_url, whole_page=False)
    _, blocks = _Index.scan(root)
    messages, _ = _messages(blocks, base_url)
    if blocks:
        return messages, None
    body = next(root.iter("body"), root)
    wrapper = etree.Element("div", {"class": "tgme_widget_message", "data-post": "fragment/0"})
    bubble = etree.SubElement(wrapper, "div", {"class": "tgme_widget_message_bubble"})
    for child in list(body):
        bubble.append(child)
    _, inner = _Index.scan(wrapper)
    part = _message(wrapper, inner[0][1], base_url) if inner else None
    return messages, part


# --- t.me/<handle> and other page kinds -------------------------------------------------------------

_EXTRA_COUNT = re.compile(r"([\d][\d\s\u00a0\u2009\u202f.,]*[KMB]?)\s*(subscribers?|members?|online)", re.IGNORECASE)
_RESOLVE = re.compile(r"^tg://resolve\?domain=([A-Za-z0-9_]+)")


def _is_invite_url(url: str) -> bool:
    path = urlsplit(url).path
    return path.startswith("/+") or path.startswith("/joinchat/")


def parse_no_preview_page(html: str | bytes, url: str) -> NoPreviewPage:
    """Parse ``t.me/<handle>`` (or an invite page). Without ``.tgme_page_title`` the handle resolves
    to nothing (or the invite is no longer valid)."""
    root = _document(html, url)
    idx, _ = _Index.scan(root)
    if idx.first("tgme_page") is None:
        raise NotAChannelPage(f"{url} is not a Telegram page (no .tgme_page)")
    title_el = idx.first("tgme_page_title")
    title = _text(title_el)
    extra = _text(idx.first("tgme_page_extra"))
    counts: dict[str, int] = {}
    for number, label in _EXTRA_COUNT.findall(extra or ""):
        value = parse_count(number)
        if value is not None:
            counts[label.lower().rstrip("s")] = value
    actions = [a.get("href") or "" for a in root.iter("a") if a.get("href")]
    handle = next((m.group(1) for m in map(_RESOLVE.match, actions) if m), None)
    invite = _is_invite_url(url) or any(h.startswith("tg://join?invite=") for h in actions)
    if title is not None and title.endswith("✔"):
        title = title.rstrip("✔").strip()
    if title is None:
        kind = "invite" if invite else "nonexistent"
    elif invite:
        kind = "invite"
    elif "subscriber" in counts:
        kind = "channel"
    elif "member" in counts:
        kind = "group"
    elif extra and extra.startswith("@"):
        kind = "user"
    else:
        kind = "unknown"
    preview_link = next((a for a in idx.all("tgme_page_context_link", tag="a")), None)
    invite_of = "channel" if "subscriber" in counts else "group" if "member" in counts else None
    return NoPreviewPage(
        title=title,
        description=_text(idx.first("tgme_page_description")),
        extra=extra,
        exists=title is not None,
        kind=kind,
        member_count=counts.get("subscriber", counts.get("member")),
        online_count=counts.get("online"),
        handle=handle if not invite else None,
        has_preview=preview_link is not None and (preview_link.get("href") or "").startswith("/s/"),
        verified=title_el is not None and _inner(title_el, "verified-icon") is not None,
        invite_of=invite_of if invite else None,
    )


def no_preview_status(page: NoPreviewPage, url: str, *, seen_before: int = 0) -> StatusVerdict | None:
    """The status a ``t.me/<handle>`` page gives the community asked for; ``None`` for a person's or
    bot's profile (not a community: never stored). ``seen_before``: how many crawls in a row already
    saw the same "does not exist" page (Telegram serves it for a moment under load too, so only the
    second sighting in a row is definitive)."""
    where = urlsplit(url).path or url
    if page.kind == "user":
        return None
    if page.kind in ("channel", "group"):
        what = "subscribers" if page.kind == "channel" else "members"
        return StatusVerdict(CommunityStatus.ACTIVE, True,
                             f"{where} shows the {page.kind} {page.title!r} with {page.member_count} {what}")
    if page.kind == "invite" and page.exists:
        return StatusVerdict(CommunityStatus.ACTIVE, True,
                             f"invite page {where} shows {page.title!r} with {page.member_count} members "
                             "(private: readable without joining, never joined)")
    if page.kind == "invite":
        return StatusVerdict(CommunityStatus.DELETED, False,
                             f"invite page {where} shows no group: the invite expired or was revoked")
    if page.kind == "nonexistent":
        definitive = seen_before >= 1
        times = "twice in a row" if definitive else "once"
        return StatusVerdict(CommunityStatus.DELETED, definitive,
                             f"{where} says the handle does not exist (Telegram's 'contact @handle' page, seen "
                             f"{times})")
    return StatusVerdict(CommunityStatus.UNREACHABLE, False,
                         f"{where} is a Telegram page of no kind we know (title {page.title!r}, extra {page.extra!r})")


def identify_page(html: str | bytes, url: str) -> tuple[str, ChannelPage | NoPreviewPage | EmbedPage]:
    """Which kind of t.me page this is, with what it says: ``channel_preview`` (t.me/s), the kinds of
    :func:`parse_no_preview_page` (``channel``, ``group``, ``invite``, ``user``, ``nonexistent``,
    ``unknown``), ``embed_post`` and ``embed_not_found`` (``?embed=1`` widgets). Raises
    :class:`NotAChannelPage` for anything else."""
    root = _document(html, url)
    idx, blocks = _Index.scan(root)
    if idx.first("tgme_channel_info") is not None or idx.first("tgme_channel_history") is not None:
        return "channel_preview", _channel_page(idx, blocks, url)
    if idx.first("tgme_page") is not None:
        page = parse_no_preview_page(html, url)
        return page.kind, page
    if idx.first("tgme_widget_message_error") is not None:
        return "embed_not_found", EmbedPage(False, error=_text(idx.first("tgme_widget_message_error")))
    if blocks:
        messages, _ = _messages(blocks, url)
        return "embed_post", EmbedPage(True, tuple(messages))
    raise NotAChannelPage(f"{url} is no Telegram page we know (no channel preview, profile or post widget)")
