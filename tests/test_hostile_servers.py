"""SafeHttpClient against servers that misbehave on purpose (issue 13): a server dripping its
headers, redirects to Locations httpx cannot parse, bodies over the cap, retries that would outrun
the request's budget. Every server is real and on loopback; no assertion compares elapsed time."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest

from config.settings import CrawlSettings
from crawlers.errors import (
    BadRedirect,
    BadResponse,
    BlockedAddress,
    DeadlineExceeded,
    RateLimited,
    ResponseTooLarge,
    TransientError,
)
from crawlers.http import SafeHttpClient, resolve_location
from tests.support.httpserver import HttpServer, Reply

MB = 1024 * 1024


class FakeClock:
    """Monotonic time that moves only when the client sleeps (retry and rate-limit waits)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def settings(**overrides: object) -> CrawlSettings:
    values: dict[str, object] = {
        "allow_private_addresses": True,
        "default_rate_limit": 1000.0,
        "timeout_seconds": 5.0,
        "max_retries": 0,
        "user_agent": "ResurfaceTest/1.0",
    }
    values.update(overrides)
    return CrawlSettings(**values)  # type: ignore[arg-type]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[Callable[..., SafeHttpClient]]:
    clients: list[SafeHttpClient] = []

    def make(crawl: CrawlSettings | None = None, **kwargs: object) -> SafeHttpClient:
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("sleep", clock.sleep)
        client = SafeHttpClient(crawl or settings(), **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


# -- a server that drips its headers ---------------------------------------------------------------


class HeaderDripServer:
    """Accepts one connection, reads the request, then sends a status line and an endless header
    one byte every ``interval`` seconds (the adversarial test that held a try for 227 s). Each
    byte arrives well inside any read timeout. Records whether the client closed the connection."""

    def __init__(self, interval: float = 0.02, max_bytes: int = 30_000) -> None:
        self.interval = interval
        self.max_bytes = max_bytes  # 10 minutes of dripping at the default interval
        self.client_closed = threading.Event()
        self.bytes_sent = 0
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}/s/drip"

    def __enter__(self) -> HeaderDripServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        try:
            conn, _ = self._listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(self.interval)
            request = b""
            while b"\r\n\r\n" not in request:
                try:
                    chunk = conn.recv(4096)
                except TimeoutError:
                    continue
                if not chunk:
                    self.client_closed.set()
                    return
                request += chunk
            drip = b"HTTP/1.1 200 OK\r\nX-Drip: " + b"a" * self.max_bytes
            for byte in drip:
                if self._stop.is_set():
                    return
                try:
                    conn.sendall(bytes([byte]))
                    self.bytes_sent += 1
                    if conn.recv(1) == b"":  # the client shut the connection down
                        self.client_closed.set()
                        return
                except TimeoutError:
                    continue  # nothing from the client: keep dripping
                except OSError:  # reset by the client
                    self.client_closed.set()
                    return


def test_dripping_headers_hit_the_deadline_and_the_connection_is_closed(make_client) -> None:
    """Each header byte arrives long before the read timeout, so only a deadline on the whole
    exchange stops it. The server would drip for ten minutes; the deadline is half a second."""
    with HeaderDripServer() as server:
        client = make_client(settings(timeout_seconds=0.5))
        with pytest.raises(DeadlineExceeded) as err:
            client.get(server.url)
        assert server.url in str(err.value)
        assert "headers" in str(err.value)
        assert err.value.url == server.url
        assert err.value.deadline_seconds == 0.5
        assert server.client_closed.wait(timeout=10), "the client never closed the dripping connection"
        assert server.bytes_sent < server.max_bytes  # it did not sit through the whole drip


def test_a_deadline_is_transient_so_the_runner_records_unreachable(make_client) -> None:
    with HeaderDripServer() as server, pytest.raises(TransientError):
        make_client(settings(timeout_seconds=0.3)).get(server.url)


def test_a_retry_whose_wait_would_outrun_the_budget_is_not_made(
    http_server: HttpServer, make_client, clock: FakeClock
) -> None:
    """The budget covers retries and their waits: 503 + Retry-After 10 s twice with a 15 s budget
    means one wait, then the error (with its retry_after, so the runner can reschedule)."""
    http_server.route("/latest.json", Reply(503, {"Retry-After": "10"}))
    client = make_client(settings(max_retries=5), deadline_seconds=15.0)
    with pytest.raises(RateLimited) as err:
        client.get(http_server.url("/latest.json"))
    assert err.value.retry_after == 10.0
    assert clock.sleeps == [10.0]
    assert len(http_server.requests) == 2


