"""One JSON shape rule for every command: a list for lists, an object for one thing.

Each command is run as a script would run it (``--format json``, stdout parsed as one document).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from store.db import open_store
from tests.conftest import TEST_KEY
from tests.support.cli import call
from tests.test_search_contract import build_corpus


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


#: (command line, the shape of its one JSON document)
LISTS = [
    ["watch", "list"],
    ["watch", "list", "--leads"],
    ["alerts", "list"],
    ["leads", "list"],
    ["hashes", "list"],
    ["graph", "stats"],
    ["crawl", "--once", "--id", "999999"],  # nothing due: still a list, an empty one
]
OBJECTS = [
    ["watch", "add", "--platform", "facebook", "--name", "Mia Moglie"],
    ["watch", "remove", "https://t.me/s/miamoglie"],
    ["search", "canale"],
    ["reindex"],
    ["alerts", "deliver"],
    ["status"],
    ["detect"],
    ["audit", "verify"],
]


@pytest.mark.parametrize("args", LISTS, ids=" ".join)
def test_commands_that_list_print_a_json_array(project: Path, capsys: pytest.CaptureFixture[str],
                                               args: list[str]) -> None:
    code, out, err = call(capsys, "--config", str(project), *args, "--format", "json")
    assert code == 0, err
    assert isinstance(json.loads(out), list)


@pytest.mark.parametrize("args", OBJECTS, ids=" ".join)
def test_commands_about_one_thing_print_a_json_object(project: Path, capsys: pytest.CaptureFixture[str],
                                                      args: list[str]) -> None:
    if args[:2] == ["watch", "remove"]:
        assert call(capsys, "--config", str(project), "watch", "add", "https://t.me/s/miamoglie")[0] == 0
    code, out, err = call(capsys, "--config", str(project), *args, "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    assert isinstance(doc, dict), f"{' '.join(args)} printed {type(doc).__name__}"


def test_one_search_page_is_one_object_with_its_hits(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "--config", str(project), "search", "canale", "--platform", "telegram",
                          "--format", "json")
    assert code == 0, err
    page = json.loads(out)
    assert page["page"] == 1 and page["total"] == len(page["hits"]) == 2


def test_watch_remove_reports_the_community_it_stopped_watching(project: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert call(capsys, "--config", str(project), "watch", "add", "@example_chan")[0] == 0
    code, out, err = call(capsys, "--config", str(project), "watch", "remove", "@example_chan", "--format", "json")
    assert code == 0, err
    row = json.loads(out)
    assert (row["handle"], row["watch_state"]) == ("example_chan", "ignored")
