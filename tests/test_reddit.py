"""Reddit crawler against a fake Reddit API on loopback, driven through real PRAW."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from config.settings import CrawlSettings, RedditSettings, Settings
from crawlers.base import NotConfigured, Target
from crawlers.errors import BadResponse, BlockedAddress, RateLimited, ResponseTooLarge
from crawlers.reddit.source import RedditSource, name_search
from model.errors import MissingSecret
from model.records import STATUS_DEFINITIVE, STATUS_EVIDENCE, CommunitySnapshot, CommunityStatus, Membership, Post
from tests.contract import check_records, last_cursor, posts_of
from tests.support.httpserver import HttpServer, RecordedRequest, Reply

FIXTURES = Path(__file__).parent / "fixtures" / "reddit"
ENV = {"REDDIT_CLIENT_ID": "abcCLIENTid", "REDDIT_CLIENT_SECRET": "s3cr3t-value",
       "REDDIT_USER_AGENT": "resurface-tests/1.0"}
#: Remaining quota and reset 0: prawcore's own limiter then never sleeps in tests.
RATE_HEADERS = {"x-ratelimit-remaining": "599", "x-ratelimit-used": "1", "x-ratelimit-reset": "0"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def ok(obj: Any) -> Reply:
    return Reply.json(obj, headers=RATE_HEADERS)


def install_fake_reddit(server: HttpServer) -> None:
    """Routes are lower case: the crawler asks for the watched (lower-cased) name, as Reddit allows.

    The endpoints PRAW uses: token, about, new (with `after` paging), comments, search, errors."""
    server.route("/api/v1/access_token", Reply.json(fixture("token.json")), method="POST")
    for name in ("velvetlounge", "VelvetLounge"):  # Reddit paths are case-insensitive
        server.route(f"/r/{name}/about/", ok(fixture("about_velvetlounge.json")))

    def new(request: RecordedRequest) -> Reply:
        after = parse_qs(request.query).get("after")
        return ok(fixture("new_page2.json") if after else fixture("new_page1.json"))

    for name in ("velvetlounge", "VelvetLounge"):
        server.route(f"/r/{name}/new", new)
    server.route("/comments/1a0004/", ok(fixture("comments_1a0004.json")))
    server.route("/r/gone_sub/about/", Reply.json(fixture("error_banned.json"), status=404))
    server.route("/r/secret_sub/about/", Reply.json(fixture("error_private.json"), status=403))
    server.route("/r/quar_sub/about/", Reply.json(fixture("error_quarantined.json"), status=403))
    server.route("/r/gated_sub/about/", Reply.json(fixture("error_gated.json"), status=403))
    server.route("/r/never_was/about/", Reply.redirect("/subreddits/search.json?q=never_was"))
    server.route("/subreddits/search/", ok(fixture("search_velvet.json")))


def reddit_settings(server: HttpServer, comments_per_post: int = 100, **crawl: Any) -> Settings:
    return Settings(crawl=CrawlSettings(allow_private_addresses=True, **crawl),
                    reddit=RedditSettings(oauth_url=server.base_url, reddit_url=server.base_url,
                                          comments_per_post=comments_per_post))


def target(name: str, cursor: dict[str, Any] | None = None) -> Target:
    return Target(1, "reddit", name.lower(), f"https://www.reddit.com/r/{name.lower()}", cursor=cursor or {})


@pytest.fixture
def fake_reddit(http_server: HttpServer) -> HttpServer:
    install_fake_reddit(http_server)
    return http_server


def make_source(server: HttpServer, sleeps: list[float] | None = None, comments_per_post: int = 100,
                **crawl: Any) -> RedditSource:
    record = sleeps if sleeps is not None else []
    return RedditSource(reddit_settings(server, comments_per_post, **crawl), env=ENV, sleep=record.append)


def test_crawl_reads_metadata_posts_comments_and_authors(fake_reddit: HttpServer) -> None:
    source = make_source(fake_reddit)
    records = list(source.crawl(target("VelvetLounge")))
    source.close()
    check_records(records, platform="reddit")
    snap = records[0]
    assert isinstance(snap, CommunitySnapshot)
    assert (snap.native_id, snap.title, snap.member_count) == ("t5_7x1k2", "Velvet Lounge", 48213)
    assert snap.status == CommunityStatus.ACTIVE and snap.extra["over18"] is True
    assert snap.created_at is not None and snap.created_at.year == 2020
    posts = [p for p in posts_of(records) if p.kind == "post"]
    assert [p.native_post_id for p in posts] == [f"t3_1a000{i}" for i in range(1, 6)]  # oldest first, both pages
    comments = [p for p in posts_of(records) if p.kind == "comment"]
    assert [c.native_post_id for c in comments] == ["t1_kc0001", "t1_kc0002"]
    assert comments[1].reply_to == "t1_kc0001" and comments[0].thread_id == "t3_1a0004"
    assert posts[3].edited_at is not None
    assert posts[1].author is None  # deleted account
    urls = {link.url for p in posts_of(records) for link in p.links}
    assert "https://t.me/velvet_lounge_mirror" in urls  # post body and sidebar
    assert any("discord.gg/velvetx9" in u.lower() for u in urls)  # link post
    assert any(link.is_private for c in comments for link in c.links)  # private invite in a comment
    sidebar = [p for p in posts_of(records) if p.kind == "service"]
    assert len(sidebar) == 1 and sidebar[0].service_action == "sidebar"
    members = {m.member.handle for m in records if isinstance(m, Membership)}
    assert members == {"nightowl_77", "quietfox"}
    assert fake_reddit.requests_for("/api/v1/access_token")[0].method == "POST"
    assert any("after=t3_1a0003" in r.target for r in fake_reddit.requests_for("/r/VelvetLounge/new"))


def test_second_crawl_only_fetches_new_posts(fake_reddit: HttpServer) -> None:
    source = make_source(fake_reddit)
    first = list(source.crawl(target("VelvetLounge")))
    cursor = last_cursor(first)
    assert cursor["ids"] == ["1a0005"]
    again = list(source.crawl(target("VelvetLounge", cursor)))
    source.close()
    check_records(again, platform="reddit")
    assert [p for p in posts_of(again) if p.kind != "service"] == []
    # it stopped at the checkpoint: the first page already reached it
    assert sum(1 for r in fake_reddit.requests_for("/r/VelvetLounge/new") if "after=" in r.target) == 1


def test_resume_from_middle_checkpoint_yields_only_later_posts(fake_reddit: HttpServer) -> None:
    source = make_source(fake_reddit)
    first = list(source.crawl(target("VelvetLounge")))
    cursors = [dict(r.cursor) for r in first if not isinstance(r, CommunitySnapshot | Post | Membership)]
    resumed = list(source.crawl(target("VelvetLounge", cursors[2])))  # killed after the third post
    source.close()
    assert [p.native_post_id for p in posts_of(resumed) if p.kind == "post"] == ["t3_1a0004", "t3_1a0005"]


@pytest.mark.parametrize(("name", "status", "reason"), [
    ("gone_sub", CommunityStatus.BANNED, "banned"),
    ("secret_sub", CommunityStatus.PRIVATE, "private"),
    ("quar_sub", CommunityStatus.QUARANTINED, "quarantined"),
    ("gated_sub", CommunityStatus.QUARANTINED, "gated"),
    ("never_was", CommunityStatus.DELETED, "nonexistent"),
])
def test_unavailable_subreddits_get_their_status(fake_reddit: HttpServer, name: str, status: str,
                                                 reason: str) -> None:
    source = make_source(fake_reddit)
    records = list(source.crawl(target(name)))
    source.close()
    check_records(records, platform="reddit")
    assert len(records) == 1
    snap = records[0]
    assert isinstance(snap, CommunitySnapshot)
    assert (snap.status, snap.extra["reason"], snap.native_id) == (status, reason, None)
    assert snap.extra[STATUS_DEFINITIVE] is True  # Reddit named the reason: nothing else answers so


JSON = {"Content-Type": "application/json; charset=UTF-8"}


@pytest.mark.parametrize(("reply", "status", "definitive", "evidence"), [
    # shapes recorded from Reddit (realworld reddit/praw/ferguson_hot_403.json, more/prawcore_403_plain,
    # more/praw_404_traffic_not_public, more/prawcore_404_wiki_page_not_created): Reddit answers so for
    # things other than a gone subreddit, so each needs confirmation
    (Reply(403, JSON, b'{"message": "Forbidden", "error": 403}'), CommunityStatus.PRIVATE, False,
     "bare 403 without reason"),
    (Reply(403, JSON, b'{"error": 403}'), CommunityStatus.PRIVATE, False, "bare 403 without reason"),
    (Reply(404, JSON, b'{"message": "Not Found", "error": 404}'), CommunityStatus.DELETED, False,
     "bare 404 without reason"),
    (Reply(404, JSON, b'{"reason": "PAGE_NOT_CREATED", "message": "Not Found"}'), CommunityStatus.DELETED, False,
     "HTTP 404 with unrecognised reason 'PAGE_NOT_CREATED'"),
    # a proxy's or CDN's HTML error page
    (Reply.html("<html><body><h1>403 Forbidden</h1></body></html>", status=403), CommunityStatus.PRIVATE, False,
     "bare 403 without reason"),
    (Reply.html("<html><body>Not Found</body></html>", status=404), CommunityStatus.DELETED, False,
     "bare 404 without reason"),
    # modelled on the recorded 403 shape with a reason (more/asyncpraw_quarantined_403_...)
    (Reply(403, JSON, b'{"reason": "gold_only", "message": "Forbidden", "error": 403}'), CommunityStatus.PRIVATE,
     True, "HTTP 403 with reason 'gold_only'"),
    # a redirect that is not Reddit's "no such subreddit" (recorded shape: more/prawcore_r_random_302)
    (Reply(302, {"Location": "https://oauth.reddit.com/r/RelayForReddit/.json?raw_json=1"}, b""),
     CommunityStatus.DELETED, False, "HTTP 302 redirect to /r/RelayForReddit/, not to /subreddits/search"),
], ids=["403-message", "403-error-only", "404-bare", "404-other-reason", "403-html", "404-html", "403-gold-only",
        "302-elsewhere"])
def test_status_comes_from_evidence_not_from_the_code(fake_reddit: HttpServer, reply: Reply, status: str,
                                                      definitive: bool, evidence: str) -> None:
    """A bare 403/404 is what a proxy, a rate limiter or Reddit itself (for a quarantined listing)
    answers too: reported with its evidence and marked as needing confirmation, never as a
    definitive shutdown. It used to be a plain "private"/"deleted" like Reddit's own reasons."""
    fake_reddit.route("/r/odd_sub/about/", reply)
    source = make_source(fake_reddit)
    records = list(source.crawl(target("odd_sub")))
    source.close()
    check_records(records, platform="reddit")
    [snap] = records
    assert isinstance(snap, CommunitySnapshot)
    assert (snap.status, snap.extra[STATUS_DEFINITIVE], snap.extra[STATUS_EVIDENCE]) == (status, definitive, evidence)