def test_the_default_budget_is_timeout_times_tries(make_client) -> None:
    client = make_client(settings(timeout_seconds=20.0, max_retries=4))
    assert client.deadline_seconds == 100.0


def test_a_request_started_past_its_budget_is_not_sent(http_server: HttpServer, make_client, clock) -> None:
    """A redirect chain that used the budget up (here: a rate-limit wait) stops before the next hop."""
    http_server.route("/a", Reply.redirect("/b"))
    http_server.route("/b", Reply.text("late"))
    client = make_client(settings(rate_limits={"127.0.0.1": 0.1}), deadline_seconds=5.0)
    with pytest.raises(DeadlineExceeded, match=r"/b"):
        client.get(http_server.url("/a"))  # the second hop must wait 10 s for its rate-limit slot
    assert [r.target for r in http_server.requests] == ["/a"]


# -- redirects httpx cannot follow -----------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "data:text/html,<h1>hi</h1>",
        "http:host",  # a scheme but no authority: httpx raised a raw InvalidURL
        "https:host",
        "http://",
        "http://[::1",  # unbalanced bracket
        "http://forum.example:99999/",
        "http://forum.example:abc/",
        "http://foru m.example/",
        "/t/1\x7f",
        "file:///etc/passwd",
        "gopher://example.org/",
        "javascript:alert(1)",
    ],
)
def test_an_unfollowable_location_is_a_bad_redirect_naming_page_and_location(
    http_server: HttpServer, make_client, location: str
) -> None:
    http_server.route("/t/7", Reply(302, [("Location", location)]))
    http_server.route("/latest.json", Reply.json({"topic_list": {"topics": []}}))
    client = make_client()
    with pytest.raises(BadRedirect) as err:
        client.get(http_server.url("/t/7"))
    assert isinstance(err.value, BadResponse)  # a bad page: crawlers skip it and go on
    assert not isinstance(err.value, TransientError)
    assert err.value.url == http_server.url("/t/7")
    assert err.value.location == location
    assert http_server.url("/t/7") in str(err.value)
    assert repr(location) in str(err.value)
    assert [r.target for r in http_server.requests] == ["/t/7"]
    # The client is still fine for the next page.
    assert client.get_json(http_server.url("/latest.json")) == {"topic_list": {"topics": []}}


def test_a_relative_redirect_still_works(http_server: HttpServer, make_client) -> None:
    http_server.route("/old", Reply.redirect("  new?page=2 "))
    http_server.route("/new", Reply.text("ok"))
    response = make_client().get(http_server.url("/old"))
    assert (response.status, response.body, response.url) == (200, b"ok", http_server.url("/new?page=2"))


def test_a_good_location_to_a_private_address_is_still_the_guards(
    http_server: HttpServer, make_client
) -> None:
    http_server.route("/start", Reply.redirect("http://169.254.169.254/latest/meta-data/"))
    client = make_client(settings(allow_private_addresses=False), allowed_networks=["127.0.0.1/32"])
    with pytest.raises(BlockedAddress):
        client.get(http_server.url("/start"))


def test_resolve_location_is_strict_about_schemes_and_lenient_about_paths() -> None:
    base = "https://forum.example/t/7?page=2"
    assert resolve_location(base, "/t/8") == "https://forum.example/t/8"
    assert resolve_location(base, "//cdn.example/x.jpg") == "https://cdn.example/x.jpg"
    assert resolve_location(base, "HTTP://Forum.example/a") == "HTTP://Forum.example/a"
    with pytest.raises(BadRedirect, match=r"has a scheme but no host"):
        resolve_location(base, "https:t/8")


# -- byte cap: a bad page, not an unreachable host -------------------------------------------------


def test_a_page_over_the_cap_is_a_bad_page_naming_url_and_cap(http_server: HttpServer, make_client) -> None:
    http_server.route("/index.php", Reply.huge(3 * MB, content_type="text/html"))
    with pytest.raises(ResponseTooLarge) as err:
        make_client(settings(max_response_bytes=MB)).get(http_server.url("/index.php"))
    assert isinstance(err.value, BadResponse)
    assert not isinstance(err.value, TransientError)  # the runner must not record "unreachable"
    assert (err.value.url, err.value.cap) == (http_server.url("/index.php"), MB)
    assert f"{MB} bytes" in str(err.value)
    assert http_server.url("/index.php") in str(err.value)


def test_a_declared_length_over_the_cap_carries_url_and_cap(http_server: HttpServer, make_client) -> None:
    http_server.route("/big", Reply.huge(3 * MB, declare_length=True))
    with pytest.raises(ResponseTooLarge) as err:
        make_client(settings(max_response_bytes=MB)).get(http_server.url("/big"))
    assert (err.value.url, err.value.cap) == (http_server.url("/big"), MB)
