"""Find, normalise and classify links in post text and HTML.

Everything here is pure (no I/O) and runs on hostile input: texts written by people evading
takedowns, on purpose full of defanged links, look-alike characters and junk. So:

* nothing raises on any ``str`` except :func:`normalize_url`, which raises :class:`InvalidURL`
  (a ``ValueError``) naming the URL; the extractors and :func:`classify_url` turn that into "no link";
* every regular expression is either anchored on a literal or uses bounded quantifiers, so the
  work is linear in the input length (no catastrophic backtracking);
* one URL is at most :data:`MAX_URL_CHARS` characters; longer candidates are junk and skipped.

Canonical URLs are what dedupe leads across posts, so one community has one URL whatever way it
was written: ``t.me/s/Foo``, ``telegram.me/foo``, ``tg://resolve?domain=FOO`` all become
``https://t.me/foo``; ``t.me/joinchat/X`` becomes ``https://t.me/+X``; Discord invites become
``https://discord.gg/CODE``; subreddits ``https://www.reddit.com/r/name``.

Which platform a URL belongs to is not decided here: each platform plugin declares a
:class:`LinkRecogniser` (``PlatformPlugin.links``) and :func:`classify_url` asks them
(:func:`crawlers.registry.link_recognisers`), host owners first, forum software by its paths after the
member-profile guard. This module keeps the parts that face hostile input (candidate finding,
normalisation into :class:`UrlParts`) and the per-platform parsing helpers the recognisers call; only the
invites of platforms without a plugin (Discord, WhatsApp, Signal) are recognised here.

Links are also found as people write them: Markdown links of every shape (``[text](url)``, a URL as
its own text ``[https://t.me/x](https://t.me/x)``, ``<url>``, titles, parentheses inside the URL,
backslash escapes such as ``\\/r\\/name``), and bare subreddit mentions ``r/name`` and ``/r/name``
(``u/name`` is a person and never a community link). Telegram's in-channel searches
(``t.me/s/chan?q=%23tag``, which is how a hashtag is linked) and same-page ``#anchor`` hrefs are not
links to anything.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from html import unescape
from typing import Final
from urllib.parse import parse_qs, quote, unquote, urljoin, urlsplit

import idna
from lxml import etree
from lxml import html as lxml_html

from crawlers.registry import link_recognisers
from model.records import ExtractedLink, LinkKind, Platform
from model.targets import TELEGRAM_RESERVED, is_subreddit_name, is_telegram_handle

log = logging.getLogger(__name__)

__all__ = [
    "MAX_LINKS",
    "MAX_URL_CHARS",
    "NOT_A_LINK",
    "InvalidURL",
    "LinkMatch",
    "LinkRecogniser",
    "LinkVerdict",
    "NotALink",
    "UrlParts",
    "classify_url",
    "deobfuscate",
    "discourse_link",
    "extract_links",
    "extract_links_html",
    "is_bare_host",
    "is_telegram_handle",
    "normalize_url",
    "parse_url",
    "phpbb_link",
    "reddit_link",
    "telegram_path_link",
    "telegram_scheme_link",
    "telegram_subdomain_link",
    "web_link",
    "xenforo_link",
]

#: Longest URL we consider. Real links are far shorter; anything longer in a post is junk.
MAX_URL_CHARS = 8192
#: Most links returned from one text or page (a flood of links is spam, not leads).
MAX_LINKS = 5000


class InvalidURL(ValueError):
    """A string that cannot be normalised into an http(s) or tg:// URL."""

    def __init__(self, url: str, reason: str) -> None:
        shown = url if len(url) <= 200 else url[:200] + "…"
        super().__init__(f"invalid URL {shown!r}: {reason}")
        self.url = url
        self.reason = reason


# --------------------------------------------------------------------------------------------
# Deobfuscation
# --------------------------------------------------------------------------------------------

#: Invisible characters used to break up links (zero-width, soft hyphen, bidi controls).
_INVISIBLE = dict.fromkeys(
    [
        *(0x00AD, 0x034F, 0x061C, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x180E, 0x3164, 0xFEFF, 0xFFA0),
        *range(0x200B, 0x2010),
        *range(0x202A, 0x202F),
        *range(0x2060, 0x2070),
    ],
)

#: hxxps://, hxxp[:]//, https[:]//, http(:)//, https[://] ... -> http(s)://
_SCHEME_DEFANG = re.compile(
    r"(?<![a-z0-9])h(?:xx|tt)p(s?)(?:\[:\]//|\(:\)//|\{:\}//|\[://\]|\(://\)|://)", re.IGNORECASE
)

#: [.] (.) {.} [dot] (dot) anywhere -> "." (defanging notation, never ordinary prose).
_DOT_DEFANG = re.compile(r"[\[({] ?(?:\.|dot) ?[\])}]", re.IGNORECASE)

#: Hosts whose spaced-out spelling we undo ("t . me/", "t dot me/"). Only these: "word . word"
#: in general is ordinary prose.
_KNOWN_HOST_LABELS: tuple[tuple[str, ...], ...] = (
    ("t", "me"),
    ("telegram", "me"),
    ("telegram", "dog"),
    ("discord", "gg"),
    ("discord", "com"),
    ("discordapp", "com"),
    ("chat", "whatsapp", "com"),
    ("signal", "group"),
    ("reddit", "com"),
    ("redd", "it"),
)
_SPACED_SEP = r"(?:[ \t]{0,3}[.\u3002][ \t]{0,3}|[ \t]{1,3}dot[ \t]{1,3})"
_SPACED_HOST = re.compile(
    r"(?<![A-Za-z0-9_.@-])(?P<host>"
    + "|".join(_SPACED_SEP.join(re.escape(label) for label in labels) for labels in _KNOWN_HOST_LABELS)
    + r")[ \t]{0,3}(?=/)",
    re.IGNORECASE,
)
_SPACED_SEP_RE = re.compile(_SPACED_SEP, re.IGNORECASE)


