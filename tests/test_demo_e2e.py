"""The offline demo end to end: real local servers, real crawlers (Scrapy, PRAW, Discourse), real SQLite,
detection, the alert outbox through apprise to a webhook receiver, graph exports. One run, many checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from demoworld import images
from demoworld import scenario as sc
from demoworld.run import DemoResult, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    lines: list[str] = []
    result = run_demo(tmp_path_factory.mktemp("demo"), say=lines.append)
    assert any("Phase 2" in line for line in lines)
    return result


def _handle(ref: dict[str, Any] | None) -> str | None:
    return (ref or {}).get("handle")


def _alerts(demo: DemoResult, kind: str, source: str | None = None, target: str | None = None) -> list[dict[str, Any]]:
    return [a for a in demo.alerts if a["kind"] == kind
            and (source is None or _handle(a["source"]) == source or (a["source"] or {}).get("title") == source)
            and (target is None or _handle(a.get("target")) == target
                 or (a.get("target") or {}).get("title") == target)]


def _signal(alert: dict[str, Any], name: str) -> dict[str, Any]:
    return next(s for s in alert["signals"] if s["name"] == name)


def test_the_watched_group_shutting_down_is_a_strong_shutdown_alert(demo: DemoResult) -> None:
    (alert,) = _alerts(demo, "shutdown", source=sc.GROUP.handle)
    assert alert["level"] == "strong"
    assert _signal(alert, "shutdown")["evidence"][0]["status"] == "deleted"


def test_the_banned_subreddit_is_a_shutdown_alert(demo: DemoResult) -> None:
    (alert,) = _alerts(demo, "shutdown", source=sc.SUBREDDIT)
    assert _signal(alert, "shutdown")["evidence"][0]["status"] == "banned"


def test_the_renamed_channel_is_a_rebrand_alert_with_its_new_title(demo: DemoResult) -> None:
    (alert,) = _alerts(demo, "rebrand", source=sc.RENAMER_OLD.handle)
    assert any(item["new"] == sc.RENAMED_TITLE for item in _signal(alert, "rename")["evidence"])


def test_migration_to_the_reserve_group_is_strong_with_every_kind_of_evidence(demo: DemoResult) -> None:
    (alert,) = _alerts(demo, "migration", source=sc.GROUP.handle, target=sc.RESERVE.handle)
    assert alert["level"] == "strong"
    announcement = _signal(alert, "announcement")
    assert announcement["score"] >= 0.9
    assert announcement["evidence"][0]["post_url"].startswith(f"https://t.me/{sc.GROUP.handle}/")
    assert any(p.startswith("it:") for p in announcement["evidence"][0]["phrases"])
    members = _signal(alert, "members")["evidence"][0]
    assert members["shared_members"] == len(set(sc.RESERVE_MEMBERS) & set(sc.GROUP_MEMBERS)) + 1  # + the admin
    content = _signal(alert, "content")["evidence"]
    assert content[0]["media_matches"] == len(sc.RESERVE_SEEDS)
    assert _signal(alert, "name")["score"] == 1.0  # "𝕀𝕝 ℂ𝕠𝕣𝕥𝕚𝕝𝕖 𝕊𝕖𝕘𝕣𝕖𝕥𝕠 🔞 riserva" is the same name


def test_forum_repost_is_an_alert_whose_evidence_names_the_forum_posts(demo: DemoResult) -> None:
    (alert,) = _alerts(demo, "migration", source=sc.GROUP.handle, target=sc.FORUM_TITLE)
    content = _signal(alert, "content")["evidence"]
    assert content[0]["media_matches"] == len(sc.FORUM_SEEDS)
    forum_urls = [item["post_url"] for item in content[1:]]
    assert forum_urls and all("/t/backup-dal-cortile/12/" in url for url in forum_urls)
    assert all(item["matched_post_url"].startswith(f"https://t.me/{sc.GROUP.handle}/") for item in content[1:])


def test_forum_linking_back_to_the_closed_group_is_not_a_migration_from_the_forum(demo: DemoResult) -> None:
    assert not _alerts(demo, "migration", source=sc.FORUM_TITLE)


def test_the_similarly_named_decoy_raises_nothing(demo: DemoResult) -> None:
    decoy = [a for a in demo.alerts if sc.DECOY.handle in (_handle(a["source"]), _handle(a.get("target")))]
    assert decoy == []
    assert sc.DECOY.handle in demo.communities  # it was watched and crawled all along


def test_private_invite_is_left_for_a_human_and_the_public_backup_is_followed(demo: DemoResult) -> None:
    states = {lead["url"]: lead["state"] for lead in demo.leads}
    assert states[sc.RESERVE_INVITE] == "needs_human"
    assert states[f"https://t.me/{sc.RESERVE.handle}"] == "watching"


def test_webhook_received_every_alert_for_the_investigator_and_strong_ones_for_the_ngo(demo: DemoResult) -> None:
    by_path: dict[str, set[int]] = {}
    for path, body in demo.webhook:
        by_path.setdefault(path, set()).add(body["alert"]["id"])
    assert by_path["/investigator"] == {a["id"] for a in demo.alerts}
    assert by_path["/ngo"] == {a["id"] for a in demo.alerts if a["level"] == "strong"}
    assert all(a["state"] == "delivered" for a in demo.alerts)


def test_graph_exports_are_written(demo: DemoResult) -> None:
    suffixes = {p.suffix for p in demo.exports}
    assert suffixes == {".gexf", ".html", ".png"}
    assert all(p.is_file() and p.stat().st_size > 0 and p.is_relative_to(demo.data_dir) for p in demo.exports)
    assert sc.RESERVE.handle in next(p for p in demo.exports if p.suffix == ".gexf").read_text(encoding="utf-8")


def test_the_demo_store_can_be_queried_afterwards_through_its_config(
        demo: DemoResult, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """The demo used to write no config, so `alerts list` afterwards read an empty ./data store."""
    import json

    from cli import main

    monkeypatch.delenv("RESURFACE_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    assert demo.config == Path(demo.data_dir) / "resurface.toml"
    with pytest.raises(SystemExit) as info:
        main(["--config", str(demo.config), "alerts", "list", "--format", "json"])
    out, err = capsys.readouterr()
    assert info.value.code in (0, None), err
    assert {a["id"] for a in json.loads(out)} == {a["id"] for a in demo.alerts}


def test_a_demo_in_a_relative_folder_can_be_queried_through_the_config_it_prints(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`make demo` passes a relative --dir: its store landed in demo-output/demo-output/, so the config
    written beside it opened an empty store and `alerts list` printed no alerts."""
    import json

    from cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESURFACE_PSEUDONYM_KEY", raising=False)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["demo", "--dir", "demo-output"])
    out = capsys.readouterr().out
    assert info.value.code in (0, None)
    assert not (tmp_path / "demo-output" / "demo-output").exists()
    config = next(line.split("--config ", 1)[1].split()[0] for line in out.splitlines() if "--config " in line)
    with pytest.raises(SystemExit) as info:
        main(["--config", config, "alerts", "list", "--format", "json"])
    listed = json.loads(capsys.readouterr().out)
    assert info.value.code in (0, None) and any(a["kind"] == "migration" for a in listed)


