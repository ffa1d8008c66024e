"""The `resurface` command, run as a user runs it (subprocess for exit codes, in-process for speed)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import call

KEY = "cli-test-key-0123456789abcdefghij"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    full_env.pop("RESURFACE_PSEUDONYM_KEY", None)
    full_env.update(env or {})
    return subprocess.run([sys.executable, "-m", "cli", *args], capture_output=True, text=True, env=full_env,
                          cwd=cwd, timeout=120)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("RESURFACE_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    assert subprocess.run([sys.executable, "-m", "cli", "init", str(tmp_path / "demo")], capture_output=True,
                          env={k: v for k, v in os.environ.items() if k != "RESURFACE_PSEUDONYM_KEY"},
                          timeout=120).returncode == 0
    return tmp_path / "demo" / "resurface.toml"


def test_init_then_watch_add_and_list_round_trip(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    key = project.parent / "resurface.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (project.parent / "data").is_dir()
    code, _, _ = call(capsys, "--config", str(project), "watch", "add", "https://t.me/s/example", "--label", "case-7")
    assert code == 0
    code, out, _ = call(capsys, "--config", str(project), "watch", "list", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["platform"], r["handle"], r["labels"]) for r in rows] == [("telegram", "example", ["case-7"])]


def test_init_takes_the_key_from_the_environment(tmp_path: Path) -> None:
    result = run("init", str(tmp_path / "d"), env={"RESURFACE_PSEUDONYM_KEY": KEY})
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "d" / "resurface.key").exists()


def test_manual_entry_for_an_uncrawlable_platform(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "--config", str(project), "watch", "add", "--platform", "facebook", "--name",
                          "Mia Moglie", "--status", "removed", "--removed-at", "2025-08-20", "--format", "json")
    assert code == 0, err
    row = json.loads(out)
    assert (row["platform"], row["title"], row["status"]) == ("facebook", "Mia Moglie", "removed")
    assert row["removed_at"].startswith("2025-08-20")


def test_watch_remove_keeps_the_data(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call(capsys, "--config", str(project), "watch", "add", "@example_chan")
    assert call(capsys, "--config", str(project), "watch", "remove", "@example_chan")[0] == 0
    _, out, _ = call(capsys, "--config", str(project), "watch", "list", "--format", "json")
    assert json.loads(out) == []
    code, _, err = call(capsys, "--config", str(project), "watch", "remove", "@example_chan")
    assert code == 2 and "not on the watchlist" in err


@pytest.mark.parametrize("bad", ["https://t.me/+AbCdEf123", "http://exa mple.com/", "@ab", "https://t.me/",
                                 "ftp://t.me/x", "https://[::1/x", "https://reddit.com/u/someone"])
def test_malformed_watch_targets_are_usage_errors(project: Path, capsys: pytest.CaptureFixture[str],
                                                  bad: str) -> None:
    code, _, err = call(capsys, "--config", str(project), "watch", "add", bad)
    assert code == 2
    assert "error:" in err and "Traceback" not in err


def test_broken_config_is_one_line_and_exit_2(tmp_path: Path) -> None:
    config = tmp_path / "resurface.toml"
    config.write_text("[crawl]\nmax_pagez = 3\n")
    result = run("--config", str(config), "watch", "list", env={"RESURFACE_PSEUDONYM_KEY": KEY})
    assert result.returncode == 2
    assert "unknown key 'crawl.max_pagez'" in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_postgresql_is_exit_1_with_a_clear_message(tmp_path: Path) -> None:
    config = tmp_path / "resurface.toml"
    config.write_text('[store]\nurl = "postgresql+psycopg://nobody:secret@127.0.0.1:1/nothing"\n')
    result = run("--config", str(config), "watch", "list", env={"RESURFACE_PSEUDONYM_KEY": KEY})
    assert result.returncode == 1
    assert "cannot reach the store" in result.stderr
    assert "secret" not in result.stderr


def test_unwritable_data_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    config = tmp_path / "resurface.toml"
    config.write_text(f'data_dir = "{blocker}/data"\n')
    result = run("--config", str(config), "watch", "list", env={"RESURFACE_PSEUDONYM_KEY": KEY})
    assert result.returncode == 1
    assert "data directory" in result.stderr and "Traceback" not in result.stderr


def test_missing_key_names_the_variable(tmp_path: Path) -> None:
    config = tmp_path / "resurface.toml"
    config.write_text("")
    result = run("--config", str(config), "crawl", "--once")
    assert result.returncode == 2
    assert "RESURFACE_PSEUDONYM_KEY" in result.stderr


def test_existing_data_survives_a_bad_config_run(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    call(capsys, "--config", str(project), "watch", "add", "@kept_channel")
    broken = project.parent / "broken.toml"
    broken.write_text(project.read_text() + "\n[oops\n")
    assert call(capsys, "--config", str(broken), "watch", "list")[0] == 2
    _, out, _ = call(capsys, "--config", str(project), "watch", "list", "--format", "json")
    assert [r["handle"] for r in json.loads(out)] == ["kept_channel"]


def test_help_lists_only_working_commands() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "watch" in result.stdout and "init" in result.stdout


@pytest.mark.parametrize("args", [["watch", "list", "--format", "pdf"], ["no-such-command"], ["watch", "add"]])
def test_bad_usage_exits_2(project: Path, capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, _, err = call(capsys, "--config", str(project), *args)
    assert code == 2
    assert "Traceback" not in err


def test_store_urls_in_messages_never_carry_the_password() -> None:
    from store.db import redact

    shown = redact("postgresql+psycopg://resurface:hunter2@db.example/resurface")
    assert "hunter2" not in shown and "db.example" in shown