def deobfuscate(text: str) -> str:
    """Undo common link evasions so that :func:`extract_links` can see the links.

    Removes invisible characters (zero-width, soft hyphen, bidi controls), applies NFKC (fullwidth
    ``ｔ.ｍｅ`` -> ``t.me``), repairs defanged schemes (``hxxps://``, ``https[:]//``) and dots
    (``[.]``, ``(.)``, ``[dot]``), and joins spaced-out spellings of the messaging hosts we know
    (``t . me/``, ``t dot me/``, ``chat . whatsapp . com/``). Look-alike letters from other scripts
    (Cyrillic ``е`` in ``t.mе``) are deliberately *not* mapped: such a host is a different host.
    """
    text = text.translate(_INVISIBLE)
    text = unicodedata.normalize("NFKC", text)
    text = _SCHEME_DEFANG.sub(lambda m: f"http{m.group(1).lower()}://", text)
    text = _DOT_DEFANG.sub(".", text)
    return _SPACED_HOST.sub(lambda m: _SPACED_SEP_RE.sub(".", m.group("host")), text)


# --------------------------------------------------------------------------------------------
# Trailing punctuation
# --------------------------------------------------------------------------------------------

_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<", "）": "（", "】": "【", "」": "「", "』": "『"}
_TRAILING = frozenset(".,;:!?'\"»«…*‘’“”‚„。、，！？：；") | frozenset(_CLOSERS)
_LEADING = frozenset("([{<'\"«»“‘„")


def _strip_trailing(candidate: str) -> str:
    """Drop punctuation that ends a sentence rather than the URL.

    Closing brackets go only when unbalanced, so ``https://en.wikipedia.org/wiki/A_(b)`` keeps its
    ``)`` while ``(see t.me/foo)`` loses it. Linear: one count per bracket kind, then one pass
    from the end.
    """
    end = len(candidate)
    if end == 0 or candidate[-1] not in _TRAILING:
        return candidate
    balance = {close: candidate.count(close) - candidate.count(open_) for close, open_ in _CLOSERS.items()}
    while end > 0:
        ch = candidate[end - 1]
        if ch in _CLOSERS:
            if balance[ch] <= 0:
                break
            balance[ch] -= 1
        elif ch not in _TRAILING:
            break
        end -= 1
    return candidate[:end]


# --------------------------------------------------------------------------------------------
# Normalisation
# --------------------------------------------------------------------------------------------

_TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid",
        "ttclid", "igshid", "igsh", "si", "ref", "ref_src", "ref_url", "mc_cid", "mc_eid",
        "_hsenc", "_hsmi", "mkt_tok", "vero_id", "oly_enc_id", "oly_anon_id", "rb_clickid",
        "s_cid", "_ga", "_gl",
    }
)  # fmt: skip
_TRACKING_PREFIXES = ("utm_", "pk_", "mtm_")

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]{0,30}):")
_PORT_START = re.compile(r"\d{1,5}(?:[/?#]|$)")
_HOST_LABEL_RE = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PERCENT_HEX = re.compile(r"%[0-9a-f][0-9A-Fa-f]|%[0-9A-F][a-f]")
_SAFE_PATH = "/%!$&'()*+,;=:@-._~"
_SAFE_QUERY = _SAFE_PATH + "?"
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True, slots=True)
class UrlParts:
    """A URL after the generic normalisation (no platform knowledge yet): what a plugin's link recogniser reads."""

    scheme: str
    host: str  # lower-case ASCII (punycode), IPv6 in brackets
    port: str  # "" or ":8080"
    path: str  # percent-encoded ASCII
    query: str  # percent-encoded ASCII, tracking parameters removed, no "?"
    fragment: str  # percent-encoded ASCII, no "#"

    def unparse(self, *, fragment: bool = False) -> str:
        url = f"{self.scheme}://{self.host}{self.port}{self.path}"
        if self.query:
            url += "?" + self.query
        if fragment and self.fragment:
            url += "#" + self.fragment
        return url

    @property
    def segments(self) -> list[str]:
        return [unquote(s) for s in self.path.split("/") if s]


def _quote(value: str, safe: str) -> str:
    """Percent-encode idempotently: existing escapes survive, lone ``%`` becomes ``%25``."""
    value = _BAD_PERCENT.sub("%25", value)
    value = quote(value, safe=safe, errors="replace")
    return _PERCENT_HEX.sub(lambda m: m.group(0).upper(), value)


def _is_tracking(key: str) -> bool:
    k = unquote(key).lower()
    return k in _TRACKING_PARAMS or k.startswith(_TRACKING_PREFIXES)


def _clean_query(query: str, *, drop: frozenset[str] = frozenset()) -> str:
    kept = []
    for piece in query.split("&"):
        if not piece:
            continue
        key = piece.split("=", 1)[0]
        if _is_tracking(key) or unquote(key).lower() in drop:
            continue
        kept.append(_quote(piece, _SAFE_QUERY))
    return "&".join(kept)


