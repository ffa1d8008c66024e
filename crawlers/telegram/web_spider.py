"""The Scrapy side of :mod:`crawlers.telegram.web`, run as ``python -m crawlers.telegram.web_spider``.

Why a subprocess: Twisted's reactor cannot be restarted, and the scheduler crawls again and again in
one long-running process. Each crawl of one channel runs this module in a fresh interpreter, which
reads its job (JSON) from stdin and writes one JSON line per event to stdout:

- ``{"event": "page", "url", "request_url", "status", "redirect_urls", "html", "fetched_at", "cursor"}``
  (``cursor`` is the checkpoint that holds once this page's records are stored, or ``null``);
- ``{"event": "error", "kind": "blocked"|"transient"|"rate_limited"|"bad_page", "url", "message",
  "retry_after"}`` (``bad_page``: a body over the byte cap, or a redirect whose ``Location`` is no URL:
  the server answered, with something we cannot use);
- ``{"event": "done"}``.

The spider only fetches and paginates (with :class:`~crawlers.telegram.web_paging.Planner`); the
parent process turns pages into records, so parsing stays in one place and media never pass
through here. The safety layer is :func:`crawlers.scrapy_safety.scrapy_settings` (address guard on
every request and redirect, per-host delay, retries, size cap) plus :class:`RetryAfterMiddleware`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from typing import IO, Any
from urllib.parse import urlsplit

import scrapy
from scrapy.exceptions import DownloadCancelledError, IgnoreRequest
from scrapy.http import Response
from twisted.internet.defer import CancelledError
from twisted.python.failure import Failure

from config.settings import CrawlSettings
from crawlers.http import RETRY_STATUSES, parse_retry_after
from crawlers.scrapy_safety import scrapy_settings
from crawlers.telegram.web_paging import Cursor, Planner
from crawlers.telegram.web_parse import NotAChannelPage, parse_channel_page

log = logging.getLogger(__name__)

RETRY_AFTER_PATH = "crawlers.telegram.web_spider.RetryAfterMiddleware"
#: Above RetryMiddleware (550): responses pass through here first, so the wait precedes the retry.
RETRY_AFTER_PRIORITY = 560

#: Error statuses the spider sees (to report them) instead of Scrapy dropping them; 3xx stay with
#: the redirect middleware, which ``handle_httpstatus_all`` would disable.
HANDLED_STATUSES = list(range(400, 600))

Emit = Callable[[dict[str, Any]], None]


class LongRetryAfter(IgnoreRequest):
    """The server asked us to come back later than we are willing to wait in this crawl."""

    def __init__(self, url: str, retry_after: float) -> None:
        super().__init__(f"{url} asks to retry after {retry_after:g}s")
        self.retry_after = retry_after


class RetryAfterMiddleware:
    """Honour ``Retry-After`` on 429/503 before Scrapy's RetryMiddleware retries: wait that long
    when it is at most ``RESURFACE_MAX_RETRY_WAIT`` seconds, else stop the crawl so that the source
    can be rescheduled (a worker never blocks for minutes)."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait

    @classmethod
    def from_crawler(cls, crawler: Any) -> RetryAfterMiddleware:
        return cls(crawler.settings.getfloat("RESURFACE_MAX_RETRY_WAIT", 60.0))

    async def process_response(self, request: scrapy.Request, response: Response,
                               spider: scrapy.Spider | None = None) -> Response:
        if response.status not in RETRY_STATUSES:
            return response
        raw = response.headers.get(b"Retry-After")
        delay = parse_retry_after(raw.decode("latin-1") if raw else None)
        if delay is None:
            return response
        if delay > self.max_wait:
            raise LongRetryAfter(request.url, delay)
        if delay > 0:
            await asyncio.sleep(delay)
        return response


def preview_url(base_url: str, handle: str, before: int | None) -> str:
    url = f"{base_url.rstrip('/')}/s/{handle}"
    return url if before is None else f"{url}?before={before}"


def is_preview_path(url: str) -> bool:
    parts = [p for p in urlsplit(url).path.split("/") if p]
    return len(parts) >= 2 and parts[0] == "s"


