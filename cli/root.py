"""The ``resurface`` command."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.markup import escape

from cli.support import (
    CliState,
    FormatOption,
    OutputFormat,
    console,
    emit,
    emit_one,
    err_console,
    progress_iter,
    setup_logging,
    state,
)
from config.loader import CONFIG_ENV
from model.errors import ResurfaceError, UsageError
from store.pseudonym import KEY_ENV, create_key_file
from store.watchlist import add_watch, list_watched, remove_watch, watch_json

app = typer.Typer(
    name="resurface",
    help="Watch public communities, notice shutdowns and rebrands, find where they migrate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
watch_app = typer.Typer(help="The watchlist: communities to monitor.", no_args_is_help=True)
app.add_typer(watch_app, name="watch")

# --- feature command groups: one import + registration line each, in this block ---
from cli.platforms.telegram import app as telegram_app  # noqa: E402

app.add_typer(telegram_app, name="telegram")
from cli.detect import detect as detect_command  # noqa: E402

app.command("detect")(detect_command)
from cli.search import reindex_command, search_command  # noqa: E402

app.command("search")(search_command)
app.command("reindex")(reindex_command)
from cli.graph import app as graph_app  # noqa: E402

app.add_typer(graph_app, name="graph")
from cli.alerts import app as alerts_app  # noqa: E402

app.add_typer(alerts_app, name="alerts")
from cli.service import run_command, status_command  # noqa: E402

app.command("run")(run_command)
app.command("status")(status_command)
from cli.worker import worker_command  # noqa: E402

app.command("worker")(worker_command)
from cli.hashes import app as hashes_app  # noqa: E402

app.add_typer(hashes_app, name="hashes")
from cli.platforms.reddit import app as reddit_app  # noqa: E402

app.add_typer(reddit_app, name="reddit")
from cli.leads import app as leads_app  # noqa: E402

app.add_typer(leads_app, name="leads")
from cli.audit import app as audit_app  # noqa: E402

app.add_typer(audit_app, name="audit")
from cli.demo import demo as demo_command  # noqa: E402

app.command("demo")(demo_command)
from cli.retention import purge_command  # noqa: E402

app.command("purge")(purge_command)
from cli.web import users_app, web_command  # noqa: E402

app.add_typer(users_app, name="users")
app.command("web")(web_command)
# --- end of feature command groups ---

log = logging.getLogger("resurface")


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[Path | None, typer.Option("--config", "-c", help=f"Config file (else ${CONFIG_ENV}, "
                                                "else ./resurface.toml; else see --defaults).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
    log_format: Annotated[str, typer.Option("--log-format", help="text or json (one line per event).")] = "text",
    defaults: Annotated[bool, typer.Option("--defaults", help="No config file: use the built-in defaults "
                                           "(data in ./data). Without it, a missing config is an error.")] = False,
) -> None:
    if log_format not in ("text", "json"):
        raise UsageError(f"--log-format must be text or json, not {log_format!r}")
    setup_logging(debug, log_format)
    ctx.obj = CliState(config_path=config, debug=debug, use_defaults=defaults)
    ctx.call_on_close(ctx.obj.close)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create resurface.toml and the data folder.")] = Path("."),
) -> None:
    """Write a commented example config, the data folder and the pseudonymisation key."""
    config_file = directory / "resurface.toml"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if config_file.exists():
            console.print(f"{config_file} exists; left as it is")
        else:
            text = resources.files("config").joinpath("example.toml").read_text(encoding="utf-8")
            config_file.write_text(text, encoding="utf-8")
            console.print(f"wrote {config_file}")
        (directory / "data").mkdir(exist_ok=True)
    except OSError as exc:
        raise ResurfaceError(f"{directory}: cannot create the config or data folder: {exc.strerror}") from None
    from config.loader import load_settings

    settings = load_settings(config_file)
    import os

    if os.environ.get(KEY_ENV):
        console.print(f"pseudonymisation key taken from {KEY_ENV}; no key file written")
    else:
        try:
            created = create_key_file(settings.key_path)
        except OSError as exc:
            raise ResurfaceError(f"{settings.key_path}: cannot write the key file: {exc.strerror}") from None
        console.print(f"{'created' if created else 'kept existing'} key {settings.key_path} (mode 0600; back it "
                      "up apart from the database)")
    from store.db import open_store, redact

    store = open_store(settings.store_url)
    store.close()
    console.print(f"store ready at {redact(settings.store_url)}")


@watch_app.command("add")
def watch_add(
    ctx: typer.Context,
    target: Annotated[str | None, typer.Argument(help="URL or @handle (omit with --platform/--name).")] = None,
    platform: Annotated[str | None, typer.Option(help="Platform, when it cannot be told from the URL "
                                                 "(facebook, discourse, phpbb, xenforo, ...).")] = None,
    name: Annotated[str | None, typer.Option(help="Title, for communities entered by hand.")] = None,
    label: Annotated[list[str] | None, typer.Option("--label", "-l", help="Label (repeatable).")] = None,
    case: Annotated[str | None, typer.Option(help="Case this community belongs to.")] = None,
    status: Annotated[str | None, typer.Option(help="Known status, e.g. removed.")] = None,
    removed_at: Annotated[str | None, typer.Option(help="When it was removed (YYYY-MM-DD).")] = None,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Watch a community: a Telegram channel, a subreddit, a forum, or one entered by hand."""
    from cli.watchtargets import watch_target
    from crawlers.registry import crawlable_platforms
    from model.records import CommunityStatus

    if status is not None and status not in set(CommunityStatus):
        raise UsageError(f"--status must be one of {', '.join(CommunityStatus)}, not {status!r}")
    when = None
    if removed_at:
        try:
            when = datetime.fromisoformat(removed_at).replace(tzinfo=UTC)
        except ValueError:
            raise UsageError(f"--removed-at {removed_at!r} is not a date (YYYY-MM-DD)") from None
    parsed = watch_target(state(ctx).settings, target, platform, name)
    if target and parsed.platform == "web" and platform is None:  # recognise the forum software now, if reachable
        from crawlers.forums.detect import recognised_watch_target

        parsed = recognised_watch_target(state(ctx).settings, target, parsed)
    with state(ctx).app.store.session() as session:
        community, created = add_watch(session, parsed, labels=label, case=case, title=name, status=status,
                                       removed_at=when, crawlable=crawlable_platforms())
        row = watch_json(community)
    if fmt == OutputFormat.json:
        emit_one(row, fmt)
    else:
        console.print(f"{'watching' if created else 'already watched'}: #{row['id']} {row['platform']} "
                      f"{row['handle'] or row['title'] or row['url']}")


