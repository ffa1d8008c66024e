"""``telegram_web``: public Telegram channels through their web preview ``<web_base_url>/s/<handle>``.

Fetching runs on Scrapy in a child process per crawl (:mod:`crawlers.telegram.web_spider` says why);
this module starts it, reads its page events as they arrive and turns each page into records with
the pure parser (:mod:`crawlers.telegram.web_parse`), so the first pages are ingested while later
ones are still downloading. Photos are downloaded here with :class:`~crawlers.http.SafeHttpClient`
under ``crawl.max_image_bytes``, fingerprinted in memory and dropped.

What a crawl reports (each status with ``extra[status_definitive]`` and ``extra[status_evidence]``,
see ``docs/crawling.md`` "Telegram" for the table and the recordings behind it):

- **active**: the channel header (title, description, subscriber count) and new posts, with a
  :class:`~model.records.Checkpoint` after each page.
- **no public preview**: ``/s/<handle>`` redirects to ``/<handle>``, whose page still shows a title
  and "N subscribers" / "N members, M online". The community is public and alive, only its preview
  is off (typical of groups), so the status is *active* with ``extra["preview"] = False`` and no
  native id (that page does not show one). A channel gone private loses its public handle and then
  looks like the next case.
- **deleted**: ``/<handle>`` is Telegram's "contact @handle" page without ``.tgme_page_title`` (the
  handle resolves to nothing). Telegram serves that page for a moment under load too, so it is
  definitive only when the previous crawl saw it as well (counted in the cursor). A bare 404/410 on
  the preview (which t.me does not send for a missing channel, a proxy does) is *deleted*, never
  definitive.
- **a person's or bot's account**: ``/<handle>`` is a profile (name, ``@handle``, bio; e.g. a lead from
  a "contact t.me/<someone>" post). :class:`~crawlers.errors.InvalidTarget` is raised and no record
  is yielded, so nothing about the person is stored.
- **handle points elsewhere**: the page's channel id differs from the id we know for this handle
  (renamed channel whose handle was taken over, or handle reuse). The snapshot carries the new id
  and ``requested_handle``; ingest files it under the other community and marks the seed. The old
  cursor belongs to the other channel, so the crawl restarts without it.
- **a bad page**: a page with no structure we recognise, one over ``crawl.max_response_bytes``, or a
  redirect whose ``Location`` is no URL: :class:`~crawlers.errors.BadResponse` (the runner records a
  failed observation).
- **unreachable**: connection failures and 5xx/429 after retries raise
  :class:`~crawlers.errors.TransientError`; a long ``Retry-After`` raises
  :class:`~crawlers.errors.RescheduleSource`.

Native id: the numeric channel id from the message blocks (``data-peer`` / ``data-view``), the same
number Telethon reports as ``Channel.id``, so both Telegram crawlers key a channel alike.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

from config.settings import Settings
from crawlers import errors
from crawlers.base import Source, Target
from crawlers.http import SafeHttpClient, rate_for
from crawlers.links import classify_url, extract_links
from crawlers.media import download_fingerprints
from crawlers.telegram.web_paging import BadCursor, Cursor
from crawlers.telegram.web_parse import (
    ChannelPage,
    Message,
    NotAChannelPage,
    StatusVerdict,
    no_preview_status,
    parse_channel_page,
    parse_no_preview_page,
)
from crawlers.telegram.web_spider import is_preview_path
from model import records as r

log = logging.getLogger(__name__)

SOURCE = "telegram_web"
REPO_ROOT = Path(__file__).resolve().parents[2]
_STDERR_LINES = 40


class SpiderFailed(errors.CrawlError):
    """The crawl process died or spoke nonsense (a bug, not the platform)."""


@dataclass
class _Run:
    """State of one crawl of one target (what the pages so far established)."""

    target: Target
    handle: str
    cursor: Cursor
    snapshot_sent: bool = False
    native_id: str | None = None
    ref: r.CommunityRef | None = None


def _canonical(handle: str) -> str:
    return f"https://t.me/{handle}"


class TelegramWebSource(Source):
    name = SOURCE
    platform = r.Platform.TELEGRAM

    def __init__(self, settings: Settings, *, allowed_networks: Iterable[str] = (),
                 http: SafeHttpClient | None = None, clock: Any = time.monotonic, sleep: Any = time.sleep,
                 max_retry_wait: float = 60.0) -> None:
        """``allowed_networks`` exempts addresses from the guard even when private addresses are
        refused (tests: the local server plays the public t.me); ``clock``/``sleep`` pace crawls."""
        self.settings = settings
        self.base_url = settings.telegram.web_base_url.rstrip("/")
        self.allowed_networks = list(allowed_networks)
        self.max_retry_wait = max_retry_wait
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._last_end: dict[str, float] = {}
        self._procs: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()

    # -- Source API ------------------------------------------------------------------------------

    def handles(self, target: Target) -> bool:
        return target.platform == self.platform and bool(target.handle)

    def close(self) -> None:
        with self._lock:
            procs = list(self._procs)
        for proc in procs:
            _stop(proc)
        if self._http is not None:
            self._http.close()
            self._http = None

    def crawl(self, target: Target) -> Iterator[r.Record]:
        if not target.handle:
            raise errors.InvalidTarget(f"telegram_web needs a handle, community {target.community_id} has none")
        try:
            cursor = Cursor.from_json(target.cursor)
        except BadCursor as exc:
            log.warning("%s; crawling %s as if for the first time", exc, target.handle)
            cursor = Cursor()
        run = _Run(target, target.handle, cursor)
        restart = yield from self._crawl_pages(run)
        if restart:
            log.warning("t.me/%s now belongs to channel %s (was %s): crawling it afresh", target.handle,
                        run.native_id, target.native_id)
            yield from self._crawl_pages(_Run(target, target.handle, Cursor(), snapshot_sent=True,
                                              native_id=run.native_id, ref=run.ref))

    # -- the crawl process -----------------------------------------------------------------------

    def _job(self, run: _Run) -> dict[str, Any]:
        return {"handle": run.handle, "base_url": self.base_url, "cursor": run.cursor.to_json(),
                "max_pages": self.settings.crawl.max_pages, "crawl": self.settings.crawl.model_dump(),
                "allowed_networks": self.allowed_networks, "max_retry_wait": self.max_retry_wait}

    def _pace(self) -> str:
        """Keep consecutive crawl processes as far apart as requests within one (per host)."""
        host = urlsplit(self.base_url).hostname or ""
        last = self._last_end.get(host)
        if last is not None:
            wait = last + 1.0 / rate_for(host, self.settings.crawl) - self._clock()
            if wait > 0:
                self._sleep(wait)
        return host

    def _events(self, job: dict[str, Any]) -> Iterator[dict[str, Any]]:
        host = self._pace()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])}
        proc = subprocess.Popen([sys.executable, "-m", "crawlers.telegram.web_spider"], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8",
                                env=env, cwd=str(REPO_ROOT))
        with self._lock:
            self._procs.add(proc)
        stderr: collections.deque[str] = collections.deque(maxlen=_STDERR_LINES)
        drain = threading.Thread(target=_drain, args=(proc.stderr, stderr), daemon=True)
        drain.start()
        crawl = self.settings.crawl
        limit = crawl.max_pages * (crawl.timeout_seconds * (crawl.max_retries + 1) + self.max_retry_wait) + 60
        watchdog = threading.Timer(limit, proc.kill)
        watchdog.daemon = True
        watchdog.start()
        done = False
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(json.dumps(job))
            proc.stdin.close()
            for line in proc.stdout:
                try:
                    event = json.loads(line)
                except ValueError as exc:
                    raise SpiderFailed(f"crawl process for t.me/{job['handle']} wrote junk: {line[:200]!r}") from exc
                if event.get("event") == "done":
                    done = True
                    continue
                yield event
            proc.wait()
        finally:
            watchdog.cancel()
            _stop(proc)
            drain.join(timeout=5)
            if proc.stderr is not None and not drain.is_alive():
                proc.stderr.close()
            with self._lock:
                self._procs.discard(proc)
            self._last_end[host] = self._clock()
        if not done:
            tail = "\n".join(stderr)
            raise SpiderFailed(f"crawl process for t.me/{job['handle']} ended with code {proc.returncode} "
                               f"before finishing:\n{tail}")

    # -- pages to records ------------------------------------------------------------------------

    def _crawl_pages(self, run: _Run) -> Generator[r.Record, None, bool]:
        """Yield the records of each page; returns True when the crawl must restart afresh
        (the handle now belongs to another channel and the cursor was that of the old one)."""
        for event in self._events(self._job(run)):
            if event.get("event") == "error":
                self._raise_error(run, event)
            if event.get("event") != "page":
                raise SpiderFailed(f"unexpected event from the crawl process: {event!r}")
            url = str(event["url"])
            status = int(event["status"])
            fetched = datetime.fromisoformat(str(event["fetched_at"]))
            if status in (404, 410):
                verdict = StatusVerdict(r.CommunityStatus.DELETED, False,
                                        f"bare HTTP {status} from {url} (t.me answers a missing channel with a "
                                        "redirect, a proxy or an outage may answer 404)")
                yield self._gone(run, url, fetched, verdict)
                return False
            if status != 200:
                if status == 429 or status >= 500:
                    raise errors.TransientError(f"HTTP {status} from {url} after retries")
                raise errors.BadResponse(f"HTTP {status} from {url}")
            html = str(event["html"])
            if not is_preview_path(url):
                yield from self._no_preview(run, html, url, fetched)
                return False
            try:
                page = parse_channel_page(html, url)
            except NotAChannelPage as exc:
                raise errors.BadResponse(str(exc)) from exc
            if page.skipped:
                log.warning("%s: %d message block(s) without a usable data-post were skipped", url, page.skipped)
            if not run.snapshot_sent:
                snapshot = self._snapshot(run, page, fetched)
                if (run.target.native_id and page.channel_id and page.channel_id != run.target.native_id
                        and run.cursor != Cursor()):
                    yield snapshot
                    return True
                yield snapshot
            if event.get("cursor") is None:
                raise SpiderFailed(f"no cursor for {url}")
            new_cursor = Cursor.from_json(event["cursor"])
            for message in page.messages:
                if not run.cursor.covers(message.post_id):
                    yield self._post(run, message, fetched, url)
            run.cursor = new_cursor
            assert run.ref is not None
            yield r.Checkpoint(community=run.ref, source=SOURCE, cursor=new_cursor.to_json())
        return False

    def _raise_error(self, run: _Run, event: dict[str, Any]) -> None:
        kind, message = event.get("kind"), str(event.get("message"))
        if kind == "rate_limited":
            delay = float(event.get("retry_after") or self.max_retry_wait)
            raise errors.RescheduleSource(f"t.me/{run.handle}: {message}", delay)
        if kind == "blocked":
            raise errors.BlockedAddress(f"t.me/{run.handle}: {message}")
        if kind == "bad_page":
            raise errors.BadResponse(f"t.me/{run.handle}: bad page at {event.get('url')}: {message}")
        raise errors.TransientError(f"t.me/{run.handle} unreachable at {event.get('url')}: {message}")

    def _snapshot(self, run: _Run, page: ChannelPage, fetched: datetime) -> r.CommunitySnapshot:
        handle = (page.handle or run.handle).lower()
        native = page.channel_id
        requested = None
        if handle != run.handle.lower() or (native and run.target.native_id and native != run.target.native_id):
            requested = run.handle
        run.snapshot_sent = True
        run.native_id = native
        run.ref = r.CommunityRef(r.Platform.TELEGRAM, native, handle, _canonical(handle), page.title)
        group = any(key in page.counters for key in ("members", "member"))
        counted = f"{page.member_count} {'members' if group else 'subscribers'}"
        return r.CommunitySnapshot(
            platform=r.Platform.TELEGRAM, native_id=native, handle=handle, url=_canonical(handle), fetched_at=fetched,
            title=page.title, description=page.description,
            kind=r.CommunityKind.GROUP if group else r.CommunityKind.CHANNEL,
            status=r.CommunityStatus.ACTIVE, member_count=page.member_count, source_url=page.url,
            requested_handle=requested,
            extra={"preview": True, "counters": dict(page.counters), r.STATUS_DEFINITIVE: True,
                   r.STATUS_EVIDENCE: f"the web preview shows {page.title!r} with {counted}"},
        )

    def _gone(self, run: _Run, url: str, fetched: datetime, verdict: StatusVerdict) -> r.CommunitySnapshot:
        return r.CommunitySnapshot(
            platform=r.Platform.TELEGRAM, native_id=None, handle=run.handle.lower(),
            url=_canonical(run.handle.lower()), fetched_at=fetched, status=verdict.status,
            source_url=url, extra={"reason": verdict.evidence, r.STATUS_DEFINITIVE: verdict.definitive,
                                   r.STATUS_EVIDENCE: verdict.evidence},
        )

    def _no_preview(self, run: _Run, html: str, url: str, fetched: datetime) -> Iterator[r.Record]:
        try:
            page = parse_no_preview_page(html, url)
        except NotAChannelPage as exc:
            raise errors.BadResponse(str(exc)) from exc
        verdict = no_preview_status(page, url, seen_before=run.cursor.absent_seen)
        if verdict is None:
            # A link like t.me/<someone> in a post made a person's (or bot's) account a lead. Their
            # name, handle and bio must not become a community: refuse before anything is yielded.
            raise errors.InvalidTarget(f"t.me/{run.handle} is a person's account, not a community; not stored")
        if not page.exists:
            yield self._gone(run, url, fetched, verdict)
            if page.kind == "nonexistent":
                # Remember the sighting: the next crawl that sees it again makes it definitive.
                ref = r.CommunityRef(r.Platform.TELEGRAM, run.target.native_id, run.handle.lower(),
                                     _canonical(run.handle.lower()))
                seen = dataclasses.replace(run.cursor, absent_seen=run.cursor.absent_seen + 1)
                yield r.Checkpoint(community=ref, source=SOURCE, cursor=seen.to_json())
            return
        if verdict.status == r.CommunityStatus.UNREACHABLE:
            raise errors.BadResponse(f"t.me/{run.handle}: {verdict.evidence}")
        kind = {"channel": r.CommunityKind.CHANNEL, "group": r.CommunityKind.GROUP}.get(
            page.invite_of or page.kind, r.CommunityKind.UNKNOWN)
        yield r.CommunitySnapshot(
            platform=r.Platform.TELEGRAM, native_id=None, handle=run.handle.lower(),
            url=_canonical(run.handle.lower()), fetched_at=fetched, title=page.title,
            description=page.description, kind=kind, status=verdict.status,
            member_count=page.member_count, online_count=page.online_count, source_url=url,
            extra={"preview": False, "page_extra": page.extra, "page_kind": page.kind,
                   r.STATUS_DEFINITIVE: verdict.definitive, r.STATUS_EVIDENCE: verdict.evidence},
        )

    def _post(self, run: _Run, message: Message, fetched: datetime, page_url: str) -> r.Post:
        assert run.ref is not None
        links: dict[str, r.ExtractedLink] = {}
        for href in message.hrefs:
            link = classify_url(href)
            if link is not None:
                links.setdefault(link.url, link)
        for link in extract_links(message.text or ""):
            links.setdefault(link.url, link)
        if message.link_preview is not None:
            link = classify_url(message.link_preview.url)
            if link is not None:
                links.setdefault(link.url, link)
        forward = None
        if message.forward is not None:
            fwd = message.forward
            # Only a channel origin is named (the parser hides any origin that may be a person);
            # checked again here because a forward origin reaches the posts table as is.
            forward = (r.ForwardRef(r.Platform.TELEGRAM, hidden=True) if fwd.hidden else
                       r.ForwardRef(r.Platform.TELEGRAM, native_id=fwd.native_id, handle=fwd.handle,
                                    post_id=fwd.post_id, name=fwd.name))
        extra: dict[str, Any] = {}
        if message.edited:
            extra["edited"] = True
        # message.signature (the admin's display name on signed posts) is deliberately not kept:
        # it names a person and extra is not pseudonymised.
        if message.album_ids:
            extra["album_ids"] = list(message.album_ids)
        if message.link_preview is not None:
            preview = message.link_preview
            extra["link_preview"] = {"url": preview.url, "site_name": preview.site_name, "title": preview.title,
                                     "description": preview.description}
        if message.kinds:
            extra["types"] = list(message.kinds)
        if message.poll is not None:
            extra["poll"] = {"question": message.poll.question, "options": list(message.poll.options),
                             "type": message.poll.poll_type}
        if message.files:
            extra["files"] = list(message.files)
        media = self._fingerprints(message)
        url = urljoin(page_url, message.url)
        return r.Post(
            community=run.ref, native_post_id=str(message.post_id), url=url, fetched_at=fetched,
            created_at=message.date,
            author=r.RawMember(r.Platform.TELEGRAM, handle=message.author_handle) if message.author_handle else None,
            text=message.text, links=tuple(links.values()), forwarded_from=forward, media=media,
            views=message.views, kind="service" if message.service else "post",
            service_action=message.service_action, service_value=message.service_value,
            reply_to=str(message.reply_to) if message.reply_to else None, source_url=page_url,
            payload_sha256=message.payload_sha256, extra=extra,
        )

    # -- media -----------------------------------------------------------------------------------

    @property
    def http(self) -> SafeHttpClient:
        if self._http is None:
            self._http = SafeHttpClient(self.settings.crawl, allowed_networks=self.allowed_networks,
                                        max_retry_wait=self.max_retry_wait)
        return self._http

    def _fingerprints(self, message: Message) -> tuple[r.MediaFingerprint, ...]:
        if not self.settings.crawl.fetch_media:
            return ()
        wanted = ([(u, "photo") for u in message.photos] + [(u, "video_thumb") for u in message.video_thumbs]
                  + [(u, "round_video_thumb") for u in message.round_video_thumbs])
        if message.link_preview is not None and message.link_preview.image_url:
            wanted.append((message.link_preview.image_url, "link_preview_image"))
        return download_fingerprints(self.http, wanted, self.settings.crawl)


def _drain(stream: IO[str] | None, lines: collections.deque[str]) -> None:
    """Collect the crawl process's stderr (logs), keeping the tail for error messages."""
    if stream is None:
        return
    for line in stream:
        lines.append(line.rstrip("\n"))
        log.debug("spider: %s", line.rstrip("\n"))


def _stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:  # pragma: no cover - the kernel did not reap in time
        log.error("crawl process %s did not exit", proc.pid)
    for stream in (proc.stdin, proc.stdout):
        if stream is not None and not stream.closed:
            with contextlib.suppress(OSError):
                stream.close()
