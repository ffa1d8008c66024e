"""Reddit: subreddit metadata, new posts and their comments, through PRAW in read-only mode.

Why PRAW and not plain JSON: PRAW does the OAuth application-only token dance and honours Reddit's
``X-Ratelimit-*`` headers by itself (prawcore's rate limiter sleeps before the next call). What PRAW
does not do, we add here:

- **Address guard.** PRAW uses its own ``requests`` session. We hand it one whose adapters run
  :meth:`crawlers.safety.AddressGuard.check` on every request it sends, redirects included (prawcore
  never follows redirects itself; a 302 becomes :class:`prawcore.Redirect`). The configured
  ``oauth_url``/``reddit_url`` are checked once more when the client is built, so a bad config fails
  before any credentials are sent. Unlike :class:`crawlers.http.SafeHttpClient` the connection
  resolves the name again after the check (requests cannot be pinned to an address); the hosts here
  are two configured Reddit endpoints, not attacker-supplied URLs, so that gap is accepted.
- **429 with Retry-After**: prawcore raises :class:`prawcore.TooManyRequests`; we wait when the wait
  is short (``max_retry_wait``) and otherwise raise :class:`~crawlers.errors.RateLimited` so that the
  runner reschedules the source instead of blocking a worker.
- **Status from evidence, not from the status code alone** (:func:`read_unavailable`): Reddit names
  why it refuses in the body (``{"reason": "banned"}`` with 404; ``private``, ``quarantined``,
  ``gated``, ``gold_only`` with 403) and sends a subreddit that does not exist to
  ``/subreddits/search``. Those answers are definitive. A bare 403/404 (``{"error": 403}``,
  ``{"message": "Not Found", "error": 404}``, a proxy's HTML page) or a redirect elsewhere is
  ambiguous: Reddit itself answers so for other things (a quarantined listing, a page that is not
  public), so it is reported with ``status_definitive = False`` and needs confirmation
  (:data:`model.records.STATUS_DEFINITIVE`). The table and the recordings behind it are in
  ``docs/crawling.md``.
- **No lazy fetches.** PRAW objects fetch themselves again when an attribute they lack is read
  (``author_fullname`` is absent from every listing item recorded before 2018); one such read per
  post is one extra request, and its 404 escaped the crawl. Fields are read from the data the
  listing already delivered (:func:`_field`), never through attribute access.

Incremental crawl: new posts are listed newest first until the checkpoint (created time + ids seen at
that time), then processed oldest first, each with its comments, and a checkpoint after each post.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import praw
import prawcore
import requests
import requests.adapters
from praw.models import Comment, Submission, Subreddit

from config.secrets import require
from config.settings import Settings
from crawlers.base import NotConfigured, Source, Target
from crawlers.errors import BadResponse, CrawlError, InvalidTarget, RateLimited, ResponseTooLarge, TransientError
from crawlers.http import parse_retry_after
from crawlers.links import extract_links
from crawlers.safety import AddressGuard, HostUnresolvable
from model.errors import MissingSecret
from model.records import (
    STATUS_DEFINITIVE,
    STATUS_EVIDENCE,
    Checkpoint,
    CommunityKind,
    CommunityRef,
    CommunitySnapshot,
    CommunityStatus,
    ForwardRef,
    Membership,
    Platform,
    Post,
    RawMember,
    Record,
)

log = logging.getLogger(__name__)

ENV_CLIENT_ID = "REDDIT_CLIENT_ID"
ENV_CLIENT_SECRET = "REDDIT_CLIENT_SECRET"
ENV_USER_AGENT = "REDDIT_USER_AGENT"

T = TypeVar("T")
Sleep = Callable[[float], None]

#: Reasons in Reddit's 403/404 bodies -> our status. Gated subreddits exist and are public but need an
#: opt-in like quarantined ones, so they share that status (the reason is kept in the snapshot).
#: ``gold_only`` subreddits are readable by premium members only: not public, so private.
REASONS = {
    "banned": CommunityStatus.BANNED,
    "private": CommunityStatus.PRIVATE,
    "quarantined": CommunityStatus.QUARANTINED,
    "gated": CommunityStatus.QUARANTINED,
    "gold_only": CommunityStatus.PRIVATE,
}
#: Where Reddit sends a request for a subreddit that does not exist.
_SEARCH_PATH = "/subreddits/search"


@dataclass(frozen=True, slots=True)
class RedditCredentials:
    client_id: str
    client_secret: str
    user_agent: str


def credentials(env: Mapping[str, str] | None = None) -> RedditCredentials:
    """Read the app credentials; :class:`MissingSecret` names the first variable that is not set."""
    purpose = "the Reddit crawler"
    return RedditCredentials(
        client_id=require(ENV_CLIENT_ID, purpose, env),
        client_secret=require(ENV_CLIENT_SECRET, purpose, env),
        user_agent=require(ENV_USER_AGENT, purpose, env),
    )


#: Bytes read from the socket at a time while enforcing the cap.
_READ_CHUNK = 64 * 1024


class GuardedAdapter(requests.adapters.HTTPAdapter):
    """A requests adapter that refuses what the address guard refuses, before connecting, and
    bodies over ``max_bytes``.

    The body is always streamed and counted while it is read, so a body that does not declare
    its length (close-delimited or chunked) is cut off at the cap instead of being read whole
    into memory. The count is of decoded bytes, so a small gzip body that inflates past the cap
    is refused too. The response handed back has its body already read (``.content`` works as
    for an unstreamed request), which is all prawcore needs.
    """

    def __init__(self, guard: AddressGuard, max_bytes: int) -> None:
        super().__init__(max_retries=0)
        self.guard = guard
        self.max_bytes = max_bytes

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: Any = None,
        verify: bool | str = True,
        cert: Any = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        self.guard.check(url)
        response = super().send(request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > self.max_bytes:
                raise ResponseTooLarge(
                    f"response from {url} declares {declared} bytes, over the cap of {self.max_bytes}"
                )
            body = bytearray()
            for chunk in response.iter_content(_READ_CHUNK):
                body += chunk
                if len(body) > self.max_bytes:
                    raise ResponseTooLarge(f"response from {url} exceeded the cap of {self.max_bytes} bytes")
        except BaseException:
            response.close()  # drops the connection: the rest of the body is never read
            raise
        response._content = bytes(body)  # what ``Response.content`` returns from now on
        return response


def guarded_session(guard: AddressGuard, max_bytes: int) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies or netrc from the environment
    adapter = GuardedAdapter(guard, max_bytes)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _utc(ts: float | int | None) -> datetime | None:
    return datetime.fromtimestamp(float(ts), UTC) if ts else None


def _error_reason(response: requests.Response | None) -> str | None:
    if response is None:
        return None
    try:
        body = response.json()
    except ValueError:  # an HTML error page (a proxy's, or Reddit's own for some errors)
        return None
    reason = body.get("reason") if isinstance(body, dict) else None
    return str(reason) if isinstance(reason, str | int) and str(reason) else None


def _field(thing: Any, name: str, default: Any = None) -> Any:
    """A field from the data PRAW already holds for ``thing``, without triggering a lazy fetch
    (``getattr`` on a listing item that lacks the field makes PRAW request the whole object)."""
    return vars(thing).get(name, default)


class RedditClient:
    """The thin I/O side: a read-only PRAW instance plus error translation and 429 handling."""

    def __init__(self, settings: Settings, creds: RedditCredentials, *, sleep: Sleep = time.sleep,
                 max_retry_wait: float = 60.0, allowed_networks: Sequence[str] = ()) -> None:
        crawl = settings.crawl
        self.guard = AddressGuard.build(allow_private=crawl.allow_private_addresses,
                                        allowed_networks=allowed_networks)
        self.oauth_url = settings.reddit.oauth_url.rstrip("/")
        self.reddit_url = settings.reddit.reddit_url.rstrip("/")
        for url in (self.oauth_url, self.reddit_url):
            with contextlib.suppress(HostUnresolvable):  # a passing DNS failure; each request is checked again
                self.guard.check(url)
        self.sleep = sleep
        self.max_retry_wait = max_retry_wait
        self.max_retries = crawl.max_retries
        self.session = guarded_session(self.guard, crawl.max_response_bytes)
        self.reddit = praw.Reddit(
            client_id=creds.client_id, client_secret=creds.client_secret, user_agent=creds.user_agent,
            oauth_url=self.oauth_url, reddit_url=self.reddit_url, check_for_updates=False,
            requestor_kwargs={"session": self.session, "timeout": crawl.timeout_seconds},
        )
        self.reddit.read_only = True

    def close(self) -> None:
        self.session.close()

    def call(self, fn: Callable[[], T], what: str) -> T:
        """Run one PRAW call, retrying short 429s and translating prawcore errors to ours.

        Not-found/forbidden/redirect answers are left to the caller, which maps them to statuses."""
        attempt = 0
        while True:
            try:
                return fn()
            except prawcore.TooManyRequests as exc:
                wait = parse_retry_after(exc.retry_after)
                if attempt >= self.max_retries or (wait is not None and wait > self.max_retry_wait):
                    raise RateLimited(f"HTTP 429 (rate limited) from Reddit for {what}", wait) from exc
                attempt += 1
                log.info("reddit rate limited on %s; waiting %.1fs", what, wait or 1.0)
                self.sleep(wait if wait is not None else float(2 ** attempt))
            except prawcore.RequestException as exc:
                original = exc.original_exception
                if isinstance(original, CrawlError):
                    raise original from exc
                raise TransientError(f"request to Reddit failed for {what}: {original!r}") from exc
            except prawcore.ServerError as exc:
                raise TransientError(f"HTTP {exc.response.status_code} from {exc.response.url}") from exc
            except prawcore.BadJSON as exc:
                raise BadResponse(f"invalid JSON from {exc.response.url}") from exc
            except prawcore.OAuthException as exc:
                raise CrawlError(f"Reddit refused the app credentials: {exc}") from exc
            except prawcore.ResponseException as exc:
                if isinstance(exc, prawcore.Redirect | prawcore.NotFound | prawcore.Forbidden):
                    raise
                raise BadResponse(f"HTTP {exc.response.status_code} from {exc.response.url} for {what}") from exc

    def iterate(self, iterator: Iterator[T], what: str) -> Iterator[T]:
        """Iterate a PRAW listing with :meth:`call` around each step (a failed page fetch leaves the
        listing's ``after`` untouched, so the retry asks for the same page)."""
        while True:
            try:
                item = self.call(lambda: next(iterator), what)
            except StopIteration:
                return
            yield item

    def search(self, query: str, limit: int = 25) -> list[tuple[str, str | None, str]]:
        found = self.iterate(iter(self.reddit.subreddits.search(query, limit=limit)), f"subreddit search {query!r}")
        return [(s.display_name, getattr(s, "title", None) or None, f"{self.reddit_url}/r/{s.display_name}")
                for s in found]


def subreddit_name(target: Target) -> str:
    if target.handle:
        return target.handle
    parts = [p for p in (target.url or "").split("/") if p]
    if "r" in parts and parts.index("r") + 1 < len(parts):
        return parts[parts.index("r") + 1]
    raise InvalidTarget(f"no subreddit name in watched target {target.url or target.community_id!r}")


@dataclass(frozen=True, slots=True)
class StatusReading:
    """What a refused about-page request says about a subreddit, and how sure that is."""

    status: str
    reason: str  # Reddit's reason, or what we saw instead ("forbidden", "not_found", "redirect")
    definitive: bool  # only an answer nothing but Reddit would give about this subreddit
    evidence: str  # in words, for the investigator reading the snapshot
    http_status: int | None = None
    redirect_to: str | None = None


def status_snapshot(name: str, url: str, reading: StatusReading, fetched_at: datetime) -> CommunitySnapshot:
    extra: dict[str, Any] = {"reason": reading.reason, STATUS_DEFINITIVE: reading.definitive,
                             STATUS_EVIDENCE: reading.evidence, "http_status": reading.http_status}
    if reading.redirect_to is not None:
        extra["redirect_to"] = reading.redirect_to
    return CommunitySnapshot(platform=Platform.REDDIT, native_id=None, handle=name, url=url, fetched_at=fetched_at,
                             kind=CommunityKind.SUBREDDIT, status=reading.status, source_url=url, extra=extra)


def read_unavailable(exc: prawcore.ResponseException) -> StatusReading:
    """Map a refused about-page answer (redirect, 403, 404) to a status with its confidence.

    Definitive: a reason Reddit names in the body (``banned``, ``private``, ``quarantined``,
    ``gated``, ``gold_only``), or a redirect to ``/subreddits/search`` (the subreddit does not exist).
    Ambiguous, needing confirmation: a 403/404 without a reason or with one we do not know, and a
    redirect anywhere else. The gone status reported then is the one the code suggests."""
    code = exc.response.status_code
    if isinstance(exc, prawcore.Redirect):
        target = exc.path
        if target.rstrip("/") == _SEARCH_PATH:
            return StatusReading(CommunityStatus.DELETED, "nonexistent", True,
                                 f"HTTP {code} redirect to {_SEARCH_PATH} (no such subreddit)", code, target)
        return StatusReading(CommunityStatus.DELETED, "redirect", False,
                             f"HTTP {code} redirect to {target}, not to {_SEARCH_PATH}", code, target)
    reason = _error_reason(exc.response)
    known = REASONS.get(reason.lower()) if reason else None
    if known is not None and reason is not None:
        return StatusReading(known, reason.lower(), True, f"HTTP {code} with reason {reason!r}", code)
    fallback = CommunityStatus.DELETED if isinstance(exc, prawcore.NotFound) else CommunityStatus.PRIVATE
    if reason:
        return StatusReading(fallback, reason, False, f"HTTP {code} with unrecognised reason {reason!r}", code)
    bare = "not_found" if isinstance(exc, prawcore.NotFound) else "forbidden"
    return StatusReading(fallback, bare, False, f"bare {code} without reason", code)


class RedditSource(Source):
    name = "reddit"
    platform = Platform.REDDIT

    def __init__(self, settings: Settings, *, env: Mapping[str, str] | None = None, sleep: Sleep = time.sleep,
                 allowed_networks: Sequence[str] = ()) -> None:
        self.settings = settings
        self.creds = credentials(env)
        self._sleep = sleep
        self._allowed = allowed_networks
        self._client: RedditClient | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Source:
        try:
            return cls(settings)
        except MissingSecret as exc:
            raise NotConfigured(str(exc)) from exc

    @property
    def client(self) -> RedditClient:
        if self._client is None:
            self._client = RedditClient(self.settings, self.creds, sleep=self._sleep,
                                        allowed_networks=self._allowed)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def crawl(self, target: Target) -> Iterator[Record]:
        client = self.client
        name = subreddit_name(target)
        base = client.reddit_url
        url = f"{base}/r/{name}"
        fetched = datetime.now(UTC)
        sub: Subreddit = client.reddit.subreddit(name)
        try:
            client.call(sub._fetch, f"r/{name}/about")
        except (prawcore.Redirect, prawcore.NotFound, prawcore.Forbidden) as exc:
            reading = read_unavailable(exc)
            log.info("r/%s reads as %s (%s; %s)", name, reading.status, reading.evidence,
                     "definitive" if reading.definitive else "needs confirmation")
            yield status_snapshot(name, url, reading, fetched)
            return
        ref = CommunityRef(Platform.REDDIT, native_id=sub.name, handle=sub.display_name,
                           url=f"{base}/r/{sub.display_name}")
        yield self._snapshot(sub, ref, fetched)
        sidebar = self._sidebar(sub, ref, fetched)
        if sidebar is not None:
            yield sidebar
        cursor = dict(target.cursor)
        try:
            fresh = self._new_submissions(sub, cursor)
        except (prawcore.Redirect, prawcore.NotFound, prawcore.Forbidden) as exc:
            # the about page answered, the listing did not: a failed observation, not a status
            response = exc.response
            raise BadResponse(f"HTTP {response.status_code} from {response.url} listing r/{name}/new "
                              f"after its about page answered") from exc
        for submission in fresh:
            yield from self._submission_records(submission, ref)
            created = float(_field(submission, "created_utc", 0.0))
            same = list(cursor.get("ids", [])) if cursor.get("created") == created else []
            cursor = {"created": created, "ids": [*same, submission.id]}
            yield Checkpoint(ref, self.name, dict(cursor))

    # -- pieces ------------------------------------------------------------------------------

    def _snapshot(self, sub: Subreddit, ref: CommunityRef, fetched: datetime) -> CommunitySnapshot:
        raw = {k: _field(sub, k) for k in ("name", "display_name", "title", "public_description",
                                           "subscribers", "created_utc", "over18", "subreddit_type")}
        kind = _field(sub, "subreddit_type")
        # An archived subreddit (r/reddit.com) is still readable, only closed to new posts: active,
        # with the type kept so that an investigator sees it.
        evidence = "about page answered" + (f" (subreddit_type {kind!r})" if kind else "")
        return CommunitySnapshot(
            platform=Platform.REDDIT, native_id=sub.name, handle=sub.display_name, url=ref.url or "",
            fetched_at=fetched, title=_field(sub, "title"), description=_field(sub, "public_description"),
            kind=CommunityKind.SUBREDDIT, status=CommunityStatus.ACTIVE, member_count=_field(sub, "subscribers"),
            online_count=_field(sub, "active_user_count") or _field(sub, "accounts_active"),
            created_at=_utc(_field(sub, "created_utc")), source_url=f"{ref.url}/about",
            requested_handle=None,
            extra={"over18": bool(_field(sub, "over18", False)), "subreddit_type": kind,
                   "archived": kind == "archived", STATUS_DEFINITIVE: True, STATUS_EVIDENCE: evidence,
                   "raw_sha256": _sha(raw)},
        )

    def _sidebar(self, sub: Subreddit, ref: CommunityRef, fetched: datetime) -> Post | None:
        """The sidebar as a service post, so its links become leads; a changed sidebar is a new post."""
        text = "\n\n".join(t for t in (_field(sub, "public_description"), _field(sub, "description")) if t)
        links = tuple(extract_links(text))
        if not links:
            return None
        return Post(community=ref, native_post_id=f"sidebar-{_sha(text)[:16]}", url=f"{ref.url}/about/sidebar",
                    fetched_at=fetched, text=text, links=links, kind="service", service_action="sidebar")

    def _new_submissions(self, sub: Subreddit, cursor: Mapping[str, Any]) -> list[Submission]:
        last = cursor.get("created")
        seen = set(cursor.get("ids", []))
        limit = self.settings.crawl.max_pages * 100
        fresh: list[Submission] = []
        for submission in self.client.iterate(iter(sub.new(limit=limit)), f"r/{sub.display_name}/new"):
            created = float(_field(submission, "created_utc", 0.0))
            if last is not None and (created < float(last) or (created == float(last) and submission.id in seen)):
                if created < float(last):
                    break
                continue
            fresh.append(submission)
        fresh.reverse()  # oldest first: each checkpoint then covers everything before it
        return fresh

    def _submission_records(self, s: Submission, ref: CommunityRef) -> Iterator[Record]:
        fetched = datetime.now(UTC)
        base = self.client.reddit_url
        author = _author(s)
        name = _field(s, "name") or f"t3_{s.id}"
        title = _field(s, "title") or ""
        permalink = _field(s, "permalink") or f"/comments/{s.id}/"
        text = "\n\n".join(t for t in (title, _field(s, "selftext")) if t)
        links = extract_links(text)
        link_url = _field(s, "url")
        if not _field(s, "is_self", False) and link_url:
            links = [*extract_links(link_url), *links]
        edited = _field(s, "edited")
        yield Post(community=ref, native_post_id=name, url=f"{base}{permalink}", fetched_at=fetched,
                   created_at=_utc(_field(s, "created_utc")), edited_at=_utc(edited) if edited else None,
                   author=author, text=text, links=_unique(links), kind="post", thread_id=name, thread_title=title,
                   forwarded_from=_crosspost_origin(s), source_url=f"{base}{permalink}",
                   extra={"score": _field(s, "score"), "over18": bool(_field(s, "over_18", False)),
                          "subreddit": _field(s, "subreddit_name_prefixed") or str(_field(s, "subreddit") or "")})
        if author is not None:
            yield Membership(ref, author, fetched, how="posted")
        limit = self.settings.reddit.comments_per_post
        if limit == 0 or not _field(s, "num_comments", 0):
            return
        s.comment_limit = limit
        s.comment_sort = "new"
        try:
            self.client.call(lambda: s.comments.replace_more(limit=0), f"comments of {name}")
        except (prawcore.Redirect, prawcore.NotFound, prawcore.Forbidden) as exc:
            # removed between the listing and now: the post is kept, its comments are not there to read
            log.warning("comments of %s not readable (HTTP %s from %s); post kept without them", name,
                        exc.response.status_code, exc.response.url)
            return
        comments = [c for c in s.comments.list() if isinstance(c, Comment)][:limit]
        for c in comments:
            c_author = _author(c)
            body = _field(c, "body") or ""
            # comments recorded before 2017 carry no permalink: build it rather than fetch it
            c_permalink = _field(c, "permalink") or f"{permalink.rstrip('/')}/{c.id}/"
            c_edited = _field(c, "edited")
            yield Post(community=ref, native_post_id=_field(c, "name") or f"t1_{c.id}", url=f"{base}{c_permalink}",
                       fetched_at=fetched, created_at=_utc(_field(c, "created_utc")),
                       edited_at=_utc(c_edited) if c_edited else None, author=c_author, text=body,
                       links=tuple(extract_links(body)), kind="comment", reply_to=_field(c, "parent_id"),
                       thread_id=name, thread_title=title, source_url=f"{base}{permalink}",
                       extra={"score": _field(c, "score")})
            if c_author is not None:
                yield Membership(ref, c_author, fetched, how="posted")


def _author(thing: Submission | Comment) -> RawMember | None:
    """The author as PRAW delivered it (``[deleted]`` accounts come as ``None``). ``author_fullname``
    is read from the loaded data: listings recorded before 2018 do not carry it."""
    author = _field(thing, "author")
    if author is None:  # deleted account
        return None
    handle = str(vars(author).get("name") or "") or None
    if handle is None or handle == "[deleted]":
        return None
    return RawMember(Platform.REDDIT, user_id=_field(thing, "author_fullname"), handle=handle)


def _crosspost_origin(s: Submission) -> ForwardRef | None:
    """A crosspost names the post it copies (``crosspost_parent``) and carries its data: the
    community it came from is where a migration may start."""
    parent = _field(s, "crosspost_parent")
    if not parent:
        return None
    origins = _field(s, "crosspost_parent_list") or []
    origin = origins[0] if origins and isinstance(origins[0], dict) else {}
    return ForwardRef(Platform.REDDIT, native_id=origin.get("subreddit_id"), handle=origin.get("subreddit"),
                      post_id=str(parent), name=origin.get("subreddit_name_prefixed"))


def _unique(links: Sequence[Any]) -> tuple[Any, ...]:
    seen: dict[str, Any] = {}
    for link in links:
        seen.setdefault(link.url, link)
    return tuple(seen.values())


def _sha(value: Any) -> str:
    return hashlib.sha256(repr(value).encode("utf-8")).hexdigest()


def name_search(settings: Settings, *, env: Mapping[str, str] | None = None,
                sleep: Sleep = time.sleep) -> Callable[[str, str], list[tuple[str, str | None, str]]]:
    """A :class:`detect.leads.NameSearch` backed by Reddit's subreddit search. Raises
    :class:`MissingSecret` (naming the variable) when credentials are not set."""
    client = RedditClient(settings, credentials(env), sleep=sleep)

    def search(platform: str, query: str) -> list[tuple[str, str | None, str]]:
        if platform != Platform.REDDIT:
            return []
        return client.search(query)

    return search
