"""Shared fixtures: stores on SQLite and on the machine's real PostgreSQL, settings, the app.

PostgreSQL tests use the server named by RESURFACE_TEST_PG_URL (each test gets its own schema).
When CI=true they must run: a missing or unreachable server fails them instead of skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from config.settings import CrawlSettings, Settings
from service.app import App
from store.db import Store, open_store

pytest_plugins = ["tests.support.fixtures"] if (Path(__file__).parent / "support" / "fixtures.py").exists() else []

PG_ENV = "RESURFACE_TEST_PG_URL"
TEST_KEY = b"test-pseudonym-key-0123456789abcdef"


def _pg_url() -> str | None:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set: PostgreSQL tests must run in CI")
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test)")
    return url


@pytest.fixture
def pg_store() -> Iterator[Store]:
    """A migrated store in a fresh schema of the real PostgreSQL."""
    url = _pg_url()
    assert url is not None
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:  # report the real reason, whatever it is
        if os.environ.get("CI"):
            pytest.fail(f"PostgreSQL at {url} unreachable: {exc}")
        pytest.skip(f"PostgreSQL at {url} unreachable: {exc}")
    sep = "&" if "?" in url else "?"
    store = open_store(f"{url}{sep}options=-csearch_path%3D{schema}")
    try:
        yield store
    finally:
        store.close()
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'resurface.db'}")
    yield store
    store.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest) -> Store:
    """The same test on SQLite and on PostgreSQL."""
    name = "sqlite_store" if request.param == "sqlite" else "pg_store"
    store = request.getfixturevalue(name)
    assert isinstance(store, Store)
    return store


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for tests: data in tmp_path, loopback allowed (the local test servers)."""
    s = Settings(data_dir=str(tmp_path / "data"), crawl=CrawlSettings(allow_private_addresses=True))
    s.base_dir = tmp_path
    return s


@pytest.fixture
def app(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    application = App(settings)
    yield application
    application.close()
