"""`resurface alerts ...` as a user runs it: review, act, deliver, test a channel, export a bundle."""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from alerts.lifecycle import raise_alert
from config.loader import load_settings
from service.app import App
from store import audit
from store import models as m
from store.ingest import ingest
from tests import factories as f
from tests.support.alertdata import POST_TEXT, communities, draft
from tests.support.cli import call
from tests.support.httpserver import HttpServer, Reply

KEY = "alerts-cli-test-key-0123456789abcdef"


def write_config(path: Path, urls: list[str], extra: str = "") -> Path:
    path.write_text(
        'data_dir = "data"\n[crawl]\nallow_private_addresses = true\n'
        f'[alerts.audiences.ngo]\nurls = {json.dumps(urls)}\ndetail = "ngo"\n{extra}', encoding="utf-8")
    return path


@pytest.fixture
def project(tmp_path: Path, http_server: HttpServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, int]]:
    """A config with one NGO webhook audience and one stored migration alert with real evidence records."""
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    http_server.route("/hook", Reply.json({}))
    config = write_config(tmp_path / "resurface.toml", [f"json://{http_server.netloc}/hook"])
    app = App(load_settings(config))
    try:
        with app.store.session() as s:
            # recent posts: older ones are stored without their text (privacy.retention_days)
            recent = datetime.now(UTC) - timedelta(days=2)
            ingest(s, [f.snapshot(at=recent), f.post(42, text=POST_TEXT, at=recent),
                       f.snapshot(native_id="2002", handle="cortile_due", title="Cortile Due", at=recent)],
                   app.ingest_context())
            source = s.scalar(select(m.Community.id).where(m.Community.handle == "cortile_segreto"))
            target = s.scalar(select(m.Community.id).where(m.Community.handle == "cortile_due"))
            post_id = s.scalar(select(m.Post.id))
            assert source and target and post_id
            s.add(m.Candidate(source_id=source, target_id=target, score=0.55, level="likely"))
            alert = raise_alert(s, draft(source, target, post_id=post_id), app.settings)
            assert alert is not None
            alert_id = alert.id
    finally:
        app.close()
    yield config, alert_id


def audit_actions(config: Path) -> list[tuple[str, str | None]]:
    app = App(load_settings(config))
    try:
        with app.store.session() as s:
            assert audit.verify(s) is None
            return [(e.action, e.target) for e in s.scalars(select(m.AuditEntry).order_by(m.AuditEntry.id))]
    finally:
        app.close()


def test_list_show_ack_confirm_are_audited(project: tuple[Path, int], capsys: pytest.CaptureFixture[str]) -> None:
    config, alert_id = project
    code, out, _ = call(capsys, "--config", str(config), "alerts", "list", "--format", "json")
    assert code == 0
    (doc,) = json.loads(out)
    assert (doc["id"], doc["kind"], doc["level"], doc["state"]) == (alert_id, "migration", "likely", "new")
    code, out, _ = call(capsys, "--config", str(config), "alerts", "list")
    assert code == 0 and "alerts" in out and "likely" in out
    code, out, _ = call(capsys, "--config", str(config), "alerts", "show", str(alert_id))
    assert code == 0 and POST_TEXT[:40] in out  # investigators see excerpts
    code, out, _ = call(capsys, "--config", str(config), "alerts", "ack", str(alert_id), "--note", "on it")
    assert code == 0 and f"alert #{alert_id} is now acknowledged" in out
    code, out, _ = call(capsys, "--config", str(config), "alerts", "confirm", str(alert_id), "--format", "json")
    assert code == 0 and json.loads(out)["state"] == "confirmed"
    code, _, err = call(capsys, "--config", str(config), "alerts", "dismiss", str(alert_id))
    assert code == 2 and f"alert #{alert_id} is confirmed; cannot dismiss it" in err
    code, out, _ = call(capsys, "--config", str(config), "alerts", "list", "--state", "new", "--format", "json")
    assert code == 0 and json.loads(out) == []
    assert audit_actions(config) == [
        ("alert.list", None), ("alert.list", None), ("alert.show", f"alert:{alert_id}"),
        ("alert.ack", f"alert:{alert_id}"), ("alert.confirm", f"alert:{alert_id}"), ("alert.list", None)]
    app = App(load_settings(config))
    try:
        with app.store.session() as s:
            cand = s.scalar(select(m.Candidate))
            assert cand is not None and cand.state == "confirmed"
    finally:
        app.close()


