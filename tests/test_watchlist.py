from __future__ import annotations

import pytest

from model.errors import UsageError
from model.targets import parse_target


@pytest.mark.parametrize(
    ("text", "platform", "handle"),
    [
        ("https://t.me/s/Example_Chan", "telegram", "example_chan"),
        ("t.me/example_chan", "telegram", "example_chan"),
        ("@Example_Chan", "telegram", "example_chan"),
        ("https://telegram.me/example_chan/", "telegram", "example_chan"),
        ("https://old.reddit.com/r/SomeSub/", "reddit", "somesub"),
        ("r/SomeSub", "reddit", "somesub"),
        ("https://forum.example.org/", "web", None),
    ],
)
def test_targets_are_recognised(text: str, platform: str, handle: str | None) -> None:
    target = parse_target(text)
    assert (target.platform, target.handle) == (platform, handle)


def test_forum_platform_can_be_given() -> None:
    target = parse_target("https://Forum.Example.org/board/", "discourse")
    assert (target.platform, target.url, target.native_id) == ("discourse", "https://forum.example.org/board",
                                                               "https://forum.example.org/board")


@pytest.mark.parametrize("bad", ["", "https://t.me/joinchat/AAAA", "javascript:alert(1)", "https://t.me/1abc"])
def test_bad_targets_name_the_input(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_target(bad)


# One Telegram handle rule (5-32 characters, starting with a letter) for `watch add` and link extraction:
# `watch add @abcd` used to be accepted while its own error message said 5-32 and links required 5.
@pytest.mark.parametrize("handle", ["abcd", "a" * 33, "1abcde", "_abcde", "abcd\u00e9"])
def test_telegram_handles_outside_the_rule_are_refused_by_watch_add_and_by_links(handle: str) -> None:
    from crawlers.links import classify_url

    with pytest.raises(UsageError, match="5-32"):
        parse_target("@" + handle)
    with pytest.raises(UsageError):
        parse_target(f"https://t.me/{handle}")
    found = classify_url(f"https://t.me/{handle}")
    assert found is None or found.handle is None


@pytest.mark.parametrize("handle", ["abcde", "a" * 32, "Some_Channel_1"])
def test_telegram_handles_within_the_rule_are_accepted_by_watch_add_and_by_links(handle: str) -> None:
    from crawlers.links import classify_url

    assert parse_target("@" + handle).handle == handle.lower()
    assert parse_target(f"https://t.me/s/{handle}").handle == handle.lower()
    found = classify_url(f"https://t.me/{handle}")
    assert found is not None and found.handle == handle.lower()