def test_listing_items_without_author_fullname_cause_no_extra_requests(fake_reddit: HttpServer) -> None:
    """Listings recorded before 2018 carry no ``author_fullname``. Reading it through PRAW made it
    re-fetch each whole submission (one request per post, and a 404 there escaped the crawl)."""
    def strip(page: str) -> Reply:
        data = fixture(page)
        for child in data["data"]["children"]:
            child["data"].pop("author_fullname", None)
        return ok(data)

    def new(request: RecordedRequest) -> Reply:
        return strip("new_page2.json" if parse_qs(request.query).get("after") else "new_page1.json")

    fake_reddit.route("/r/VelvetLounge/new", new)
    source = make_source(fake_reddit, comments_per_post=0)
    records = list(source.crawl(target("VelvetLounge")))
    source.close()
    check_records(records, platform="reddit")
    asked = [r.path_only for r in fake_reddit.requests]
    assert asked == ["/api/v1/access_token", "/r/velvetlounge/about/", "/r/VelvetLounge/new", "/r/VelvetLounge/new"]
    posts = [p for p in posts_of(records) if p.kind == "post"]
    assert len(posts) == 5
    assert [(p.author.user_id, p.author.handle) if p.author else None for p in posts] == [
        (None, "nightowl_77"), None, (None, "nightowl_77"), (None, "nightowl_77"), (None, "nightowl_77")]


