"""SafeHttpClient against real local servers: redirects, the address guard on every hop, retries,
Retry-After, byte caps, deadlines and the per-host rate limit. Waits go to a fake clock, so no
test sleeps for retry or rate-limit delays."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from config.settings import CrawlSettings
from crawlers.errors import (
    BadResponse,
    BlockedAddress,
    DeadlineExceeded,
    RateLimited,
    ResponseTooLarge,
    TransientError,
)
from crawlers.http import (
    HttpStatusError,
    RateLimiter,
    RedirectLoop,
    SafeHttpClient,
    TooManyRedirects,
    parse_retry_after,
    rate_for,
)
from tests.support.httpserver import HttpServer, RecordedRequest, Reply
from tests.support.tls import make_tls_pair

MB = 1024 * 1024
MakeClient = Callable[..., SafeHttpClient]
ServerFactory = Callable[..., HttpServer]


class FakeClock:
    """A monotonic clock that only moves when something sleeps; records every sleep."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def crawl_settings(**overrides: object) -> CrawlSettings:
    values: dict[str, object] = {
        "allow_private_addresses": True,
        "default_rate_limit": 1000.0,  # rate limiting is tested on its own
        "timeout_seconds": 5.0,
        "user_agent": "ResurfaceTest/1.0",
    }
    values.update(overrides)
    return CrawlSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[Callable[..., SafeHttpClient]]:
    clients: list[SafeHttpClient] = []

    def make(settings: CrawlSettings | None = None, **kwargs: object) -> SafeHttpClient:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleep", clock.sleep)
        client = SafeHttpClient(settings or crawl_settings(), **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# -- basics --------------------------------------------------------------------------------------


def test_get_returns_status_headers_body_and_final_url(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/page", Reply.html("<p>héllo</p>", headers={"X-Thing": "1"}))
    response = make_client().get(http_server.url("/page"), headers={"X-Trace": "abc"}, accept="text/html")
    assert response.status == 200
    assert response.ok
    assert response.body == "<p>héllo</p>".encode()
    assert response.text == "<p>héllo</p>"
    assert response.headers["x-thing"] == "1"
    assert response.url == http_server.url("/page")
    (request,) = http_server.requests
    assert request.headers["user-agent"] == "ResurfaceTest/1.0"
    assert request.headers["accept"] == "text/html"
    assert request.headers["x-trace"] == "abc"
    assert request.headers["host"] == http_server.netloc


def test_client_errors_are_returned_not_retried(
    http_server: HttpServer, make_client: MakeClient, clock: FakeClock
) -> None:
    http_server.route("/gone", Reply.json({"reason": "banned"}, status=404))
    response = make_client().get(http_server.url("/gone"), accept="application/json")
    assert response.status == 404
    assert response.json() == {"reason": "banned"}
    assert len(http_server.requests) == 1
    assert clock.sleeps == []


def test_non_http_urls_are_refused_before_any_request(make_client: MakeClient) -> None:
    client = make_client()
    for url in ("file:///etc/passwd", "ftp://example.org/", "gopher://127.0.0.1:70/", "javascript:alert(1)"):
        with pytest.raises(BlockedAddress, match="only http and https"):
            client.get(url)


# -- redirects and the guard on every hop ----------------------------------------------------------


def test_redirects_are_followed_and_the_final_url_reported(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/old", Reply.redirect("/mid", 301))
    http_server.route("/mid", Reply.redirect(http_server.url("/new?x=1"), 307))
    http_server.route("/new", Reply.text("arrived"))
    response = make_client().get(http_server.url("/old"))
    assert (response.status, response.body) == (200, b"arrived")
    assert response.url == http_server.url("/new?x=1")
    assert [r.target for r in http_server.requests] == ["/old", "/mid", "/new?x=1"]


@pytest.fixture
def inner_server(http_server_factory: Callable[..., HttpServer]) -> HttpServer:
    """A second server on 127.0.0.2: the 'private' address the public one redirects into."""
    server = http_server_factory("127.0.0.2")
    server.route("/secret", Reply.text("internal data"))
    return server


def test_redirect_into_a_private_address_is_refused(
    http_server: HttpServer, inner_server: HttpServer, make_client
) -> None:
    # 127.0.0.1 stands in for a public host; 127.0.0.2 stays private.
    http_server.route("/start", Reply.redirect(inner_server.url("/secret")))
    client = make_client(crawl_settings(allow_private_addresses=False), allowed_networks=["127.0.0.1/32"])
    with pytest.raises(BlockedAddress) as err:
        client.get(http_server.url("/start"))
    assert inner_server.url("/secret") in str(err.value)
    assert [r.target for r in http_server.requests] == ["/start"]
    assert inner_server.requests == []  # refused before connecting


def test_the_same_redirect_is_followed_when_the_target_is_allowed(
    http_server: HttpServer, inner_server: HttpServer, make_client
) -> None:
    """Control for the test above: the only difference is the policy."""
    http_server.route("/start", Reply.redirect(inner_server.url("/secret")))
    client = make_client(
        crawl_settings(allow_private_addresses=False), allowed_networks=["127.0.0.1/32", "127.0.0.2/32"]
    )
    assert client.get(http_server.url("/start")).body == b"internal data"


@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://2130706434/",  # 127.0.0.2 in decimal (127.0.0.1 is allowed in these tests)
        "http://0x7f.0.0.2/",
        # Non-HTTP schemes (file:, gopher:, data:) are refused too, as a BadRedirect: see
        # tests/test_hostile_servers.py.
    ],
)
def test_redirects_to_hostile_locations_are_refused(
    http_server: HttpServer, make_client: MakeClient, location: str
) -> None:
    http_server.route("/start", Reply.redirect(location))
    client = make_client(crawl_settings(allow_private_addresses=False), allowed_networks=["127.0.0.1/32"])
    with pytest.raises(BlockedAddress):
        client.get(http_server.url("/start"))


def test_the_client_connects_to_the_address_it_checked(http_server: HttpServer, make_client: MakeClient) -> None:
    """DNS rebinding: the name is resolved once per request, by the guard, and the connection goes
    to that answer; the server still sees the name in the Host header."""
    http_server.route("/x", Reply.text("ok"))
    lookups: list[str] = []

    def rebinding_resolver(host: str) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["10.0.0.1"]

    client = make_client(
        crawl_settings(allow_private_addresses=False), resolver=rebinding_resolver, allowed_networks=["127.0.0.1/32"]
    )
    response = client.get(f"http://forum.test:{http_server.port}/x")
    assert response.body == b"ok"
    assert response.url == f"http://forum.test:{http_server.port}/x"
    assert lookups == ["forum.test"]
    assert http_server.requests[0].headers["host"] == f"forum.test:{http_server.port}"


def test_https_goes_to_the_checked_address_and_verifies_the_name(make_client: MakeClient) -> None:
    """With TLS the connection also goes to the checked IP, and the certificate is verified
    against the host name (sent as SNI), not against the IP."""
    tls = make_tls_pair("forum.test")
    with HttpServer(ssl_context=tls.server) as server:
        server.route("/latest.json", Reply.json({"topic_list": {"topics": []}}))
        client = make_client(
            crawl_settings(allow_private_addresses=False),
            resolver=lambda host: ["127.0.0.1"],
            allowed_networks=["127.0.0.1/32"],
            verify=tls.client,
        )
        url = f"https://forum.test:{server.port}/latest.json"
        assert client.get_json(url) == {"topic_list": {"topics": []}}
        assert server.requests[0].headers["host"] == f"forum.test:{server.port}"


def test_https_with_a_certificate_for_another_name_fails(make_client: MakeClient) -> None:
    tls = make_tls_pair("other.test")
    with HttpServer(ssl_context=tls.server) as server:
        server.route("/x", Reply.text("should not be read"))
        client = make_client(
            crawl_settings(allow_private_addresses=False, max_retries=0),
            resolver=lambda host: ["127.0.0.1"],
            allowed_networks=["127.0.0.1/32"],
            verify=tls.client,
        )
        with pytest.raises(TransientError, match=r"CERTIFICATE_VERIFY_FAILED.*forum\.test"):
            client.get(f"https://forum.test:{server.port}/x")
        assert server.requests == []


def test_redirect_loop_is_an_error_naming_the_url(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/a", Reply.redirect("/b"))
    http_server.route("/b", Reply.redirect("/a"))
    with pytest.raises(RedirectLoop) as err:
        make_client().get(http_server.url("/a"))
    assert isinstance(err.value, BadResponse)
    assert f"redirect loop fetching {http_server.url('/a')}" in str(err.value)
    assert len(http_server.requests) == 2


def test_too_many_redirects(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/r", lambda req: Reply.redirect(f"/r?n={int(req.query.split('=')[-1] or 0) + 1}"))
    with pytest.raises(TooManyRedirects, match=re.escape(http_server.url("/r?n=0"))):
        make_client(crawl_settings(max_redirects=3)).get(http_server.url("/r?n=0"))
    assert len(http_server.requests) == 4  # the first request and three redirects


# -- retries -------------------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured_then_succeeds(
    http_server: HttpServer, make_client: MakeClient, clock: FakeClock
) -> None:
    http_server.route("/feed", Reply(429, {"Retry-After": "7"}), Reply.json({"ok": True}))
    assert make_client().get_json(http_server.url("/feed")) == {"ok": True}
    assert clock.sleeps == [7.0]
    assert len(http_server.requests) == 2


def test_retry_after_as_an_http_date(http_server: HttpServer, make_client: MakeClient, clock: FakeClock) -> None:
    """The date is read against the client's injected "now", so the wait is exact: no comparison
    with the test machine's clock, which fails when the machine stalls between two readings."""
    now = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)
    when = format_datetime(now + timedelta(seconds=20), usegmt=True)
    http_server.route("/feed", Reply(503, {"Retry-After": when}), Reply.text("ok"))
    assert make_client(wall_clock=lambda: now).get(http_server.url("/feed")).body == b"ok"
    assert clock.sleeps == [20.0]
    assert len(http_server.requests) == 2


def test_retry_after_beyond_the_cap_is_raised_for_the_runner(
    http_server: HttpServer, make_client: MakeClient, clock: FakeClock
) -> None:
    http_server.route("/feed", Reply(429, {"Retry-After": "3600"}), Reply.text("ok"))
    with pytest.raises(RateLimited) as err:
        make_client(max_retry_wait=60.0).get(http_server.url("/feed"))
    assert err.value.retry_after == 3600.0
    assert http_server.url("/feed") in str(err.value)
    assert clock.sleeps == []
    assert len(http_server.requests) == 1


def test_503_twice_then_success_with_exponential_backoff(
    http_server: HttpServer, make_client: MakeClient, clock: FakeClock
) -> None:
    http_server.route("/t/1.json", Reply(503), Reply(503), Reply.json({"post_stream": {"posts": []}}))
    data = make_client(backoff_initial=1.0).get_json(http_server.url("/t/1.json"))
    assert data == {"post_stream": {"posts": []}}
    assert len(http_server.requests) == 3
    first, second = clock.sleeps
    assert 1.0 <= first <= 2.0  # 1s * 2**0 + jitter in [0, 1]
    assert 2.0 <= second <= 3.0  # 1s * 2**1 + jitter


def test_persistent_5xx_gives_up_after_max_retries(
    http_server: HttpServer, make_client: MakeClient, clock: FakeClock
) -> None:
    http_server.route("/down", Reply(502))
    with pytest.raises(TransientError, match=re.escape(f"HTTP 502 from {http_server.url('/down')}")):
        make_client(crawl_settings(max_retries=2)).get(http_server.url("/down"))
    assert len(http_server.requests) == 3
    assert len(clock.sleeps) == 2


def test_connection_refused_is_retried_then_transient(
    http_server_factory: ServerFactory, make_client: MakeClient, clock: FakeClock
) -> None:
    closed = http_server_factory()
    url = closed.url("/x")
    closed.stop()
    with pytest.raises(TransientError, match="connection failed"):
        make_client(crawl_settings(max_retries=2)).get(url)
    assert len(clock.sleeps) == 2


# -- size caps and deadlines --------------------------------------------------------------------


def test_a_50mb_response_is_aborted_at_the_cap(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/big.jpg", Reply.huge(50 * MB))
    with pytest.raises(ResponseTooLarge) as err:
        make_client().get(http_server.url("/big.jpg"), max_bytes=1 * MB)
    assert http_server.url("/big.jpg") in str(err.value)
    (exchange,) = http_server.wait_for_exchanges(1, timeout=10)
    assert exchange.aborted and not exchange.finished
    # Whatever the socket buffers took, the server was stopped far short of 50 MB.
    assert exchange.body_bytes_sent < 20 * MB


def test_the_default_cap_is_max_response_bytes(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/page", Reply(200, {"Content-Type": "text/html"}, b"x" * 2000, send_length=False))
    client = make_client(crawl_settings(max_response_bytes=1000))
    with pytest.raises(ResponseTooLarge, match="1000 bytes"):
        client.get(http_server.url("/page"))


def test_a_declared_length_over_the_cap_is_refused_without_reading(
    http_server: HttpServer, make_client: MakeClient
) -> None:
    http_server.route("/big.jpg", Reply.huge(50 * MB, declare_length=True))
    with pytest.raises(ResponseTooLarge, match=f"declares {50 * MB} bytes"):
        make_client().get(http_server.url("/big.jpg"), max_bytes=MB)


def test_a_response_at_the_cap_is_accepted(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/exact", Reply.huge(MB))
    assert len(make_client().get(http_server.url("/exact"), max_bytes=MB).body) == MB


def test_a_dripping_body_hits_the_deadline(http_server: HttpServer, make_client: MakeClient) -> None:
    """One small chunk every 50 ms never trips the read timeout; the deadline of the exchange
    stops it (the whole body would take 500 s). Asserted on what the server saw, not on time."""
    http_server.route("/slow", Reply.huge(MB, chunk_size=100, chunk_delay=0.05))
    client = make_client(crawl_settings(timeout_seconds=0.5, max_retries=0))
    with pytest.raises(DeadlineExceeded) as err:
        client.get(http_server.url("/slow"))
    assert http_server.url("/slow") in str(err.value)
    assert err.value.deadline_seconds == 0.5
    (exchange,) = http_server.wait_for_exchanges(1, timeout=10)
    assert exchange.aborted and not exchange.finished


def test_a_silent_server_times_out(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/hang", Reply(200, {}, b"late", delay=30))
    client = make_client(crawl_settings(timeout_seconds=0.3, max_retries=0))
    with pytest.raises(DeadlineExceeded, match="timed out") as err:
        client.get(http_server.url("/hang"))
    assert isinstance(err.value, TransientError)  # no answer: "unreachable", not a bad page


# -- JSON ------------------------------------------------------------------------------------------


def test_invalid_json_is_a_bad_response_naming_the_url(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/latest.json", Reply(200, {"Content-Type": "application/json"}, b'{"topic_list": [1, 2'))
    with pytest.raises(BadResponse, match=re.escape(f"invalid JSON from {http_server.url('/latest.json')}")):
        make_client().get_json(http_server.url("/latest.json"))


def test_an_html_page_where_json_was_expected_is_a_bad_response(
    http_server: HttpServer, make_client: MakeClient
) -> None:
    http_server.route("/about.json", Reply.html("<h1>Please log in</h1>"))
    with pytest.raises(BadResponse, match=r"expected JSON from .*/about\.json, got content type 'text/html'"):
        make_client().get_json(http_server.url("/about.json"))


def test_get_json_raises_on_error_status_with_the_response(http_server: HttpServer, make_client: MakeClient) -> None:
    http_server.route("/r/gone/about.json", Reply.json({"reason": "private"}, status=403))
    with pytest.raises(HttpStatusError) as err:
        make_client().get_json(http_server.url("/r/gone/about.json"))
    assert err.value.response.status == 403
    assert err.value.response.json() == {"reason": "private"}
    assert http_server.requests[0].headers["accept"] == "application/json"


# -- rate limiting ---------------------------------------------------------------------------------


def test_requests_to_one_host_are_spaced_by_its_rate_limit(
    http_server: HttpServer, http_server_factory: ServerFactory, make_client: MakeClient, clock
) -> None:
    other = http_server_factory("127.0.0.2")
    for server in (http_server, other):
        server.route("/p", Reply.text("ok"))
    client = make_client(crawl_settings(rate_limits={"127.0.0.1": 2.0}, default_rate_limit=1000.0))
    seen: list[float] = []
    for _ in range(3):
        client.get(http_server.url("/p"))
        seen.append(clock.now)
    client.get(other.url("/p"))  # another host is not held up
    assert clock.sleeps == [0.5, 0.5]
    assert seen == [1000.0, 1000.5, 1001.0]


def test_rate_limiter_only_waits_for_the_remaining_interval(clock: FakeClock) -> None:
    limiter = RateLimiter(clock, clock.sleep)
    assert limiter.wait("t.me", 1.0) == 0
    clock.now += 0.75  # time spent on the request
    assert limiter.wait("t.me", 1.0) == pytest.approx(0.25)
    clock.now += 5
    assert limiter.wait("t.me", 1.0) == 0
    assert clock.sleeps == [pytest.approx(0.25)]


def test_rate_for_uses_the_closest_configured_domain() -> None:
    settings = CrawlSettings(rate_limits={"t.me": 1.0, "reddit.com": 0.5}, default_rate_limit=2.0)
    assert rate_for("t.me", settings) == 1.0
    assert rate_for("old.reddit.com", settings) == 0.5
    assert rate_for("forum.example", settings) == 2.0


# -- pure helpers ---------------------------------------------------------------------------------


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Wed, 01 Jan 2025 12:01:00 GMT", now) == 60.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after(None, now) is None


def test_recorded_request_bodies(http_server: HttpServer) -> None:
    """The helper records what it received (used by other suites for POSTs)."""
    import httpx

    http_server.route("/api/v1/access_token", lambda req: Reply.json({"got": req.body.decode()}), method="POST")
    reply = httpx.post(http_server.url("/api/v1/access_token"), content=b"grant_type=x")
    assert reply.json() == {"got": "grant_type=x"}
    request: RecordedRequest = http_server.requests[0]
    assert (request.method, request.body) == ("POST", b"grant_type=x")
