"""The platform contract runs over every registered plugin, the built-in ones and any a test defines in
tests/plugins/ (picked up here without touching another file)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import tests.plugins
from config.settings import Settings
from crawlers.base import Target, registered
from crawlers.registry import crawlable_platforms, plugins
from scheduler import crawl_interval
from tests.contract import check_plugin, check_records

for _info in pkgutil.iter_modules(tests.plugins.__path__):
    importlib.import_module(f"tests.plugins.{_info.name}")

ALL = plugins()


@pytest.mark.parametrize("platform", sorted(ALL))
def test_every_registered_plugin_meets_the_contract(platform: str) -> None:
    check_plugin(ALL[platform])


def test_the_built_in_platforms_and_the_test_plugin_are_registered() -> None:
    assert {"telegram", "reddit", "discourse", "phpbb", "xenforo", "web", "example_board"} <= set(ALL)


def test_a_test_plugin_needs_no_other_file_its_source_interval_and_crawlability_come_from_it() -> None:
    assert registered()["example_board"].platform == "example_board"
    assert "example_board" in crawlable_platforms()
    settings = Settings()
    assert crawl_interval(settings, "example_board", None).total_seconds() == settings.forums.interval_minutes * 60
    source = registered()["example_board"](settings)  # type: ignore[call-arg]
    check_records(list(source.crawl(Target(1, "example_board", None, "https://board.example/"))), "example_board")


def test_scheduler_intervals_come_from_each_plugin() -> None:
    settings = Settings(telegram={"interval_minutes": 7}, reddit={"interval_minutes": 11})
    assert crawl_interval(settings, "telegram", None).total_seconds() == 7 * 60
    assert crawl_interval(settings, "reddit", None).total_seconds() == 11 * 60
    assert crawl_interval(settings, "reddit", 3).total_seconds() == 3 * 60


@pytest.mark.parametrize(("text", "platform"), [
    ("https://t.me/s/some_channel", "telegram"), ("@some_channel", "telegram"),
    ("https://www.reddit.com/r/somesub", "reddit"), ("https://forum.example.org/", "web"),
])
def test_each_url_is_recognised_by_exactly_one_plugin(text: str, platform: str) -> None:
    owners = [p.platform for p in ALL.values() if p.recognise is not None and p.recognise(text) is not None]
    assert owners == [platform]