class TelegramPreviewSpider(scrapy.Spider):
    name = "telegram_web"

    def __init__(self, job: dict[str, Any], emit: Emit, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.job = job
        self.emit = emit
        self.planner = Planner(Cursor.from_json(job.get("cursor")), int(job["max_pages"]))

    async def start(self) -> AsyncIterator[scrapy.Request]:
        yield self._request(self.planner.first())

    def _request(self, before: int | None) -> scrapy.Request:
        return scrapy.Request(preview_url(self.job["base_url"], self.job["handle"], before),
                              callback=self.parse, errback=self.failed, dont_filter=True,
                              meta={"handle_httpstatus_list": HANDLED_STATUSES})

    def parse(self, response: Response, **kwargs: Any) -> Iterator[scrapy.Request]:
        body = response.body
        event: dict[str, Any] = {
            "event": "page", "url": response.url, "request_url": response.request.url if response.request else None,
            "status": response.status, "redirect_urls": response.meta.get("redirect_urls", []),
            "html": body.decode("utf-8", errors="replace"), "fetched_at": datetime.now(UTC).isoformat(),
            "cursor": None,
        }
        more, before = False, None
        if response.status == 200 and is_preview_path(response.url):
            try:
                page = parse_channel_page(body, response.url)
            except NotAChannelPage:
                pass  # the parent parses again and reports it
            else:
                more, before = self.planner.after_page(page.post_ids, page.before)
                event["cursor"] = self.planner.cursor.to_json()
        self.emit(event)
        if more:
            yield self._request(before)

    def failed(self, failure: Failure) -> None:
        exc = failure.value
        request = getattr(failure, "request", None)
        url = request.url if request is not None else None
        if isinstance(exc, LongRetryAfter):
            self.emit({"event": "error", "kind": "rate_limited", "url": url, "message": str(exc),
                       "retry_after": exc.retry_after})
        elif isinstance(exc, DownloadCancelledError | CancelledError):
            # Scrapy cancels a download only when the body outgrows DOWNLOAD_MAXSIZE.
            limit = self.job.get("crawl", {}).get("max_response_bytes")
            self.emit({"event": "error", "kind": "bad_page", "url": url,
                       "message": f"the page is larger than the {limit}-byte cap ({type(exc).__name__})"})
        elif isinstance(exc, ValueError):
            # Raised while following the answer, e.g. a redirect whose Location is no URL.
            self.emit({"event": "error", "kind": "bad_page", "url": url,
                       "message": f"unusable answer: {type(exc).__name__}: {exc}"})
        elif isinstance(exc, IgnoreRequest):
            self.emit({"event": "error", "kind": "blocked", "url": url, "message": str(exc)})
        else:
            self.emit({"event": "error", "kind": "transient", "url": url,
                       "message": f"{type(exc).__name__}: {exc}"})


def crawler_settings(job: dict[str, Any]) -> dict[str, Any]:
    crawl = CrawlSettings.model_validate(job["crawl"])
    settings = scrapy_settings(crawl)
    settings["RESURFACE_ALLOWED_NETWORKS"] = list(job.get("allowed_networks") or [])
    settings["RESURFACE_MAX_RETRY_WAIT"] = float(job.get("max_retry_wait", 60.0))
    settings["DOWNLOADER_MIDDLEWARES"] = {**settings["DOWNLOADER_MIDDLEWARES"], RETRY_AFTER_PATH: RETRY_AFTER_PRIORITY}
    settings["DOWNLOAD_FAIL_ON_DATALOSS"] = True
    return settings


def run(job: dict[str, Any], out: IO[str]) -> None:
    from scrapy.crawler import CrawlerProcess

    def emit(event: dict[str, Any]) -> None:
        out.write(json.dumps(event, ensure_ascii=False) + "\n")
        out.flush()

    process = CrawlerProcess(crawler_settings(job))
    process.crawl(TelegramPreviewSpider, job=job, emit=emit)
    process.start()
    emit({"event": "done"})


def main() -> None:
    # stdout carries the protocol; anything else that prints goes to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    sys.stdout = sys.stderr
    job = json.loads(sys.stdin.read())
    run(job, out)
    out.close()
    sys.stderr.flush()
    # Skip interpreter teardown (most of a second with Scrapy and Twisted loaded): the crawl is over
    # and everything it produced has been written and flushed.
    os._exit(0)


if __name__ == "__main__":
    # Run the module's own copy, not ``__main__``'s: the middleware path above imports
    # ``crawlers.telegram.web_spider``, and exception classes must be the same objects.
    from crawlers.telegram.web_spider import main as module_main

    module_main()
