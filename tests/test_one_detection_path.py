"""One detection path (issue 14): `resurface detect`, the scheduler's detect job and the demo's detection
step raise the same alerts on the same store, hash-list matches and text-match evidence included.

Before the pipeline, only the scheduler matched hash lists and nothing computed text signatures, so the
CLI raised no hash_match alert and the content signal never counted a text match.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cli import main
from config.settings import CrawlSettings, Settings
from crawlers.links import classify_url
from detect.hashlists import HashEntry, import_entries
from model import records as r
from model.targets import parse_target
from service.app import App
from store import models as m
from store.db import open_store
from store.ingest import IngestContext, ingest
from store.watchlist import add_watch
from tests import factories as f
from tests.conftest import TEST_KEY
from tests.test_content import ANNOUNCE, PARAPHRASE, _fp
from tests.test_media import drawn


def _world(db: Path) -> None:
    """A watched channel posts a picture (on an NGO hash list) and an announcement text, then is deleted;
    a second channel reposts the picture and a paraphrase of the text after the deletion."""
    store = open_store(f"sqlite:///{db}")
    early, late = f.T0, f.T0 + f.timedelta(days=3)
    picture = drawn(61)
    moved = classify_url("https://t.me/cortile_riserva")
    assert moved is not None
    with store.session() as s:
        add_watch(s, parse_target("@cortile_segreto"))
        known = _fp(picture)
        assert known.pdq is not None
        import_entries(s, "ngo-list", [HashEntry(known.pdq, "report 17")])
    with store.session() as s:
        ctx = IngestContext(key=TEST_KEY)
        ingest(s, [f.snapshot("1", "cortile_segreto", at=early),
                   f.post(1, native_id="1", handle="cortile_segreto", at=early, media=(known,), text="foto"),
                   f.post(2, native_id="1", handle="cortile_segreto", at=early, text=ANNOUNCE),
                   f.snapshot("2", "cortile_riserva", "Il Cortile di Riserva", at=late),
                   f.post(1, native_id="2", handle="cortile_riserva", at=late, media=(_fp(picture),), text="x"),
                   f.post(2, native_id="2", handle="cortile_riserva", at=late, text=PARAPHRASE),
                   # the announcement of the reserve channel, and members posting in both
                   f.post(3, native_id="1", handle="cortile_segreto", at=early, links=(moved,),
                          text="Ci spostiamo nel nuovo canale di riserva: https://t.me/cortile_riserva"),
                   *(f.post(10 + i, native_id="1", handle="cortile_segreto", at=early, user=f"u{i}") for i in range(6)),
                   *(f.post(10 + i, native_id="2", handle="cortile_riserva", at=late, user=f"u{i}") for i in range(6))],
               ctx)
        ingest(s, [r.CommunitySnapshot(platform="telegram", native_id=None, handle="cortile_segreto",
                                       url="https://t.me/cortile_segreto", fetched_at=late,
                                       status=r.CommunityStatus.DELETED,
                                       extra={r.STATUS_DEFINITIVE: True, r.STATUS_EVIDENCE: "does not exist"})],
               IngestContext(key=TEST_KEY, target_community_id=1))
    store.close()


def _alerts(db: Path) -> list[tuple[Any, ...]]:
    store = open_store(f"sqlite:///{db}")
    with store.session() as s:
        rows = [(a.kind, a.level, round(a.score, 4), a.source_community_id, a.target_community_id,
                 json.dumps(a.payload["signals"], sort_keys=True))
                for a in s.scalars(select(m.Alert))]
    store.close()
    return sorted(rows)


def _settings(folder: Path) -> Settings:
    s = Settings(data_dir=str(folder / "data"), crawl=CrawlSettings(allow_private_addresses=True))
    s.base_dir = folder
    return s


@pytest.fixture
def three(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    folders = [tmp_path / name for name in ("cli", "service", "demo")]
    for folder in folders:
        (folder / "data").mkdir(parents=True)
        (folder / "resurface.toml").write_text('data_dir = "data"\n', encoding="utf-8")
    _world(Path(_settings(folders[0]).store_url.removeprefix("sqlite:///")))
    for folder in folders[1:]:
        shutil.copytree(folders[0] / "data", folder / "data", dirs_exist_ok=True)
    return folders


def test_cli_service_and_demo_raise_the_same_alerts_with_hash_and_text_evidence(three: list[Path]) -> None:
    import scheduler
    from demoworld.run import _detect as demo_detect

    cli_dir, service_dir, demo_dir = three
    with pytest.raises(SystemExit) as done:
        main(["--config", str(cli_dir / "resurface.toml"), "detect", "--format", "json"])
    assert done.value.code in (0, None)
    app = App(_settings(service_dir))
    scheduler.TASKS["detect"].body(app)
    app.close()
    app = App(_settings(demo_dir))
    demo_detect(app, lambda line: None)
    app.close()

    dbs = [Path(_settings(d).store_url.removeprefix("sqlite:///")) for d in three]
    by_cli, by_service, by_demo = (_alerts(db) for db in dbs)
    assert by_cli == by_service == by_demo
    kinds = [row[0] for row in by_cli]
    assert kinds.count("hash_match") == 2  # the original picture and its repost, at distance 0
    assert "shutdown" in kinds and "migration" in kinds
    (migration,) = [row for row in by_cli if row[0] == "migration"]
    content = next(sig for sig in json.loads(migration[5]) if sig["name"] == "content")
    assert content["evidence"][0]["text_matches"] == 1  # the paraphrased announcement, by its text signature