def _encode_host(url: str, host: str) -> str:
    """Lower-case ASCII hosts; IDNA-encode (UTS #46, then IDNA 2008) international ones."""
    if host.startswith("[") or ":" in host:
        try:
            address = ipaddress.IPv6Address(host.strip("[]").split("%", 1)[0])
        except ValueError:
            raise InvalidURL(url, f"bad IPv6 host {host!r}") from None
        return f"[{address.compressed}]"
    if not host.isascii():
        try:
            host = idna.uts46_remap(host, std3_rules=False, transitional=False)
        except (idna.IDNAError, UnicodeError, ValueError) as exc:
            raise InvalidURL(url, f"invalid international host ({exc})") from None
    host = host.lower()
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise InvalidURL(url, "no host")
    labels = []
    for label in host.split("."):
        if not label.isascii():
            try:
                label = idna.alabel(label).decode("ascii")
            except (idna.IDNAError, UnicodeError, ValueError) as exc:
                raise InvalidURL(url, f"invalid international host label {label!r} ({exc})") from None
        elif label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError, ValueError) as exc:
                raise InvalidURL(url, f"invalid punycode host label {label!r} ({exc})") from None
        if not _HOST_LABEL_RE.fullmatch(label):
            raise InvalidURL(url, f"invalid host label {label!r}")
        labels.append(label)
    encoded = ".".join(labels)
    if len(encoded) > 253:
        raise InvalidURL(url, "host longer than 253 characters")
    return encoded


def _prepare(url: str) -> str:
    """Clean one candidate: invisible characters, NFKC, outer whitespace and punctuation."""
    url = unicodedata.normalize("NFKC", url.translate(_INVISIBLE)).strip()
    start = 0
    while start < len(url) and url[start] in _LEADING:
        start += 1
    return _strip_trailing(url[start:]).strip()


def parse_url(url: str) -> UrlParts:
    """Generic normalisation (no platform knowledge). Raises :class:`InvalidURL`."""
    if len(url) > MAX_URL_CHARS:
        raise InvalidURL(url, f"longer than {MAX_URL_CHARS} characters")
    text = _prepare(url)
    if not text:
        raise InvalidURL(url, "empty")
    m = _SCHEME_RE.match(text)
    if text.startswith("//"):
        text = "https:" + text
    elif m and text.startswith("//", m.end()):
        pass
    elif m and not _PORT_START.match(text, m.end()):
        # A scheme without "//" ("javascript:", "mailto:", "tg:resolve?..."); "example.com:8080/"
        # has a port, not a scheme.
        scheme = m.group(1).lower()
        if scheme != "tg":
            raise InvalidURL(url, f"unsupported scheme {scheme!r}")
        text = "tg://" + text[m.end() :]
    else:
        text = "https://" + text
    try:
        split = urlsplit(text)
        scheme = split.scheme.lower()
        if scheme not in ("http", "https", "tg"):
            raise InvalidURL(url, f"unsupported scheme {scheme!r}")
        netloc = split.netloc.rpartition("@")[2]  # credentials are dropped
        hostname = split.hostname
        port = split.port
    except ValueError as exc:
        if isinstance(exc, InvalidURL):
            raise
        raise InvalidURL(url, str(exc)) from None
    if not hostname:
        raise InvalidURL(url, "no host")
    if netloc.startswith("["):
        hostname = netloc[: netloc.find("]") + 1] if "]" in netloc else hostname
    host = _encode_host(url, hostname)
    port_text = "" if port is None or _DEFAULT_PORTS.get(scheme) == port else f":{port}"
    path = _quote(split.path, _SAFE_PATH)
    if not path and scheme != "tg":
        path = "/"
    return UrlParts(scheme, host, port_text, path, _clean_query(split.query), _quote(split.fragment, _SAFE_QUERY))


# --------------------------------------------------------------------------------------------
# Classification
# --------------------------------------------------------------------------------------------

_TG_INVITE = re.compile(r"[A-Za-z0-9_\-]{6,64}")
_TG_RESERVED = TELEGRAM_RESERVED
_DISCORD_GG = frozenset({"discord.gg", "www.discord.gg"})
_DISCORD_COM = frozenset(
    {
        "discord.com", "www.discord.com", "ptb.discord.com", "canary.discord.com",
        "discordapp.com", "www.discordapp.com", "ptb.discordapp.com", "canary.discordapp.com",
    }
)  # fmt: skip
_DISCORD_CODE = re.compile(r"[A-Za-z0-9\-]{2,32}")
_WHATSAPP_CODE = re.compile(r"[A-Za-z0-9]{10,40}")
_SIGNAL_GROUP = re.compile(r"[A-Za-z0-9_\-+/=%]{8,1024}")
_REDDIT_ID = re.compile(r"[a-z0-9]{1,13}")


@dataclass(frozen=True, slots=True)
class LinkMatch:
    """A URL classified: its canonical form, kind and platform, and what it names there."""

    url: str
    kind: LinkKind
    platform: str
    handle: str | None = None
    invite_code: str | None = None
    post_id: str | None = None
    is_private: bool = False


class NotALink(Enum):
    """A recogniser's answer for a URL on its own hosts that names no community (a person's profile or
    phone number, an in-channel hashtag search, an unknown ``tg://`` action): the URL is dropped."""

    NOT_A_LINK = "not a link"


NOT_A_LINK: Final = NotALink.NOT_A_LINK
#: What a recogniser answers: the link, :data:`NOT_A_LINK` (its own URL, but dropped), or None (not its own).
LinkVerdict = LinkMatch | NotALink | None


