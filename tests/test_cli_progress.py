"""Progress on crawls, reindexing, exports and detection: driven per item, drawn only on a terminal,
never in JSON output or in a pipe."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

import cli.support
from cli.support import Ticker
from detect.pipeline import stage_names
from store.db import open_store
from tests.conftest import TEST_KEY
from tests.support.cli import call
from tests.test_search_contract import build_corpus

DOCUMENTS = 9  # build_corpus: 3 communities and 6 posts


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'resurface.db'}")
    build_corpus(store)
    store.close()
    return config


@pytest.fixture
def tickers(monkeypatch: pytest.MonkeyPatch) -> list[Ticker]:
    opened: list[Ticker] = []
    monkeypatch.setattr(cli.support, "ticker_hook", opened.append)
    return opened


def test_reindex_advances_once_per_batch_up_to_every_document(project: Path, tickers: list[Ticker],
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    project.write_text('data_dir = "data"\n[search]\nbatch_size = 4\n', encoding="utf-8")
    code, _, err = call(capsys, "--config", str(project), "reindex")
    assert code == 0, err
    (ticker,) = tickers
    assert (ticker.total, ticker.done) == (DOCUMENTS, DOCUMENTS)
    assert ticker.advances >= 3  # 9 documents in batches of at most 4


def test_detect_advances_once_per_stage(project: Path, tickers: list[Ticker],
                                        capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "--config", str(project), "detect")
    assert code == 0, err
    (ticker,) = tickers
    assert ticker.total == ticker.advances == len(stage_names()) > 1


def test_crawl_advances_once_per_community(project: Path, tickers: list[Ticker],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("Mia Moglie", "Another group"):  # entered by hand: crawled as "skipped", without a network
        assert call(capsys, "--config", str(project), "watch", "add", "--platform", "facebook", "--name", name)[0] == 0
    code, out, err = call(capsys, "--config", str(project), "crawl", "--once", "--format", "json")
    assert code == 0, err
    assert [r["outcome"] for r in json.loads(out)] == ["skipped", "skipped"]
    (ticker,) = tickers
    assert ticker.total == ticker.advances == 2


def test_graph_export_advances_through_its_steps(project: Path, tickers: list[Ticker], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "--config", str(project), "graph", "export", "--format", "json",
                        "-o", str(tmp_path / "g.json"))
    assert code == 0, err
    (ticker,) = tickers
    assert ticker.total == ticker.advances == 2


@pytest.mark.parametrize("command", [["reindex"], ["detect"], ["search", "canale"]], ids=" ".join)
def test_piped_json_output_carries_no_progress(project: Path, capsys: pytest.CaptureFixture[str],
                                               command: list[str]) -> None:
    code, out, err = call(capsys, "--config", str(project), *command, "--format", "json")
    assert code == 0, err
    json.loads(out)  # stdout is exactly one JSON document
    assert "━" not in out + err and "reindexing" not in err and "detecting" not in err


def test_json_output_draws_no_bar_even_on_a_terminal(project: Path, capsys: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    terminal = io.StringIO()
    monkeypatch.setattr(cli.support, "err_console", Console(file=terminal, force_terminal=True, width=100))
    code, out, err = call(capsys, "--config", str(project), "reindex", "--format", "json")
    assert code == 0, err
    assert json.loads(out)["documents"] == DOCUMENTS
    assert terminal.getvalue() == ""
    # the same command for a person at that terminal gets its bar (so the check above can fail)
    code, _, err = call(capsys, "--config", str(project), "reindex")
    assert code == 0, err
    assert "reindexing" in terminal.getvalue()