def test_listing_refused_after_the_about_page_keeps_the_snapshot(fake_reddit: HttpServer) -> None:
    fake_reddit.route("/r/VelvetLounge/new", Reply(403, JSON, b'{"message": "Forbidden", "error": 403}'))
    source = make_source(fake_reddit)
    seen: list[Any] = []
    with pytest.raises(BadResponse, match=r"HTTP 403 from http://127\.0\.0\.1:\d+/r/VelvetLounge/new"):
        for record in source.crawl(target("VelvetLounge")):
            seen.append(record)
    source.close()
    assert [type(r) for r in seen][:1] == [CommunitySnapshot] and seen[0].status == CommunityStatus.ACTIVE


def test_comments_gone_between_listing_and_fetch_keep_the_post(fake_reddit: HttpServer) -> None:
    fake_reddit.route("/comments/1a0004/", Reply(404, JSON, b'{"message": "Not Found", "error": 404}'))
    source = make_source(fake_reddit)
    records = list(source.crawl(target("VelvetLounge")))
    source.close()
    check_records(records, platform="reddit")
    assert [p.native_post_id for p in posts_of(records) if p.kind == "post"] == [f"t3_1a000{i}" for i in range(1, 6)]
    assert [p for p in posts_of(records) if p.kind == "comment"] == []


