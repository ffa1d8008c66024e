"""Conformance: every Reddit recording in the real-world corpus, served on loopback with the status,
headers and body Reddit sent, read end to end by the real PRAW-based crawler.

The recordings come from PRAW's own test cassettes (see SOURCES.md): ``praw/meta.json`` gives each
bare body's request URI and status, ``more/*.json`` are whole envelopes. They were made by PRAW's
tests, not by our crawler, so some answered requests our crawler never sends (``/hot``, ``/top``,
``/api/v1/me``, ``/r/random``): each is served at the request our crawler does send for the same kind
of answer (an about page, a ``/new`` listing, a comments page), body, status and headers unchanged
except the framing headers (Content-Length, Transfer-Encoding, Connection, Content-Encoding) that
the loopback server writes itself. Where the crawler needs an answer no recording holds (the about
page of a subreddit whose listing was recorded, an empty next page), the test builds it from a
recorded one and says so.

Expected values come from a tiny json reader in this file or were written by hand after reading
the recording, never from the crawler.
"""

from __future__ import annotations

import json
import sqlite3
import time
import types
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import prawcore.rate_limit
import pytest

from config.settings import CrawlSettings, RedditSettings, Settings
from crawlers.base import Target
from crawlers.reddit.source import RedditSource, name_search
from model.records import (
    STATUS_DEFINITIVE,
    STATUS_EVIDENCE,
    CommunitySnapshot,
    CommunityStatus,
    LinkKind,
    Membership,
    Record,
)
from store.db import Store
from store.ingest import IngestContext, ingest
from tests.conftest import TEST_KEY
from tests.contract import check_records, posts_of
from tests.support.httpserver import HttpServer, RecordedRequest, Reply
from tests.support.realworld import realworld_dir, realworld_text

ENV = {"REDDIT_CLIENT_ID": "abcCLIENTid", "REDDIT_CLIENT_SECRET": "s3cr3t-value",
       "REDDIT_USER_AGENT": "resurface-tests/1.0"}
FRAMING = frozenset({"content-length", "transfer-encoding", "connection", "content-encoding"})
JSON_TYPE = "application/json; charset=UTF-8"
EMPTY_LISTING = {"kind": "Listing", "data": {"children": [], "after": None, "before": None}}


# --- reading the corpus (independently of the crawler) ----------------------------------------


