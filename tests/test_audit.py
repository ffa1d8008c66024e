"""`resurface audit verify`: the audit log proves it has not been edited, cut, wiped or forged.

Each tampering below is done the way someone with write access to the database (but not to the audit
key, which lives outside it) would do it, and each must make `audit verify` exit 1 and say what."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from cli import main
from config.loader import load_settings
from store import audit
from store import models as m
from store.db import open_store

KEY = "audit-test-pseudonym-key-0123456789"


def call(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    out, err = capsys.readouterr()
    return int(info.value.code or 0), out + err


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Path:
    """A store with five audited acts, made through the CLI as an investigator would."""
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("RESURFACE_AUDIT_KEY", raising=False)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    path = tmp_path / "resurface.toml"
    path.write_text('data_dir = "data"\n', encoding="utf-8")
    for _ in range(5):
        code, out = call(capsys, "--config", str(path), "alerts", "list")
        assert code == 0, out
    return path


def tamper(config: Path, change: Callable[[Session], object]) -> None:
    """Change the database directly, without the audit key (no signer attached)."""
    store = open_store(load_settings(config).store_url)
    try:
        with store.session() as s:
            change(s)
    finally:
        store.close()


def verify(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[int, dict[str, object]]:
    code, out = call(capsys, "--config", str(config), "audit", "verify", "--format", "json")
    return code, json.loads(out)


def test_an_untouched_log_verifies_and_every_entry_is_signed(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = verify(capsys, config)
    assert code == 0 and report["ok"] is True
    assert report["entries"] == 5 and report["unsigned_legacy_entries"] == 0
    data = config.parent / "data"
    assert (data / "audit.key").stat().st_mode & 0o777 == 0o600
    lines = (data / "audit-checkpoints.jsonl").read_text().splitlines()
    assert [json.loads(line)["last_id"] for line in lines] == [1, 2, 3, 4, 5, 6]  # one per audited act
    code, out = call(capsys, "--config", str(config), "audit", "verify")
    assert code == 0 and "audit log intact: 6 entries" in out  # the first verify was audited too


def test_an_edited_entry_is_found(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(config, lambda s: s.execute(update(m.AuditEntry).where(m.AuditEntry.id == 3)
                                       .values(actor="someone-else")))
    code, report = verify(capsys, config)
    assert code == 1
    assert any("entry 3" in p and "edited" in p for p in report["problems"])  # type: ignore[union-attr]


def test_a_deleted_middle_entry_is_found(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(config, lambda s: s.execute(delete(m.AuditEntry).where(m.AuditEntry.id == 3)))
    code, report = verify(capsys, config)
    assert code == 1
    assert any("entry 4" in p and "deleted" in p for p in report["problems"])  # type: ignore[union-attr]


def test_a_truncated_tail_is_found(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Dropping the last entries leaves a consistent chain: only the checkpoint outside shows it."""
    tamper(config, lambda s: s.execute(delete(m.AuditEntry).where(m.AuditEntry.id >= 4)))
    code, report = verify(capsys, config)
    assert code == 1
    assert any("entry 5" in p and "truncated" in p for p in report["problems"])  # type: ignore[union-attr]


def test_a_wiped_table_is_found(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tamper(config, lambda s: s.execute(delete(m.AuditEntry)))
    code, report = verify(capsys, config)
    assert code == 1 and report["entries"] == 0
    assert any("wiped" in p for p in report["problems"])  # type: ignore[union-attr]


def test_a_chain_forged_without_the_key_is_found(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Rewrite an entry and recompute the whole chain, as a forger with database access can."""

    def forge(s: Session) -> None:
        prev = audit.GENESIS
        for entry in s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id)):
            if entry.id == 2:
                entry.details = {"state": None, "ids": [], "note": "nothing to see"}
            entry.prev_hash = prev
            entry.hash = audit._entry_hash(prev, entry.at.isoformat(), entry.actor, entry.action, entry.target,
                                           entry.details)
            prev = entry.hash
            s.flush()

    tamper(config, forge)
    store = open_store(load_settings(config).store_url)
    with store.session() as s:
        assert audit.verify(s) is None  # the bare chain is consistent again: the old verify() passed
    store.close()
    code, report = verify(capsys, config)
    assert code == 1
    problems = report["problems"]
    assert any("entry 2" in p and "forged" in p for p in problems)  # type: ignore[union-attr]
    assert any("rewritten" in p for p in problems)  # type: ignore[union-attr]


def test_a_forged_checkpoint_line_is_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = config.parent / "data" / "audit-checkpoints.jsonl"
    with path.open("a") as handle:
        handle.write(json.dumps({"at": "2026-01-01T00:00:00", "last_id": 99, "head": "0" * 64, "mac": "0" * 64})
                     + "\n")
    code, report = verify(capsys, config)
    assert code == 1
    assert any("signature does not match" in p for p in report["problems"])  # type: ignore[union-attr]