def test_429_with_short_retry_after_waits_then_succeeds(fake_reddit: HttpServer) -> None:
    fake_reddit.route("/r/velvetlounge/about/", Reply.json({"message": "Too Many Requests", "error": 429}, status=429,
                                                           headers={"Retry-After": "7"}),
                      ok(fixture("about_velvetlounge.json")))
    sleeps: list[float] = []
    source = make_source(fake_reddit, sleeps)
    records = list(source.crawl(target("VelvetLounge")))
    source.close()
    assert isinstance(records[0], CommunitySnapshot) and records[0].title == "Velvet Lounge"
    assert sleeps == [7.0]
    assert len(fake_reddit.requests_for("/r/velvetlounge/about/")) == 2


def test_429_with_long_retry_after_raises_rate_limited(fake_reddit: HttpServer) -> None:
    fake_reddit.route("/r/velvetlounge/about/", Reply.json({"error": 429}, status=429, headers={"Retry-After": "3600"}))
    source = make_source(fake_reddit)
    with pytest.raises(RateLimited) as info:
        list(source.crawl(target("VelvetLounge")))
    source.close()
    assert info.value.retry_after == 3600


def test_missing_credentials_name_the_variable(fake_reddit: HttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    settings = reddit_settings(fake_reddit)
    with pytest.raises(MissingSecret, match="REDDIT_CLIENT_SECRET"):
        RedditSource(settings, env={"REDDIT_CLIENT_ID": "x", "REDDIT_USER_AGENT": "resurface-tests/1.0"})
    with pytest.raises(NotConfigured, match="REDDIT_CLIENT_ID"):
        RedditSource.from_settings(settings)


def test_guard_refuses_private_reddit_url_before_sending_credentials(fake_reddit: HttpServer) -> None:
    settings = Settings(reddit=RedditSettings(oauth_url=fake_reddit.base_url, reddit_url=fake_reddit.base_url))
    source = RedditSource(settings, env=ENV)
    with pytest.raises(BlockedAddress):
        list(source.crawl(target("VelvetLounge")))
    assert fake_reddit.requests == []


def test_name_search_returns_candidates(fake_reddit: HttpServer) -> None:
    search = name_search(reddit_settings(fake_reddit), env=ENV)
    found = search("reddit", "velvet lounge")
    assert found[0] == ("VelvetLounge2", "Velvet Lounge 2 (backup)", f"{fake_reddit.base_url}/r/VelvetLounge2")
    assert search("telegram", "velvet") == []
    assert "q=velvet+lounge" in fake_reddit.requests_for("/subreddits/search/")[0].target


def test_invalid_json_listing_ends_the_crawl_after_the_snapshot(fake_reddit: HttpServer) -> None:
    fake_reddit.route("/r/VelvetLounge/new", Reply(200, {"Content-Type": "application/json", **RATE_HEADERS},
                                                   b'{"kind": "Listing", "data": {'))
    source = make_source(fake_reddit)
    seen: list[Any] = []
    with pytest.raises(BadResponse, match=r"invalid JSON from http://127\.0\.0\.1:\d+/r/VelvetLounge/new"):
        for record in source.crawl(target("VelvetLounge")):
            seen.append(record)
    source.close()
    assert isinstance(seen[0], CommunitySnapshot)  # what came before is kept


MB = 1024 * 1024


@pytest.mark.parametrize("declare_length", [False, True], ids=["undeclared-streamed", "declared"])
def test_huge_response_is_refused_while_reading(fake_reddit: HttpServer, declare_length: bool) -> None:
    """A 50 MB body is cut off at the byte cap, whether or not it declares its length: the
    crawler never holds more than the cap in memory."""
    fake_reddit.route("/r/velvetlounge/about/", Reply.huge(50 * MB, content_type="application/json",
                                                           declare_length=declare_length))
    source = make_source(fake_reddit, max_response_bytes=MB)
    with pytest.raises(ResponseTooLarge, match=r"http://127\.0\.0\.1:\d+/r/velvetlounge/about") as info:
        list(source.crawl(target("VelvetLounge")))
    source.close()
    assert str(MB) in str(info.value)
    (exchange,) = [e for e in fake_reddit.exchanges if e.request.path_only == "/r/velvetlounge/about/"]
    assert fake_reddit.wait_until(lambda s: exchange.aborted or exchange.finished)
    assert exchange.aborted and exchange.body_bytes_sent < 50 * MB


def test_undeclared_length_body_under_the_cap_is_read(fake_reddit: HttpServer) -> None:
    body = json.dumps(fixture("about_velvetlounge.json")).encode()
    fake_reddit.route("/r/velvetlounge/about/", Reply.stream(lambda: iter([body[:100], body[100:]]),
                                                             headers={"Content-Type": "application/json",
                                                                      **RATE_HEADERS}))
    source = make_source(fake_reddit, max_response_bytes=16 * 1024)  # over every fixture, far under 50 MB
    records = list(source.crawl(target("VelvetLounge")))
    source.close()
    assert isinstance(records[0], CommunitySnapshot) and records[0].title == "Velvet Lounge"
