"""``resurface alerts ...``: list, show, acknowledge, confirm, dismiss, deliver, test, export.

Every view of alert contents (list, show, export) and every analyst action is written to the
hash-chained audit log, in the same transaction as the read or the change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select

from alerts.lifecycle import KINDS, LEVELS, STATES, acknowledge, alert_json, confirm, dismiss, get_alert
from cli_support import FormatOption, OutputFormat, console, emit, emit_one, err_console, state
from config.errors import ResurfaceError, UsageError
from store import audit
from store import models as m

app = typer.Typer(help="Alerts: review, acknowledge, confirm or dismiss; deliver; export evidence.",
                  no_args_is_help=True)


def _label(ref: dict[str, Any] | None) -> str:
    if not ref:
        return ""
    return f"{ref.get('platform')}:{ref.get('handle') or ref.get('title') or ref.get('url')}"


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    return {"id": doc["id"], "kind": doc["kind"], "level": doc["level"], "score": round(doc["score"], 3),
            "state": doc["state"], "source": _label(doc["source"]), "target": _label(doc["target"]),
            "created_at": doc["created_at"], "escalations": doc["escalations"]}


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise UsageError(f"--{name} must be one of {', '.join(choices)}, not {value!r}")


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    alert_state: Annotated[str | None, typer.Option("--state", help=f"Only this state ({', '.join(STATES)}).")] = None,
    kind: Annotated[str | None, typer.Option(help=f"Only this kind ({', '.join(KINDS)}).")] = None,
    level: Annotated[str | None, typer.Option(help="At least this level (possible, likely, strong).")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 100,
    fmt: OutputFormat = FormatOption,
) -> None:
    """List alerts, newest first."""
    _check_choice("state", alert_state, STATES)
    _check_choice("kind", kind, KINDS)
    _check_choice("level", level, LEVELS)
    query = select(m.Alert).order_by(m.Alert.updated_at.desc(), m.Alert.id.desc()).limit(limit)
    if alert_state:
        query = query.where(m.Alert.state == alert_state)
    if kind:
        query = query.where(m.Alert.kind == kind)
    if level:
        query = query.where(m.Alert.level.in_(LEVELS[LEVELS.index(level):]))
    with state(ctx).app.store.session() as session:
        docs = [alert_json(a, session) for a in session.scalars(query)]
        audit.record(session, "alert.list", None, {"state": alert_state, "kind": kind, "level": level,
                                                   "limit": limit, "ids": [d["id"] for d in docs]})
    if fmt == OutputFormat.json:
        emit(docs, fmt)
    else:
        emit([_row(d) for d in docs], fmt, title="alerts")


@app.command("show")
def show(ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Alert id.")],
         fmt: OutputFormat = FormatOption) -> None:
    """Show one alert with all its evidence."""
    with state(ctx).app.store.session() as session:
        doc = alert_json(get_alert(session, alert_id), session)
        audit.record(session, "alert.show", f"alert:{alert_id}")
    if fmt == OutputFormat.json:
        emit_one(doc, fmt)
        return
    from alerts.render import render_alert

    console.print(render_alert(doc, "investigator", f"view:{alert_id}").text, highlight=False, markup=False)


def _act(ctx: typer.Context, alert_id: int, note: str | None, action: str, fmt: OutputFormat) -> None:
    functions = {"ack": acknowledge, "confirm": confirm, "dismiss": dismiss}
    with state(ctx).app.store.session() as session:
        alert = functions[action](session, alert_id, note)
        audit.record(session, f"alert.{action}", f"alert:{alert_id}", {"note": note, "state": alert.state})
        doc = alert_json(alert, session)
    if fmt == OutputFormat.json:
        emit_one(doc, fmt)
    else:
        console.print(f"alert #{alert_id} is now {doc['state']}")


NoteOption = typer.Option("--note", "-n", help="Why (kept with the alert).")


@app.command("ack")
def ack(ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Alert id.")],
        note: Annotated[str | None, NoteOption] = None, fmt: OutputFormat = FormatOption) -> None:
    """Acknowledge an alert: someone is looking at it."""
    _act(ctx, alert_id, note, "ack", fmt)


@app.command("confirm")
def confirm_cmd(ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Alert id.")],
                note: Annotated[str | None, NoteOption] = None, fmt: OutputFormat = FormatOption) -> None:
    """Confirm an alert (a migration alert also confirms its candidate pair)."""
    _act(ctx, alert_id, note, "confirm", fmt)


@app.command("dismiss")
def dismiss_cmd(ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Alert id.")],
                note: Annotated[str | None, NoteOption] = None, fmt: OutputFormat = FormatOption) -> None:
    """Dismiss an alert (a dismissed pair alerts again only if its score rises by detect.dismiss_margin)."""
    _act(ctx, alert_id, note, "dismiss", fmt)


@app.command("deliver")
def deliver(ctx: typer.Context, fmt: OutputFormat = FormatOption) -> None:
    """Send what is due in the outbox once (the service `resurface run` does this on a schedule)."""
    from alerts.deliver import deliver_alerts

    report = deliver_alerts(state(ctx).app)
    row = {"messages_sent": report.messages_sent, "deliveries_sent": report.rows_sent,
           "digests_sent": report.digests_sent, "retrying": report.rows_retrying, "failed": report.rows_failed,
           "waiting_for_rate_limit": report.rows_postponed, "repeats_after_crash": report.repeats}
    emit([row], fmt, title="delivery")
    for error in report.errors:
        err_console.print(f"[yellow]delivery problem:[/yellow] {error}", highlight=False)
    if report.rows_failed or report.rows_retrying:
        raise ResurfaceError(f"{report.rows_retrying} deliveries will be retried, {report.rows_failed} failed "
                             "for good (see the problems above)")


@app.command("test")
def test_audience(ctx: typer.Context, audience: Annotated[str, typer.Argument(help="Audience name from config.")],
                  fmt: OutputFormat = FormatOption) -> None:
    """Send a clearly marked test message to every URL of an audience."""
    from alerts.channels import ChannelError, expand_url, mask_url, send_apprise, validate_audiences
    from alerts.render import render_test

    settings = state(ctx).settings
    validate_audiences(settings)
    aud = settings.alerts.audiences.get(audience)
    if aud is None:
        known = ", ".join(settings.alerts.audiences) or "none configured"
        raise UsageError(f"no audience {audience!r} in alerts.audiences (known: {known})")
    key = f"test:{audience}:{m.utcnow().strftime('%Y%m%dT%H%M%SZ')}"
    message = render_test(audience, aud.detail, key)
    rows = []
    for url in aud.urls:
        try:
            send_apprise(expand_url(url, audience), message)
            rows.append({"url": mask_url(url), "ok": True, "error": None})
        except ChannelError as exc:
            rows.append({"url": mask_url(url), "ok": False, "error": str(exc)})
    emit(rows, fmt, ["url", "ok", "error"], title=f"test message {key}")
    failed = [r for r in rows if not r["ok"]]
    if failed:
        raise ResurfaceError(f"the test message failed for {len(failed)} of {len(rows)} URLs of {audience}")


@app.command("export")
def export(
    ctx: typer.Context,
    alert_id: Annotated[int, typer.Argument(help="Alert id.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the zip.")],
    fmt: OutputFormat = FormatOption,
) -> None:
    """Write an evidence bundle: alert JSON, the evidence records with their hashes, a SHA-256 manifest."""
    from alerts.bundle import export_bundle

    with state(ctx).app.store.session() as session:
        info = export_bundle(session, alert_id, output, exported_by=audit.current_actor())
        audit.record(session, "alert.export", f"alert:{alert_id}",
                     {"path": str(output), "sha256": info.sha256, "files": info.files})
    row = {"path": str(info.path), "sha256": info.sha256, "posts": info.posts, "snapshots": info.snapshots}
    if fmt == OutputFormat.json:
        emit_one(row, fmt)
    else:
        console.print(f"wrote {info.path} ({info.posts} posts, {info.snapshots} snapshots; sha256 {info.sha256})")