@dataclass(frozen=True, slots=True)
class LinkRecogniser:
    """What a platform plugin contributes to link classification (``PlatformPlugin.links``).

    ``match`` decides whether a normalised URL is the platform's own and, with the parsing helpers below,
    what it names. Recognisers that own their hosts (Telegram, Reddit) are asked first; ``by_shape``
    recognisers (forum software, which runs on anybody's host and is told by its paths) are asked after the
    member-profile guard, so a forum member's profile URL never becomes a link whatever the software.
    """

    platform: str
    match: Callable[[UrlParts], LinkVerdict]
    by_shape: bool = False
    #: Hosts of the platform's own that posts name without a scheme (``board.example/b/x``): a mention of one
    #: followed by a path is a link candidate, as ``t.me/x`` is. Dotted host names only (``e.g.`` or a lone
    #: ``txt`` is refused); a ``www.`` host needs no entry, and ``match`` still decides what the link names.
    hosts: tuple[str, ...] = ()
    #: The platform lets a community give up its address for another and stay the same community (a Telegram
    #: channel changing its username): "does not exist" at the old address may be a move, so detection holds
    #: such a shutdown at "likely" while links to the platform found since are unread (:mod:`detect.hold`).
    addresses_move: bool = False

    def __post_init__(self) -> None:
        for host in self.hosts:
            if not is_bare_host(host):
                raise ValueError(f"{self.platform}: {host!r} is not a host name a post could mention without a "
                                 "scheme (lower-case ASCII labels, at least two, the last not all digits)")


def is_bare_host(host: str) -> bool:
    """A lower-case ASCII host name of two or more labels whose last label is not all digits (``board.example``,
    not ``e.g.``, ``txt`` or an IP address)."""
    labels = host.split(".")
    return (len(labels) >= 2 and len(host) <= 253 and not labels[-1].isdigit()
            and all(_HOST_LABEL_RE.fullmatch(label) for label in labels))


def web_link(parts: UrlParts) -> LinkMatch:
    """A page of no particular platform: kept as a ``web`` link."""
    return LinkMatch(parts.unparse(), LinkKind.WEB, Platform.WEB)


_web = web_link


def _drop_none(found: LinkMatch | None) -> LinkMatch | NotALink:
    return NOT_A_LINK if found is None else found


def telegram_path_link(parts: UrlParts) -> LinkMatch | NotALink:
    """A URL on a Telegram host (``t.me/…``): a channel, a post, an invite, else a plain web link."""
    return _drop_none(_telegram_path(parts, parts.segments))


def telegram_subdomain_link(parts: UrlParts, handle: str) -> LinkMatch:
    """``https://handle.t.me[/post]``."""
    return _tg_handle(handle.lower(), parts.segments)


def telegram_scheme_link(parts: UrlParts) -> LinkMatch | NotALink:
    """``tg://resolve``, ``tg://join``, ``tg://privatepost``; any other action is dropped."""
    return _drop_none(_tg_scheme(parts))


def reddit_link(parts: UrlParts) -> LinkMatch | NotALink:
    """A URL on a Reddit host: a subreddit or a post, a profile dropped, else a plain web link."""
    return _drop_none(_reddit(parts, parts.segments))


def _telegram_path(parts: UrlParts, segs: list[str]) -> LinkMatch | None:
    if not segs:
        return _web(parts)
    first = segs[0]
    low = first.lower()
    if first.startswith("+"):
        code = first[1:]
        if code.isdigit():
            return None  # t.me/+<phone number>: a person's phone, never a lead
        return _tg_invite(code) if _TG_INVITE.fullmatch(code) else _web(parts)
    if low == "joinchat" and len(segs) >= 2:
        return _tg_invite(segs[1]) if _TG_INVITE.fullmatch(segs[1]) else _web(parts)
    if low == "s" and len(segs) >= 2:
        if _is_search(parts.query):
            # t.me/s/chan?q=%23tag: a search inside the channel, which is how Telegram links a hashtag
            # (or a $cashtag). It names a tag, not a community: counting it as a link to the channel
            # would make every hashtag a self-link.
            return None
        return _telegram_path(parts, segs[1:])
    if low == "c" and 3 <= len(segs) <= 4 and all(s.isdigit() and len(s) <= 20 for s in segs[1:]):
        url = "https://t.me/c/" + "/".join(segs[1:])
        return LinkMatch(url, LinkKind.TELEGRAM_POST, Platform.TELEGRAM, post_id=segs[-1], is_private=True)
    if low in _TG_RESERVED or not is_telegram_handle(first):
        return _web(parts)
    return _tg_handle(low, segs[1:])


def _is_search(query: str) -> bool:
    return any(piece.split("=", 1)[0].lower() == "q" for piece in query.split("&"))


def _tg_handle(handle: str, rest: list[str]) -> LinkMatch:
    if 1 <= len(rest) <= 2 and all(s.isdigit() and len(s) <= 12 for s in rest):
        url = f"https://t.me/{handle}/" + "/".join(rest)
        return LinkMatch(url, LinkKind.TELEGRAM_POST, Platform.TELEGRAM, handle=handle, post_id=rest[-1])
    return LinkMatch(f"https://t.me/{handle}", LinkKind.TELEGRAM_PUBLIC, Platform.TELEGRAM, handle=handle)


def _tg_invite(code: str) -> LinkMatch:
    return LinkMatch(
        f"https://t.me/+{code}", LinkKind.TELEGRAM_INVITE, Platform.TELEGRAM, invite_code=code, is_private=True
    )


