"""Elasticsearch down: one line naming the URL and what to do, never pages of retry tracebacks."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from store.db import open_store
from tests.conftest import TEST_KEY
from tests.support.cli import call
from tests.test_search_contract import build_corpus


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def es_down(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    url = f"http://127.0.0.1:{closed_port()}"
    config = tmp_path / "resurface.toml"
    config.write_text(f'data_dir = "data"\n[search]\nbackend = "elasticsearch"\nes_url = "{url}"\n',
                      encoding="utf-8")
    store = open_store(f"sqlite:///{tmp_path / 'data' / 'resurface.db'}")
    build_corpus(store)  # 9 documents queued in the outbox
    store.close()
    return config, url


@pytest.mark.parametrize("command", [["search", "canale"], ["reindex"]], ids=" ".join)
def test_es_down_is_one_line_naming_the_url_and_the_fix(es_down: tuple[Path, str],
                                                        capsys: pytest.CaptureFixture[str],
                                                        command: list[str]) -> None:
    config, url = es_down
    code, out, err = call(capsys, "--config", str(config), *command)
    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert url in lines[0] and "refused" in lines[0].lower() and "search.es_url" in lines[0]
    assert "Traceback" not in err


def test_es_down_says_the_queued_documents_are_kept(es_down: tuple[Path, str],
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = es_down
    code, _, err = call(capsys, "--config", str(config), "search", "canale")
    assert code == 1 and "9 documents wait" in err
    store = open_store(f"sqlite:///{config.parent / 'data' / 'resurface.db'}")
    try:
        from sqlalchemy import func, select

        from store import models as m

        with store.session() as s:
            assert s.scalar(select(func.count()).select_from(m.IndexOutbox)) == 9
    finally:
        store.close()


def test_es_down_under_json_is_one_json_object_on_stderr(es_down: tuple[Path, str],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    config, url = es_down
    code, out, err = call(capsys, "--config", str(config), "search", "canale", "--format", "json")
    assert code == 1 and out == ""
    (line,) = err.strip().splitlines()
    doc = json.loads(line)
    assert doc["exit_code"] == 1 and url in doc["error"]
