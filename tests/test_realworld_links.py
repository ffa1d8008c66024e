"""Link extraction over text recorded from the real services (the real-world corpus, never copied
here). Expected values were written by hand after reading each recording, or come from a tiny
separate reader (json plus a one-line regex, or lxml) - never from the extractor under test."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import urljoin

from lxml import html as lxml_html

from crawlers.links import classify_url, extract_links, extract_links_html
from model.records import LinkKind
from tests.support.realworld import realworld_text


def reddit_json(*parts: str) -> Any:
    data = json.loads(realworld_text("reddit", *parts))
    return json.loads(data["body"]) if isinstance(data, dict) and "body" in data and "_source" in data else data


def test_announcements_sidebar_see_also_mentions() -> None:
    """r/announcements' sidebar ends "See also: * r/blog * r/changelog" as bare mentions."""
    about = reddit_json("praw", "about_announcements.json")["data"]
    links = extract_links(about["description"])
    assert [(link.url, link.raw, link.kind) for link in links] == [
        ("https://www.reddit.com/r/blog", "r/blog", LinkKind.REDDIT_SUBREDDIT),
        ("https://www.reddit.com/r/changelog", "r/changelog", LinkKind.REDDIT_SUBREDDIT),
    ]


def test_me_irl_sidebar_family_and_posts() -> None:
    """r/me_irl's sidebar: the "me irl family" as Markdown links, escaped ``\\/r\\/me_irl`` and bare
    ``/r/...`` mentions, 46 distinct post links, and outside links; the mod's profile never."""
    description = reddit_json("more", "asyncpraw_about_me_irl.json")["data"]["description"]
    links = extract_links(description)
    subs = {link.handle for link in links if link.kind is LinkKind.REDDIT_SUBREDDIT}
    # read by hand from the recording ("check out the me irl family!")
    assert subs == {"me_irl", "meow_irl", "woof_irl", "metal_me_irl", "me_irl_neue", "woofbarkwoof"}
    posts = {link.post_id for link in links if link.kind is LinkKind.REDDIT_POST}
    truth = {post.lower() for _, post in re.findall(r"reddit\.com/r/(\w+)/comments/(\w+)", description)}
    assert posts == truth and len(truth) == 46
    urls = {link.url for link in links}
    assert "https://www.youtube.com/watch?v=B_qnI1WrlnU" in urls
    assert "https://myanimelist.net/anime/975/Yokohama_Kaidashi_Kikou" in urls
    assert "https://kuvshinov-ilya.deviantart.com/art/Yokohama-Kaidashi-Kikou-485745885" in urls
    assert not any("%5D" in url or "](" in url or url.endswith(")") for url in urls)  # nothing mangled


def test_ferguson_selftext_bare_slash_r_mentions() -> None:
    listing = reddit_json("praw", "ferguson_hot_200.json")
    selftext = listing["data"]["children"][0]["data"]["selftext"]
    assert [link.url for link in extract_links(selftext)] == [
        "https://www.reddit.com/r/coontown",
        "https://www.reddit.com/r/ferguson",
    ]


def test_comment_with_a_url_as_its_own_link_text() -> None:
    """Comment fldmv9x on fo7p5b: ``[https://imgur.com/a/5UXV2VJ](https://imgur.com/a/5UXV2VJ)``."""
    thread = reddit_json("praw", "comments_fo7p5b.json")
    comment = next(c["data"] for c in thread[1]["data"]["children"] if c["data"].get("id") == "fldmv9x")
    assert [link.url for link in extract_links(comment["body"])] == ["https://imgur.com/a/5UXV2VJ"]


def test_every_comment_link_is_clean() -> None:
    """No link from any of the 492 loaded comments of fo7p5b is a Markdown fragment glued to a URL."""
    thread = reddit_json("praw", "comments_fo7p5b.json")
    bodies: list[str] = []
    stack = list(thread[1]["data"]["children"])
    while stack:
        data = stack.pop()["data"]
        if "body" in data:
            bodies.append(data["body"])
        replies = data.get("replies")
        if isinstance(replies, dict):
            stack.extend(replies["data"]["children"])
    assert len(bodies) >= 400
    urls = [link.url for body in bodies for link in extract_links(body)]
    assert urls and not [u for u in urls if "%5D(" in u or "](" in u]


def test_telegram_hashtag_links_are_not_the_channel() -> None:
    """A recorded preview message links its two hashtags as ``?q=%23...``: resolved against the
    channel page they are searches, and no link at all; the message's real links remain."""
    page = realworld_text("telegram", "message_blocks", "message_media_photo_and_video.html")
    base = "https://t.me/s/anna_news"
    hrefs = [str(a.get("href")) for a in lxml_html.fromstring(page).iter("a") if a.get("href")]
    hashtags = [urljoin(base, h) for h in hrefs if h.startswith("?q=")]
    assert len(hashtags) == 2
    assert [classify_url(url) for url in hashtags] == [None, None]
    links = extract_links_html(page, base_url=base)
    assert {link.url for link in links} == {
        "https://t.me/anna_news", "https://t.me/anna_news/46908", "https://t.me/anna_news/46909",
        "https://t.me/anna_news/46910",
    }