def _tg_scheme(parts: UrlParts) -> LinkMatch | None:
    """tg://resolve?domain=X[&post=N], tg://join?invite=C, tg://privatepost?channel=I&post=N."""
    params = {k.lower(): v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    action = parts.host
    if action == "resolve":
        domain = params.get("domain", "")
        if not is_telegram_handle(domain):
            return None
        post = params.get("post", "")
        return _tg_handle(domain.lower(), [post] if post else [])
    if action == "join":
        code = params.get("invite", "")
        return _tg_invite(code) if _TG_INVITE.fullmatch(code) else None
    if action == "privatepost":
        channel, post = params.get("channel", ""), params.get("post", "")
        if channel.isdigit() and post.isdigit() and len(channel) <= 20 and len(post) <= 12:
            url = f"https://t.me/c/{channel}/{post}"
            return LinkMatch(url, LinkKind.TELEGRAM_POST, Platform.TELEGRAM, post_id=post, is_private=True)
    return None


def _reddit(parts: UrlParts, segs: list[str]) -> LinkMatch | None:
    low = [s.lower() for s in segs]
    if parts.host == "redd.it":
        if len(segs) == 1 and _REDDIT_ID.fullmatch(low[0]):
            return _reddit_post(None, low[0])
        return _web(parts)
    if len(segs) >= 2 and (low[0] in ("u", "user") or (low[0] == "r" and low[1].startswith("u_"))):
        return None  # a person's profile (``/u/name``, ``/user/name/...``, profile subreddit ``r/u_name``)
    if len(segs) >= 2 and low[0] == "r" and is_subreddit_name(segs[1]):
        sub = low[1]
        if len(segs) >= 4 and low[2] == "comments" and _REDDIT_ID.fullmatch(low[3]):
            return _reddit_post(sub, low[3])
        url = f"https://www.reddit.com/r/{sub}"
        return LinkMatch(url, LinkKind.REDDIT_SUBREDDIT, Platform.REDDIT, handle=sub)
    if len(segs) >= 2 and low[0] == "comments" and _REDDIT_ID.fullmatch(low[1]):
        return _reddit_post(None, low[1])
    return _web(parts)


def _reddit_post(sub: str | None, post_id: str) -> LinkMatch:
    url = f"https://www.reddit.com/r/{sub}/comments/{post_id}" if sub else f"https://www.reddit.com/comments/{post_id}"
    return LinkMatch(url, LinkKind.REDDIT_POST, Platform.REDDIT, handle=sub, post_id=post_id)


def discourse_link(parts: UrlParts) -> LinkMatch | None:
    """A Discourse topic ``/t/slug/123`` (possibly in a subfolder); ``post_id`` is the topic id."""
    segs = [s.lower() for s in parts.path.split("/") if s]
    for i, seg in enumerate(segs[:3]):
        if seg == "t":
            rest = segs[i + 1 :]
            if rest and not rest[0].isdigit():
                rest = rest[1:]  # the slug
            if 1 <= len(rest) <= 2 and all(r.isdigit() and len(r) <= 12 for r in rest):
                return LinkMatch(parts.unparse(), LinkKind.FORUM, Platform.DISCOURSE, post_id=rest[0])
            break
    return None


def phpbb_link(parts: UrlParts) -> LinkMatch | None:
    """A phpBB ``viewtopic.php`` or ``viewforum.php`` page, without its session id."""
    segs = [s.lower() for s in parts.path.split("/") if s]
    if segs and segs[-1] in ("viewtopic.php", "viewforum.php"):
        query = _clean_query(parts.query, drop=frozenset({"sid"}))  # phpBB session ids
        url = UrlParts(parts.scheme, parts.host, parts.port, parts.path, query, "").unparse()
        params = parse_qs(query)
        topic = next((params[k][0] for k in ("t", "p", "f") if params.get(k)), None)
        return LinkMatch(url, LinkKind.FORUM, Platform.PHPBB, post_id=topic)
    return None


def xenforo_link(parts: UrlParts) -> LinkMatch | None:
    """A XenForo ``/threads/slug.123/`` or ``/forums/…`` page (also ``index.php?threads/...``)."""
    segs = [s.lower() for s in parts.path.split("/") if s]
    if segs and segs[-1] == "index.php":  # XenForo without friendly URLs
        segs = [s for s in unquote(parts.query.split("&", 1)[0]).lower().split("/") if s]
    for i, seg in enumerate(segs[:4]):
        if seg in ("threads", "forums") and i + 1 < len(segs):
            tail = segs[i + 1].rsplit(".", 1)[-1]
            topic_id = tail if tail.isdigit() and len(tail) <= 12 else None
            return LinkMatch(parts.unparse(), LinkKind.FORUM, Platform.XENFORO, post_id=topic_id)
    return None


#: Path segments that introduce a forum member's name: Discourse ``/u/<name>`` (and its older
#: ``/users/<name>`` alias, which redirects there).
_PROFILE_SEGMENTS = frozenset({"u", "users"})
#: XenForo member pages: ``/members/<name>.<id>/`` or, without a name, ``/members/<id>/``.
_XF_MEMBER = re.compile(r"(?:.+\.)?[0-9]{1,12}")
#: Segments that start a topic/thread URL: what follows is a slug, never a profile.
_TOPIC_SEGMENTS = frozenset({"t", "threads", "forums"})
#: phpBB ``memberlist.php`` parameters that name one member (by id or by name).
_PHPBB_MEMBER_PARAMS = frozenset({"u", "un"})


def _is_profile(parts: UrlParts) -> bool:
    """A forum member's profile page (Discourse ``/u/name``, XenForo ``/members/name.1/``, phpBB
    ``memberlist.php?mode=viewprofile&u=1``). Its URL carries a person's name or id, and members
    are pseudonymous from ingest on, so such links are dropped rather than stored as leads."""
    segs = [s.lower() for s in parts.segments]
    if segs and segs[-1] == "memberlist.php":
        params = {k.lower(): v for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        mode = [v.lower() for v in params.get("mode", [])]
        return bool(_PHPBB_MEMBER_PARAMS & params.keys()) or "viewprofile" in mode
    if segs and segs[-1] == "index.php":  # XenForo without friendly URLs: index.php?members/name.1/
        segs = [s for s in unquote(parts.query.split("&", 1)[0]).lower().split("/") if s]
    for i, seg in enumerate(segs[:4]):
        if seg in _TOPIC_SEGMENTS or i + 1 >= len(segs):
            return False
        if seg in _PROFILE_SEGMENTS and i < 3:
            return True
        if seg == "members" and _XF_MEMBER.fullmatch(segs[i + 1]):
            return True
    return False


def _unplugged(parts: UrlParts) -> LinkMatch | None:
    """Invites of messaging platforms Resurface has no plugin for (Discord, WhatsApp, Signal): private leads
    for a human, recognised here since no plugin speaks for them."""
    host = parts.host
    if host in _DISCORD_GG or host in _DISCORD_COM:
        segs = parts.segments
        if host in _DISCORD_COM:
            segs = segs[1:] if segs and segs[0].lower() == "invite" else []
        if segs and _DISCORD_CODE.fullmatch(segs[0]):
            code = segs[0]
            return LinkMatch(
                f"https://discord.gg/{code}",
                LinkKind.DISCORD_INVITE,
                Platform.DISCORD,
                invite_code=code,
                is_private=True,
            )
        return _web(parts)
    if host == "chat.whatsapp.com":
        segs = parts.segments
        if segs and segs[0].lower() == "invite":
            segs = segs[1:]
        if segs and _WHATSAPP_CODE.fullmatch(segs[0]):
            code = segs[0]
            return LinkMatch(
                f"https://chat.whatsapp.com/{code}",
                LinkKind.WHATSAPP_INVITE,
                Platform.WHATSAPP,
                invite_code=code,
                is_private=True,
            )
        return _web(parts)
    if host in ("signal.group", "www.signal.group"):
        if _SIGNAL_GROUP.fullmatch(parts.fragment):
            return LinkMatch(
                f"https://signal.group/#{parts.fragment}",
                LinkKind.SIGNAL_GROUP,
                Platform.SIGNAL,
                invite_code=parts.fragment,
                is_private=True,
            )
        return _web(parts)
    return None


def _classify(parts: UrlParts) -> LinkMatch | None:
    """Which platform a URL belongs to is each plugin's to say (:func:`crawlers.registry.link_recognisers`):
    the host owners first, then the invites of platforms without a plugin, then (for an ordinary web page
    that is no member's profile) the forum software by its paths; anything left is a ``web`` link."""
    recognisers = link_recognisers()
    for recogniser in recognisers:
        if not recogniser.by_shape:
            verdict = recogniser.match(parts)
            if verdict is not None:
                return verdict if isinstance(verdict, LinkMatch) else None
    found = _unplugged(parts)
    if found is not None:
        return found
    if parts.scheme not in _DEFAULT_PORTS:
        return None  # a tg:// URL no plugin claims
    if _is_profile(parts):
        return None
    for recogniser in recognisers:
        if recogniser.by_shape:
            verdict = recogniser.match(parts)
            if verdict is not None:
                return verdict if isinstance(verdict, LinkMatch) else None
    return _web(parts)


def _analyse(url: str) -> tuple[UrlParts, LinkMatch | None]:
    """Normalise to a fixed point, then classify.

    One pass can expose new trailing punctuation (``/a.#frag`` -> ``/a.``), so we repeat until the
    URL stops changing; each further pass only removes characters, so this ends within a few rounds.
    """
    current = url
    for _ in range(8):
        parts = parse_url(current)
        found = _classify(parts)
        result = found.url if found is not None else parts.unparse()
        if result == current:
            return parts, found
        current = result
    return parts, found


def normalize_url(url: str) -> str:
    """The canonical form of an http(s) or tg:// URL (see module docstring).

    Lower-cases scheme and host, IDNA-encodes international hosts, drops default ports,
    credentials, fragments (except Signal's, which *are* the group) and tracking parameters,
    strips trailing sentence punctuation and unbalanced closing brackets, keeps path case, and
    canonicalises Telegram, Discord, WhatsApp and Reddit community links. A URL without a scheme
    is taken as https. Raises :class:`InvalidURL` for anything else (other schemes, bad hosts,
    invalid IDNA, bad ports, over-long input).
    """
    parts, found = _analyse(url)
    return found.url if found is not None else parts.unparse()


def classify_url(url: str) -> ExtractedLink | None:
    """Normalise and classify one URL; ``None`` when it is not a link we keep.

    ``None`` for: invalid URLs, schemes other than http(s)/tg (``javascript:``, ``mailto:``,
    ``data:``...), unknown ``tg://`` actions, and links to a person rather than a community:
    ``t.me/+<phone number>``, Reddit profiles (``/u/name``, ``/user/name``, ``r/u_name``) and forum
    member profiles (Discourse ``/u/name``, XenForo ``/members/name.1/``, phpBB
    ``memberlist.php?mode=viewprofile&u=1``). Members are pseudonymous from ingest on, so their
    names and ids must not reach the links table or the search index.
    """
    try:
        _, found = _analyse(url)
    except InvalidURL:
        return None
    if found is None:
        return None
    return ExtractedLink(
        url=found.url,
        kind=found.kind,
        raw=url,
        platform=str(found.platform),
        handle=found.handle,
        invite_code=found.invite_code,
        post_id=found.post_id,
        is_private=found.is_private,
    )


# --------------------------------------------------------------------------------------------
# Extraction
# --------------------------------------------------------------------------------------------

_URL_CHAR = r"[^\s<>\"`{}|\\^«»“”\x00-\x1f\x7f]"
_BARE_HOSTS = (
    r"(?:(?:www|old|new|np|m)\.)?(?:t\.me|telegram\.me|telegram\.dog|discord\.gg|"
    r"discord(?:app)?\.com/invite|chat\.whatsapp\.com|signal\.group|reddit\.com|redd\.it)"
)


@functools.lru_cache(maxsize=16)
def _candidate_re(plugin_hosts: tuple[str, ...]) -> re.Pattern[str]:
    """Link candidates in text; a scheme-less mention counts on the built-in messaging hosts and on the hosts
    the plugins declare (``LinkRecogniser.hosts``), each only when a path follows, so "file.txt" or "e.g."
    never is one. The hosts are literals: the alternation adds no backtracking."""
    bare = "|".join([_BARE_HOSTS, *(re.escape(host) for host in plugin_hosts)])
    return re.compile(
        rf"(?<![A-Za-z0-9_.+\-])(?:https?|tg)://{_URL_CHAR}+"
        rf"|(?<![A-Za-z0-9_.@/:\-])www\.[a-z0-9\-]{{1,63}}\.{_URL_CHAR}+"
        rf"|(?<![A-Za-z0-9_.@/:\-])(?:{bare})(?=[/#][A-Za-z0-9+_%\-]){_URL_CHAR}+"
        # a bare subreddit mention, "r/name" or "/r/name" ("u/name" is a person: never matched); not
        # inside a word, a path or an address ("w/r/t", "example.org/r/x" are no mentions)
        r"|(?<![A-Za-z0-9_.@/:\-])/?r/(?P<sub>[A-Za-z0-9][A-Za-z0-9_]{1,20})(?![A-Za-z0-9_\-])",
        re.IGNORECASE,
    )


def _plugin_hosts() -> tuple[str, ...]:
    """Every host the plugins' recognisers declare for scheme-less mentions, longest first."""
    hosts = {host for recogniser in link_recognisers() for host in recogniser.hosts}
    return tuple(sorted(hosts, key=lambda host: (-len(host), host)))

#: Links on these hosts are ASCII: "t.me/foo加入我们" ends at "foo".
_ASCII_ONLY_HOST = re.compile(
    r"(?:(?:https?|tg)://)?(?:[a-z0-9\-]+\.)?(?:t\.me|telegram\.(?:me|dog)|discord(?:app)?\.(?:gg|com)|"
    r"chat\.whatsapp\.com|signal\.group|reddit\.com|redd\.it)(?=[/?#:]|$)|tg://",
    re.IGNORECASE,
)
_NON_ASCII = re.compile(r"[^\x00-\x7f]")


#: Markdown backslash escapes (``\/r\/name``, ``foo\_bar``): a backslash before ASCII punctuation.
_MD_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
#: A Markdown link destination after ``](``: no spaces or brackets, parentheses balanced one level
#: deep (``https://en.wikipedia.org/wiki/A_(b)``). Alternatives start with different characters and
#: nothing follows the repetition, so matching never backtracks; destinations cannot contain ``]``,
#: so scans from different ``](`` never overlap: linear overall.
_MD_DEST = re.compile(r"(?:[^\s()\[\]<>]|\([^\s()\[\]<>]{0,2048}\)){1,8192}")
_MD_ANGLE_DEST = re.compile(r"<([^<>\n]{1,8192})>")


def _split_markdown(text: str) -> str:
    """Separate Markdown link parts so that each URL stands alone.

    ``[https://t.me/x](https://t.me/x)`` would otherwise read as one URL (``]`` and ``(`` are URL
    characters), and ``[text](url)more`` would run the text after the link into the URL. Every
    ``](`` becomes ``] (`` and the destination's closing parenthesis is followed by a space; a
    ``<destination with spaces>`` has its spaces percent-encoded. Escapes are undone first.
    """
    text = _MD_ESCAPE.sub(r"\1", text)
    if "](" not in text:
        return text
    out: list[str] = []
    pos = 0
    while (start := text.find("](", pos)) >= 0:
        out.append(text[pos:start])
        out.append("] (")
        pos = start + 2
        angle = _MD_ANGLE_DEST.match(text, pos)
        dest = angle or _MD_DEST.match(text, pos)
        if dest is None:
            continue
        out.append(angle.group(1).strip().replace(" ", "%20") if angle else dest.group(0))
        pos = dest.end()
        if text.startswith(")", pos):
            out.append(") ")
            pos += 1
    out.append(text[pos:])
    return "".join(out)


def _candidates(text: str) -> Iterator[tuple[str, str]]:
    """``(candidate URL, raw text)`` pairs in reading order."""
    for match in _candidate_re(_plugin_hosts()).finditer(_split_markdown(text)):
        candidate = match.group(0)
        sub = match.group("sub")
        if sub is not None:
            yield f"https://www.reddit.com/r/{sub}", candidate
            continue
        if len(candidate) > MAX_URL_CHARS:
            continue
        if _ASCII_ONLY_HOST.match(candidate):
            cut = _NON_ASCII.search(candidate)
            if cut:
                candidate = candidate[: cut.start()]
        candidate = _strip_trailing(candidate)
        if candidate:
            yield candidate, candidate


def _collect(candidates: Iterable[tuple[str, str]], seen: dict[str, ExtractedLink], limit: int) -> None:
    """Classify candidates into ``seen`` (canonical URL -> first link), each distinct candidate
    once, stopping at ``limit`` links so that a junk post cannot flood the lead queue. ``raw`` is
    the text as written (``r/name`` for a mention)."""
    tried: set[str] = set()
    for candidate, raw in candidates:
        if len(seen) >= limit:
            return
        if candidate in tried:
            continue
        tried.add(candidate)
        link = classify_url(candidate)
        if link is None:
            log.debug("not a link we keep: %.200r", raw)
        elif link.url not in seen:
            seen[link.url] = link if raw == candidate else replace(link, raw=raw)


def extract_links(text: str, *, limit: int = MAX_LINKS) -> list[ExtractedLink]:
    """Links in plain text or Markdown, after :func:`deobfuscate`, deduplicated by canonical URL in
    first-seen order. Finds ``scheme://`` URLs, ``www.`` hosts, bare messaging links (``t.me/x``,
    ``discord.gg/x``, ``reddit.com/r/x``...) and bare links on the hosts plugins declare
    (``LinkRecogniser.hosts``), Markdown links of every shape and subreddit mentions
    (``r/x``, ``/r/x``); ``@mentions``, ``u/name`` and e-mail addresses are not links. ``raw`` is
    the link as it reads after deobfuscation. At most ``limit`` links."""
    seen: dict[str, ExtractedLink] = {}
    _collect(_candidates(deobfuscate(text)), seen, limit)
    return list(seen.values())


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_HIDDEN_TAGS = frozenset({"script", "style", "noscript", "template", "head", "title", "svg", "math"})
_BLOCK_TAGS = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption",
        "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main",
        "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul", "body", "html",
    }
)  # fmt: skip


