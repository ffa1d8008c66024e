"""Retention end to end, as a user runs it: crawl, purge, crawl again -- and the purged text is in no
file: not in the store, not in its write-ahead log, not in the search index or its log.

A local server answers as t.me's public preview does (pages rendered by the same builder the
Telegram crawler tests use, modelled on recorded t.me/s/ pages). One post is years old, one is a day
old; the crawl keeps both texts (retention set very long), the purge runs with a one-year retention,
and the second crawl runs with the long retention again, so only the purge stamp can keep the old
text out.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from store import models as m
from store.db import open_store
from tests.conftest import TEST_KEY
from tests.fixtures.telegram.builder import Channel, Msg, channel_page
from tests.support.cli import call
from tests.support.httpserver import HttpServer, Reply

SECRET = "Zanzibarone"  # a word that appears nowhere but in the old post
OLD_TEXT = f"{SECRET} mandatemi le foto in privato, vecchio messaggio"
RECENT_TEXT = "messaggio recente ancora visibile"
CHANNEL = Channel("cortile_vecchio", "Il Cortile Vecchio", 1700000001, description="canale di prova")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server: HttpServer) -> Path:
    recent = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)  # data, not a timing assertion
    page = channel_page(CHANNEL, [Msg(1, OLD_TEXT, date=datetime(2019, 5, 4, 21, 30, tzinfo=UTC), photos=()),
                                  Msg(2, RECENT_TEXT, date=recent, photos=())],
                        img_base=http_server.base_url)
    http_server.route(f"/s/{CHANNEL.handle}", Reply.html(page))
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    config = tmp_path / "resurface.toml"
    config.write_text(
        'data_dir = "data"\n\n[crawl]\nallow_private_addresses = true\nmax_retries = 1\n\n'
        f'[telegram]\nweb_base_url = "{http_server.base_url}"\n', encoding="utf-8")
    return config


def _retention(monkeypatch: pytest.MonkeyPatch, days: int) -> None:
    monkeypatch.setenv("RESURFACE__PRIVACY__RETENTION_DAYS", str(days))


def _files_containing(folder: Path, word: str) -> list[str]:
    needle = word.lower().encode()
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                  if p.is_file() and needle in p.read_bytes().lower())


def _indexed(data: Path, word: str) -> int:
    (index,) = [p for p in data.rglob("*") if p.is_file() and p.suffix == ".db" and p.name != "resurface.db"]
    with sqlite3.connect(index) as conn:
        return int(conn.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (word,)).fetchone()[0])


def test_crawl_purge_crawl_again_leaves_the_purged_text_in_no_file(
        project: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = ("--config", str(project))
    data = project.parent / "data"
    _retention(monkeypatch, 100_000)
    assert call(capsys, *cfg, "watch", "add", f"https://t.me/s/{CHANNEL.handle}")[0] == 0
    code, out, err = call(capsys, *cfg, "crawl", "--once", "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0]["new_posts"] == 2
    code, out, err = call(capsys, *cfg, "search", "recente", "--format", "json")  # drains the outbox
    assert code == 0, err
    assert _indexed(data, SECRET) == 1 and _files_containing(data, SECRET)  # the text really was stored

    _retention(monkeypatch, 365)
    code, out, err = call(capsys, *cfg, "purge", "--dry-run", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["would_purge"] == 1
    assert _indexed(data, SECRET) == 1  # a dry run changes nothing
    code, out, err = call(capsys, *cfg, "purge", "--format", "json")
    assert code == 0, err
    report = json.loads(out)
    assert (report["purged"], report["index_purged"], report["wal_truncated"]) == (1, 1, True)
    assert _files_containing(data, SECRET) == []

    _retention(monkeypatch, 100_000)  # a crawl that would keep old texts: only the purge stamp protects
    with sqlite3.connect(data / "resurface.db") as conn:  # forget the resume point: a full re-crawl
        conn.execute("DELETE FROM checkpoints")
    code, out, err = call(capsys, *cfg, "crawl", "--once", "--format", "json")
    assert code == 0, err
    assert json.loads(out)[0]["posts_seen"] == 2
    code, out, err = call(capsys, *cfg, "search", "recente", "--format", "json")  # drains the re-crawl
    assert code == 0, err
    assert json.loads(out)["total"] == 1

    store = open_store(f"sqlite:///{data / 'resurface.db'}")
    try:
        with store.session() as s:
            texts = {p.native_post_id: (p.text, p.text_purged_at is not None) for p in s.scalars(select(m.Post))}
    finally:
        store.close()
    assert texts == {"1": (None, True), "2": (RECENT_TEXT, False)}
    assert _indexed(data, SECRET) == 0
    assert _files_containing(data, SECRET) == []  # store, its WAL, the index and its WAL
