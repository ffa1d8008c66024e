"""`resurface crawl --once` as an operator runs it: one crawl per store at a time, and a crawl in which a
source failed says so with exit 1 (cron and scripts notice), keeping what the other sources gave."""

from __future__ import annotations

import json
import socket
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from config.loader import load_settings
from store import lock
from store import models as m
from store.db import open_store
from tests.support.cli import call
from tests.support.httpserver import HttpServer, Reply

KEY = "crawl-cli-test-key-0123456789abcdef"


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    path = tmp_path / "resurface.toml"
    path.write_text('data_dir = "data"\n[crawl]\nallow_private_addresses = true\nmax_retries = 0\n',
                    encoding="utf-8")
    return path


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _hold(config: Path, key: str, owner: str) -> None:
    store = open_store(load_settings(config).store_url)
    try:
        lock.acquire(store, owner, stale_after=timedelta(minutes=3), key=key)
    finally:
        store.close()


def test_a_second_crawl_is_refused_while_one_runs(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert call(capsys, "--config", str(config), "watch", "list")[0] == 0  # creates the store
    _hold(config, lock.CRAWL_LOCK_KEY, "crawl --once by someone (pid 4242)")
    code, _, err = call(capsys, "--config", str(config), "crawl", "--once")
    assert code == 1
    assert "another crawl is running on this store: crawl --once by someone (pid 4242)" in err


def test_a_crawl_is_refused_while_the_service_runs(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert call(capsys, "--config", str(config), "watch", "list")[0] == 0
    _hold(config, lock.LOCK_KEY, "host:777")
    code, _, err = call(capsys, "--config", str(config), "crawl", "--once")
    assert code == 1 and "the service is running on this store (host:777)" in err


def test_a_failed_source_makes_the_crawl_exit_1_and_names_it(config: Path, http_server: HttpServer,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    """One reachable Discourse forum, one forum whose host refuses connections."""
    http_server.route("/latest.json", Reply.json({"topic_list": {"topics": []}, "users": []}))
    http_server.route("/about.json", Reply.json({"about": {"title": "Forum", "description": ""}}))
    http_server.route("/site.json", Reply.json({"categories": []}))
    good = f"http://{http_server.netloc}/"
    bad = f"http://127.0.0.1:{_closed_port()}/"
    for url in (good, bad):
        assert call(capsys, "--config", str(config), "watch", "add", url, "--platform", "discourse")[0] == 0
    code, out, err = call(capsys, "--config", str(config), "crawl", "--once", "--format", "json")
    assert code == 1, (out, err)
    outcomes = {r["community_id"]: r["outcome"] for r in json.loads(out)}
    failed = [cid for cid, outcome in outcomes.items() if outcome == "failed"]
    assert len(failed) == 1
    error = json.loads(err.splitlines()[-1])
    assert error == {"error": f"1 of 2 sources failed: #{failed[0]} (discourse)", "exit_code": 1}
    store = open_store(load_settings(config).store_url)
    try:
        with store.session() as s:  # the lock was released even though the run failed
            assert s.scalar(select(m.KeyValue).where(m.KeyValue.key == lock.CRAWL_LOCK_KEY)) is None
    finally:
        store.close()