def _parse_html(html: str) -> etree._Element | None:
    """Parse with lxml, or ``None`` when the document is empty or libxml2 gave up on it (it
    aborts beyond 2048 levels of nesting, which hostile markup can reach on purpose)."""
    data = _CONTROL.sub("", html).encode("utf-8", "replace")
    if not data.strip():
        return None
    parser = lxml_html.HTMLParser(encoding="utf-8", no_network=True, remove_comments=True, huge_tree=True)
    try:
        root = lxml_html.document_fromstring(data, parser=parser)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError):
        return None
    if any(error.level_name == "FATAL" for error in parser.error_log):
        return None
    return root


_HREF_RE = re.compile(
    r"""<(?:a|area)\b[^<>]{0,4000}?\bhref[ \t\r\n]{0,5}=[ \t\r\n]{0,5}"""
    r"""(?:"([^"<>]{1,8192})"|'([^'<>]{1,8192})'|([^\s"'<>]{1,8192}))""",
    re.IGNORECASE,
)
_TAG_RE = re.compile(r"<[^<>]*>")


def _fallback_html(html: str, base_url: str | None) -> tuple[list[str], str]:
    """Regex salvage for markup lxml cannot parse: hrefs and tag-stripped text (script bodies
    included; better a spurious lead than links hidden behind deep nesting)."""
    hrefs = [unescape(next(g for g in m.groups() if g)) for m in _HREF_RE.finditer(html)]
    text = unescape(_TAG_RE.sub(" ", html))
    return list(_resolve_hrefs(hrefs, base_url)), text


