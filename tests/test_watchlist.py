from __future__ import annotations

import pytest

from config.errors import UsageError
from config.watchlist import parse_target


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
