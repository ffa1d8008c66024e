"""The platform contract runs over every registered plugin, the built-in ones and any a test defines in
tests/plugins/ (picked up here without touching another file)."""

from __future__ import annotations

import importlib
import json
import pkgutil
from pathlib import Path

import pytest

import tests.plugins
from config.settings import Settings
from crawlers.base import Target, registered
from crawlers.links import classify_url, extract_links, extract_links_html
from crawlers.registry import BUILTIN_PLUGINS, crawlable_platforms, link_recognisers, plugins
from scheduler import crawl_interval
from tests.conftest import TEST_KEY
from tests.contract import check_plugin, check_records
from tests.support.cli import call

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
    ("https://board.example/b/night_owls", "example_board"),
])
def test_each_url_is_recognised_by_exactly_one_plugin(text: str, platform: str) -> None:
    owners = [p.platform for p in ALL.values() if p.recognise is not None and p.recognise(text) is not None]
    assert owners == [platform]


def test_link_classification_asks_the_plugins_and_a_test_plugin_is_asked_too() -> None:
    """The example board's recogniser, declared in its one module, is what link extraction uses for its host."""
    text = "moved to https://board.example/b/Night_Owls/12 (rules: https://board.example/about), old t.me/night_owls"
    links = extract_links(text)
    assert [(link.url, link.platform, link.handle, link.post_id) for link in links] == [
        ("https://board.example/b/night_owls/12", "example_board", "night_owls", "12"),
        ("https://board.example/about", "web", None, None),
        ("https://t.me/night_owls", "telegram", "night_owls", None),
    ]
    html = '<p>new home: <a href="/b/night_owls">here</a></p>'
    [link] = extract_links_html(html, base_url="https://board.example/b/old_owls/3")
    assert (link.url, link.platform) == ("https://board.example/b/night_owls", "example_board")
    assert {recogniser.platform for recogniser in link_recognisers()} >= {
        "telegram", "reddit", "discourse", "phpbb", "xenforo", "example_board"}


def test_a_plugin_host_written_without_a_scheme_is_a_link_to_that_platform() -> None:
    """The example board declares its host in its one module; a post that names a board without ``https://``
    links to it like a ``t.me/x`` mention does, in plain text and in a page's visible text."""
    text = "we moved: Board.Example/b/Night_Owls/12, rules at board.example/about. file.txt e.g. board.example"
    assert [(link.url, link.platform, link.handle, link.post_id, link.raw) for link in extract_links(text)] == [
        ("https://board.example/b/night_owls/12", "example_board", "night_owls", "12",
         "Board.Example/b/Night_Owls/12"),
        ("https://board.example/about", "web", None, None, "board.example/about"),
    ]
    [link] = extract_links_html("<p>new home:<br>board.example/b/night_owls</p>")
    assert (link.url, link.platform, link.handle) == ("https://board.example/b/night_owls", "example_board",
                                                      "night_owls")


@pytest.mark.parametrize("platform", sorted(ALL))
def test_every_host_a_plugin_declares_for_bare_mentions_is_one_its_recogniser_owns(platform: str) -> None:
    from crawlers.links import parse_url

    recogniser = ALL[platform].links
    for host in recogniser.hosts if recogniser is not None else ():
        assert recogniser is not None and recogniser.match(parse_url(f"{host}/")) is not None, host


@pytest.mark.parametrize("text", [
    "notboard.example/b/night_owls/12",  # another host that ends in the declared one
    "mirror.board.example/b/night_owls",  # a subdomain the plugin did not declare
    "mail me at owls@board.example/b/night_owls",  # an address, not a link
    "board.examples/b/night_owls",  # a longer name
    "board.example alone, or board.example. at the end of a sentence",  # no path: a word, not a link
    "see file.txt and e.g. notes.md/draft",  # dotted words nobody declared
])
def test_words_that_only_resemble_a_plugin_host_are_no_links(text: str) -> None:
    assert extract_links(text) == []


@pytest.mark.parametrize(("url", "platform"), [
    ("https://t.me/some_channel/5", "telegram"), ("tg://resolve?domain=some_channel", "telegram"),
    ("https://some_channel.t.me", "telegram"), ("https://old.reddit.com/r/somesub", "reddit"),
    ("https://redd.it/abc12", "reddit"), ("https://forum.example.org/t/moving-day/42", "discourse"),
    ("https://forum.example.org/viewtopic.php?t=7", "phpbb"),
    ("https://forum.example.org/threads/moving.7/", "xenforo"), ("https://board.example/b/night_owls", "example_board"),
])
def test_each_link_is_claimed_by_exactly_one_plugin(url: str, platform: str) -> None:
    from crawlers.links import LinkMatch, parse_url

    parts = parse_url(url)
    claims = [r.platform for r in link_recognisers() if isinstance(r.match(parts), LinkMatch)]
    assert claims == [platform]
    link = classify_url(url)
    assert link is not None and link.platform == platform


def test_built_in_packages_declare_their_link_recogniser_once_for_the_plugin_and_for_link_extraction() -> None:
    for module_name in BUILTIN_PLUGINS:
        module = importlib.import_module(module_name)
        declared = getattr(module, "LINKS", None)
        assert declared is module.PLUGIN.links, module_name
        if declared is not None:
            assert declared in link_recognisers()


def test_watch_add_takes_a_new_platforms_url_from_its_plugin_and_crawls_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", TEST_KEY.decode())
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    config = tmp_path / "resurface.toml"
    config.write_text('data_dir = "data"\n', encoding="utf-8")
    code, out, err = call(capsys, "--config", str(config), "watch", "add", "https://board.example/b/Night_Owls",
                          "--format", "json")
    assert code == 0, err
    row = json.loads(out)
    assert (row["platform"], row["handle"], row["url"]) == (
        "example_board", "night_owls", "https://board.example/b/night_owls")
    code, out, err = call(capsys, "--config", str(config), "crawl", "--once", "--format", "json")
    assert code == 0, err
    assert [(r["source"], r["outcome"]) for r in json.loads(out)] == [("example_board", "ok")]


def test_lead_discovery_follows_links_to_a_new_platform_once_its_plugin_is_registered() -> None:
    """A link to the example board is a lead to follow (not a private invite for a human), because its
    plugin is registered; nothing in detect/ names the platform."""
    from datetime import UTC, datetime

    from config.settings import CrawlSettings
    from detect.leads import LinkView, decide

    def link(platform: str, handle: str, url: str) -> LinkView:
        return LinkView(1, 1, 1, url, "community", platform, handle, None, False, datetime(2026, 3, 1, tzinfo=UTC))

    crawl = CrawlSettings(lead_platforms=["telegram", "example_board"])
    board = decide(link("example_board", "night_owls", "https://board.example/b/night_owls"), 0, crawl, None)
    assert (board.state, board.reason) == ("watching", "public lead within depth and filters")
    # a platform nobody crawls is still a lead for a person, never followed
    chat = decide(link("whatsapp", "AbCdEf", "https://chat.whatsapp.com/AbCdEf"), 0, crawl, None)
    assert chat.state == "needs_human"
