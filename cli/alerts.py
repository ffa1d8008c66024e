"""``resurface alerts ...``: list, show, acknowledge, confirm, dismiss, deliver, test, export.

Every view of alert contents (list, show, export) and every analyst action is written to the
hash-chained audit log, in the same transaction as the read or the change.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from alerts.lifecycle import acknowledge, alert_json, confirm, dismiss, get_alert
from alerts.queue import AlertFilter, parse_since, query_alerts
from cli.alertview import evidence_posts, matched_phrases, note_history, score_text, show_text
from cli.support import FormatOption, OutputFormat, console, emit, emit_one, err_console, state
from model.errors import ResurfaceError, UsageError
from model.vocab import ALERT_KINDS as KINDS
from model.vocab import ALERT_STATES as STATES
from model.vocab import LEVELS
from store import audit
from store import models as m

app = typer.Typer(help="Alerts: review, acknowledge, confirm or dismiss; deliver; export evidence.",
                  no_args_is_help=True)


def _label(ref: dict[str, Any] | None) -> str:
    if not ref:
        return ""
    return f"{ref.get('platform')}:{ref.get('handle') or ref.get('title') or ref.get('url')}"


#: ``--state open``: everything that still needs a person.
LEVEL_STYLE = {"strong": "bold red", "likely": "yellow", "possible": "cyan"}


def _row(doc: dict[str, Any], note: str | None) -> dict[str, Any]:
    return {"id": doc["id"], "level": doc["level"], "kind": doc["kind"], "score": score_text(doc["score"]),
            "state": doc["state"], "source": _label(doc["source"]), "target": _label(doc["target"]),
            "created": str(doc["created_at"])[:16].replace("T", " "), "note": note or ""}


def _check_choice(name: str, value: str | None, choices: tuple[str, ...]) -> None:
    if value is not None and value not in choices:
        raise UsageError(f"--{name} must be one of {', '.join(choices)}, not {value!r}")


@app.command("list")
def list_alerts(
    ctx: typer.Context,
    alert_state: Annotated[str | None, typer.Option(
        "--state", help=f"Only this state ({', '.join(STATES)}), or open (new, delivered, acknowledged).")] = None,
    kind: Annotated[str | None, typer.Option(help=f"Only this kind ({', '.join(KINDS)}).")] = None,
    level: Annotated[str | None, typer.Option(help="At least this level (possible, likely, strong).")] = None,
    case: Annotated[str | None, typer.Option(help="Only alerts about communities of this case.")] = None,
    platform: Annotated[str | None, typer.Option(help="Only alerts whose source or target is on this platform.")
                        ] = None,
    since: Annotated[str | None, typer.Option(help="Raised or updated since: a date, a time or an age (7d).")
                     ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many.")] = 100,
    fmt: OutputFormat = FormatOption,
) -> None:
    """List alerts, strongest first, then newest first; notes are shown."""
    _check_choice("state", alert_state, (*STATES, "open"))
    _check_choice("kind", kind, KINDS)
    _check_choice("level", level, LEVELS)
    try:  # the same filters as the workspace's queue; option names as the user typed them
        since_at = parse_since(since) if since else None
    except UsageError as exc:
        raise UsageError(f"--{exc}") from None
    flt = AlertFilter(state=alert_state, kind=kind, level=level, case=case, platform=platform,
                      since=since_at.isoformat() if since_at else None, limit=limit)
    with state(ctx).app.store.session() as session:
        alerts = query_alerts(session, flt)
        docs = [alert_json(a, session) for a in alerts]
        notes = {a.id: a.note for a in alerts}
        audit.record(session, "alert.list", None, {
            "state": alert_state, "kind": kind, "level": level, "case": case, "platform": platform,
            "since": since_at.isoformat() if since_at else None, "limit": limit, "ids": [d["id"] for d in docs]})
    if fmt == OutputFormat.json:
        emit([{**d, "note": notes[d["id"]]} for d in docs], fmt)
        return
    rows = [_row(d, notes[d["id"]]) for d in docs]
    if not rows:
        console.print("[dim]no alerts[/dim]")
        return
    table = Table(title="alerts", expand=False)
    for col in ("id", "level", "kind", "score", "state", "source", "target", "created", "note"):
        # names and handles are folded rather than cut with an ellipsis; words wrap whole
        table.add_column(col, overflow="fold" if col in ("source", "target") else "ellipsis")
    for row in rows:
        style = LEVEL_STYLE.get(row["level"], "")
        table.add_row(*(str(row[c]) for c in ("id", "level", "kind", "score", "state", "source", "target",
                                               "created", "note")), style=style)
    console.print(table)


@app.command("show")
def show(ctx: typer.Context, alert_id: Annotated[int, typer.Argument(help="Alert id.")],
         fmt: OutputFormat = FormatOption) -> None:
    """Show one alert with all its evidence: matched phrases, excerpts of the posts, notes left on it."""
    with state(ctx).app.store.session() as session:
        alert = get_alert(session, alert_id)
        doc = alert_json(alert, session)
        phrases, posts, notes = matched_phrases(doc), evidence_posts(session, doc), note_history(session, alert_id)
        note = alert.note
        audit.record(session, "alert.show", f"alert:{alert_id}")
    if fmt == OutputFormat.json:
        emit_one({**doc, "note": note, "matched_phrases": phrases, "posts": posts, "notes": notes}, fmt)
        return
    from alerts.render import render_alert

    text = render_alert(doc, "investigator", f"view:{alert_id}").text.rstrip("\n")
    # soft wrap: commands and URLs in the text stay whole lines a person can copy
    console.print(text + "\n\n" + show_text(doc, phrases, posts, notes), highlight=False, markup=False,
                  soft_wrap=True)


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

    app_ = state(ctx).app
    report = deliver_alerts(app_.store, app_.settings)
    row = {"messages_sent": report.messages_sent, "deliveries_sent": report.rows_sent,
           "digests_sent": report.digests_sent, "retrying": report.rows_retrying, "failed": report.rows_failed,
           "waiting_for_rate_limit": report.rows_postponed, "repeats_after_crash": report.repeats}
    if fmt == OutputFormat.json:
        emit_one(row, fmt)  # one delivery run: one object
    else:
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