def test_a_command_without_any_config_is_refused_and_says_where_it_looked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    with pytest.raises(SystemExit) as info:
        main(["alerts", "list"])
    err = capsys.readouterr().err
    assert info.value.code == 2
    assert "no config found" in err and "RESURFACE_CONFIG" in err and str(tmp_path) in err and "--defaults" in err
    assert not (tmp_path / "data").exists()  # nothing was created on the way


def test_no_picture_bytes_exist_under_the_data_dir(demo: DemoResult) -> None:
    pictures = [images.original(s) for s in (*sc.GROUP_SEEDS, *sc.DECOY_SEEDS)]
    pictures += [images.repost(s) for s in sc.RESERVE_SEEDS]
    chunks = [data[len(data) // 2:len(data) // 2 + 64] for data in pictures]  # entropy-coded, unique per picture
    files = [p for p in Path(demo.data_dir).rglob("*") if p.is_file()]
    assert files
    for path in files:
        content = path.read_bytes()
        assert not any(chunk in content for chunk in chunks), path
        assert path.suffix.lower() not in (".jpg", ".jpeg")


def test_demo_command_prints_alerts_and_export_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The command's output, over a canned result (the full run is the fixture above)."""
    import demoworld.run
    from cli import app

    alert = {"id": 1, "kind": "migration", "level": "strong", "score": 0.9, "state": "delivered",
             "source": {"platform": "telegram", "handle": "a", "title": "A", "url": "https://t.me/a"},
             "target": {"platform": "telegram", "handle": "b", "title": "B", "url": "https://t.me/b"},
             "signals": [{"name": "announcement", "score": 1.0, "evidence": [{"post_url": "https://t.me/a/9"}]}],
             "created_at": "2026-01-01T00:00:00+00:00"}

    def fake_run(data_dir: Path, say: Any = print, scenario: Any = None) -> DemoResult:
        return DemoResult(data_dir=data_dir, alerts=[alert], exports=[data_dir / "exports" / "demo-graph.gexf"],
                          leads=[{"url": sc.RESERVE_INVITE, "state": "needs_human", "source_community_id": 1}],
                          webhook=[("/investigator", {"alert": alert})], seconds=1.0)

    monkeypatch.setattr(demoworld.run, "run_demo", fake_run)
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "d")])
    assert result.exit_code == 0, result.output
    assert "STRONG migration alert #1" in result.output
    assert "https://t.me/a/9" in result.output
    assert sc.RESERVE_INVITE in result.output
    assert str(tmp_path / "d" / "exports" / "demo-graph.gexf") in result.output


def test_an_earlier_demo_folder_is_cleared_and_any_other_folder_refused(tmp_path: Path) -> None:
    from cli.demo import MARKER, prepare_dir
    from model.errors import UsageError

    earlier = prepare_dir(tmp_path / "demo-output")
    (earlier / "data").mkdir()
    (earlier / "data" / "resurface.db").write_text("the first world")
    again = prepare_dir(earlier)
    assert sorted(p.name for p in again.iterdir()) == [MARKER]  # a fresh world, nothing mixed in

    mine = tmp_path / "my-case-files"
    mine.mkdir()
    (mine / "notes.txt").write_text("not the demo's")
    with pytest.raises(UsageError, match="not empty"):
        prepare_dir(mine)
    assert (mine / "notes.txt").read_text() == "not the demo's"
