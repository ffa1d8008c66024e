"""The Scrapy side of the address guard: the downloader middleware on every request and redirect
hop, the guarded DNS resolver, the policy settings, and one real crawl in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from scrapy import Request, Spider
from scrapy.downloadermiddlewares.redirect import RedirectMiddleware
from scrapy.downloadermiddlewares.retry import RetryMiddleware
from scrapy.exceptions import IgnoreRequest
from scrapy.http import HtmlResponse
from scrapy.utils.test import get_crawler

from config.settings import CrawlSettings
from crawlers.errors import BlockedAddress
from crawlers.safety import AddressGuard, HostUnresolvable
from crawlers.scrapy_safety import (
    BAD_LOCATION_PATH,
    MIDDLEWARE_PATH,
    AddressGuardMiddleware,
    GuardedResolver,
    scrapy_settings,
)
from tests.support.httpserver import HttpServer, Reply

REPO = Path(__file__).resolve().parents[1]


def public_dns(host: str) -> list[str]:
    if host == "gone.example":
        raise HostUnresolvable(f"NXDOMAIN {host}")
    return {"t.me": ["149.154.167.99"], "evil.example": ["10.0.0.5"]}.get(host, ["93.184.215.14"])


def middleware(**guard: object) -> AddressGuardMiddleware:
    crawler = get_crawler(Spider, settings_dict=scrapy_settings(CrawlSettings()))
    mw = AddressGuardMiddleware.from_crawler(crawler)
    mw.guard = AddressGuard.build(allow_private=False, resolver=public_dns, **guard)  # type: ignore[arg-type]
    return mw


def test_public_requests_pass() -> None:
    assert middleware().process_request(Request("https://t.me/s/somechannel")) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6800/",
        "http://2130706433/",
        "http://[::ffff:169.254.169.254]/",
        "http://localhost/",
        "https://evil.example/",
        "file:///etc/passwd",
        "ftp://t.me/x",
    ],
)
def test_non_public_requests_are_ignored_with_the_reason(url: str, caplog: pytest.LogCaptureFixture) -> None:
    mw = middleware()
    with pytest.raises(IgnoreRequest) as err:
        mw.process_request(Request(url))
    assert url in str(err.value)
    assert any("blocked request" in r.getMessage() and url in r.getMessage() for r in caplog.records)
    assert mw.stats is not None
    assert mw.stats.get_value("resurface/blocked_address") == 1


def test_each_redirect_hop_is_checked() -> None:
    """Scrapy's RedirectMiddleware turns a 302 into a new request; that request is refused."""
    crawler = get_crawler(Spider, settings_dict=scrapy_settings(CrawlSettings()))
    redirect = RedirectMiddleware.from_crawler(crawler)
    first = Request("https://t.me/s/channel")
    middleware().process_request(first)  # the first hop is public
    response = HtmlResponse(
        first.url, status=302, headers={"Location": "http://169.254.169.254/latest/"}, request=first
    )
    hop = redirect.process_response(first, response)
    assert isinstance(hop, Request) and hop.url == "http://169.254.169.254/latest/"
    with pytest.raises(IgnoreRequest, match=r"redirected from https://t\.me/s/channel"):
        middleware().process_request(hop)


def test_unresolvable_hosts_become_a_retryable_dns_error() -> None:
    crawler = get_crawler(Spider, settings_dict=scrapy_settings(CrawlSettings()))
    retry = RetryMiddleware.from_crawler(crawler)
    with pytest.raises(Exception) as err:
        middleware().process_request(Request("https://gone.example/"))
    assert not isinstance(err.value, IgnoreRequest)
    assert isinstance(err.value, retry.exceptions_to_retry)
    assert "gone.example" in str(err.value)


def test_allowed_networks_let_tests_exempt_one_address() -> None:
    mw = middleware(allowed_networks=["127.0.0.1/32"])
    mw.process_request(Request("http://127.0.0.1:8080/"))
    with pytest.raises(IgnoreRequest):
        mw.process_request(Request("http://127.0.0.2:8080/"))