def envelope(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(realworld_text("reddit", "more", f"{name}.json"))
    return data


def envelope_body(name: str) -> Any:
    return json.loads(envelope(name)["body"])


def praw_meta() -> dict[str, dict[str, Any]]:
    meta: dict[str, dict[str, Any]] = json.loads(realworld_text("reddit", "praw", "meta.json"))
    return meta


def praw_body(file: str) -> Any:
    return json.loads(realworld_text("reddit", "praw", file))


def recorded(name: str) -> Reply:
    """A ``more/`` envelope as Reddit sent it (cassette headers are strings or lists of strings)."""
    env = envelope(name)
    headers: list[tuple[str, str]] = []
    for key, value in env["headers"].items():
        if key.lower() in FRAMING:
            continue
        for one in value if isinstance(value, list) else [value]:
            headers.append((key, str(one)))
    return Reply(int(env["status"]["code"]), headers, str(env["body"]).encode("utf-8"))


def recorded_praw(key: str) -> Reply:
    """A ``praw/`` body with the status and rate-limit headers ``meta.json`` gives for it."""
    meta = praw_meta()[key]
    headers = {"Content-Type": JSON_TYPE, **meta["rl"]}
    body = (realworld_dir() / "reddit" / "praw" / meta["file"]).read_bytes()
    return Reply(int(meta["status"]), headers, body)


def json_reply(obj: Any, status: int = 200) -> Reply:
    return Reply(status, {"Content-Type": JSON_TYPE}, json.dumps(obj).encode("utf-8"))


def modelled_about(display_name: str, fullname: str) -> Reply:
    """An about page for a subreddit whose about page was not recorded: r/announcements' recorded
    about page (praw/about_announcements.json) with the name and id swapped."""
    about = praw_body("about_announcements.json")
    about["data"].update(display_name=display_name, name=fullname, id=fullname.split("_", 1)[1],
                         title=f"{display_name} (modelled)", description="", public_description="")
    return json_reply(about)


def children(listing: Any) -> list[dict[str, Any]]:
    return [c["data"] for c in listing["data"]["children"] if c["kind"] == "t3"]


# --- the loopback Reddit ------------------------------------------------------------------------


@pytest.fixture
def reddit(http_server: HttpServer, monkeypatch: pytest.MonkeyPatch) -> HttpServer:
    """The OAuth token endpoint answers with the recorded token. prawcore's own rate limiter honours
    the recorded ``x-ratelimit-*`` headers by sleeping (up to 10 s); its sleep is replaced so that the
    tests never wait on a clock."""
    http_server.route("/api/v1/access_token", recorded_praw("token"), method="POST")
    waits: list[float] = []
    fake_time = types.SimpleNamespace(monotonic_ns=time.monotonic_ns, sleep=waits.append)
    monkeypatch.setattr(prawcore.rate_limit, "time", fake_time)
    return http_server


def source_for(server: HttpServer, *, comments: int = 0, pages: int = 1,
               sleeps: list[float] | None = None) -> RedditSource:
    settings = Settings(crawl=CrawlSettings(allow_private_addresses=True, max_pages=pages),
                        reddit=RedditSettings(oauth_url=server.base_url, reddit_url=server.base_url,
                                              comments_per_post=comments))
    waits = sleeps if sleeps is not None else []
    return RedditSource(settings, env=ENV, sleep=waits.append)


def crawl(server: HttpServer, name: str, **kw: Any) -> list[Record]:
    source = source_for(server, **kw)
    try:
        records = list(source.crawl(Target(1, "reddit", name, f"https://www.reddit.com/r/{name}")))
    finally:
        source.close()
    check_records(records, platform="reddit")
    return records


def asked(server: HttpServer) -> list[str]:
    return [r.path_only for r in server.requests]


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


# --- about pages ----------------------------------------------------------------------------------


ABOUT_PAGES = {
    # name: (how to serve it, its body as read independently)
    "announcements": (lambda: recorded_praw("about_announcements"), lambda: praw_body("about_announcements.json")),
    "me_irl": (lambda: recorded("asyncpraw_about_me_irl"), lambda: envelope_body("asyncpraw_about_me_irl")),
    "redditrequest": (lambda: recorded("asyncpraw_about_redditrequest"),
                      lambda: envelope_body("asyncpraw_about_redditrequest")),
    "reddit.com": (lambda: recorded("asyncpraw_about_reddit.com"), lambda: envelope_body("asyncpraw_about_reddit.com")),
}


@pytest.mark.parametrize("name", list(ABOUT_PAGES))
def test_about_page_snapshot(reddit: HttpServer, name: str) -> None:
    serve, read = ABOUT_PAGES[name]
    reddit.route(f"/r/{name}/about/", serve())
    reddit.route(f"/r/{name}/new", json_reply(EMPTY_LISTING))  # no listing recorded for these: an empty one
    about = read()["data"]
    records = crawl(reddit, name)
    snap = records[0]
    assert isinstance(snap, CommunitySnapshot)
    assert (snap.native_id, snap.handle, snap.title) == (about["name"], about["display_name"], about["title"])
    assert snap.member_count == about["subscribers"]
    assert snap.created_at == utc(about["created_utc"])
    assert snap.status == CommunityStatus.ACTIVE and snap.extra[STATUS_DEFINITIVE] is True
    assert snap.extra["subreddit_type"] == about["subreddit_type"]
    assert snap.extra["archived"] is (about["subreddit_type"] == "archived")
    assert asked(reddit) == ["/api/v1/access_token", f"/r/{name}/about/", f"/r/{name}/new"]


def test_announcements_subscribers_and_sidebar_links(reddit: HttpServer) -> None:
    reddit.route("/r/announcements/about/", recorded_praw("about_announcements"))
    reddit.route("/r/announcements/new", json_reply(EMPTY_LISTING))
    records = crawl(reddit, "announcements")
    assert isinstance(records[0], CommunitySnapshot) and records[0].member_count == 47_456_009  # by hand
    [sidebar] = [p for p in posts_of(records) if p.kind == "service"]
    assert [link.url for link in sidebar.links] == ["https://www.reddit.com/r/blog",
                                                     "https://www.reddit.com/r/changelog"]


def test_me_irl_sidebar_family(reddit: HttpServer) -> None:
    reddit.route("/r/me_irl/about/", recorded("asyncpraw_about_me_irl"))
    reddit.route("/r/me_irl/new", json_reply(EMPTY_LISTING))
    records = crawl(reddit, "me_irl")
    assert isinstance(records[0], CommunitySnapshot) and records[0].member_count == 4_043_530  # by hand
    [sidebar] = [p for p in posts_of(records) if p.kind == "service"]
    subs = {link.handle for link in sidebar.links if link.kind is LinkKind.REDDIT_SUBREDDIT}
    assert subs == {"me_irl", "meow_irl", "woof_irl", "metal_me_irl", "me_irl_neue", "woofbarkwoof"}


def test_archived_subreddit_is_readable_and_marked(reddit: HttpServer) -> None:
    reddit.route("/r/reddit.com/about/", recorded("asyncpraw_about_reddit.com"))
    reddit.route("/r/reddit.com/new", json_reply(EMPTY_LISTING))
    snap = crawl(reddit, "reddit.com")[0]
    assert isinstance(snap, CommunitySnapshot)
    assert (snap.status, snap.extra["archived"]) == (CommunityStatus.ACTIVE, True)
    assert "archived" in snap.extra[STATUS_EVIDENCE]


# --- listings -------------------------------------------------------------------------------------


LISTINGS = {
    # name: (subreddit, how to serve the listing, the listing as read independently)
    "askreddit_new_2016": ("askreddit", lambda: recorded_praw("askreddit_new"),
                           lambda: praw_body("askreddit_new.json")),
    "ferguson_after_opt_in_2016": ("ferguson", lambda: recorded_praw("ferguson_hot"),
                                   lambda: praw_body("ferguson_hot_200.json")),
    "quarantined_after_opt_in_2020": ("tiananmenaquarefalse",
                                      lambda: recorded("asyncpraw_quarantined_after_optin_top_listing"),
                                      lambda: envelope_body("asyncpraw_quarantined_after_optin_top_listing")),
    "all_new_2021": ("all", lambda: recorded("asyncpraw_r_all_new_listing"),
                     lambda: envelope_body("asyncpraw_r_all_new_listing")),
}


@pytest.mark.parametrize("case", list(LISTINGS))
def test_listing_posts_read_without_extra_requests(reddit: HttpServer, case: str) -> None:
    """Ids, titles, UTC dates, scores and authors of every post a recorded listing holds, with
    exactly the requests the crawl needs: an item without ``author_fullname`` (every one before 2018)
    or with a ``[deleted]`` author must not make PRAW fetch it again."""
    name, serve, read = LISTINGS[case]
    reddit.route(f"/r/{name}/about/", modelled_about(name, "t5_2qh0u"))
    reddit.route(f"/r/{name}/new", serve())
    items = children(read())[:100]  # one page of 100: what the crawler asks for
    records = crawl(reddit, name)
    assert asked(reddit) == ["/api/v1/access_token", f"/r/{name}/about/", f"/r/{name}/new"]
    posts = [p for p in posts_of(records) if p.kind == "post"]
    expected = list(reversed(items))  # oldest first
    assert [p.native_post_id for p in posts] == [f"t3_{i['id']}" for i in expected]
    assert [p.thread_title for p in posts] == [i["title"] for i in expected]
    assert [p.created_at for p in posts] == [utc(i["created_utc"]) for i in expected]
    assert all(p.created_at is not None and p.created_at.utcoffset() is not None and
               p.created_at.utcoffset().total_seconds() == 0 for p in posts)
    assert [p.extra["score"] for p in posts] == [i["score"] for i in expected]
    authors = [None if i["author"] == "[deleted]" else (i.get("author_fullname"), i["author"]) for i in expected]
    assert [(p.author.user_id, p.author.handle) if p.author else None for p in posts] == authors
    members = {m.member.handle for m in records if isinstance(m, Membership)}
    assert members == {a[1] for a in authors if a}


def test_quarantined_listing_has_its_two_deleted_authors(reddit: HttpServer) -> None:
    name = "tiananmenaquarefalse"
    reddit.route(f"/r/{name}/about/", modelled_about(name, "t5_2qh0u"))
    reddit.route(f"/r/{name}/new", recorded("asyncpraw_quarantined_after_optin_top_listing"))
    posts = [p for p in posts_of(crawl(reddit, name)) if p.kind == "post"]
    assert len(posts) == 8 and sum(p.author is None for p in posts) == 2  # counted by hand


def test_paging_follows_the_recorded_after_cursor(reddit: HttpServer) -> None:
    """r/all/new: the first recorded page ends with ``after``; the crawler asks for the next page with
    it. The second page served is the recorded ``before=`` page of the same stream (the only other
    recorded page of it)."""
    first = envelope_body("asyncpraw_r_all_new_listing")
    second = envelope_body("asyncpraw_r_all_new_before_listing")
    assert first["data"]["after"] == "t3_kzj64n"  # read by hand too

    def new(request: RecordedRequest) -> Reply:
        after = parse_qs(request.query).get("after")
        if not after:
            return recorded("asyncpraw_r_all_new_listing")
        if after == [first["data"]["after"]]:
            return recorded("asyncpraw_r_all_new_before_listing")
        return json_reply(EMPTY_LISTING)

    reddit.route("/r/all/about/", modelled_about("all", "t5_2qh0u"))
    reddit.route("/r/all/new", new)
    records = crawl(reddit, "all", pages=2)
    pages = [parse_qs(urlsplit(r.target).query).get("after") for r in reddit.requests_for("/r/all/new")]
    assert pages[:2] == [None, ["t3_kzj64n"]]
    got = {p.native_post_id for p in posts_of(records) if p.kind == "post"}
    assert got == {f"t3_{i['id']}" for i in children(first) + children(second)}


def test_crossposts_name_their_origin(reddit: HttpServer) -> None:
    listing = envelope_body("asyncpraw_r_all_new_listing")
    crossposts = [i for i in children(listing) if i.get("crosspost_parent")]
    assert len(crossposts) == 1
    origin = crossposts[0]["crosspost_parent_list"][0]
    reddit.route("/r/all/about/", modelled_about("all", "t5_2qh0u"))
    reddit.route("/r/all/new", recorded("asyncpraw_r_all_new_listing"))
    posts = {p.native_post_id: p for p in posts_of(crawl(reddit, "all")) if p.kind == "post"}
    fwd = posts[f"t3_{crossposts[0]['id']}"].forwarded_from
    assert fwd is not None
    assert (fwd.platform, fwd.post_id, fwd.handle, fwd.native_id) == (
        "reddit", crossposts[0]["crosspost_parent"], origin["subreddit"], origin["subreddit_id"])
    assert sum(p.forwarded_from is not None for p in posts.values()) == 1


def test_pseudonymous_authors_never_reach_the_store_raw(reddit: HttpServer, sqlite_store: Store,
                                                        tmp_path: Path) -> None:
    reddit.route("/r/ferguson/about/", modelled_about("ferguson", "t5_2qh0u"))
    reddit.route("/r/ferguson/new", recorded_praw("ferguson_hot"))
    records = crawl(reddit, "ferguson")
    with sqlite_store.session() as session:
        ingest(session, records, IngestContext(key=TEST_KEY))
    items = children(praw_body("ferguson_hot_200.json"))
    prose = " ".join(f"{i['title']} {i['selftext']} {i['url']} {i['permalink']}" for i in items)
    raw_authors = {i["author"] for i in items if i["author"] != "[deleted]" and len(i["author"]) >= 6}
    raw_authors = {a for a in raw_authors if a.lower() not in prose.lower()}
    assert len(raw_authors) > 20
    db = sqlite3.connect(tmp_path / "resurface.db")
    dump = "\n".join(db.iterdump())
    db.close()
    assert [a for a in raw_authors if a in dump] == []
    assert "wiseprogressivethink" not in dump  # the most frequent author, by hand


# --- comments -------------------------------------------------------------------------------------


def comment_ids(thread: Any) -> set[str]:
    ids: set[str] = set()
    stack = list(thread[1]["data"]["children"])
    while stack:
        child = stack.pop()
        if child["kind"] != "t1":
            continue
        ids.add(child["data"]["id"])
        replies = child["data"].get("replies")
        if isinstance(replies, dict):
            stack.extend(replies["data"]["children"])
    return ids


@pytest.mark.parametrize(("post_id", "serve", "read"), [
    ("fo7p5b", lambda: recorded_praw("comments_fo7p5b"), lambda: praw_body("comments_fo7p5b.json")),
    ("n49rw", lambda: recorded_praw("comments_n49rw"), lambda: praw_body("comments_n49rw.json")),
    ("6vx8n0", lambda: recorded("praw_comments_crosspost"), lambda: envelope_body("praw_comments_crosspost")),
], ids=["poll-2020", "large-tree-2016", "crosspost-2017"])
def test_comment_pages(reddit: HttpServer, post_id: str, serve: Any, read: Any) -> None:
    """The listing item is the submission as its own comments page recorded it (element 0): comments
    recorded before 2017 carry neither ``permalink`` nor ``author_fullname``, and neither may cost a
    request to ``/api/info``."""
    thread = read()
    reddit.route("/r/watched/about/", modelled_about("watched", "t5_2qh0u"))
    reddit.route("/r/watched/new", json_reply(thread[0]))
    reddit.route(f"/comments/{post_id}/", serve())
    records = crawl(reddit, "watched", comments=100)
    item = thread[0]["data"]["children"][0]["data"]
    comments_page = [f"/comments/{post_id}/"] if item["num_comments"] else []  # none to read: not asked
    assert asked(reddit) == ["/api/v1/access_token", "/r/watched/about/", "/r/watched/new", *comments_page]
    [post] = [p for p in posts_of(records) if p.kind == "post"]
    parent = item.get("crosspost_parent")
    assert (post.forwarded_from.post_id if post.forwarded_from else None) == parent
    truth = comment_ids(thread)
    comments = [p for p in posts_of(records) if p.kind == "comment"]
    assert len(comments) == min(100, len(truth))
    assert {c.native_post_id for c in comments} <= {f"t1_{i}" for i in truth}
    assert all(c.url.startswith(reddit.base_url + "/") and c.url.rstrip("/").endswith(c.native_post_id[3:])
               for c in comments)
    assert all(c.thread_id == f"t3_{post_id}" for c in comments)
    if post_id == "fo7p5b":
        by_id = {c.native_post_id: c for c in comments}
        assert [link.url for link in by_id["t1_fldmv9x"].links] == ["https://imgur.com/a/5UXV2VJ"]


def test_deleted_comment_has_no_author(reddit: HttpServer) -> None:
    """The recorded ``/api/info`` answer for a deleted comment, served inside a comments page for its
    submission (the submission modelled on praw/listing_from_fo7p5b.json, id and count swapped)."""
    deleted = envelope_body("praw_info_deleted_comment")["data"]["children"][0]
    post_id = deleted["data"]["link_id"].split("_", 1)[1]
    submission = praw_body("listing_from_fo7p5b.json")
    item = submission["data"]["children"][0]["data"]
    item.update(id=post_id, name=f"t3_{post_id}", num_comments=1, permalink=f"/r/watched/comments/{post_id}/x/")
    thread = [submission, {"kind": "Listing", "data": {"children": [deleted], "after": None, "before": None}}]
    reddit.route("/r/watched/about/", modelled_about("watched", "t5_2qh0u"))
    reddit.route("/r/watched/new", json_reply(submission))
    reddit.route(f"/comments/{post_id}/", json_reply(thread))
    records = crawl(reddit, "watched", comments=100)
    [comment] = [p for p in posts_of(records) if p.kind == "comment"]
    assert (comment.native_post_id, comment.author, comment.text) == (f"t1_{deleted['data']['id']}", None,
                                                                       "[deleted]")
    assert "/api/info/" not in asked(reddit)


# --- refusals and statuses -------------------------------------------------------------------------


STATUS_CASES = [
    # recorded answers: (how to serve, status, definitive, evidence)
    ("ferguson_403", lambda: recorded_praw("ferguson_403"), CommunityStatus.PRIVATE, False, "bare 403 without reason"),
    ("prawcore_403_plain", lambda: recorded("prawcore_403_plain"), CommunityStatus.PRIVATE, False,
     "bare 403 without reason"),
    ("quarantined_403", lambda: recorded("asyncpraw_quarantined_403_tiananmenaquarefalse_top"),
     CommunityStatus.QUARANTINED, True, "HTTP 403 with reason 'quarantined'"),
    ("praw_404_bare", lambda: recorded("praw_404_traffic_not_public"), CommunityStatus.DELETED, False,
     "bare 404 without reason"),
    ("prawcore_404_other_reason", lambda: recorded("prawcore_404_wiki_page_not_created"), CommunityStatus.DELETED,
     False, "HTTP 404 with unrecognised reason 'PAGE_NOT_CREATED'"),
    ("asyncpraw_302_random", lambda: recorded("asyncpraw_r_random_302"), CommunityStatus.DELETED, False,
     "HTTP 302 redirect to /r/ForeverAloneDating/, not to /subreddits/search"),
    ("prawcore_302_random", lambda: recorded("prawcore_r_random_302"), CommunityStatus.DELETED, False,
     "HTTP 302 redirect to /r/RelayForReddit/, not to /subreddits/search"),
    ("prawcore_301", lambda: recorded("prawcore_t_bird_301"), CommunityStatus.DELETED, False,
     "HTTP 301 redirect to /r/t:bird/, not to /subreddits/search"),
    # no recording exists: modelled on the recorded 404/403 shapes above ({"reason", "message", "error"})
    ("modelled_404_banned", lambda: json_reply({"reason": "banned", "message": "Not Found", "error": 404}, 404),
     CommunityStatus.BANNED, True, "HTTP 404 with reason 'banned'"),
    ("modelled_403_private", lambda: json_reply({"reason": "private", "message": "Forbidden", "error": 403}, 403),
     CommunityStatus.PRIVATE, True, "HTTP 403 with reason 'private'"),
    # modelled on the recorded 302 shape (prawcore_r_random_302), pointing where Reddit sends a name
    # that does not exist
    ("modelled_302_search", lambda: Reply(302, {"Location": "https://oauth.reddit.com/subreddits/search.json?q=x"}),
     CommunityStatus.DELETED, True, "HTTP 302 redirect to /subreddits/search (no such subreddit)"),
]


@pytest.mark.parametrize(("case", "serve", "status", "definitive", "evidence"), STATUS_CASES,
                         ids=[c[0] for c in STATUS_CASES])
def test_refused_about_page_status(reddit: HttpServer, case: str, serve: Any, status: str, definitive: bool,
                                   evidence: str) -> None:
    reddit.route("/r/watched/about/", serve())
    records = crawl(reddit, "watched")
    [snap] = records
    assert isinstance(snap, CommunitySnapshot) and snap.native_id is None
    assert (snap.status, snap.extra[STATUS_DEFINITIVE], snap.extra[STATUS_EVIDENCE]) == (status, definitive, evidence)
    assert asked(reddit) == ["/api/v1/access_token", "/r/watched/about/"]  # no redirect followed


def test_429_with_retry_after_waits_then_reads(reddit: HttpServer) -> None:
    reply = recorded("prawcore_429_with_retry_headers")
    assert envelope("prawcore_429_with_retry_headers")["headers"]["retry-after"] == ["4"]
    reddit.route("/r/announcements/about/", reply, recorded_praw("about_announcements"))
    reddit.route("/r/announcements/new", json_reply(EMPTY_LISTING))
    sleeps: list[float] = []
    records = crawl(reddit, "announcements", sleeps=sleeps)
    assert sleeps == [4.0]
    assert isinstance(records[0], CommunitySnapshot) and records[0].status == CommunityStatus.ACTIVE


# --- search ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("query", "serve", "read"), [
    ("praw", lambda: recorded_praw("search_praw"), lambda: praw_body("search_praw.json")),
    ("asyncpraw", lambda: recorded("asyncpraw_subreddits_search_q_asyncpraw"),
     lambda: envelope_body("asyncpraw_subreddits_search_q_asyncpraw")),
])
def test_subreddit_search(reddit: HttpServer, query: str, serve: Any, read: Any) -> None:
    reddit.route("/subreddits/search/", serve())
    settings = Settings(crawl=CrawlSettings(allow_private_addresses=True),
                        reddit=RedditSettings(oauth_url=reddit.base_url, reddit_url=reddit.base_url))
    found = name_search(settings, env=ENV)("reddit", query)
    truth = [c["data"] for c in read()["data"]["children"]][:25]
    assert [name for name, _, _ in found] == [d["display_name"] for d in truth]
    assert [title for _, title, _ in found] == [d["title"] or None for d in truth]
    assert all(url == f"{reddit.base_url}/r/{name}" for name, _, url in found)
