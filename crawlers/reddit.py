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
- **Status from the real error bodies**: banned → 404 ``{"reason": "banned"}``, private → 403
  ``{"reason": "private"}``, quarantined/gated → 403 with those reasons, nonexistent → 302 to
  ``/subreddits/search``. These become a snapshot with the matching status.

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

from config.errors import MissingSecret
from config.secrets import require
from config.settings import Settings
from crawlers.base import NotConfigured, Source, Target, register
from crawlers.errors import BadResponse, CrawlError, InvalidTarget, RateLimited, ResponseTooLarge, TransientError
from crawlers.http import parse_retry_after
from crawlers.links import extract_links
from crawlers.records import (
    Checkpoint,
    CommunityKind,
    CommunityRef,
    CommunitySnapshot,
    CommunityStatus,
    Membership,
    Platform,
    Post,
    RawMember,
    Record,
)
from crawlers.safety import AddressGuard, HostUnresolvable

log = logging.getLogger(__name__)

ENV_CLIENT_ID = "REDDIT_CLIENT_ID"
ENV_CLIENT_SECRET = "REDDIT_CLIENT_SECRET"
ENV_USER_AGENT = "REDDIT_USER_AGENT"

T = TypeVar("T")
Sleep = Callable[[float], None]

#: Reasons in Reddit's 403/404 bodies -> our status. Gated subreddits exist and are public but need an
#: opt-in like quarantined ones, so they share that status (the reason is kept in the snapshot).
_REASONS = {
    "banned": CommunityStatus.BANNED,
    "private": CommunityStatus.PRIVATE,
    "quarantined": CommunityStatus.QUARANTINED,
    "gated": CommunityStatus.QUARANTINED,
}


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
    except ValueError:
        return None
    reason = body.get("reason") if isinstance(body, dict) else None
    return str(reason) if reason else None


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


def status_snapshot(name: str, url: str, status: str, reason: str, fetched_at: datetime) -> CommunitySnapshot:
    return CommunitySnapshot(platform=Platform.REDDIT, native_id=None, handle=name, url=url, fetched_at=fetched_at,
                             kind=CommunityKind.SUBREDDIT, status=status, source_url=url,
                             extra={"reason": reason})


def unavailable_status(exc: prawcore.ResponseException) -> tuple[str, str]:
    """Map a failed about-page answer to (status, reason)."""
    if isinstance(exc, prawcore.Redirect):
        return CommunityStatus.DELETED, "nonexistent"
    reason = _error_reason(exc.response)
    if isinstance(exc, prawcore.NotFound):
        return (_REASONS.get(reason or "", CommunityStatus.DELETED), reason or "not_found")
    return (_REASONS.get(reason or "", CommunityStatus.PRIVATE), reason or "forbidden")


@register
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
            status, reason = unavailable_status(exc)
            log.info("r/%s is %s (%s)", name, status, reason)
            yield status_snapshot(name, url, status, reason, fetched)
            return
        ref = CommunityRef(Platform.REDDIT, native_id=sub.name, handle=sub.display_name,
                           url=f"{base}/r/{sub.display_name}")
        yield self._snapshot(sub, ref, fetched)
        sidebar = self._sidebar(sub, ref, fetched)
        if sidebar is not None:
            yield sidebar
        cursor = dict(target.cursor)
        for submission in self._new_submissions(sub, cursor):
            yield from self._submission_records(submission, ref)
            created = float(submission.created_utc)
            same = list(cursor.get("ids", [])) if cursor.get("created") == created else []
            cursor = {"created": created, "ids": [*same, submission.id]}
            yield Checkpoint(ref, self.name, dict(cursor))

    # -- pieces ------------------------------------------------------------------------------

    def _snapshot(self, sub: Subreddit, ref: CommunityRef, fetched: datetime) -> CommunitySnapshot:
        raw = {k: getattr(sub, k, None) for k in ("name", "display_name", "title", "public_description",
                                                    "subscribers", "created_utc", "over18", "subreddit_type")}
        return CommunitySnapshot(
            platform=Platform.REDDIT, native_id=sub.name, handle=sub.display_name, url=ref.url or "",
            fetched_at=fetched, title=getattr(sub, "title", None), description=getattr(sub, "public_description", None),
            kind=CommunityKind.SUBREDDIT, status=CommunityStatus.ACTIVE, member_count=getattr(sub, "subscribers", None),
            online_count=getattr(sub, "active_user_count", None) or getattr(sub, "accounts_active", None),
            created_at=_utc(getattr(sub, "created_utc", None)), source_url=f"{ref.url}/about",
            requested_handle=None,
            extra={"over18": bool(getattr(sub, "over18", False)),
                   "subreddit_type": getattr(sub, "subreddit_type", None), "raw_sha256": _sha(raw)},
        )

    def _sidebar(self, sub: Subreddit, ref: CommunityRef, fetched: datetime) -> Post | None:
        """The sidebar as a service post, so its links become leads; a changed sidebar is a new post."""
        text = "\n\n".join(t for t in (getattr(sub, "public_description", ""), getattr(sub, "description", "")) if t)
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
            created = float(submission.created_utc)
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
        text = "\n\n".join(t for t in (s.title, s.selftext) if t)
        links = extract_links(text)
        if not s.is_self and s.url:
            links = [*extract_links(s.url), *links]
        yield Post(community=ref, native_post_id=s.name, url=f"{base}{s.permalink}", fetched_at=fetched,
                   created_at=_utc(s.created_utc), edited_at=_utc(s.edited) if s.edited else None, author=author,
                   text=text, links=_unique(links), kind="post", thread_id=s.name, thread_title=s.title,
                   source_url=f"{base}{s.permalink}", extra={"score": s.score, "over18": bool(s.over_18)})
        if author is not None:
            yield Membership(ref, author, fetched, how="posted")
        limit = self.settings.reddit.comments_per_post
        if limit == 0 or not getattr(s, "num_comments", 0):
            return
        s.comment_limit = limit
        s.comment_sort = "new"
        self.client.call(lambda: s.comments.replace_more(limit=0), f"comments of {s.name}")
        comments = [c for c in s.comments.list() if isinstance(c, Comment)][:limit]
        for c in comments:
            c_author = _author(c)
            yield Post(community=ref, native_post_id=c.name, url=f"{base}{c.permalink}", fetched_at=fetched,
                       created_at=_utc(c.created_utc), edited_at=_utc(c.edited) if c.edited else None,
                       author=c_author, text=c.body, links=tuple(extract_links(c.body or "")), kind="comment",
                       reply_to=c.parent_id, thread_id=s.name, thread_title=s.title,
                       source_url=f"{base}{s.permalink}")
            if c_author is not None:
                yield Membership(ref, c_author, fetched, how="posted")


def _author(thing: Submission | Comment) -> RawMember | None:
    author = getattr(thing, "author", None)
    if author is None:  # deleted account
        return None
    return RawMember(Platform.REDDIT, user_id=getattr(thing, "author_fullname", None), handle=str(author.name))


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
