"""A scriptable HTTP server on loopback for integration tests.

Every crawler test talks to a real socket instead of a mocked client, so what is tested is what
runs: redirects, retries, streaming caps and headers all go over TCP. Typical use (the
``http_server`` fixture from :mod:`tests.support.fixtures` gives a started server)::

    http_server.route("/latest.json", Reply.json({"topic_list": {"topics": []}}))
    http_server.route("/flaky", Reply(429, {"Retry-After": "3"}), Reply.text("ok"))  # a sequence
    http_server.route("/old", Reply.redirect("/new"))
    http_server.route("/huge", Reply.huge(50 * 1024 * 1024))                          # streamed
    http_server.route("/echo", lambda req: Reply.json({"ua": req.headers["user-agent"]}))

    client.get(http_server.url("/flaky"))
    assert [r.path for r in http_server.requests] == ["/flaky", "/flaky"]

Routes match on the path with its query string first, then on the path alone; a ``method``
narrows a route to one HTTP method. A route given several replies serves them in order and then
keeps repeating the last one. Unknown paths answer 404 (and are recorded like any request).

A handler callable that raises is a bug in the test: the server answers 500 and the exception is
kept in :attr:`HttpServer.errors`; the fixture fails the test on teardown if there are any.

Timing never relies on sleeps in the test: waits inside the server (``delay``, ``chunk_delay``)
end early when the server stops, and :meth:`HttpServer.wait_until` waits on a condition.
"""

from __future__ import annotations

import json as jsonlib
import socket
import ssl
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

__all__ = ["Exchange", "Handler", "HttpServer", "RecordedRequest", "Reply"]