def test_bad_options_and_unknown_ids_are_usage_errors(project: tuple[Path, int],
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = project
    code, _, err = call(capsys, "--config", str(config), "alerts", "show", "999")
    assert code == 2 and "no alert #999" in err
    code, _, err = call(capsys, "--config", str(config), "alerts", "list", "--level", "urgent")
    assert code == 2 and "--level must be one of possible, likely, strong" in err


def test_deliver_sends_the_outbox_once(project: tuple[Path, int], http_server: HttpServer,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    config, alert_id = project
    code, out, _ = call(capsys, "--config", str(config), "alerts", "deliver", "--format", "json")
    assert code == 0 and json.loads(out)["messages_sent"] == 1
    (request,) = http_server.requests_for("/hook")
    assert POST_TEXT not in request.body.decode()  # the ngo audience
    code, out, _ = call(capsys, "--config", str(config), "alerts", "deliver", "--format", "json")
    assert code == 0 and json.loads(out)["messages_sent"] == 0
    code, out, _ = call(capsys, "--config", str(config), "alerts", "show", str(alert_id), "--format", "json")
    assert json.loads(out)["state"] == "delivered"


def test_deliver_failure_exits_1_and_names_the_url(tmp_path: Path, http_server: HttpServer,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    monkeypatch.setattr("time.sleep", lambda _s: None)  # the in-run backoff between tries
    http_server.route("/down", Reply(503))
    config = write_config(tmp_path / "resurface.toml", [f"json://{http_server.netloc}/down"])
    app = App(load_settings(config))
    try:
        with app.store.session() as s:
            a, b = communities(s)
            raise_alert(s, draft(a, b), app.settings)
    finally:
        app.close()
    code, out, err = call(capsys, "--config", str(config), "alerts", "deliver", "--format", "json")
    assert code == 1
    assert json.loads(out)["retrying"] == 1
    assert f"json://{http_server.netloc}/down" in err and "1 deliveries will be retried" in " ".join(err.split())
    assert len(http_server.requests_for("/down")) == 3
    # A second run right away finds nothing due (backoff), so it succeeds without sending.
    code, out, _ = call(capsys, "--config", str(config), "alerts", "deliver", "--format", "json")
    assert code == 0 and json.loads(out)["messages_sent"] == 0
    assert len(http_server.requests_for("/down")) == 3


def test_invalid_apprise_url_stops_deliver_and_test_with_a_config_error(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    config = write_config(tmp_path / "resurface.toml", ["json://127.0.0.1:9/ok", "bogus://user:s3cret@host/x"])
    for command in (["alerts", "deliver"], ["alerts", "test", "ngo"]):
        code, _, err = call(capsys, "--config", str(config), *command)
        assert code == 2
        assert "alerts.audiences.ngo: invalid apprise URL bogus://***" in " ".join(err.split())
        assert "s3cret" not in err


def test_test_message_is_clearly_marked(project: tuple[Path, int], http_server: HttpServer,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    config, _ = project
    code, out, _ = call(capsys, "--config", str(config), "alerts", "test", "ngo", "--format", "json")
    assert code == 0 and json.loads(out)[0]["ok"] is True
    (request,) = http_server.requests_for("/hook")
    body = json.loads(request.body)
    assert body["alert"]["test"] is True and "TEST message" in body["title"] and "not an alert" in body["title"]
    assert request.headers["X-Resurface-Idempotency-Key"].startswith("test:ngo:")
    code, _, err = call(capsys, "--config", str(config), "alerts", "test", "press")
    assert code == 2 and "no audience 'press'" in err


def test_test_message_to_a_dead_channel_exits_1(tmp_path: Path, http_server: HttpServer,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    http_server.route("/down", Reply(500))
    config = write_config(tmp_path / "resurface.toml", [f"json://{http_server.netloc}/down"])
    code, out, _ = call(capsys, "--config", str(config), "alerts", "test", "ngo", "--format", "json")
    assert code == 1, out
    (row,) = json.loads(out)
    assert row["ok"] is False and f"json://{http_server.netloc}/down" in row["error"]


def test_export_bundle_has_evidence_records_and_a_verifiable_manifest(
        project: tuple[Path, int], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, alert_id = project
    out_path = tmp_path / "out" / "bundle.zip"
    code, out, _ = call(capsys, "--config", str(config), "alerts", "export", str(alert_id), "-o", str(out_path),
                        "--format", "json")
    assert code == 0
    info = json.loads(out)
    assert info["sha256"] == hashlib.sha256(out_path.read_bytes()).hexdigest()
    with zipfile.ZipFile(out_path) as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("manifest.json"))
        assert names == {"manifest.json", *(f["path"] for f in manifest["files"])}
        for entry in manifest["files"]:
            assert hashlib.sha256(archive.read(entry["path"])).hexdigest() == entry["sha256"]
        alert = json.loads(archive.read("alert.json"))
        posts = json.loads(archive.read("evidence/posts.json"))
        snapshots = json.loads(archive.read("evidence/snapshots.json"))
    assert alert["id"] == alert_id and manifest["alert_id"] == alert_id
    (post,) = posts
    assert post["url"] == "https://t.me/cortile_segreto/42" and post["text"] == POST_TEXT
    assert len(post["payload_sha256"]) == 64 and post["fetched_at"]
    assert {s["handle"] for s in snapshots} == {"cortile_segreto", "cortile_due"}
    assert all(len(s["payload_sha256"]) == 64 and s["source_url"] for s in snapshots)
    assert not any(n.endswith((".jpg", ".png", ".mp4")) for n in names)
    assert ("alert.export", f"alert:{alert_id}") in audit_actions(config)
    code, _, err = call(capsys, "--config", str(config), "alerts", "export", "999", "-o", str(tmp_path / "x.zip"))
    assert code == 2 and "no alert #999" in err and not (tmp_path / "x.zip").exists()


def test_list_filters_sorts_by_level_and_shows_notes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """An investigator's queue: open alerts of one case, strongest first, notes visible, one score format."""
    monkeypatch.setenv("RESURFACE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("RESURFACE_CONFIG", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    config = write_config(tmp_path / "resurface.toml", [])
    app = App(load_settings(config))
    try:
        with app.store.session() as s:
            ingest(s, [f.snapshot(), f.snapshot(native_id="2002", handle="cortile_due", title="Cortile Due"),
                       f.snapshot(native_id="3003", handle="orto_fiorito", title="Orto Fiorito")],
                   app.ingest_context())
            ids = {c.handle: c.id for c in s.scalars(select(m.Community))}
            for handle in ("cortile_segreto", "cortile_due"):
                s.get(m.Community, ids[handle]).case_name = "case-7"  # type: ignore[union-attr]
            likely = raise_alert(s, draft(ids["cortile_segreto"], ids["cortile_due"], score=0.5555), app.settings)
            strong = raise_alert(s, draft(ids["cortile_segreto"], None, level="strong", score=0.9635830002752203,
                                          kind="shutdown"), app.settings)
            other = raise_alert(s, draft(ids["orto_fiorito"], None, level="strong", kind="shutdown"), app.settings)
            assert likely and strong and other
            likely_id, strong_id, other_id = likely.id, strong.id, other.id
    finally:
        app.close()
    code, _, _ = call(capsys, "--config", str(config), "alerts", "ack", str(likely_id), "--note", "checking the forum")
    assert code == 0
    code, out, _ = call(capsys, "--config", str(config), "alerts", "dismiss", str(other_id))
    assert code == 0
    code, out, _ = call(capsys, "--config", str(config), "alerts", "list", "--state", "open", "--case", "case-7",
                        "--format", "json")
    assert code == 0
    docs = json.loads(out)
    assert [d["id"] for d in docs] == [strong_id, likely_id]  # strong first although older
    assert docs[1]["note"] == "checking the forum"
    code, out, _ = call(capsys, "--config", str(config), "alerts", "list", "--state", "open")
    assert code == 0 and "checking the forum" in out and "0.96" in out and "0.964" not in out
    assert out.index("strong") < out.index("likely")
    code, out, _ = call(capsys, "--config", str(config), "alerts", "list", "--since", "1d", "--platform", "reddit",
                        "--format", "json")
    assert code == 0 and json.loads(out) == []
    code, _, err = call(capsys, "--config", str(config), "alerts", "list", "--case", "nosuchcase")
    assert code == 2 and "'nosuchcase': no such case (known: case-7)" in err
    code, _, err = call(capsys, "--config", str(config), "alerts", "list", "--since", "last tuesday")
    assert code == 2 and "--since 'last tuesday'" in err
