"""`resurface alerts show` for the investigator: matched phrases, post excerpts, the notes left, one score format.

The alert's evidence has the shape detection writes (``detect/scoring.py``): announcement items carry
``post_url`` and ``phrases`` ("lang:phrase") but no text; content examples carry ``post_url`` and
``matched_post_url``. The excerpts come from the posts stored under those URLs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.lifecycle import raise_alert
from config.loader import load_settings
from model.vocab import AlertDraft
from service.app import App
from store import models as m
from store.ingest import ingest
from tests import factories as f
from tests.support.cli import call

KEY = "alerts-show-test-key-0123456789abcdef"
ANNOUNCEMENT = "Ragazzi ci spostiamo nel nuovo canale di riserva: entrate finché è aperto"
REPOST = "la foto di ieri, ripostata qui"
LONG_SCORE = 0.9635830002752203


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, int]]:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    app = App(load_settings(config))
    recent = datetime.now(UTC) - timedelta(days=2)  # within retention: texts are stored
    try:
        with app.store.session() as s:
            ingest(s, [f.snapshot(at=recent), f.post(42, text=ANNOUNCEMENT, at=recent),
                       f.snapshot(native_id="2002", handle="cortile_due", title="Cortile Due", at=recent),
                       f.post(7, native_id="2002", handle="cortile_due", text=REPOST, at=recent)],
                   app.ingest_context())
            source = s.scalar(select(m.Community.id).where(m.Community.handle == "cortile_segreto"))
            target = s.scalar(select(m.Community.id).where(m.Community.handle == "cortile_due"))
            assert source and target
            signals = [
                {"name": "announcement", "score": 1.0, "evidence": [
                    {"post_url": "https://t.me/cortile_segreto/42", "created_at": recent.isoformat(),
                     "phrases": ["it:nuovo canale", "it:canale di riserva"], "posted_in": "source",
                     "post_links_to_communities": 1, "community_links_to_communities": 1, "score": 1.0}]},
                {"name": "content", "score": 0.8123, "evidence": [
                    {"media_matches": 1, "text_matches": 0},
                    {"post_url": "https://t.me/cortile_due/7", "matched_post_url": "https://t.me/cortile_segreto/1",
                     "kind": "media_pdq", "distance": 16, "at": recent.isoformat()}]},
            ]
            alert = raise_alert(s, AlertDraft(kind="migration", level="strong", score=LONG_SCORE,
                                              source_community_id=source, target_community_id=target,
                                              signals=signals), app.settings)
            assert alert is not None
            alert_id = alert.id
    finally:
        app.close()
    yield config, alert_id


def test_show_lists_matched_phrases_and_post_excerpts(project: tuple[Path, int],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    config, alert_id = project
    code, out, err = call(capsys, "--config", str(config), "alerts", "show", str(alert_id))
    assert code == 0, err
    assert "“nuovo canale (it)”" in out and "“canale di riserva (it)”" in out
    assert ANNOUNCEMENT in out and REPOST in out  # excerpts read from the stored posts
    assert "https://t.me/cortile_segreto/1" in out and "(not stored)" in out  # the match we hold no text for


def test_show_lists_every_note_in_order(project: tuple[Path, int], capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    config, alert_id = project
    monkeypatch.setenv("RESURFACE_ACTOR", "analyst-ada")
    assert call(capsys, "--config", str(config), "alerts", "ack", str(alert_id), "-n", "checking the reposts")[0] == 0
    assert call(capsys, "--config", str(config), "alerts", "confirm", str(alert_id), "-n", "same admins")[0] == 0
    code, out, err = call(capsys, "--config", str(config), "alerts", "show", str(alert_id))
    assert code == 0, err
    notes = out[out.index("Notes:"):]
    assert "analyst-ada acknowledged: checking the reposts" in notes
    assert notes.index("checking the reposts") < notes.index("analyst-ada confirmed: same admins")
    code, out, err = call(capsys, "--config", str(config), "alerts", "show", str(alert_id), "--format", "json")
    doc = json.loads(out)
    assert [(n["action"], n["note"]) for n in doc["notes"]] == [("acknowledged", "checking the reposts"),
                                                                 ("confirmed", "same admins")]
    assert doc["note"].splitlines() == ["checking the reposts", "same admins"]
    assert doc["matched_phrases"] == ["nuovo canale (it)", "canale di riserva (it)"]
    assert [p["excerpt"] for p in doc["posts"]][:2] == [ANNOUNCEMENT, REPOST]


def test_scores_are_two_decimals_in_show_and_list(project: tuple[Path, int],
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    config, alert_id = project
    for args in (["alerts", "show", str(alert_id)], ["alerts", "list"]):
        code, out, err = call(capsys, "--config", str(config), *args)
        assert code == 0, err
        assert "0.96" in out
        assert "0.964" not in out and "0.9635" not in out and "0.812" not in out


def test_detect_tables_show_scores_with_two_decimals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """`detect` printed candidate and alert scores with four decimals (0.8123) while alerts used two."""
    import re

    from config.settings import Settings
    from store.db import open_store
    from tests.detect_scenarios import cases
    from tests.detect_scenarios.builder import load

    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    store = open_store(Settings(data_dir=str(tmp_path / "data")).store_url)
    world = cases.background()
    case = cases.explicit_announcement("es", 0.5, 1, seed=21)
    world.seeds.extend(case.world.seeds)
    world.batches.extend(case.world.batches)
    load(store, world)
    store.close()
    monkeypatch.setenv("COLUMNS", "250")  # whole table rows, so each number is one token
    code, out, err = call(capsys, "--config", str(config), "detect")
    assert code == 0, err
    tables = out[out.index("migration candidates"):out.rindex("pairs scored")]
    numbers = re.findall(r"(?<![\d.:-])\d+\.\d+(?![\d.:-])", tables)
    assert numbers, tables
    assert all(len(n.split(".")[1]) == 2 for n in numbers), numbers
