"""``resurface reddit search NAME``: find subreddits by name (successor discovery by hand).

Needs REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET and REDDIT_USER_AGENT; a missing one is named in the
error (exit 2). The detector uses the same search through :func:`crawlers.reddit.source.name_search`.

Every search is written to the audit log (``reddit.search``, the name as target) before Reddit is
asked, so a search that then fails is on record too: which names investigators look for is itself
sensitive, and the audit log is where every search is accounted for.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.support import FormatOption, OutputFormat, emit, state
from crawlers.errors import CrawlError
from store import audit

app = typer.Typer(help="Reddit helpers.", no_args_is_help=True)


@app.command("search")
def search(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Name or words to look for in subreddit names and titles.")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many results.")] = 25,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Search subreddits by name, e.g. to find where a banned one moved."""
    from model.errors import ResurfaceError

    cli = state(ctx)
    settings = cli.settings
    from crawlers.reddit.source import RedditClient, credentials  # PRAW loads only for this command

    creds = credentials()  # a missing variable fails here, before anything is searched or logged
    with cli.app.store.session() as session:
        audit.record(session, "reddit.search", target=name,
                     details={"limit": limit, "reddit_url": settings.reddit.reddit_url})
    client = RedditClient(settings, creds)
    try:
        found = client.search(name, limit=limit)
    except CrawlError as exc:
        raise ResurfaceError(f"Reddit search for {name!r} failed: {exc}") from exc
    finally:
        client.close()
    rows = [{"handle": handle, "title": title, "url": url} for handle, title, url in found]
    emit(rows, fmt, title="subreddits")