def _visible_text(root: etree._Element) -> str:
    """Text a reader sees: no script/style, and block elements separated by newlines so that
    text in adjacent paragraphs does not run together into one "URL"."""
    pieces: list[str] = []
    hidden = 0
    for event, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag if isinstance(el.tag, str) else ""
        if event == "start":
            if tag in _HIDDEN_TAGS:
                hidden += 1
            elif not hidden:
                if tag in _BLOCK_TAGS:
                    pieces.append("\n")
                if tag and el.text:
                    pieces.append(el.text)
        else:
            if tag in _HIDDEN_TAGS:
                hidden -= 1
            elif not hidden and tag in _BLOCK_TAGS:
                pieces.append("\n")
            if not hidden and el.tail:
                pieces.append(el.tail)
    return "".join(pieces)


def _resolve_hrefs(hrefs: Iterable[str], base_url: str | None) -> Iterator[str]:
    for raw in hrefs:
        href = raw.translate(_INVISIBLE).strip()
        if not href or len(href) > MAX_URL_CHARS or href.startswith("#"):
            continue  # "#" and "#anchor" point into the page itself: no link to anything
        if _SCHEME_RE.match(href) or href.startswith("//"):
            yield href  # absolute; classify_url drops the schemes we do not follow
        elif base_url:
            try:
                yield urljoin(base_url, href)
            except ValueError:
                continue


def extract_links_html(html: str, base_url: str | None = None, *, limit: int = MAX_LINKS) -> list[ExtractedLink]:
    """Links in an HTML fragment or page: ``<a href>`` targets first, then links in the visible
    text, deduplicated by canonical URL. Relative hrefs are resolved against ``base_url`` and
    ignored without it. Markup too deeply nested for lxml is salvaged with a tag-stripping
    fallback rather than dropped. At most ``limit`` links."""
    seen: dict[str, ExtractedLink] = {}
    root = _parse_html(html)
    if root is not None:
        hrefs = list(_resolve_hrefs((str(el.get("href") or "") for el in root.iter("a", "area")), base_url))
        text = _visible_text(root)
    elif html.strip():
        hrefs, text = _fallback_html(_CONTROL.sub("", html), base_url)
    else:
        return []
    _collect(((href, href) for href in hrefs), seen, limit)
    _collect(_candidates(deobfuscate(text)), seen, limit)
    return list(seen.values())
