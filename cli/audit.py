"""``resurface audit ...``: prove the audit log has not been edited, cut, wiped or forged."""

from __future__ import annotations

import typer
from rich.markup import escape

from cli.support import FormatOption, OutputFormat, console, emit_one, state
from store import audit

app = typer.Typer(help="The audit log of searches, exports, alert views and verdicts.", no_args_is_help=True)


@app.command("verify")
def verify_command(ctx: typer.Context, fmt: OutputFormat = FormatOption) -> None:
    """Check the chain, each entry's signature and the signed checkpoints kept outside the database.

    Exit 0 when intact, 1 when anything was edited, deleted, truncated, wiped or forged."""
    app_ = state(ctx).app
    with app_.store.session() as session:
        report = audit.verify_all(session, app_.audit_signer)
        # the verification itself is an auditable act; recorded only when the log is intact, so that
        # a broken log is reported exactly as it was found
        if report.ok:
            audit.record(session, "audit.verify", None, {"entries": report.entries})
    if fmt == OutputFormat.json:
        emit_one(report.as_dict(), fmt)
    elif report.ok:
        cp = report.last_checkpoint
        note = f"; last checkpoint {cp.at} at entry {cp.last_id}" if cp else "; no checkpoint yet"
        legacy = f"; {report.unsigned_legacy} early entries unsigned" if report.unsigned_legacy else ""
        console.print(f"audit log intact: {report.entries} entries{note}{legacy}")
    else:
        console.print(f"[red]audit log NOT intact[/red] ({len(report.problems)} problems):")
        for problem in report.problems:
            console.print(f"  {escape(problem)}", highlight=False)
    if not report.ok:
        raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint_command(ctx: typer.Context) -> None:
    """Write a signed checkpoint of the chain's head now (one is also written after every audited act)."""
    app_ = state(ctx).app
    with app_.store.session() as session:
        last = audit.checkpoint_now(session, app_.audit_signer)
    console.print("audit log empty: nothing to checkpoint" if last is None else f"checkpoint at entry {last}")