class Headers(Mapping[str, str]):
    """Read-only, case-insensitive header mapping. Repeated headers are joined with ", "."""

    def __init__(self, items: Iterable[tuple[str, str]]) -> None:
        self._items = list(items)
        merged: dict[str, str] = {}
        for name, value in self._items:
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        self._merged = merged

    def __getitem__(self, name: str) -> str:
        return self._merged[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._merged)

    def __len__(self) -> int:
        return len(self._merged)

    def items_raw(self) -> list[tuple[str, str]]:
        """The headers as received, in order, with their original case."""
        return list(self._items)

    def __repr__(self) -> str:
        return f"Headers({self._merged!r})"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it."""

    method: str
    target: str  # path with query string, exactly as sent on the request line
    headers: Headers
    body: bytes
    server_address: str  # "host:port" of the server that received it

    @property
    def path(self) -> str:
        """Alias of :attr:`target` (path + query), the most common thing to assert on."""
        return self.target

    @property
    def path_only(self) -> str:
        return urlsplit(self.target).path

    @property
    def query(self) -> str:
        return urlsplit(self.target).query


#: Body of a streamed reply: a function returning the chunks, called once per request.
ChunkSource = Callable[[], Iterable[bytes]]


@dataclass(frozen=True)
class Reply:
    """What the server answers. ``body`` bytes are sent with a Content-Length; a chunk source is
    streamed without one and the connection closed at the end (close-delimited body)."""

    status: int = 200
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    body: bytes | str | ChunkSource = b""
    delay: float = 0.0  # seconds to wait before sending the status line
    chunk_delay: float = 0.0  # seconds to wait between streamed chunks
    send_length: bool = True  # False: omit Content-Length for a bytes body (close-delimited)

    @classmethod
    def text(
        cls,
        text: str,
        status: int = 200,
        content_type: str = "text/plain; charset=utf-8",
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        return cls(status, {"Content-Type": content_type, **(headers or {})}, text.encode("utf-8"))

    @classmethod
    def html(cls, html: str, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        return cls.text(html, status, "text/html; charset=utf-8", headers)

    @classmethod
    def json(cls, obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Reply:
        body = jsonlib.dumps(obj).encode("utf-8")
        return cls(status, {"Content-Type": "application/json", **(headers or {})}, body)

    @classmethod
    def redirect(cls, location: str, status: int = 302) -> Reply:
        return cls(status, {"Location": location}, b"")

    @classmethod
    def stream(
        cls, chunks: ChunkSource, status: int = 200, headers: Mapping[str, str] | None = None, chunk_delay: float = 0.0
    ) -> Reply:
        return cls(status, dict(headers or {}), chunks, chunk_delay=chunk_delay)

    @classmethod
    def huge(
        cls,
        total_bytes: int,
        chunk_size: int = 64 * 1024,
        content_type: str = "application/octet-stream",
        declare_length: bool = False,
        chunk_delay: float = 0.0,
    ) -> Reply:
        """``total_bytes`` of ``b"x"`` streamed in chunks; ``declare_length`` also sends a
        Content-Length up front (to test clients that refuse on the header alone)."""

        def chunks() -> Iterator[bytes]:
            block = b"x" * chunk_size
            left = total_bytes
            while left > 0:
                yield block[: min(chunk_size, left)]
                left -= chunk_size

        headers = {"Content-Type": content_type}
        if declare_length:
            headers["Content-Length"] = str(total_bytes)
        return cls(200, headers, chunks, chunk_delay=chunk_delay)


Handler = Callable[[RecordedRequest], Reply]


@dataclass
class Exchange:
    """A request and what became of its reply (updated by the server thread while it runs)."""

    request: RecordedRequest
    status: int | None = None
    body_bytes_sent: int = 0
    finished: bool = False  # the whole reply was written
    aborted: bool = False  # the client went away (or the server stopped) before the end


@dataclass
class _Route:
    replies: list[Reply | Handler]
    served: int = 0

    def next(self) -> Reply | Handler:
        reply = self.replies[min(self.served, len(self.replies) - 1)]
        self.served += 1
        return reply


@dataclass
class _State:
    routes: dict[tuple[str | None, str], _Route] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


class HttpServer:
    """A threaded HTTP/1.1 server on ``host`` (default 127.0.0.1) with an ephemeral port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, ssl_context: ssl.SSLContext | None = None) -> None:
        self._bind = (host, port)
        self._ssl_context = ssl_context  # serve HTTPS (see tests.support.tls)
        self._state = _State()
        self._cond = threading.Condition()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> HttpServer:
        server_cls = _IPv6Server if ":" in self._bind[0] else _Server
        httpd = server_cls(self._bind, _RequestHandler)
        httpd.app = self
        if self._ssl_context is not None:
            httpd.socket = self._ssl_context.wrap_socket(httpd.socket, server_side=True)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, name=f"httpserver-{self.port}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._cond:
            self._cond.notify_all()

    def __enter__(self) -> HttpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def host(self) -> str:
        return self._bind[0]

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("server not started")
        return int(self._httpd.server_address[1])

    @property
    def netloc(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self.netloc}"

    def url(self, path: str = "/") -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # -- scripting ---------------------------------------------------------------------------

    def route(self, path: str, *replies: Reply | Handler, method: str | None = None) -> None:
        """Answer ``path`` (with or without query) with ``replies`` in order, repeating the last."""
        if not replies:
            raise ValueError("route() needs at least one reply")
        with self._cond:
            self._state.routes[(method.upper() if method else None, path)] = _Route(list(replies))

    # -- inspection --------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return [x.request for x in self._state.exchanges]

    @property
    def exchanges(self) -> list[Exchange]:
        with self._cond:
            return list(self._state.exchanges)

    @property
    def errors(self) -> list[BaseException]:
        with self._cond:
            return list(self._state.errors)

    def requests_for(self, path: str) -> list[RecordedRequest]:
        """Requests whose target (path + query) or path alone equals ``path``."""
        return [r for r in self.requests if path in (r.target, r.path_only)]

    def wait_until(self, predicate: Callable[[HttpServer], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(self)`` holds (re-checked whenever a request changes state)."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self), timeout=timeout)

    def wait_for_exchanges(self, count: int, timeout: float = 5.0) -> list[Exchange]:
        """Wait until ``count`` exchanges are finished or aborted; fail loudly if they are not."""
        done = self.wait_until(lambda s: sum(x.finished or x.aborted for x in s._state.exchanges) >= count, timeout)
        if not done:
            raise AssertionError(f"server saw fewer than {count} completed exchanges in {timeout}s: {self.exchanges!r}")
        return self.exchanges

    # -- used by the request handler ---------------------------------------------------------

    def _record(self, request: RecordedRequest) -> tuple[Exchange, Reply | Handler | None]:
        with self._cond:
            exchange = Exchange(request)
            self._state.exchanges.append(exchange)
            route = None
            for key in (
                (request.method, request.target),
                (request.method, request.path_only),
                (None, request.target),
                (None, request.path_only),
            ):
                route = self._state.routes.get(key)
                if route is not None:
                    break
            reply = route.next() if route is not None else None
            self._cond.notify_all()
            return exchange, reply

    def _update(self, exchange: Exchange, **changes: Any) -> None:
        with self._cond:
            for name, value in changes.items():
                setattr(exchange, name, value)
            self._cond.notify_all()

    def _add_body_bytes(self, exchange: Exchange, count: int) -> None:
        with self._cond:
            exchange.body_bytes_sent += count

    def _error(self, exc: BaseException) -> None:
        with self._cond:
            self._state.errors.append(exc)
            self._cond.notify_all()

    def _pause(self, seconds: float) -> bool:
        """Wait ``seconds`` unless the server stops first; True if it is stopping."""
        if seconds > 0:
            return self._stopping.wait(seconds)
        return self._stopping.is_set()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: HttpServer


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # idle keep-alive connections are dropped after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request stderr line."""

    def _handle(self) -> None:
        app = self.server.app
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = RecordedRequest(
            method=self.command,
            target=self.path,
            headers=Headers(self.headers.items()),
            body=body,
            server_address=app.netloc,
        )
        exchange, reply_or_handler = app._record(request)
        if reply_or_handler is None:
            reply = Reply.text(f"no route for {self.command} {self.path}", status=404)
        elif isinstance(reply_or_handler, Reply):
            reply = reply_or_handler
        else:
            try:
                reply = reply_or_handler(request)
            except Exception as exc:  # a bug in the test's handler: surface it
                app._error(exc)
                reply = Reply.text(f"handler error: {exc!r}", status=500)
        try:
            self._send(app, exchange, reply)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError, TimeoutError):
            app._update(exchange, aborted=True)
            self.close_connection = True

    def _send(self, app: HttpServer, exchange: Exchange, reply: Reply) -> None:
        if app._pause(reply.delay):
            app._update(exchange, aborted=True)
            self.close_connection = True
            return
        headers = list(reply.headers.items()) if isinstance(reply.headers, Mapping) else list(reply.headers)
        streamed = callable(reply.body)
        payload = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
        self.send_response(reply.status)
        app._update(exchange, status=reply.status)
        for name, value in headers:
            self.send_header(name, value)
        has_length = any(name.lower() == "content-length" for name, _ in headers)
        if isinstance(payload, bytes) and reply.send_length and not has_length:
            self.send_header("Content-Length", str(len(payload)))
        if streamed or not reply.send_length:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command == "HEAD":
            app._update(exchange, finished=True)
            return
        if isinstance(payload, bytes):
            self.wfile.write(payload)
            app._add_body_bytes(exchange, len(payload))
        else:
            for i, chunk in enumerate(payload()):
                if i and app._pause(reply.chunk_delay):
                    app._update(exchange, aborted=True)
                    return
                self.wfile.write(chunk)
                app._add_body_bytes(exchange, len(chunk))
        self.wfile.flush()
        app._update(exchange, finished=True)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _handle
