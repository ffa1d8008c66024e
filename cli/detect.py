"""``resurface detect``: run one detection cycle and print what it found."""

from __future__ import annotations

import json
import sys

import typer

from cli.alertview import score_text
from cli.support import FormatOption, OutputFormat, console, emit, progress_iter, state


def detect(ctx: typer.Context, fmt: OutputFormat = FormatOption,
           full: bool = typer.Option(False, "--full", help="Rebuild from the whole store instead of working from "
                                                            "what changed since the last cycle.")) -> None:
    """Run one detection cycle: events, leads, migration candidates (with level and score), alerts raised.
    It works from what changed since the last cycle (a full rebuild every detect.full_every_hours)."""
    from detect.pipeline import stage_names
    from service.detection import configured_name_search, run_detection

    app = state(ctx).app
    search = configured_name_search(app.settings)
    with app.store.session() as session, progress_iter(len(stage_names()), "detecting", fmt) as bar:
        report = run_detection(session, app.settings, search=search, full=True if full else None,
                               on_stage=lambda _name: bar.advance())
    if fmt == OutputFormat.json:
        sys.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False, indent=2, default=str) + "\n")
        return
    emit([{"kind": e["kind"], "community": e["community_id"], "related": e["related_community_id"],
           "occurred_at": e["occurred_at"]} for e in report.events], fmt, title="new events")
    emit(report.leads, fmt, ["state", "url", "depth", "source_community_id", "reason"], title="new leads")
    emit([{**c, "score": score_text(c.get("score"))} for c in report.candidates], fmt,
         ["source", "target", "level", "score", "state", "new"], title="migration candidates")
    emit([{**a, "score": score_text(a.get("score"))} for a in report.alerts], fmt,
         ["id", "kind", "level", "score", "source_community_id", "target_community_id"],
         title="alerts raised")
    how = "full rebuild" if report.full else "incremental: what changed since the last cycle"
    console.print(f"[dim]{report.pairs_scored} pairs scored in {report.seconds:.2f}s ({how})[/dim]")