def test_the_resolver_refuses_a_non_public_answer() -> None:
    resolver = GuardedResolver.__new__(GuardedResolver)  # no reactor needed for the check itself
    resolver.guard = AddressGuard.build(allow_private=False)
    assert resolver._check("149.154.167.99", "t.me") == "149.154.167.99"
    with pytest.raises(BlockedAddress, match=r"rebind\.example"):
        resolver._check("127.0.0.1", "rebind.example")


def test_settings_mirror_the_crawl_policy() -> None:
    crawl = CrawlSettings(
        user_agent="UA/1",
        max_response_bytes=1234,
        timeout_seconds=7,
        max_retries=3,
        max_redirects=2,
        default_rate_limit=0.5,
        rate_limits={"t.me": 0.25},
    )
    settings = scrapy_settings(crawl)
    assert settings["USER_AGENT"] == "UA/1"
    assert settings["DOWNLOAD_MAXSIZE"] == 1234
    assert settings["DOWNLOAD_TIMEOUT"] == 7
    assert settings["RETRY_TIMES"] == 3
    assert 429 in settings["RETRY_HTTP_CODES"] and 503 in settings["RETRY_HTTP_CODES"]
    assert settings["REDIRECT_MAX_TIMES"] == 2
    assert settings["DOWNLOAD_DELAY"] == 2.0
    assert settings["DOWNLOAD_SLOTS"]["t.me"]["delay"] == 4.0
    assert settings["AUTOTHROTTLE_ENABLED"] is False
    assert settings["HTTPCACHE_ENABLED"] is False
    assert settings["TELNETCONSOLE_ENABLED"] is False
    assert settings["ROBOTSTXT_OBEY"] is False
    assert settings["LOG_LEVEL"] == "WARNING"
    assert settings["DOWNLOADER_MIDDLEWARES"] == {MIDDLEWARE_PATH: 25, BAD_LOCATION_PATH: 650}
    assert settings["RESURFACE_REQUEST_DEADLINE"] == 7 * 4  # timeout × (retries + 1)
    assert settings["RESURFACE_ALLOW_PRIVATE_ADDRESSES"] is False
    # The settings load in a real crawler: the middleware is enabled and built from them.
    crawler = get_crawler(Spider, settings_dict=settings)
    assert crawler.settings.getdict("DOWNLOADER_MIDDLEWARES") == {MIDDLEWARE_PATH: 25, BAD_LOCATION_PATH: 650}


CRAWL_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import scrapy
    from scrapy.crawler import CrawlerProcess
    from config.settings import CrawlSettings
    from crawlers.scrapy_safety import scrapy_settings

    base, out = sys.argv[1], sys.argv[2]
    seen = []

    class Probe(scrapy.Spider):
        name = "probe"
        start_urls = [base + "/to-inner", base + "/to-same-host"]

        def parse(self, response):
            seen.append({"url": response.url, "body": response.text,
                         "redirects": response.meta.get("redirect_urls", [])})

    settings = scrapy_settings(CrawlSettings(allow_private_addresses=False, default_rate_limit=100.0))
    settings["RESURFACE_ALLOWED_NETWORKS"] = ["127.0.0.1/32"]  # 127.0.0.1 plays the public host
    process = CrawlerProcess(settings)
    process.crawl(Probe)
    process.start()
    with open(out, "w") as fh:
        json.dump(seen, fh)
    """
)


def test_a_real_crawl_refuses_a_redirect_into_a_private_address(
    http_server: HttpServer,
    http_server_factory,
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    inner = http_server_factory("127.0.0.2")
    inner.route("/secret", Reply.html("<p>internal</p>"))
    http_server.route("/to-inner", Reply.redirect(inner.url("/secret")))
    http_server.route("/to-same-host", Reply.redirect("/public"))
    http_server.route("/public", Reply.html("<p>public page</p>"))
    out = tmp_path / "seen.json"
    proc = subprocess.run(
        [sys.executable, "-c", CRAWL_SCRIPT, http_server.base_url, str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(out.read_text())
    assert [(s["url"], s["body"]) for s in seen] == [(http_server.url("/public"), "<p>public page</p>")]
    assert seen[0]["redirects"] == [http_server.url("/to-same-host")]
    assert inner.requests == []  # never contacted
    assert f"blocked request {inner.url('/secret')}" in proc.stderr
    assert f"redirected from {http_server.url('/to-inner')}" in proc.stderr
