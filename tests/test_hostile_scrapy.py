"""The Scrapy path (Telegram web previews) against hostile servers: the same deadline, bad-Location
and byte-cap behaviour as SafeHttpClient, with the same typed errors reaching the errback. One real
crawl in a subprocess (Twisted's reactor cannot restart) against loopback servers, plus the
middleware's decisions checked directly."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from scrapy import Request, Spider
from scrapy.exceptions import DownloadCancelledError, DownloadTimeoutError
from scrapy.http import Response
from scrapy.utils.test import get_crawler

from config.settings import CrawlSettings
from crawlers.errors import BadRedirect, BadResponse, DeadlineExceeded, ResponseTooLarge, TransientError
from crawlers.scrapy_safety import AddressGuardMiddleware, BadLocationMiddleware, scrapy_settings
from tests.support.httpserver import HttpServer, Reply

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024

CRAWL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from config.settings import CrawlSettings
    from crawlers.scrapy_safety import scrapy_settings

    base, out = sys.argv[1], sys.argv[2]
    seen = {}

    class Probe(scrapy.Spider):
        name = "probe"

        async def start(self):
            for path in ("/s/huge", "/s/bad-location", "/s/drip", "/s/ok"):
                yield scrapy.Request(base + path, callback=self.parse, errback=self.failed, dont_filter=True)

        def parse(self, response):
            seen[response.url] = {"ok": response.text}

        def failed(self, failure):
            exc = failure.value
            seen[failure.request.url] = {"types": [c.__name__ for c in type(exc).__mro__], "message": str(exc)}

    crawl = CrawlSettings(allow_private_addresses=True, default_rate_limit=100.0, max_retries=0,
                          timeout_seconds=0.5, max_response_bytes=1024 * 1024)
    process = CrawlerProcess(scrapy_settings(crawl))
    process.crawl(Probe)
    process.start()
    with open(out, "w") as fh:
        json.dump(seen, fh)
    """
)


def test_a_real_scrapy_crawl_gets_typed_errors_from_hostile_servers(http_server: HttpServer, tmp_path: Path) -> None:
    http_server.route("/s/huge", Reply.huge(5 * MB, content_type="text/html"))
    http_server.route("/s/bad-location", Reply(302, [("Location", "http://[::1")]))
    http_server.route("/s/drip", Reply.huge(MB, chunk_size=100, chunk_delay=0.05, content_type="text/html"))
    http_server.route("/s/ok", Reply.html("<p>fine</p>"))
    out = tmp_path / "seen.json"
    proc = subprocess.run([sys.executable, "-c", CRAWL_SCRIPT, http_server.base_url, str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(out.read_text())

    huge = seen[http_server.url("/s/huge")]
    assert "ResponseTooLarge" in huge["types"] and "BadResponse" in huge["types"]
    assert "TransientError" not in huge["types"]  # a bad page, not an unreachable host
    assert http_server.url("/s/huge") in huge["message"] and f"{MB}-byte cap" in huge["message"]

    bad = seen[http_server.url("/s/bad-location")]
    assert "BadRedirect" in bad["types"] and "BadResponse" in bad["types"]
    assert "'http://[::1'" in bad["message"] and http_server.url("/s/bad-location") in bad["message"]

    drip = seen[http_server.url("/s/drip")]
    assert "DeadlineExceeded" in drip["types"] and "TransientError" in drip["types"]
    assert http_server.url("/s/drip") in drip["message"]
    drip_exchange = next(x for x in http_server.exchanges if x.request.target == "/s/drip")
    assert http_server.wait_until(lambda s: drip_exchange.aborted or drip_exchange.finished, timeout=10)
    assert drip_exchange.aborted and not drip_exchange.finished  # the connection was closed on it

    assert seen[http_server.url("/s/ok")] == {"ok": "<p>fine</p>"}


class StepClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def guard_middleware(clock: StepClock, **overrides: object) -> AddressGuardMiddleware:
    crawler = get_crawler(Spider, settings_dict=scrapy_settings(CrawlSettings(allow_private_addresses=True,
                                                                              timeout_seconds=20, max_retries=2)))
    mw = AddressGuardMiddleware.from_crawler(crawler)
    mw._clock = clock
    for name, value in overrides.items():
        setattr(mw, name, value)
    return mw


def test_retries_and_redirects_share_one_budget() -> None:
    """Budget = 20 s × 3 tries = 60 s. A retry after 50 s gets the 10 s left; after 60 s none."""
    clock = StepClock()
    mw = guard_middleware(clock)
    first = Request("http://127.0.0.1:9/s/channel")
    mw.process_request(first)
    assert first.meta["download_timeout"] == 20
    retry = first.replace(dont_filter=True)  # what RetryMiddleware and RedirectMiddleware do: meta kept
    clock.now += 50
    mw.process_request(retry)
    assert retry.meta["download_timeout"] == pytest.approx(10)
    clock.now += 10
    with pytest.raises(DeadlineExceeded, match=r"http://127\.0\.0\.1:9/s/channel.*60s"):
        mw.process_request(retry.replace())


def test_final_timeouts_and_cancellations_become_typed_errors() -> None:
    mw = guard_middleware(StepClock(), max_bytes=1000)
    request = Request("http://127.0.0.1:9/s/channel", meta={"download_timeout": 4.0})
    with pytest.raises(DeadlineExceeded) as deadline:
        mw.process_exception(request, DownloadTimeoutError("Getting it took longer than 4.0 seconds."))
    assert isinstance(deadline.value, TransientError) and deadline.value.deadline_seconds == 4.0
    request.meta["resurface_bytes_received"] = 1500
    with pytest.raises(ResponseTooLarge) as big:
        mw.process_exception(request, DownloadCancelledError(""))
    assert big.value.cap == 1000 and "127.0.0.1:9/s/channel" in str(big.value)
    # Other failures are left to the spider as they are.
    assert mw.process_exception(Request("http://127.0.0.1:9/x"), DownloadCancelledError("")) is None


@pytest.mark.parametrize("location", ["data:text/html,x", "http:host", "http://[::1", "javascript:alert(1)"])
def test_bad_locations_are_refused_before_the_redirect_middleware(location: str) -> None:
    request = Request("https://t.me/s/channel")
    response = Response(request.url, status=302, headers={"Location": location}, request=request)
    with pytest.raises(BadRedirect) as err:
        BadLocationMiddleware().process_response(request, response)
    assert isinstance(err.value, BadResponse) and err.value.location == location


def test_good_redirects_pass_untouched() -> None:
    request = Request("https://t.me/s/channel")
    response = Response(request.url, status=302, headers={"Location": "/s/channel?before=10"}, request=request)
    assert BadLocationMiddleware().process_response(request, response) is response
