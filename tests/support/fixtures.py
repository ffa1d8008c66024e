"""pytest plugin with the shared server fixtures. Registered from tests/conftest.py with
``pytest_plugins = ["tests.support.fixtures"]``.

- ``http_server``: a started :class:`~tests.support.httpserver.HttpServer` on 127.0.0.1.
- ``http_server_factory``: call it with a host (e.g. ``"127.0.0.2"`` or ``"::1"``) for more servers;
  all are stopped at teardown.

Teardown fails the test if a route handler raised (the server answered 500 in its place), so a
broken handler is never mistaken for the behaviour under test.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.httpserver import HttpServer


@pytest.fixture
def http_server_factory() -> Iterator[Callable[..., HttpServer]]:
    servers: list[HttpServer] = []

    def make(host: str = "127.0.0.1") -> HttpServer:
        server = HttpServer(host).start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.stop()
    errors = [exc for server in servers for exc in server.errors]
    if errors:
        raise AssertionError(f"route handlers raised: {errors!r}") from errors[0]


@pytest.fixture
def http_server(http_server_factory: Callable[..., HttpServer]) -> HttpServer:
    return http_server_factory()
