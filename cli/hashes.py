"""``resurface hashes ...``: import, list and remove lists of known PDQ hashes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cli.support import FormatOption, OutputFormat, console, emit, state
from detect.hashlists import import_entries, list_rows, parse_hash_file, remove_list
from store import audit

app = typer.Typer(help="Lists of known PDQ hashes that new images are matched against.", no_args_is_help=True)


@app.command("import")
def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="CSV (columns pdq or hash, optional label) or JSON "
                                              "(list of hashes or of objects with pdq/hash and label).")],
    name: Annotated[str, typer.Option("--list", "-l", help="Name of the list to create or extend.")],
) -> None:
    """Import hashes into a list (all or nothing: a bad line stores nothing)."""
    entries = parse_hash_file(file)
    app_ = state(ctx).app
    with app_.store.session() as session:
        hash_list, added = import_entries(session, name, entries, str(file))
        audit.record(session, "hashes.import", f"hash_list:{hash_list.name}",
                     {"file": str(file), "entries": len(entries), "new": added})
    console.print(f"list {name!r}: {len(entries)} hash(es) read from {file}, {added} new")


@app.command("list")
def list_command(ctx: typer.Context, fmt: OutputFormat = FormatOption) -> None:
    """Show the hash lists with their sizes."""
    with state(ctx).app.store.session() as session:
        rows = list_rows(session)
    emit(rows, fmt, ["name", "entries", "source_file", "created_at", "checked_up_to"], title="hash lists")


@app.command("remove")
def remove_command(ctx: typer.Context, name: Annotated[str, typer.Argument(help="List name.")]) -> None:
    """Delete a list and its entries (alerts already raised stay)."""
    with state(ctx).app.store.session() as session:
        removed = remove_list(session, name)
        audit.record(session, "hashes.remove", f"hash_list:{name}", {"entries": removed})
    console.print(f"list {name!r} removed ({removed} hash(es))")
