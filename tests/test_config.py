from __future__ import annotations

from pathlib import Path

import pytest

from config.loader import load_settings
from model.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "resurface.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_a_file_are_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, env={})
    assert settings.crawl.allow_private_addresses is False
    assert settings.privacy.store_raw_member_ids is False
    assert settings.telegram.web_base_url == "https://t.me"
    assert settings.store_url.endswith("data/resurface.db")


def test_shipped_example_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parents[1] / "config" / "example.toml"
    settings = load_settings(example, env={})
    assert settings.search.backend == "embedded"


def test_values_and_relative_paths_come_from_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, 'data_dir = "state"\n[crawl]\nmax_pages = 3\n[crawl.rate_limits]\n"t.me" = 0.5\n')
    settings = load_settings(path, env={})
    assert settings.crawl.max_pages == 3
    assert settings.crawl.rate_limits == {"t.me": 0.5}
    assert settings.data_path == tmp_path / "state"


def test_environment_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[crawl]\nmax_pages = 3\n")
    env = {"RESURFACE__CRAWL__MAX_PAGES": "7", "RESURFACE__STORE__URL": "postgresql+psycopg://x@h/db"}
    settings = load_settings(path, env=env)
    assert settings.crawl.max_pages == 7
    assert settings.store_url == "postgresql+psycopg://x@h/db"


def test_config_path_from_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[crawl]\nmax_pages = 4\n")
    assert load_settings(None, env={"RESURFACE_CONFIG": str(path)}).crawl.max_pages == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[crawl]\nmax_pages = \n", "line 2"),  # syntax error names the line
        ("[crawl\n", "line 1"),
        ("[crawl]\nmax_pagez = 3\n", "unknown key 'crawl.max_pagez'"),
        ("colour = 'red'\n", "unknown key 'colour'"),
        ("[crawl]\nmax_pages = 'many'\n", "key 'crawl.max_pages'"),
        ("[crawl]\nmax_pages = 0\n", "key 'crawl.max_pages'"),
        ("[search]\nbackend = 'solr'\n", "key 'search.backend'"),
        ("[alerts.audiences.ngo]\ndetail = 'everything'\n", "key 'alerts.audiences.ngo.detail'"),
    ],
)
def test_bad_config_names_file_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    message = str(info.value)
    assert str(path) in message
    assert expected in message
    assert info.value.exit_code == 2


def test_bad_environment_override_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError, match=r"crawl\.max_pages"):
        load_settings(path, env={"RESURFACE__CRAWL__MAX_PAGES": "lots"})


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml", env={})


@pytest.mark.parametrize("value", ['"yes"', '"on"', "1", '"1"', '"enabled"'])
def test_booleans_are_true_or_false_only(tmp_path: Path, value: str) -> None:
    """Lax parsing read the string "yes" as true and switched on crawling of private addresses."""
    path = tmp_path / "resurface.toml"
    path.write_text(f"[crawl]\nallow_private_addresses = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_settings(path, env={})
    assert "crawl.allow_private_addresses" in str(info.value) and "true or false" in str(info.value)
    assert str(path) in str(info.value)


def test_boolean_environment_overrides_take_the_words_true_and_false(tmp_path: Path) -> None:
    path = tmp_path / "resurface.toml"
    path.write_text("[crawl]\nallow_private_addresses = true\n", encoding="utf-8")
    assert load_settings(path, env={}).crawl.allow_private_addresses is True
    env = {"RESURFACE__CRAWL__ALLOW_PRIVATE_ADDRESSES": "False"}
    assert load_settings(path, env=env).crawl.allow_private_addresses is False
    with pytest.raises(ConfigError):
        load_settings(path, env={"RESURFACE__CRAWL__ALLOW_PRIVATE_ADDRESSES": "yes"})
