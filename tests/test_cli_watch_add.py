"""`resurface watch add` takes what Resurface can crawl, or a manual entry it is told about, and nothing else."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.conftest import TEST_KEY
from tests.support.cli import call


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_config(tmp_path: Path, allow_private: bool) -> str:
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "resurface.toml"
    config.write_text(f'data_dir = "data"\n[crawl]\nallow_private_addresses = {str(allow_private).lower()}\n',
                      encoding="utf-8")
    return str(config)


@pytest.fixture
def config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    return make_config(tmp_path, allow_private=True)


def watched(capsys: pytest.CaptureFixture[str], config: str) -> list[dict[str, object]]:
    code, out, err = call(capsys, "--config", config, "watch", "list", "--format", "json")
    assert code == 0, err
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def test_an_unknown_platform_is_exit_2_listing_the_known_ones(config: str,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "--config", config, "watch", "add", "--platform", "myspace", "--name", "Old band")
    assert code == 2
    assert "'myspace'" in err and "known:" in err
    assert all(p in err for p in ("telegram", "reddit", "discourse", "facebook"))
    assert watched(capsys, config) == []


def test_an_unresolvable_host_is_refused_with_the_host_named(config: str,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    for extra in ([], ["--platform", "discourse"]):
        code, _, err = call(capsys, "--config", config, "watch", "add", "https://forum.nosuchhost.invalid/", *extra)
        assert code == 2, err
        assert "forum.nosuchhost.invalid" in err and "does not resolve" in err
    assert watched(capsys, config) == []


def test_a_loopback_forum_is_accepted_only_where_private_addresses_are_allowed(
        tmp_path: Path, config: str, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}/"
    code, out, err = call(capsys, "--config", config, "watch", "add", url, "--platform", "discourse",
                          "--format", "json")
    assert code == 0, err
    assert json.loads(out)["platform"] == "discourse"
    strict = make_config(tmp_path / "strict", allow_private=False)
    code, _, err = call(capsys, "--config", strict, "watch", "add", url, "--platform", "discourse")
    assert code == 2 and "127.0.0.1" in err and "refuse" in err


@pytest.mark.parametrize("url", ["https://www.facebook.com/groups/miamoglie", "https://m.facebook.com/groups/123",
                                 "https://discord.gg/abcdef"])
def test_urls_of_uncrawlable_platforms_are_not_web_forums(config: str, capsys: pytest.CaptureFixture[str],
                                                          url: str) -> None:
    code, _, err = call(capsys, "--config", config, "watch", "add", url)
    assert code == 2
    assert "--platform" in err and "manual entry" in " ".join(err.split())
    assert watched(capsys, config) == []


def test_a_facebook_url_with_platform_facebook_is_a_manual_entry(config: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = call(capsys, "--config", config, "watch", "add", "https://www.facebook.com/groups/miamoglie",
                          "--platform", "facebook", "--name", "Mia Moglie", "--format", "json")
    assert code == 0, err
    row = json.loads(out)
    assert (row["platform"], row["title"]) == ("facebook", "Mia Moglie")
    code, out, err = call(capsys, "--config", config, "crawl", "--once", "--format", "json")
    assert code == 0, err
    assert [(r["outcome"], r["error"]) for r in json.loads(out)] == [("skipped", "entered by hand")]


def test_a_crawlable_platform_entered_by_name_alone_is_skipped_not_failed(config: str,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = call(capsys, "--config", config, "watch", "add", "--platform", "Telegram", "--name", "Old channel")
    assert code == 0, err
    code, out, err = call(capsys, "--config", config, "crawl", "--once", "--format", "json")
    assert code == 0, err
    assert [r["outcome"] for r in json.loads(out)] == ["skipped"]
