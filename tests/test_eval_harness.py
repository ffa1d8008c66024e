"""The evaluation harness itself (issue 15), fast and without Resurface's detection: the generator is a
pure function of its seed, labels are matched as documented, precision and recall add up on a
hand-made case, and the servers answer as the recorded services do (checked with plain lxml/json,
against the real recordings where the corpus is present)."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import html as lxml_html

from evaluation.run import Counts, parse_params, parse_seeds, score_world, summarise
from evaluation.servers import serve_world
from evaluation.worlds import (
    CLASSES,
    LANGUAGES,
    Forbid,
    Label,
    Params,
    Phase,
    Picture,
    Ref,
    World,
    generate,
    picture_bytes,
)
from tests.support.realworld import realworld_bytes

NOW = datetime(2025, 9, 1, 12, 0, tzinfo=UTC)


def tg(name: str) -> Ref:
    return Ref("telegram", name)


def ref(platform: str, handle: str | None, title: str | None = None) -> dict[str, Any]:
    return {"platform": platform, "handle": handle, "title": title, "url": f"https://t.me/{handle}"}


def alert(kind: str, level: str, source: str, target: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "level": level, "source": ref("telegram", source),
            "target": ref("telegram", target) if target else None, "signals": extra.pop("signals", []),
            "state": "new", **extra}


# ------------------------------------------------------------------------------------------ generator


def test_same_seed_same_world_other_seed_other_world() -> None:
    params = Params()
    assert generate(11, params, NOW) == generate(11, params, NOW)
    assert generate(11, params, NOW) != generate(12, params, NOW)
    assert generate(11, params, NOW).labels != generate(12, params, NOW).labels


def test_every_class_and_language_can_be_drawn_and_labelled() -> None:
    for cls in CLASSES:
        world = generate(3, Params(classes=(cls,), max_scenarios=1, decoy_rate=0.0), NOW)
        assert world.scenarios == (cls,)
        assert {lb.cls for lb in world.labels} | {f.cls for f in world.forbidden} >= {cls}
        assert world.seeds, cls
    drawn = {generate(seed, Params(), NOW).language for seed in range(40)}
    assert drawn == set(LANGUAGES)


def test_labels_name_communities_that_exist_when_they_should() -> None:
    for seed in range(30):
        world = generate(seed, Params(), NOW)
        before, after = world.phases
        for label in world.labels:
            if label.kind == "migration" and label.target.platform == "telegram":  # type: ignore[union-attr]
                name = label.target.name  # type: ignore[union-attr]
                assert name in after.telegram or name in after.invites, (seed, label)
            if label.kind == "shutdown" and label.source.platform == "telegram":
                assert label.source.name in before.telegram and label.source.name not in after.telegram


def test_pictures_are_drawn_in_memory_and_reposts_are_near_duplicates() -> None:
    import io

    import pdqhash
    from PIL import Image

    def pdq(data: bytes) -> Any:
        return pdqhash.compute(__import__("numpy").asarray(Image.open(io.BytesIO(data)).convert("RGB")))[0]

    original, repost, other = (picture_bytes(Picture(5, v).name) for v in (0, 2, 0))
    other = picture_bytes(Picture(6).name)
    assert original and repost and other and original != repost
    assert (pdq(original) != pdq(repost)).sum() < 32 < (pdq(original) != pdq(other)).sum()
    assert picture_bytes("thumb.png") is None and picture_bytes("p5.jpg") is None


def test_bad_params_are_refused_with_the_field() -> None:
    with pytest.raises(ValueError, match="c99"):
        generate(1, Params(classes=("c99",)))
    with pytest.raises(ValueError, match="xx"):
        generate(1, Params(languages=("xx",)))
    assert parse_params('{"languages": ["it"], "noise": 2}').languages == ("it",)
    for bad, said in (('{"noise": "loud"}', "noise"), ('{"colour": 1}', "colour"), ("[1]", "JSON object"),
                      ("{", "not JSON"), ('{"classes": ["c99"]}', "c99")):
        with pytest.raises(Exception, match=said):
            parse_params(bad)
    assert parse_seeds("0-2,7") == [0, 1, 2, 7]
    with pytest.raises(Exception, match="'x'"):
        parse_seeds("x")


# ------------------------------------------------------------------------------------------- scoring


def hand_world() -> World:
    """Two expected alerts (a strong shutdown, a likely migration) and two rules."""
    labels = (Label("shutdown", tg("gone"), None, "strong", "base"),
              Label("migration", tg("gone"), tg("heir"), "likely", "c1", evidence=("reposts",)))
    forbidden = (Forbid("migration", tg("gone"), tg("decoy"), "possible", "decoy"),
                 Forbid("shutdown", tg("alive"), None, "possible", "c8", live=True))
    phase = Phase("before", {})
    return World(1, Params(), "en", NOW, ("c1",), (phase, phase), labels, forbidden)


def test_counts_precision_and_recall() -> None:
    counts = Counts(tp=3, fp=1, fn=2)
    assert (counts.precision, counts.recall) == (0.75, 0.6)
    assert (Counts().precision, Counts().recall) == (None, None)


def test_scoring_a_hand_made_case_level_by_level() -> None:
    world = hand_world()
    alerts = [
        alert("shutdown", "strong", "gone"),
        alert("migration", "likely", "gone", "heir", signals=[{"name": "content", "evidence": ["3 reposts"]}]),
        alert("migration", "possible", "gone", "decoy"),  # forbidden
        alert("shutdown", "strong", "alive"),  # forbidden, on a live community
        alert("rebrand", "strong", "gone"),  # unlabelled
    ]
    score = score_world(world, alerts)
    # possible: both labels found; decoy migration, live shutdown, rebrand are false positives
    assert (score.per_level["possible"].tp, score.per_level["possible"].fp, score.per_level["possible"].fn) == (2, 3, 0)
    assert (score.per_level["likely"].tp, score.per_level["likely"].fp, score.per_level["likely"].fn) == (2, 2, 0)
    # strong: only the shutdown is expected that high; the likely migration is neither found nor missed
    assert (score.per_level["strong"].tp, score.per_level["strong"].fp, score.per_level["strong"].fn) == (1, 2, 0)
    assert score.strong_on_live == 1
    assert score.per_class["c8"]["possible"].fp == 1 and score.per_class["c1"]["likely"].tp == 1
    assert score.misses == []


def test_a_migration_without_its_evidence_or_to_the_wrong_target_is_a_miss() -> None:
    world = hand_world()
    score = score_world(world, [alert("shutdown", "strong", "gone"), alert("migration", "strong", "gone", "heir"),
                                alert("migration", "strong", "gone", "heir2", signals=[{"evidence": "reposts"}])])
    assert score.per_level["likely"].fn == 1 and score.misses == ["migration telegram:gone → telegram:heir (c1, "
                                                                  "min likely)"]
    assert score.per_level["possible"].fp == 2  # no evidence; wrong target


def test_max_count_allows_one_and_flags_the_second() -> None:
    world = replace(hand_world(), labels=(Label("rebrand", tg("chan"), None, "likely", "c10"),),
                    forbidden=(Forbid("rebrand", tg("chan"), None, "possible", "c10", max_count=1),))
    once = score_world(world, [alert("rebrand", "strong", "chan")])
    twice = score_world(world, [alert("rebrand", "strong", "chan"), alert("rebrand", "strong", "chan")])
    assert once.per_level["possible"].fp == 0 and twice.per_level["possible"].fp == 1


def test_summary_adds_worlds_and_reports_failed_ones_apart() -> None:
    from evaluation.run import WorldResult

    world = hand_world()
    good = WorldResult(1, "en", ["c1"], alerts=[alert("shutdown", "strong", "gone")])
    bad = WorldResult(2, "en", ["c1"], error="CliFailed: crawl exited 2")
    report = summarise([world, world], [good, bad])
    assert report["failed"] == 1 and report["worlds_detail"][1]["error"] == "CliFailed: crawl exited 2"
    assert report["per_level"]["likely"] == {"tp": 1, "fp": 0, "fn": 1, "precision": 1.0, "recall": 0.5}


def test_reports_of_two_runs_merge_into_the_report_of_both(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                            ) -> None:
    from evaluation.run import WorldResult, main, markdown, merge

    world = hand_world()
    first = summarise([world], [WorldResult(1, "en", ["c1"], alerts=[alert("shutdown", "strong", "gone")])])
    second = summarise([world], [WorldResult(2, "en", ["c1"], alerts=[])])
    both = summarise([world, world], [WorldResult(1, "en", ["c1"], alerts=[alert("shutdown", "strong", "gone")]),
                                      WorldResult(2, "en", ["c1"], alerts=[])])
    merged = merge([first, second])
    for key in ("worlds", "failed", "per_level", "per_class", "strong_alerts_on_live_communities", "worlds_detail"):
        assert merged[key] == both[key], key
    paths = []
    for name, report in (("a.json", first), ("b.json", second)):
        paths.append(tmp_path / name)
        paths[-1].write_text(json.dumps(report), encoding="utf-8")
    assert main(["--merge", *map(str, paths), "--markdown"]) == 0
    assert capsys.readouterr().out.strip() == markdown(both).strip()
    broken = tmp_path / "broken.json"
    broken.write_text("{}", encoding="utf-8")
    with pytest.raises(SystemExit):
        main(["--merge", str(paths[0]), str(broken)])
    assert "broken.json" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------- servers


def _view_channels(page: bytes) -> set[int]:
    root = lxml_html.fromstring(page)
    views = root.xpath("//div[contains(@class, 'tgme_widget_message ')][@data-view]/@data-view")
    return {json.loads(base64.urlsafe_b64decode(v + "=" * (-len(v) % 4)))["c"] for v in views}


def _classes(page: bytes) -> set[str]:
    root = lxml_html.fromstring(page)
    return {c for el in root.iter() if isinstance(el.tag, str) for c in (el.get("class") or "").split()}


def test_tme_server_answers_as_telegram() -> None:
    world = generate(4, Params(classes=("c3",), max_scenarios=1, decoy_rate=0.0), NOW)
    (handle,) = world.phases[0].telegram
    chat = world.phases[0].telegram[handle]
    code = next(iter(world.phases[0].invites))
    with serve_world(world) as running, httpx.Client(base_url=running.tme_url) as client:
        page = client.get(f"/s/{handle}")
        assert page.status_code == 200 and page.text.rstrip().endswith("-->")
        assert _view_channels(page.content) == {-chat.channel_id}
        root = lxml_html.fromstring(page.content)
        assert root.xpath("string(//div[@class='tgme_channel_info_header_title'])") == chat.title
        invite = lxml_html.fromstring(client.get(f"/{code}").content)
        assert invite.xpath("string(//div[@class='tgme_page_extra'])").endswith("members")
        running.phase_index = 1
        gone = client.get(f"/s/{handle}")
        assert gone.status_code == 302 and gone.headers["location"] == f"/{handle}"
        contact = lxml_html.fromstring(client.get(f"/{handle}").content)
        assert not contact.xpath("//div[@class='tgme_page_title']")
        assert f"@{handle}" in contact.text_content()
        photo = next(p for p in chat.posts if p.photos).photos[0]
        assert client.get(f"/file/{photo.name}").headers["content-type"] == "image/jpeg"


def test_flaky_source_answers_one_bare_status_per_phase() -> None:
    world = generate(4, Params(classes=("c8",), max_scenarios=1, decoy_rate=0.0), NOW)
    handle = next(k.split(":")[1] for k in world.phases[1].flaky if k.startswith("telegram:"))
    with serve_world(world) as running, httpx.Client(base_url=running.tme_url) as client:
        assert client.get(f"/s/{handle}").status_code == 200
        running.phase_index = 1
        first, second = client.get(f"/s/{handle}"), client.get(f"/s/{handle}")
        assert (first.status_code, first.content, second.status_code) == (404, b"", 200)


def test_reddit_server_bans_with_reason_and_forum_serves_json() -> None:
    world = generate(4, Params(classes=("c5",), max_scenarios=1, decoy_rate=0.0), NOW)
    (sub,) = world.phases[0].subreddits
    with serve_world(world) as running, httpx.Client(base_url=running.reddit_url) as client:
        token = client.post("/api/v1/access_token", data={"grant_type": "client_credentials"}).json()
        assert token["token_type"] == "bearer"
        about = client.get(f"/r/{sub}/about/").json()
        assert (about["kind"], about["data"]["display_name"]) == ("t5", sub)
        posts = client.get(f"/r/{sub}/new").json()["data"]["children"]
        (forum_url,) = running.forum_urls.values()
        assert any(forum_url in p["data"]["selftext"] for p in posts), "the placeholder became the forum's URL"
        running.phase_index = 1
        banned = client.get(f"/r/{sub}/about/")
        assert (banned.status_code, banned.json()["reason"]) == (404, "banned")
        forum = httpx.get(forum_url + "/latest.json").json()["topic_list"]["topics"]
        assert len(forum) == 2
        thread = httpx.get(f"{forum_url}/t/{forum[0]['id']}.json").json()
        assert len(thread["post_stream"]["posts"]) == len(thread["post_stream"]["stream"]) > 5


def test_tme_markup_uses_the_recorded_classes() -> None:
    """Every class our preview page uses for a message or the header also occurs in one of the two real
    recorded previews: the parser meets nothing a real page would not show it."""
    recorded = _classes(realworld_bytes("telegram", "s_feedjam.html")) | _classes(
        realworld_bytes("telegram", "s_topwar_official.html"))
    world = generate(9, Params(classes=("c3",), max_scenarios=1, decoy_rate=0.0), NOW)
    chat = next(iter(world.phases[0].telegram.values()))
    with serve_world(world) as running, httpx.Client(base_url=running.tme_url) as client:
        ours = _classes(client.get(f"/s/{chat.handle}").content)
    tgme = {c for c in ours if c.startswith(("tgme_", "link_preview", "js-"))}
    assert tgme - recorded == set()


def test_a_world_whose_every_source_fails_twice_is_reported_failed(monkeypatch: pytest.MonkeyPatch,
                                                                   tmp_path: Any) -> None:
    """A broken install (every crawl of every source failing) must not be scored as zero recall."""
    import evaluation.run as run

    calls: list[tuple[str, ...]] = []

    def fake_cli(config: Any, *args: str) -> tuple[int, str, str]:
        calls.append(args)
        if args[:1] == ("crawl",):
            return 1, "", "ModuleNotFoundError: No module named 'x'\nerror: 2 of 2 sources failed: #1, #2"
        return 0, "[]", ""

    monkeypatch.setattr(run, "cli", fake_cli)
    world = generate(4, Params(classes=("c8",), max_scenarios=1, decoy_rate=0.0), NOW)
    result = run.run_world(world, tmp_path)
    assert result.error is not None and "every source failed twice" in result.error
    assert [c[0] for c in calls].count("crawl") == 2
    report = summarise([world], [result])
    assert report["failed"] == 1 and report["per_level"]["possible"]["tp"] == 0


def test_a_shutdown_allowed_only_when_marked_recovered() -> None:
    rule = Forbid("shutdown", tg("back"), None, "possible", "c8", live=True, unless_recovered=True)
    world = replace(hand_world(), labels=(), forbidden=(rule,))
    open_alert = alert("shutdown", "strong", "back")
    by_state = {**open_alert, "state": "recovered"}
    by_evidence = {**open_alert, "signals": [{"name": "shutdown", "evidence": [{"recovered": True}]}]}
    assert score_world(world, [open_alert]).strong_on_live == 1
    for marked in (by_state, by_evidence):
        score = score_world(world, [marked])
        assert score.per_class["c8"]["possible"].fp == 0 and score.strong_on_live == 0
        assert score.per_level["possible"].fp == 0


def test_markdown_tables_show_the_counts() -> None:
    from evaluation.run import WorldResult, markdown

    world = hand_world()
    report = summarise([world], [WorldResult(1, "en", ["c1"], alerts=[alert("shutdown", "strong", "gone")])])
    text = markdown(report)
    assert "| likely | 1.00 | 0.50 | 1 | 0 | 1 |" in text
    assert "| c1 | 1 | 0.00 | 0.00 | – | 0 |" in text
    assert "Strong alerts on live communities: 0." in text