@watch_app.command("list")
def watch_list(
    ctx: typer.Context,
    leads: Annotated[bool, typer.Option("--leads", help="Include leads and candidates found by detection.")] = False,
    fmt: OutputFormat = FormatOption,
) -> None:
    """List watched communities."""
    with state(ctx).app.store.session() as session:
        rows = [watch_json(c) for c in list_watched(session, include_leads=leads)]
    emit(rows, fmt, ["id", "platform", "handle", "title", "status", "watch_state", "member_count", "url", "case"],
         title="watched communities")


@watch_app.command("remove")
def watch_remove(
    ctx: typer.Context,
    target: Annotated[str, typer.Argument(help="Id, URL or @handle of a watched community.")],
    fmt: OutputFormat = FormatOption,
) -> None:
    """Stop watching a community (what was observed is kept)."""
    with state(ctx).app.store.session() as session:
        community = remove_watch(session, target)
        row = watch_json(community)
    if fmt == OutputFormat.json:
        emit_one(row, fmt)
    else:
        console.print(f"no longer watching #{row['id']} {row['handle'] or row['title'] or row['url']}")


@app.command()
def crawl(
    ctx: typer.Context,
    once: Annotated[bool, typer.Option("--once", help="One pass over the watchlist, then exit.")] = True,
    only: Annotated[list[int] | None, typer.Option("--id", help="Only these community ids.")] = None,
    fmt: OutputFormat = FormatOption,
) -> None:
    """Crawl every watched community once (the service `resurface run` does this on a schedule)."""
    from service.crawl import crawl_once, due_communities
    from store.audit import current_actor
    from store.lock import crawl_lock

    if not once:
        raise UsageError("crawl runs once; use `resurface run` for the scheduled service")
    app_ = state(ctx).app
    with (crawl_lock(app_.store, f"crawl --once by {current_actor()} (pid {os.getpid()})"),
          progress_iter(len(due_communities(app_, only)), "crawling", fmt) as bar):
        results = crawl_once(app_, only, progress=lambda _result: bar.advance())
    rows = [{"community_id": r.community_id, "source": r.source, "outcome": r.outcome,
             "new_posts": r.stats.posts_new, "posts_seen": r.stats.posts_seen, "error": r.error} for r in results]
    emit(rows, fmt, title="crawl results")
    failed = [r for r in results if r.outcome == "failed"]
    if failed:
        # any failed source makes the run a failure, so scripts and cron notice; the rest was stored
        names = ", ".join(f"#{r.community_id} ({r.source})" for r in failed)
        raise ResurfaceError(f"{len(failed)} of {len(results)} sources failed: {names}")


def _click_kinds(name: str) -> tuple[type[BaseException], ...]:
    """The class ``name`` from click and, for typer >= 0.17, from the click copy typer vendors."""
    kinds: list[type[BaseException]] = [getattr(click.exceptions, name)]
    vendored = getattr(getattr(typer, "_click", None), "exceptions", None)
    if vendored is not None and hasattr(vendored, name):
        kinds.append(getattr(vendored, name))
    return tuple(kinds)


_EXIT, _ABORT, _CLICK_ERROR = _click_kinds("Exit"), _click_kinds("Abort"), _click_kinds("ClickException")


def main(argv: list[str] | None = None) -> None:
    """Entry point: one clear line on error, a traceback only with --debug. Exit 0 ok, 1 failure, 2 bad usage."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args
    command = typer.main.get_command(app)
    try:
        # Without standalone mode click *returns* the code of a typer.Exit raised in a command.
        rc = command.main(args=args, prog_name="resurface", standalone_mode=False)
    except _EXIT as exc:
        sys.exit(getattr(exc, "exit_code", 0))
    except _ABORT:
        err_console.print("aborted")
        sys.exit(1)
    except _CLICK_ERROR as exc:
        exc.show()  # type: ignore[attr-defined]
        sys.exit(getattr(exc, "exit_code", 2))
    except ResurfaceError as exc:
        if debug:
            raise
        _fail(str(exc), exc.exit_code, args)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as exc:
        if debug:
            raise
        _fail(f"{type(exc).__name__}: {exc} (run with --debug for details)", 1, args)
    sys.exit(rc if isinstance(rc, int) else 0)


def _wants_json(args: list[str]) -> bool:
    return any(a in ("--format=json", "-fjson") or (a in ("--format", "-f") and nxt == "json")
               for a, nxt in zip(args, [*args[1:], ""], strict=True))


def _fail(message: str, code: int, args: list[str]) -> None:
    """One line on stderr, never wrapped; under ``--format json`` that line is a JSON object (stdout keeps
    the command's one JSON document, e.g. the results of the sources that did not fail)."""
    if _wants_json(args):
        sys.stderr.write(json.dumps({"error": message, "exit_code": code}, ensure_ascii=False) + "\n")
    else:
        err_console.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
