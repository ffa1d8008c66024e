"""`resurface search` and `resurface reindex` as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from store import models as m
from store.audit import verify
from store.db import open_store
from tests.conftest import TEST_KEY
from tests.support.cli import call
from tests.support.es_stub import EsStub
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


def audit_entries(config: Path) -> list[m.AuditEntry]:
    store = open_store(f"sqlite:///{config.parent / 'data' / 'resurface.db'}")
    try:
        with store.session() as s:
            assert verify(s) is None
            return list(s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id)))
    finally:
        store.close()


def test_search_indexes_pending_documents_and_prints_json_hits(project: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "--config", str(project), "search", "canale", "--platform", "telegram",
                          "--sort", "relevance", "--format", "json")
    assert code == 0, err
    page = json.loads(out)
    assert page["total"] == 2 and page["page"] == 1
    assert all("<mark>" in h["snippet"].lower() for h in page["hits"])
    assert {h["type"] for h in page["hits"]} == {"post"}
    entries = [e for e in audit_entries(project) if e.action == "search"]
    assert [(e.target, e.details["platform"], e.details["sort"]) for e in entries] == [
        ("canale", "telegram", "relevance")]


def test_search_table_output_and_paging(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = call(capsys, "--config", str(project), "search", "*", "--since", "2026-03-01", "--limit", "2",
                        "--page", "2")
    assert code == 0
    assert "4 results, page 2" in out and "telegram" in out and "Backup" in out


def test_bad_query_exits_2_with_a_caret_and_no_traceback(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "--config", str(project), "search", '"foo" NEAR(bar')
    assert code == 2
    assert "position 14" in err and "^" in err and "Traceback" not in err and "sqlite" not in err.lower()
    code, _, err = call(capsys, "--config", str(project), "search", "x", "--sort", "oldest")
    assert code == 2 and "--sort" in err


def test_reindex_reports_the_count(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "--config", str(project), "reindex", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == {"backend": "embedded", "documents": 9}
    assert (project.parent / "data" / "search.db").exists()
    assert [e.details for e in audit_entries(project) if e.action == "reindex"] == [
        {"backend": "embedded", "documents": 9}]


def test_search_against_elasticsearch_settings(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stub = EsStub().start()
    try:
        project.write_text(f'data_dir = "data"\n[search]\nbackend = "elasticsearch"\nes_url = "{stub.url}"\n'
                           'es_index_prefix = "rs"\n', encoding="utf-8")
        code, out, err = call(capsys, "--config", str(project), "search", "canale", "--format", "json")
        assert code == 0, err
        assert len(stub.docs("rs")) == 9  # the outbox was drained into the cluster first
        page = json.loads(out)
        assert page["total"] == 9  # the stub does not evaluate queries; it answers with what it holds
        (search,) = stub.calls("POST", "/rs/_search")
        assert search.body["query"]["multi_match"]["query"] == "canale"
    finally:
        stub.stop()
    assert not stub.errors
