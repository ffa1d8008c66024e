"""``resurface purge``: the retention purge on demand, with the search index following it."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.support import FormatOption, OutputFormat, emit_one, state
from model.errors import ResurfaceError


def purge_command(
    ctx: typer.Context,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count the post texts a purge would remove.")] = False,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Purge post texts older than privacy.retention_days now, from the store and the search index."""
    from search.indexer import drain, open_backend
    from store.retention import run_purge

    app = state(ctx).app
    days = app.settings.privacy.retention_days
    report = run_purge(app.store, days, dry_run=dry_run)
    row: dict[str, object] = {
        ("would_purge" if dry_run else "purged"): report.posts, "older_than_days": days,
        "cutoff": report.cutoff.isoformat(), "dry_run": dry_run,
    }
    unavailable = None
    if not dry_run:
        row["wal_truncated"] = report.wal_truncated
        backend = open_backend(app.settings)
        try:
            result = drain(app.store, backend, app.settings.search.batch_size)
        finally:
            backend.close()
        row.update(index_purged=result.purged, index_remaining=result.remaining)
        unavailable = result.unavailable
    emit_one(row, fmt)
    if unavailable:
        raise ResurfaceError(f"the store is purged, but the search index could not follow yet ({unavailable}); "
                             "the purged documents stay queued: run `resurface purge` again")
