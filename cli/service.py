"""``resurface run`` and ``resurface status``: the scheduled service (see :mod:`scheduler`) and its state."""

from __future__ import annotations

from typing import Any

import typer

from cli.support import FormatOption, OutputFormat, console, emit, emit_one, state
from scheduler import LOCK_STALE_AFTER, run_forever
from store.status import status_report


def run_command(ctx: typer.Context) -> None:
    """Run the service: crawl, detect, deliver alerts, index and purge on schedule until SIGTERM/SIGINT."""
    from alerts.channels import validate_audiences

    app = state(ctx).app
    validate_audiences(app.settings)  # a bad channel URL is a config error now, not a silent drop later
    run_forever(app)


def status_command(ctx: typer.Context, fmt: OutputFormat = FormatOption) -> None:
    """Per source: last crawl, outcome, next run, error streak; backlogs; open alerts by level."""
    settings = state(ctx).settings
    with state(ctx).app.store.session() as session:
        report = status_report(session, stale_after=LOCK_STALE_AFTER)
    if settings.service.executor == "celery":
        from service.executor import worker_report

        report["workers"] = worker_report(settings).as_dict()
    if fmt == OutputFormat.json:
        emit_one(report, fmt)
        return
    service = report["service"]
    console.print(f"service: {'running as ' + service['owner'] if service['running'] else 'not running'}"
                  + (f" (last heartbeat {service['heartbeat_at']})" if service["heartbeat_at"] else ""))
    emit(report["sources"], fmt, ["community_id", "platform", "handle", "last_crawl_at", "last_outcome", "error_streak",
                                  "next_run_at", "last_error"], title="sources")
    backlog = report["backlog"]
    console.print(f"backlog: {backlog['index_outbox']} documents to index, {backlog['deliveries_pending']} "
                  f"deliveries pending, {backlog['deliveries_failed']} failed")
    alerts = report["open_alerts"]
    console.print("open alerts: " + (", ".join(f"{n} {level}" for level, n in alerts.items()) or "none"))
    if "workers" in report:
        _print_workers(report["workers"])


def _print_workers(workers: dict[str, Any]) -> None:
    """Workers answering a ping, and per queue the waiting tasks and the oldest one's enqueue time."""
    if workers["error"]:
        console.print(f"workers: broker {workers['broker']} not answering: {workers['error']}")
        return
    console.print(f"workers on {workers['broker']}: " + (", ".join(workers["workers"]) or "none answering"))
    for queue in workers["queues"]:
        oldest = f", oldest waiting since {queue['oldest_enqueued_at']}" if queue["oldest_enqueued_at"] else ""
        console.print(f"queue {queue['name']}: {queue['waiting']} waiting{oldest}")
