"""One detection path (issue 14): after a real crawl (`resurface crawl --once` of channels served on loopback
as t.me serves its previews), `resurface detect`, the scheduler's detect job and the demo's detection step
raise the same alerts on copies of the same store, hash-list matches and text-match evidence included.

Before the pipeline, only the scheduler matched hash lists and nothing computed text signatures, so the
CLI raised no hash_match alert and the content signal never counted a text match.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from config.settings import CrawlSettings, Settings, TelegramSettings
from crawlers.media import fingerprint_image
from evaluation.servers import channel_page, landing_page, nonexistent_page
from evaluation.worlds import Picture, TgChat, TgPost, picture_bytes
from service.app import App
from store import models as m
from store.db import open_store
from tests.conftest import TEST_KEY
from tests.support.cli import call
from tests.support.httpserver import HttpServer, RecordedRequest, Reply
from tests.test_content import ANNOUNCE, PARAPHRASE

PICTURE = Picture(61)
SOURCE, SUCCESSOR = "cortile_segreto", "cortile_riserva"


def _chats(now: datetime) -> tuple[dict[str, TgChat], dict[str, TgChat]]:
    """Before: the watched channel posts a picture (on an NGO hash list), an announcement text and where it
    is moving; its reserve channel exists, empty. After: the channel is gone, and the reserve channel
    (watched now) reposts the picture and a paraphrase of the announcement."""
    early = now - timedelta(days=3)
    source = TgChat(SOURCE, "Il Cortile Segreto", 1001, False, 5120, "Solo per amici.", (
        TgPost(1, early, "foto", photos=(PICTURE,)),
        TgPost(2, early + timedelta(minutes=1), ANNOUNCE),
        TgPost(3, early + timedelta(minutes=2),
               f"Ci spostiamo nel nuovo canale di riserva: https://t.me/{SUCCESSOR}"),
    ))
    empty = TgChat(SUCCESSOR, "Il Cortile di Riserva", 1002, False, 40, "La riserva.", ())
    late = now - timedelta(hours=2)
    reserve = TgChat(SUCCESSOR, "Il Cortile di Riserva", 1002, False, 4600, "La riserva.", (
        TgPost(1, late, "x", photos=(PICTURE,)),
        TgPost(2, late + timedelta(minutes=1), PARAPHRASE),
    ))
    return {SOURCE: source, SUCCESSOR: empty}, {SUCCESSOR: reserve}


def _serve_tme(server: HttpServer, phase: Callable[[], dict[str, TgChat]]) -> None:
    """Answer as t.me does: ``/s/<handle>`` the preview (a redirect to ``/<handle>`` when there is none),
    ``/<handle>`` the landing page or the "contact @handle" page of a handle that does not exist."""
    def preview(handle: str) -> Callable[[RecordedRequest], Reply]:
        def answer(_request: RecordedRequest) -> Reply:
            chat = phase().get(handle)
            if chat is None:
                return Reply(302, {"Location": f"/{handle}"})
            return Reply.text(channel_page(chat, server.base_url), content_type="text/html; charset=utf-8")
        return answer

    def landing(handle: str) -> Callable[[RecordedRequest], Reply]:
        def answer(_request: RecordedRequest) -> Reply:
            chat = phase().get(handle)
            page = landing_page(chat) if chat is not None else nonexistent_page(handle)
            return Reply.text(page, content_type="text/html; charset=utf-8")
        return answer

    for handle in (SOURCE, SUCCESSOR):
        server.route(f"/s/{handle}", preview(handle))
        server.route(f"/{handle}", landing(handle))
    image = picture_bytes(PICTURE.name)
    assert image is not None
    server.route(f"/file/{PICTURE.name}", Reply(200, {"Content-Type": "image/jpeg"}, image))


def _settings(folder: Path, tme_url: str) -> Settings:
    s = Settings(data_dir=str(folder / "data"), crawl=CrawlSettings(allow_private_addresses=True, max_retries=0),
                 telegram=TelegramSettings(web_base_url=tme_url))
    s.base_dir = folder
    return s


def _config(folder: Path, tme_url: str) -> str:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    config = folder / "resurface.toml"
    config.write_text(f'data_dir = "data"\n[crawl]\nallow_private_addresses = true\nmax_retries = 0\n'
                      f'default_rate_limit = 500.0\n'
                      f'[telegram]\nweb_base_url = "{tme_url}"\n', encoding="utf-8")
    return str(config)


def _alerts(db: Path) -> list[tuple[Any, ...]]:
    store = open_store(f"sqlite:///{db}")
    with store.session() as s:
        rows = [(a.kind, a.level, round(a.score, 4), a.source_community_id, a.target_community_id,
                 json.dumps(a.payload["signals"], sort_keys=True))
                for a in s.scalars(select(m.Alert))]
    store.close()
    return sorted(rows)


@pytest.fixture
def crawled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
            http_server: HttpServer) -> tuple[list[Path], str]:
    """The world crawled through the CLI before and after the move, then copied into three folders."""
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    before, after = _chats(datetime.now(UTC).replace(microsecond=0))
    current = [before]
    _serve_tme(http_server, lambda: current[0])
    tme = http_server.base_url
    folders = [tmp_path / name for name in ("cli", "service", "demo")]
    config = _config(folders[0], tme)
    image = picture_bytes(PICTURE.name)
    assert image is not None
    known = fingerprint_image(image, max_pixels=CrawlSettings().max_image_pixels)
    assert known is not None and known.pdq is not None
    hashes = tmp_path / "ngo-list.csv"
    hashes.write_text(f"pdq,label\n{known.pdq},report 17\n", encoding="utf-8")

    def resurface(*args: str) -> str:
        code, out, err = call(capsys, "--config", config, *args)
        assert code == 0, err
        return out

    resurface("hashes", "import", str(hashes), "--list", "ngo-list")
    resurface("watch", "add", f"@{SOURCE}")
    first = json.loads(resurface("crawl", "--once", "--format", "json"))
    assert [(r["outcome"], r["new_posts"]) for r in first] == [("ok", 3)]
    current[0] = after
    resurface("watch", "add", f"https://t.me/{SUCCESSOR}")  # the channel its last post named
    second = json.loads(resurface("crawl", "--once", "--format", "json"))
    assert sorted(r["new_posts"] for r in second) == [0, 2]
    for folder in folders[1:]:
        _config(folder, tme)
        shutil.copytree(folders[0] / "data", folder / "data", dirs_exist_ok=True)
    return folders, tme


def test_cli_service_and_demo_raise_the_same_alerts_after_a_crawl_with_hash_and_text_evidence(
        crawled: tuple[list[Path], str], capsys: pytest.CaptureFixture[str]) -> None:
    import scheduler
    from demoworld.run import _detect as demo_detect

    (cli_dir, service_dir, demo_dir), tme = crawled
    code, _, err = call(capsys, "--config", str(cli_dir / "resurface.toml"), "detect", "--format", "json")
    assert code == 0, err
    app = App(_settings(service_dir, tme))
    scheduler.TASKS["detect"].body(app)
    app.close()
    app = App(_settings(demo_dir, tme))
    demo_detect(app, lambda line: None)
    app.close()

    dbs = [Path(_settings(d, tme).store_url.removeprefix("sqlite:///")) for d in (cli_dir, service_dir, demo_dir)]
    by_cli, by_service, by_demo = (_alerts(db) for db in dbs)
    assert by_cli == by_service == by_demo
    kinds = [row[0] for row in by_cli]
    assert kinds.count("hash_match") == 2  # the original picture and its repost
    assert "migration" in kinds
    (migration,) = [row for row in by_cli if row[0] == "migration"]
    store = open_store(f"sqlite:///{dbs[0]}")
    with store.session() as s:
        handles = {c.id: c.handle for c in s.scalars(select(m.Community))}
    store.close()
    assert (handles[migration[3]], handles[migration[4]]) == (SOURCE, SUCCESSOR)
    content = next(sig for sig in json.loads(migration[5]) if sig["name"] == "content")
    assert content["evidence"][0]["text_matches"] == 1  # the paraphrased announcement, by its text signature
